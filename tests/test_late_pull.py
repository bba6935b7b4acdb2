"""A player pulling late (a virtual player catching up after the event loop stalled) never
plays audio before it arrived: what the log says arrived at T plays at T at the earliest,
as replay plays it."""

from __future__ import annotations

import numpy as np

from captioner.core import CaptionEngine, replay
from captioner.core.wire import format_record, parse_session_log
from tests.sessions import pcm_b64


def _track(engine: CaptionEngine, at_ms: float) -> None:
    engine.receive({"type": "captioner.track_audio.delta", "delta": pcm_b64(24 * 100)}, at_ms)


def test_a_late_block_plays_silence_until_the_audio_arrived():
    engine = CaptionEngine()
    engine.receive({"type": "response.output_audio.delta", "item_id": "a", "response_id": "r",
                    "delta": pcm_b64(24 * 300)}, 100.0)
    # the loop stalled: the block due at 0 ms is pulled only now, after the audio came at 100 ms
    out = engine.play(24 * 200, 0.0)
    assert not out[: 24 * 100].any() and out[24 * 100:].any()
    (item,) = engine.timeline().items
    assert item.start_ms == 100.0


def test_a_catching_up_webrtc_player_matches_the_replay_of_its_log():
    events = [(0.0, {"type": "response.created", "response": {"id": "r1"}}),
              (1.0, {"type": "conversation.item.added", "item": {"id": "i1", "type": "message",
                                                                 "role": "assistant"}}),
              (10.0, {"type": "output_audio_buffer.started", "response_id": "r1"})]
    arrivals = [20.0, 120.0, 220.0, 420.0, 430.0, 440.0]  # a stall, then a burst
    live = CaptionEngine(transport="webrtc")
    for t, e in events:
        live.receive(e, t)
    pulled = 0.0
    for t in arrivals:  # the player runs late: it pulls only after each arrival
        _track(live, t)
        while pulled + 20.0 <= t + 20.0:
            live.play(480, pulled)
            pulled += 20.0
    while pulled < 1000.0:
        live.play(480, pulled)
        pulled += 20.0
    lines = [format_record("server", e, t / 1000.0) for t, e in events]
    lines += [format_record("server", {"type": "captioner.track_audio.delta", "delta": pcm_b64(24 * 100)},
                            t / 1000.0) for t in arrivals]
    records, errors = parse_session_log(lines)
    assert not errors
    again = replay(records)
    for i in range(0, 600, 50):
        assert np.isclose(live.played_ms("i1", 10.0 + i), again.played_ms("i1", 10.0 + i), atol=20.0)
    assert live.played_ms("i1", 400.0) <= 300.0  # the stalled audio never played early
