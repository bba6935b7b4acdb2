"""Provider timing is used exactly, whatever shape it comes in and whatever order it arrives in.

Fixtures are built from the SDKs' own event types (openai's realtime models, Azure's
``azure-ai-voicelive`` models) so the fields are the real ones. Audio is a flat tone: an
estimator could not find these uneven word times in it, only the given timing can.
"""

from __future__ import annotations

import logging
import math
from typing import Callable, Union

import pytest
from azure.ai.voicelive.models import ServerEventResponseAudioTimestampDelta
from openai.types.realtime import (
    ResponseAudioDeltaEvent,
    ResponseAudioDoneEvent,
    ResponseAudioTranscriptDeltaEvent,
    ResponseAudioTranscriptDoneEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
)

from captioner.core import CaptionEngine, TimedText
from captioner.core.estimators import ProportionalEstimator
from captioner.core.timing import cartesia, elevenlabs
from tests.sessions import pcm_b64

# (text, item-relative start ms, end ms): uneven, with pauses, inside 3000 ms of audio
WORDS = [("Hello", 0.0, 310.0), (" there,", 350.0, 820.0), (" my", 900.0, 1000.0),
         (" friend.", 1010.0, 1500.0), (" Welcome", 1600.0, 2210.0), (" back!", 2300.0, 2800.0)]
AUDIO_MS, CHUNK_MS = 3000.0, 250.0
IDS = dict(response_id="r1", item_id="i1", output_index=0, content_index=0)

Action = Union[dict, Callable[[CaptionEngine], None]]


def _response(status: str) -> dict:
    return {"id": "r1", "object": "realtime.response", "status": status, "conversation_id": "conv_1",
            "output": [{"id": "i1", "type": "message", "role": "assistant", "content": []}]
            if status != "in_progress" else []}


def run(timed: list[tuple[float, Action]]) -> CaptionEngine:
    """Feed actions in time order on a virtual clock, then play everything out."""
    engine = CaptionEngine(estimator_factory=ProportionalEstimator)
    for at, action in sorted(timed, key=lambda x: x[0]):
        engine.advance(at)
        if isinstance(action, dict):
            engine.receive(action, at)
        else:
            action(engine)
    end = max(t for t, _ in timed)
    engine.finish(end)
    engine.advance(end + 10 * AUDIO_MS)
    engine.settle()
    return engine


def audio_events() -> list[dict]:
    n = int(AUDIO_MS / CHUNK_MS)
    return [ResponseAudioDeltaEvent(type="response.output_audio.delta", event_id=f"a{k}", delta=pcm_b64(
        int(CHUNK_MS * 24)), **IDS).model_dump() for k in range(n)]


def text_event(k: int, text: str, **timing) -> dict:
    return ResponseAudioTranscriptDeltaEvent(type="response.output_audio_transcript.delta", event_id=f"t{k}",
                                             delta=text, **IDS, **timing).model_dump()


def azure_word(k: int, text: str, start: float, end: float) -> dict:
    return ServerEventResponseAudioTimestampDelta(
        event_id=f"w{k}", text=text.strip(" ,.!"), audio_offset_ms=int(start),
        audio_duration_ms=int(end - start), timestamp_type="word", **IDS).as_dict()


def shape_duration() -> list[list[Action]]:
    return [[text_event(k, w, duration_ms=(WORDS[k + 1][1] if k + 1 < len(WORDS) else AUDIO_MS) - s)]
            for k, (w, s, _) in enumerate(WORDS)]


def shape_start_time() -> list[list[Action]]:
    return [[text_event(k, w, start_time=s / 1000.0)] for k, (w, s, _) in enumerate(WORDS)]


def shape_azure() -> list[list[Action]]:
    return [[azure_word(k, w, s, e), text_event(k, w)] for k, (w, s, e) in enumerate(WORDS)]


def shape_elevenlabs() -> list[list[Action]]:
    out: list[list[Action]] = []
    for k, (w, s, e) in enumerate(WORDS):
        lead = len(w) - len(w.lstrip())  # a leading space is a zero-length character at the word start
        per = (e - s) / (len(w) - lead)  # letters evenly over the word; the first at its start
        alignment = {"chars": list(w), "charStartTimesMs": [s] * lead + [round(s + i * per, 3)
                                                                          for i in range(len(w) - lead)],
                     "charsDurationsMs": [0] * lead + [round(per, 3)] * (len(w) - lead)}
        out.append([text_event(k, w), lambda eng, a=alignment: eng.add_timing("i1", elevenlabs(a))])
    return out


def shape_cartesia() -> list[list[Action]]:
    out: list[list[Action]] = []
    for k, (w, s, e) in enumerate(WORDS):
        stamps = {"words": [w.strip()], "start": [s / 1000.0], "end": [e / 1000.0]}
        out.append([text_event(k, w), lambda eng, st=stamps: eng.add_timing("i1", cartesia(st))])
    return out


SHAPES = {"duration_ms": shape_duration, "start_time": shape_start_time, "azure": shape_azure,
          "elevenlabs": shape_elevenlabs, "cartesia": shape_cartesia}


def session(shape: str, order: str) -> list[tuple[float, Action]]:
    """One item: its audio from t=100 ms in 250 ms chunks every 50 ms, its text per ``order``."""
    created = ResponseCreatedEvent(type="response.created", event_id="c", response=_response("in_progress"))
    timed: list[tuple[float, Action]] = [(0.0, created.model_dump())]
    audio = audio_events()
    chunk_at = [100.0 + 50.0 * k for k in range(len(audio))]
    timed += list(zip(chunk_at, audio))
    audio_done_at = chunk_at[-1] + 1.0
    done = ResponseAudioDoneEvent(type="response.output_audio.done", event_id="ad", **IDS).model_dump()
    transcript = ResponseAudioTranscriptDoneEvent(type="response.output_audio_transcript.done", event_id="td",
                                                  transcript="".join(w for w, _, _ in WORDS), **IDS).model_dump()
    resp_done = ResponseDoneEvent(type="response.done", event_id="rd", response=_response("completed")).model_dump()
    pieces = SHAPES[shape]()
    if order == "text_first":
        text_at = [10.0 + k for k in range(len(pieces))]
        closing = [(audio_done_at, done), (audio_done_at + 1, transcript), (audio_done_at + 2, resp_done)]
    elif order == "interleaved":
        text_at = [chunk_at[min(len(chunk_at) - 1, int(s // CHUNK_MS))] + 0.5 for _, s, _ in WORDS]
        closing = [(audio_done_at, done), (audio_done_at + 1, transcript), (audio_done_at + 2, resp_done)]
    elif order == "after_audio_done":  # audio complete (and played) before any text
        text_at = [5000.0 + k for k in range(len(pieces))]
        closing = [(audio_done_at, done), (5100.0, transcript), (5101.0, resp_done)]
    else:  # after_response_done: the response (and transcript) closed before the deltas came
        text_at = [6000.0 + k for k in range(len(pieces))]
        closing = [(audio_done_at, done), (audio_done_at + 1, transcript), (audio_done_at + 2, resp_done)]
    for at, actions in zip(text_at, pieces):
        timed += [(at + 0.01 * i, a) for i, a in enumerate(actions)]
    return timed + closing


ORDERS = ["text_first", "interleaved", "after_audio_done", "after_response_done"]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_given_timing_is_exact_in_every_arrival_order(shape, order):
    engine = run(session(shape, order))
    caps = [c for c in engine.captions() if c.item_id == "i1"]
    start = engine.timeline().items[0].start_ms
    assert start == pytest.approx(100.0, abs=0.05)  # first audio chunk; playout delay 0
    assert [c.text for c in caps] == [w for w, _, _ in WORDS]
    for c, (_, s, _) in zip(caps, WORDS):
        assert c.start_ms == pytest.approx(start + s, abs=0.05), (c.text, c.start_ms - start, s)
        assert c.show_delay_ms == 0.0  # given timing is not held back like an estimate
    assert engine.timeline().items[0].timing == "provider"
    assert engine.problems == []


def test_deltas_split_unlike_the_timed_words_take_times_inside_the_words():
    """Azure times words; the transcript comes in other pieces ("Wel"+"come"): a piece that
    starts a word starts with it, a piece inside a word at its character position."""
    timed: list[tuple[float, Action]] = [(0.0, {"type": "response.created", "response": {"id": "r1"}})]
    timed += [(100.0 + 50 * k, a) for k, a in enumerate(audio_events())]
    pieces = ["Hello", " there", ",", " my", " friend.", " Wel", "come", " back!"]
    timed += [(10.0 + k, text_event(k, p)) for k, p in enumerate(pieces)]
    timed += [(20.0 + k, azure_word(k, w, s, e)) for k, (w, s, e) in enumerate(WORDS)]
    engine = run(timed)
    start = engine.timeline().items[0].start_ms
    got = {c.text: c.start_ms - start for c in engine.captions()}
    assert got["Hello"] == pytest.approx(0.0, abs=0.05)
    assert got[" there"] == pytest.approx(350.0, abs=0.05)
    assert got[" Wel"] == pytest.approx(1600.0, abs=0.05)
    assert got["come"] == pytest.approx(1600.0 + 610.0 * 3 / 7, abs=0.05)  # 3 of "Welcome"'s 7 letters
    assert got[" back!"] == pytest.approx(2300.0, abs=0.05)


def test_transcript_done_before_the_deltas_is_replaced_by_them():
    """A .done carrying the whole transcript before any delta stands in for the text; the
    timed deltas that follow replace it instead of being estimated around it."""
    timed = session("duration_ms", "after_audio_done")
    timed = [(t if not (isinstance(a, dict) and a.get("type", "").endswith("transcript.done")) else 4000.0, a)
             for t, a in timed]
    engine = run(timed)
    caps = engine.captions()
    assert [c.text for c in caps] == [w for w, _, _ in WORDS]
    for c, (_, s, _) in zip(caps, WORDS):
        assert c.start_ms == pytest.approx(100.0 + s, abs=0.05)


def test_mixed_item_pins_the_timed_deltas_and_estimates_only_between_them():
    """One delta without timing no longer hands the whole item to the estimator."""
    timed = session("start_time", "text_first")
    untimed = text_event(2, " my")  # " my" loses its start_time
    timed = [(t, untimed if isinstance(a, dict) and a.get("event_id") == "t2" else a) for t, a in timed]
    engine = run(timed)
    caps = engine.captions()
    start = engine.timeline().items[0].start_ms
    for c, (w, s, _) in zip(caps, WORDS):
        if w != " my":
            assert c.start_ms == pytest.approx(start + s, abs=0.05)
            assert c.show_delay_ms == 0.0
    my = caps[2]
    assert start + 350.0 <= my.start_ms <= start + 1010.0  # between its timed neighbours
    assert my.show_delay_ms > 0.0  # an estimate waits a little before it is shown
    assert engine.timeline().items[0].timing == "mixed"


def test_timing_kinds_in_the_timeline():
    estimated = run([(0.0, {"type": "response.created", "response": {"id": "r1"}}),
                     (1.0, text_event(0, "Hi")), (2.0, audio_events()[0])])
    assert estimated.timeline().items[0].timing == "aligned"  # estimated from its audio
    assert estimated.timeline().to_json()["items"][0]["timing"] == "aligned"
    provider = run(session("azure", "interleaved"))
    assert provider.timeline().to_json()["items"][0]["timing"] == "provider"


# --- bad timing: clamped or skipped with a logged reason, never a crash -------------------

def _non_overlapping(engine: CaptionEngine) -> None:
    caps = [p for p in engine.timeline().periods if p.kind == "caption"]
    for a, b in zip(caps, caps[1:]):
        assert a.start_ms <= b.start_ms
        assert a.end_ms <= b.start_ms + 1e-6
        assert a.duration_ms >= 0


@pytest.mark.parametrize("bad", [{"duration_ms": -40}, {"duration_ms": float("nan")},
                                 {"start_time": float("inf")}, {"start_time": -0.2}, {"duration_ms": "x"}])
def test_unusable_timing_fields_are_dropped_with_a_reason(bad, caplog):
    timed = session("duration_ms", "text_first")
    broken = dict(text_event(3, " friend."), **bad)
    broken.pop("duration_ms", None) if "duration_ms" not in bad else None
    broken.update(bad)
    timed = [(t, broken if isinstance(a, dict) and a.get("event_id") == "t3" else a) for t, a in timed]
    with caplog.at_level(logging.WARNING):
        engine = run(timed)
    assert any("ignored" in p.detail for p in engine.problems)
    caps = engine.captions()
    assert len(caps) == len(WORDS)
    for c, (_, s, _) in list(zip(caps, WORDS))[:3]:  # before the broken delta: still exact
        assert c.start_ms == pytest.approx(100.0 + s, abs=0.05)
    assert engine.timeline().items[0].timing == "mixed"
    _non_overlapping(engine)


def test_out_of_order_and_overlapping_word_times_stay_ordered(caplog):
    timed: list[tuple[float, Action]] = [(0.0, {"type": "response.created", "response": {"id": "r1"}})]
    timed += [(100.0 + 50 * k, a) for k, a in enumerate(audio_events())]
    timed += [(10.0 + k, text_event(k, w)) for k, (w, _, _) in enumerate(WORDS)]
    words = [("Hello", 0, 400), ("there", 300, 800), ("my", 200, 260), ("friend", 900, 1400),
             ("Welcome", 1500, 2000), ("back", 2100, 2500)]  # "there" overlaps, "my" goes back in time
    timed += [(20.0 + k, azure_word(k, w, s, e)) for k, (w, s, e) in enumerate(words)]
    with caplog.at_level(logging.WARNING):
        engine = run(timed)
    _non_overlapping(engine)
    caps = engine.captions()
    assert caps[3].start_ms == pytest.approx(100.0 + 900, abs=0.05)  # later timing still holds
    assert any("out of order or overlapping" in r.getMessage() for r in caplog.records)


def test_durations_longer_than_the_audio_are_clamped_to_it(caplog):
    timed = session("duration_ms", "interleaved")
    timed = [(t, dict(a, duration_ms=a["duration_ms"] * 3) if isinstance(a, dict) and "duration_ms" in a else a)
             for t, a in timed]
    with caplog.at_level(logging.WARNING):
        engine = run(timed)
    item = engine.timeline().items[0]
    caps = engine.captions()
    assert caps[1].start_ms == pytest.approx(100.0 + 3 * 350.0, abs=0.05)  # what was given, while it fits
    assert all(c.end_ms <= item.end_ms + 1e-6 for c in caps)
    assert any("past the item's" in r.getMessage() for r in caplog.records)
    _non_overlapping(engine)


def test_timing_for_unknown_items_is_skipped():
    engine = CaptionEngine(estimator_factory=ProportionalEstimator)
    engine.receive(azure_word(0, "Hello", 0, 300) | {"item_id": "nobody"}, 0.0)
    assert not engine.add_timing("ghost", [TimedText("Hi", 0, 100)])
    assert [p.detail for p in engine.problems] == ["timing for unknown item nobody", "timing for unknown item ghost"]
    assert engine.item_ids() == []


def test_tts_adapters_read_the_services_shapes():
    a = elevenlabs({"chars": ["H", "i", " "], "charStartTimesMs": [0, 120, 200], "charsDurationsMs": [120, 80, 40]})
    assert a == [TimedText("H", 0, 120), TimedText("i", 120, 200), TimedText(" ", 200, 240)]
    c = cartesia({"words": ["Hi", "there"], "start": [0.0, 0.25], "end": [0.2, 0.61]})
    assert c == [TimedText("Hi", 0.0, 200.0), TimedText("there", 250.0, 610.0)]
    assert elevenlabs(None) == [] and cartesia({"words": ["x"], "start": ["?"], "end": [1]}) == []
    assert not TimedText("x", math.nan, 1).valid


def test_elevenlabs_chunk_offsets_place_each_chunk_after_the_audio_before_it():
    engine = CaptionEngine(estimator_factory=ProportionalEstimator)
    engine.receive({"type": "response.created", "response": {"id": "r1"}}, 0.0)
    texts = ["One", " two"]
    for k, text in enumerate(texts):
        offset = engine.received_ms("i1")  # the chunk's place in the item, before adding it
        engine.receive(text_event(k, text), 1.0 + k)
        engine.receive(audio_events()[k], 1.0 + k)
        engine.add_timing("i1", elevenlabs({"chars": list(text.strip()), "charStartTimesMs": [40, 60, 80],
                                            "charsDurationsMs": [20, 20, 20]}), offset_ms=offset)
    engine.finish(10.0)
    engine.advance(2000.0)
    caps = engine.captions()
    assert [c.start_ms - 1.0 for c in caps] == pytest.approx([40.0, CHUNK_MS + 40.0], abs=0.05)


# --- any timing, any order: never a crash, always an ordered timeline -----------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TIMING = st.one_of(
    st.none(),
    st.fixed_dictionaries({"duration_ms": st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                                    st.integers(-100, 900))}),
    st.fixed_dictionaries({"start_time": st.one_of(st.floats(-1, 5), st.just(float("nan")))}),
    st.fixed_dictionaries({"azure": st.tuples(st.one_of(st.floats(-50, 4000), st.just(float("nan"))),
                                              st.floats(-50, 900))}),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["One", " two", ",", " thr", "ee", " four."]), TIMING), max_size=8),
       st.randoms(use_true_random=False), st.integers(0, 12))
def test_any_timing_in_any_order_keeps_the_timeline_ordered(deltas, rnd, n_chunks):
    actions: list[Action] = [{"type": "response.created", "response": {"id": "r1", "conversation_id": "c"}}]
    actions += audio_events()[:n_chunks]
    for k, (text, timing) in enumerate(deltas):
        if timing and "azure" in timing:
            start, length = timing["azure"]
            actions.append({"type": "response.audio_timestamp.delta", **IDS, "text": text.strip() or "x",
                            "audio_offset_ms": start, "audio_duration_ms": length, "timestamp_type": "word"})
            timing = None
        actions.append(text_event(k, text, **(timing or {})))
    actions.append(ResponseAudioDoneEvent(type="response.output_audio.done", event_id="ad", **IDS).model_dump())
    rnd.shuffle(actions)
    engine = run([(float(i), a) for i, a in enumerate(actions)])
    assert not [p for p in engine.problems if p.kind == "failed"]  # skipped with a reason, never an exception
    _non_overlapping(engine)
    for c in engine.captions():
        assert math.isfinite(c.start_ms) and c.end_ms >= c.start_ms
