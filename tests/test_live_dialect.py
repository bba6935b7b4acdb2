"""GPT-Live (``/v1/live``): the session timeline mapped onto playback, end to end.

Fixtures are the openai SDK's own Live types (``openai.types.live``)."""

from __future__ import annotations

import asyncio

import pytest
from openai import OpenAI
from openai.types.live import (
    InputTranscriptDeltaEvent,
    OutputAudioDeltaEvent,
    OutputTranscriptDeltaEvent,
    SessionClosedEvent,
)

from captioner.core import CaptionEngine, replay
from captioner.core.estimators import ProportionalEstimator
from captioner.core.wire import LogRecord, parse_server_event
from captioner.edges.session import LiveOptions, LiveSession
from captioner.server import serve_embedded
from tests.sessions import pcm_b64


def audio(k: int, ms: float, start_ms=None, end_ms=None) -> dict:
    return OutputAudioDeltaEvent(type="session.output_audio.delta", delta=pcm_b64(int(ms * 24)),
                                 start_ms=start_ms, end_ms=end_ms).model_dump(exclude_none=True)


def said(k: int, text: str, start: int, end: int) -> dict:
    return OutputTranscriptDeltaEvent(type="session.output_transcript.delta", event_id=f"o{k}", delta=text,
                                      start_ms=start, end_ms=end).model_dump(exclude_none=True)


def heard(k: int, text: str, start: int, end: int) -> dict:
    return InputTranscriptDeltaEvent(type="session.input_transcript.delta", event_id=f"i{k}", delta=text,
                                     start_ms=start, end_ms=end).model_dump(exclude_none=True)


def run(timed: list[tuple[float, dict]]) -> CaptionEngine:
    records = [LogRecord(t / 1000.0, "server", e) for t, e in sorted(timed, key=lambda x: x[0])]
    return replay(records, estimator_factory=ProportionalEstimator)


def starts(engine: CaptionEngine) -> dict[str, float]:
    return {c.text: c.start_ms for c in engine.captions()}


def test_output_deltas_play_at_their_stream_position():
    """Stream position p (audio delivered, in order) is timeline ms p: a delta at T plays
    T ms after the stream's first sample, whenever its text arrived."""
    timed = [(40.0 + 25 * k, audio(k, 100)) for k in range(20)]  # 2 s of stream, 4x real time
    words = [("Hi", 300, 500), (" there", 520, 900), (" friend", 1210, 1700)]
    timed += [(10.0 + k, said(k, w, s, e)) for k, (w, s, e) in enumerate(words[:2])]  # text ahead
    timed += [(3000.0, said(2, *words[2]))]  # text long after its audio played
    engine = run(timed)
    (item,) = engine.timeline().items
    assert item.timing == "provider"
    got = starts(engine)
    for w, s, _ in words:
        assert got[w] == pytest.approx(item.start_ms + s, abs=0.05)
        assert engine.played_ms(item.item_id, got[w]) == pytest.approx(s, abs=0.05)  # the mapped position


def test_user_turn_ends_the_assistant_turn_and_input_is_on_the_capture_clock():
    timed = [(40.0 + 25 * k, audio(k, 100)) for k in range(10)]  # turn 1: stream 0..1000
    timed += [(50.0, said(0, "One", 100, 400))]
    timed += [(1500.0, heard(0, "Hello", 1100, 1400)), (1510.0, heard(1, " you", 1400, 1600))]
    timed += [(1700.0 + 25 * k, audio(10 + k, 100)) for k in range(10)]  # turn 2: stream 1000..2000
    timed += [(1710.0, said(1, "Two", 1300, 1500))]
    engine = run(timed)
    items = {i.item_id: i for i in engine.timeline().items}
    assert set(items) == {"live_out_1", "live_in_1", "live_out_2"}
    got = starts(engine)
    assert got["One"] == pytest.approx(items["live_out_1"].start_ms + 100, abs=0.05)
    assert got["Two"] == pytest.approx(items["live_out_2"].start_ms + 300, abs=0.05)  # 1300 - turn at 1000
    assert got["Hello"] == pytest.approx(1100.0) and got[" you"] == pytest.approx(1400.0)
    assert items["live_in_1"].start_ms == 1100.0 and items["live_in_1"].end_ms == 1600.0


def test_sideband_timing_places_chunks_and_dropped_frames_play_as_silence():
    """Reflected chunks say where they lie: the first fixes the origin, a gap after a chunk
    (dropped frames) is played as silence so later deltas keep their timeline place."""
    timed = [(10.0, audio(0, 200, 5000, 5200)), (20.0, audio(1, 200, 5200, 5400)),
             (30.0, audio(2, 200, 5600, 5800))]  # 200 ms dropped between 5400 and 5600
    timed += [(15.0, said(0, "A", 5050, 5150)), (35.0, said(1, "B", 5650, 5750))]
    engine = run(timed)
    (item,) = engine.timeline().items
    got = starts(engine)
    assert got["A"] == pytest.approx(item.start_ms + 50, abs=0.05)
    assert got["B"] == pytest.approx(item.start_ms + 650, abs=0.05)  # not 450: the gap is kept
    assert item.audio_ms == pytest.approx(800.0)


def test_text_before_the_stream_began_is_skipped_with_a_reason():
    engine = run([(10.0, audio(0, 200, 5000, 5200)), (20.0, said(0, "early", 4000, 4100)),
                  (30.0, said(1, "ok", 5010, 5100))])
    assert [c.text for c in engine.captions()] == ["ok"]
    assert any("before the output stream began" in p.detail for p in engine.problems)


@pytest.mark.parametrize("bad", [{"start_ms": -5}, {"end_ms": 10, "start_ms": 50}, {"start_ms": "x"},
                                 {"start_ms": float("nan")}])
def test_malformed_live_deltas_are_skipped(bad):
    event = dict(said(0, "x", 0, 100), **bad)
    engine = CaptionEngine()
    assert engine.receive(event, 0.0) == []
    assert engine.problems and engine.problems[0].kind == "malformed"
    assert engine.captions() == []


def test_interrupt_sends_nothing_cuts_playback_and_the_timeline_goes_on():
    """No truncate in Live: a local interrupt stops playback, the turn ends; audio already
    delivered still counts on the stream, so the next turn's deltas stay exact."""
    engine = CaptionEngine(estimator_factory=ProportionalEstimator)
    for k in range(10):  # 1000 ms delivered at once
        engine.receive(audio(k, 100), 0.0)
    engine.receive(said(0, "early", 100, 300), 0.0)
    engine.receive(said(1, "late", 800, 900), 0.0)
    engine.advance(400.0)
    assert engine.interrupt(400.0) == []
    assert [c.text for c in engine.captions()] == ["early"]
    assert engine.captions()[-1].truncated
    engine.receive(audio(10, 500), 500.0)  # the next turn: stream 1000..1500
    engine.receive(said(2, "next", 1200, 1400), 500.0)
    engine.advance(3000.0)
    nxt = next(c for c in engine.captions() if c.text == "next")
    item = next(i for i in engine.timeline().items if i.item_id == nxt.item_id)
    assert nxt.item_id != "live_out_1"
    assert nxt.start_ms == pytest.approx(item.start_ms + 200, abs=0.05)


def test_session_closed_finishes_every_turn():
    closed = SessionClosedEvent(type="session.closed", event_id="c", reason="close_requested",
                                session={"id": "s", "expires_at": 0, "model": "gpt-live-1", "object": "live.session",
                                         "status": "active"}, usage={"seconds": 1.0}).model_dump()
    engine = run([(0.0, audio(0, 300)), (1.0, said(0, "hi", 0, 200)), (2.0, closed)])
    assert all(c.final for c in engine.captions())
    assert parse_server_event(closed).reason == "close_requested"


# --- end to end against the embedded server --------------------------------------------------

def test_official_sdk_live_client_against_the_embedded_server():
    """The openai SDK's Live client talks to ``captioner serve``'s /v1/live; every event
    it receives, fed to the engine, captions each output delta at its given time."""

    async def main() -> list[tuple[float, dict]]:
        async with serve_embedded(voice="espeak:en-us", port=0, pace=0) as url:
            def client() -> list[tuple[float, dict]]:
                got: list[tuple[float, dict]] = []
                with OpenAI(api_key="x", websocket_base_url=url).live.connect() as conn:
                    conn.send({"type": "session.start", "session": {
                        "model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm", "rate": 24000}}}})
                    assert conn.recv().type == "session.started"
                    conn.send({"type": "response.create"})
                    while True:
                        event = conn.recv()
                        got.append((float(len(got)), event.model_dump(exclude_none=True)))
                        if event.type == "session.output_transcript.delta" and event.delta.strip() == ".":
                            break
                    conn.send({"type": "session.close"})  # all was sent at once (pace 0): the rest comes first
                    while True:
                        event = conn.recv()
                        got.append((float(len(got)), event.model_dump(exclude_none=True)))
                        if event.type == "session.closed":
                            break
                return got

            return await asyncio.to_thread(client)

    events = asyncio.run(main())
    deltas = [e for _, e in events if e["type"] == "session.output_transcript.delta"]
    assert len(deltas) > 5
    engine = run(events)
    (item,) = [i for i in engine.timeline().items if i.role == "assistant"]
    caps = [c for c in engine.captions() if c.role == "assistant"]
    assert [c.text for c in caps] == [d["delta"] for d in deltas]
    for c, d in zip(caps, deltas):  # stream position = timeline ms: the turn's stream starts at 0
        assert c.start_ms - item.start_ms == pytest.approx(d["start_ms"], abs=0.05)


def test_captioner_live_against_the_embedded_live_server(tmp_path):
    """``captioner live --dialect live``: captions land where the server's word times say
    (within 2 ms: the server rounds to whole ms), and the session log replays the same."""

    async def main():
        async with serve_embedded(voice="espeak:en-us", port=0, pace=4.0) as url:
            opts = LiveOptions(url=url, model="gpt-live-1", dialect="live", say=["go"], output="virtual",
                               mic="off", exit_when_done=True, key_interrupt=False, max_seconds=60,
                               log_path=tmp_path / "live.jsonl")
            return await LiveSession(opts).run()

    result = asyncio.run(main())
    (item,) = [i for i in result.timeline.items if i.role == "assistant"]
    assert item.timing == "provider"
    from captioner.edges.files import read_session_log

    records, errors = read_session_log(tmp_path / "live.jsonl")
    assert not errors
    deltas = [r.event for r in records if r.event.get("type") == "session.output_transcript.delta"]
    caps = [c for c in result.captions if c.item_id == item.item_id]
    assert len(caps) == len(deltas) > 5
    for c, d in zip(caps, deltas):
        assert abs((c.start_ms - item.start_ms) - d["start_ms"]) <= 2.0
    again = replay(records, estimator_factory=ProportionalEstimator)
    (replayed,) = [i for i in again.timeline().items if i.role == "assistant"]
    assert [c.start_ms - replayed.start_ms for c in again.captions()] == pytest.approx(
        [c.start_ms - item.start_ms for c in caps], abs=0.05)


def test_text_ahead_of_its_audio_waits_for_it_and_lands_in_the_next_turn():
    """The answer's text can arrive before the user's transcript that ends the previous turn:
    it waits for the audio at its start, so it lands in the turn that plays it."""
    timed = [(40.0 + 25 * k, audio(k, 100)) for k in range(10)]  # turn 1: stream 0..1000
    timed += [(1400.0, said(0, "Next", 1300, 1500))]  # ahead of everything below
    timed += [(1500.0, heard(0, "Hello", 1000, 1200))]  # the user: turn 1 is over
    timed += [(1600.0 + 25 * k, audio(10 + k, 100)) for k in range(10)]  # turn 2: stream 1000..2000
    engine = run(timed)
    (cap,) = [c for c in engine.captions() if c.text == "Next"]
    assert cap.item_id == "live_out_2"
    item = next(i for i in engine.timeline().items if i.item_id == "live_out_2")
    assert cap.start_ms == pytest.approx(item.start_ms + 300, abs=0.05)


def test_overlapping_sideband_chunk_is_played_once():
    timed = [(10.0, audio(0, 200, 1000, 1200)), (20.0, audio(1, 200, 1100, 1300)),  # 100 ms overlap
             (30.0, audio(2, 200, 1300, 1500)), (35.0, said(0, "C", 1350, 1450))]
    engine = run(timed)
    (item,) = engine.timeline().items
    assert item.audio_ms == pytest.approx(500.0)
    assert starts(engine)["C"] == pytest.approx(item.start_ms + 350, abs=0.05)
    assert any("overlap" in p.detail for p in engine.problems)
