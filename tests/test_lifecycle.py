"""Item lifecycle: every item moves through one state machine, whatever times it."""

from __future__ import annotations

import pytest

from captioner.core import CaptionEngine, Phase, TruncateItem, replay
from tests.sessions import SessionBuilder, pcm_b64

WORDS = ["Once", " upon", " a", " time", " there", " lived", " a", " small", " dragon."]


def _phases(engine: CaptionEngine, item_id: str) -> list[Phase]:
    state = engine.item_state(item_id)
    assert state is not None
    return [t.phase for t in state.history]


def test_a_log_without_audio_done_replays_to_final_captions():
    """The log ends without the first item's audio.done (a server that never sent it, a
    log cut short): its audio plays out, the next item follows, and every caption is final."""
    b = SessionBuilder()
    for k, w in enumerate(WORDS[:4]):
        b.text(0.01 * k, "a", w, response_id="r1")
    b.audio(0.1, "a", 800, response_id="r1")  # no audio.done for "a"
    for k, w in enumerate(WORDS[4:]):
        b.text(0.2 + 0.01 * k, "b", w, response_id="r2")
    b.audio(0.3, "b", 900, response_id="r2")
    b.audio_done(0.4, "b", response_id="r2")
    engine = replay(b.sorted())
    caps = engine.captions()
    assert [c.text for c in caps] == WORDS
    assert all(c.final for c in caps)
    items = {i.item_id: i for i in engine.timeline().items}
    assert items["a"].end_ms - items["a"].start_ms == pytest.approx(800.0)
    assert items["b"].start_ms == pytest.approx(items["a"].end_ms)  # b waited for a's audio
    assert _phases(engine, "a") == [Phase.RECEIVING, Phase.PLAYING, Phase.PLAYED]


def _webrtc_answer(engine: CaptionEngine) -> None:
    """A WebRTC answer in the order a real server sends it: text and the audio's done on
    the data channel while the track plays; no audio events."""
    engine.receive({"type": "response.created", "response": {"id": "r1", "conversation_id": "c"}}, 0)
    engine.receive({"type": "conversation.item.added",
                    "item": {"id": "i1", "type": "message", "role": "assistant"}}, 5)
    engine.receive({"type": "output_audio_buffer.started", "response_id": "r1"}, 1000)
    for k, w in enumerate(WORDS):
        engine.receive({"type": "response.output_audio_transcript.delta", "item_id": "i1",
                        "response_id": "r1", "content_index": 0, "delta": w}, 1001 + k)
    engine.receive({"type": "response.output_audio.done", "item_id": "i1", "response_id": "r1",
                    "content_index": 0}, 1050)  # before the buffer stops: the server sent it all
    engine.receive({"type": "response.output_audio_transcript.done", "item_id": "i1", "response_id": "r1",
                    "content_index": 0, "transcript": "".join(WORDS)}, 1051)


def test_webrtc_audio_done_before_the_stop_mark_keeps_the_marked_span():
    engine = CaptionEngine(transport="webrtc")
    _webrtc_answer(engine)
    engine.receive({"type": "output_audio_buffer.stopped", "response_id": "r1"}, 3700)
    engine.settle()
    caps = engine.captions()
    assert [c.text for c in caps] == WORDS
    assert caps[0].start_ms == pytest.approx(1000.0)
    assert caps[-1].end_ms == pytest.approx(3700.0)
    assert all(c.end_ms > c.start_ms for c in caps)  # spread over 2.7 s, not collapsed at 1000
    assert all(c.final for c in caps)
    (item,) = engine.timeline().items
    assert (item.start_ms, item.end_ms, item.audio_ms) == (1000.0, 3700.0, 2700.0)
    assert _phases(engine, "i1") == [Phase.PLAYING, Phase.PLAYED]


def test_webrtc_interruption_cuts_at_the_confirmed_offset_and_clear_is_answered():
    engine = CaptionEngine(transport="webrtc")
    _webrtc_answer(engine)
    events = engine.interrupt(2200)
    assert [type(e).__name__ for e in events] == ["TruncateItem", "CancelResponse", "ClearOutputBuffer"]
    assert events[0].audio_end_ms == 1200
    for e in events:
        engine.sent(e.to_wire(), 2201)  # the app sends them (as wire dicts)
    # the server: truncated, the audio's done again, response.done cancelled, and cleared
    # only once the client's clear arrived
    engine.receive({"type": "conversation.item.truncated", "item_id": "i1", "content_index": 0,
                    "audio_end_ms": 1200}, 2250)
    engine.receive({"type": "response.output_audio.done", "item_id": "i1", "response_id": "r1",
                    "content_index": 0}, 2260)
    engine.receive({"type": "response.done", "response": {
        "id": "r1", "status": "cancelled", "status_details": {"type": "cancelled", "reason": "client_cancelled"},
        "output": [{"id": "i1", "type": "message"}]}}, 2270)
    engine.receive({"type": "output_audio_buffer.cleared", "response_id": "r1"}, 2300)
    engine.settle()
    caps = engine.captions()
    assert caps and caps[-1].truncated and all(c.final for c in caps)
    assert caps[0].start_ms == pytest.approx(1000.0)
    assert caps[-1].end_ms == pytest.approx(2200.0)  # the cut, not the clear that came later
    assert all(c.end_ms > c.start_ms for c in caps)
    (item,) = engine.timeline().items
    assert item.truncated_at_ms == 1200
    state = engine.item_state("i1")
    assert state.cut_confirmed and state.cut_ms == 1200
    assert _phases(engine, "i1") == [Phase.PLAYING, Phase.TRUNCATED]


def test_an_interruption_sent_and_confirmed_is_applied_once():
    engine = CaptionEngine()
    engine.receive({"type": "response.created", "response": {"id": "r1", "conversation_id": "c"}}, 0)
    for w in WORDS:
        engine.receive({"type": "response.output_audio_transcript.delta", "item_id": "i1",
                        "response_id": "r1", "delta": w, "duration_ms": 200}, 1)
    engine.receive({"type": "response.output_audio.delta", "item_id": "i1", "response_id": "r1",
                    "delta": pcm_b64(24 * 2000)}, 2)
    engine.advance(2)
    engine.advance(702)
    revision = engine.revision
    events = engine.interrupt(702)
    truncate = events[0]
    assert isinstance(truncate, TruncateItem) and truncate.audio_end_ms == 700
    assert engine.unconfirmed_cuts() == ["i1"]
    cut_revision = engine.revision
    assert cut_revision > revision
    for e in events:
        engine.sent(e, 703)  # reported sent: ours, already applied
    assert engine.revision == cut_revision
    engine.receive({"type": "conversation.item.truncated", "item_id": "i1", "content_index": 0,
                    "audio_end_ms": 700}, 750)
    assert engine.unconfirmed_cuts() == []
    state = engine.item_state("i1")
    assert [t.phase for t in state.history] == [Phase.RECEIVING, Phase.PLAYING, Phase.TRUNCATED]
    assert [t.cause for t in state.history if t.phase == Phase.TRUNCATED] == ["interrupt"]
    assert state.cut_ms == 700 and state.cut_confirmed
    assert engine.captions()[-1].end_ms == pytest.approx(702.0)


def test_a_server_side_truncation_cuts_an_item_the_client_did_not_cut():
    engine = CaptionEngine()
    engine.receive({"type": "response.output_audio.delta", "item_id": "i1", "delta": pcm_b64(24 * 1000)}, 0)
    for w in WORDS[:3]:
        engine.receive({"type": "response.output_audio_transcript.delta", "item_id": "i1", "delta": w,
                        "duration_ms": 300}, 0)
    engine.advance(0)
    engine.advance(500)
    engine.receive({"type": "conversation.item.truncated", "item_id": "i1", "audio_end_ms": 450}, 500)
    state = engine.item_state("i1")
    assert state.phase == Phase.TRUNCATED and state.cut_ms == 450 and state.cut_confirmed
    assert [c.text for c in engine.captions()] == WORDS[:2]


def test_a_refused_truncate_is_answered():
    engine = CaptionEngine()
    engine.receive({"type": "response.output_audio.delta", "item_id": "i1", "delta": pcm_b64(24 * 1000)}, 0)
    engine.advance(0)
    engine.advance(300)
    (truncate,) = engine.interrupt(300)
    engine.receive({"type": "error", "error": {"type": "invalid_request_error", "code": "x",
                                               "message": "no", "event_id": truncate.event_id}}, 320)
    assert engine.unconfirmed_cuts() == []


def test_caller_cannot_reach_behind_the_engine():
    engine = CaptionEngine()
    for name in ("clock", "items", "order"):
        assert not hasattr(engine, name)


def _long_answer(engine: CaptionEngine, words: list[str], ms_each: float) -> None:
    engine.receive({"type": "response.created", "response": {"id": "r1", "conversation_id": "c"}}, 0)
    for w in words:
        engine.receive({"type": "response.output_audio_transcript.delta", "item_id": "i1", "response_id": "r1",
                        "delta": w, "duration_ms": ms_each}, 1)
    engine.receive({"type": "response.output_audio.delta", "item_id": "i1", "response_id": "r1",
                    "delta": pcm_b64(int(24 * ms_each * len(words)))}, 2)


def test_a_session_ending_mid_answer_exports_only_what_was_heard():
    from captioner.core.render import export_captions

    engine = CaptionEngine()
    _long_answer(engine, WORDS, 300.0)
    engine.advance(2)
    engine.advance(1000)  # 998 ms played of 2700
    engine.sent({"type": "captioner.session_end"}, 1000)  # the live session's last log line
    caps = engine.captions()
    assert [c.text for c in caps] == WORDS[:4]
    assert caps[-1].truncated and caps[-1].end_ms == pytest.approx(1000.0)
    assert engine.item_state("i1").phase == Phase.TRUNCATED
    srt = export_captions(caps, "srt")
    assert "there" not in srt and "time" in srt
    engine.advance(5000)  # nothing plays after the end
    assert engine.played_ms("i1", 5000) == pytest.approx(998.0)


def test_a_session_ending_after_everything_played_changes_nothing():
    engine = CaptionEngine()
    _long_answer(engine, WORDS[:3], 200.0)
    engine.receive({"type": "response.output_audio.done", "item_id": "i1", "response_id": "r1"}, 3)
    engine.advance(2)
    engine.advance(2000)
    before = [(c.text, c.start_ms, c.end_ms, c.truncated) for c in engine.captions()]
    engine.end(2000)
    assert [(c.text, c.start_ms, c.end_ms, c.truncated) for c in engine.captions()] == before
    assert engine.item_state("i1").phase == Phase.PLAYED


@pytest.mark.parametrize("misuse", [
    lambda e: e.advance(float("inf")), lambda e: e.advance(float("nan")), lambda e: e.play(-1, 0.0),
    lambda e: e.play(480, float("nan")), lambda e: e.play(1.5, 0.0), lambda e: e.receive({}, "soon"),
    lambda e: e.interrupt(float("nan")), lambda e: e.sent({"type": "x"}, None),
])
def test_caller_misuse_is_refused_before_it_touches_state(misuse):
    engine = CaptionEngine()
    _long_answer(engine, WORDS[:3], 200.0)
    engine.advance(2)
    engine.advance(100)
    revision = engine.revision
    with pytest.raises((ValueError, TypeError)):
        misuse(engine)
    assert engine.revision == revision
    engine.advance(150)
    events = engine.interrupt(150)  # still usable
    assert events[0].audio_end_ms == 148
