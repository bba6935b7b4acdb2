"""The engine keeps the captions of items that are over instead of placing them again on
every change (and drops what it derived for them): asking all along must give exactly what
asking once at the end gives, and a cut that comes after an item played out still reaches
its captions."""

from __future__ import annotations

from captioner.core import CaptionEngine, replay
from captioner.core.estimators import ProportionalEstimator
from captioner.edges.files import read_session_log
from captioner.examples import example_log
from tests.sessions import SessionBuilder


def three_answers() -> SessionBuilder:
    b = SessionBuilder()
    t = 0.0
    for n in range(3):
        item, response = f"it{n}", f"r{n}"
        b.server(t, {"type": "response.created", "response": {"id": response}})
        b.item(t, item)
        for k, word in enumerate(["Once", " upon", " a", " time", " there", " lived", " a", " dragon."]):
            b.text(t + 0.01 * k, item, word, response_id=response)
            b.audio(t + 0.01 * k, item, 250.0, response_id=response)
        b.audio_done(t + 0.1, item, response_id=response)
        b.server(t + 0.1, {"type": "response.output_audio_transcript.done", "item_id": item,
                           "response_id": response, "content_index": 0, "transcript": ""})
        b.server(t + 0.1, {"type": "response.done", "response": {"id": response, "status": "completed",
                                                                 "output": [{"id": item}]}})
        t += 3.0
    return b


def test_captions_asked_all_along_are_those_asked_once():
    for records in (three_answers().sorted(), read_session_log(example_log())[0]):
        once = replay(records, estimator_factory=ProportionalEstimator)
        seen = []
        along = replay(records, estimator_factory=ProportionalEstimator,
                       observe=lambda engine, now: seen.append(len(engine.captions())), observe_step_ms=20)
        assert len(seen) > 50 and max(seen) > 0
        assert along.captions() == once.captions()
        assert along.timeline().to_json() == once.timeline().to_json()
        assert along.captions() == sorted(once.captions(), key=lambda c: (c.start_ms, c.role != "assistant",
                                                                         c.item_id, c.index))


def test_a_cut_after_an_item_played_out_reaches_its_captions():
    records = three_answers().sorted()

    def engine(ask_first: bool) -> CaptionEngine:
        e = CaptionEngine(estimator_factory=ProportionalEstimator)
        for r in records:
            e.advance(r.t_ms)
            e.receive(r.event, r.t_ms)
        e.advance(20_000.0)
        e.settle()
        if ask_first:  # every item is over: their captions are kept as they are
            assert len(e.captions()) == 24 and all(c.final for c in e.captions())
        e.receive({"type": "conversation.item.truncated", "item_id": "it1", "content_index": 0,
                   "audio_end_ms": 900}, 20_000.0)  # the server says only 900 ms of it was heard
        return e

    asked, fresh = engine(True), engine(False)
    assert asked.captions() == fresh.captions()
    cut = [c for c in asked.captions() if c.item_id == "it1"]
    assert 0 < len(cut) < 8 and cut[-1].truncated
    assert cut[-1].end_ms <= asked.item_time("it1", 900.0) + 1e-6
    assert [c.item_id for c in asked.captions()].count("it2") == 8
