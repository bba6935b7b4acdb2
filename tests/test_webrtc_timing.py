"""Caption timing over real WebRTC on loopback (aiortc client <-> the embedded server)."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from captioner.core import replay
from captioner.core.wire import format_record, parse_session_log
from captioner.edges.files import read_session_log
from captioner.edges.session import LiveOptions, LiveSession
from captioner.edges.webrtc import TRACK_EVENT
from captioner.server import espeak as tts
from captioner.server._webrtc import serve_webrtc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from webrtc_timing import _lag, last_played, opus_track  # noqa: E402  (one implementation for test and benchmark)

needs_voice = pytest.mark.skipif(not tts.available(), reason="libespeak-ng not installed")

ANSWER = "The lighthouse keeper climbed the stairs every evening, and counted the ships that passed the rocks."
RATE = 24000


def _pcm(delta: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(delta), "<i2")


def _live(tmp_path, **opts):
    calls = []

    async def main():
        async with serve_webrtc(on_call=calls.append, script=str(tmp_path / "script.txt")) as url:
            options = LiveOptions(url=url, transport="webrtc", model="embedded", say=["Tell me a story."],
                                  output="virtual", mic="off", server_vad=False, exit_when_done=True,
                                  max_seconds=30, key_interrupt=False, log_path=tmp_path / "rtc.jsonl", **opts)
            return await LiveSession(options).run()

    (tmp_path / "script.txt").write_text(ANSWER + "\n")
    result = asyncio.run(main())
    assert result.error is None
    records, errors = read_session_log(tmp_path / "rtc.jsonl")
    assert not errors
    return result, records, calls[0]


@needs_voice
def test_track_captions_are_timed_like_websocket_on_the_same_audio(tmp_path):
    _, records, call = _live(tmp_path)
    rtc = replay(records)
    (item_id,) = [i for i in rtc.item_ids() if rtc.item_state(i).role == "assistant"]
    assert rtc.item_state(item_id).source.value == "track"
    # the same answer over WebSocket: the events the server generated, its audio as events
    lines = [format_record("server", event, t / 1000.0) for t, event in call.stats.generated]
    ws_records, errors = parse_session_log(lines)
    assert not errors and any("audio.delta" in r.event["type"] for r in ws_records)
    ws = replay(ws_records)
    # where the generated audio starts inside the item's track audio (the marks lead it)
    started = next(k for k, r in enumerate(records) if r.event["type"] == "output_audio_buffer.started")
    track = np.concatenate([_pcm(r.event["delta"]) for r in records[started:] if r.event["type"] == TRACK_EVENT])
    generated = np.concatenate([_pcm(e["delta"]) for _, e in call.stats.generated
                                if e["type"] in ("response.output_audio.delta", "response.audio.delta")])
    offset_ms = 1000.0 * _lag(generated[: RATE], track[: 3 * RATE]) / RATE
    assert 0.0 <= offset_ms < 500.0
    rtc_spans, ws_spans = rtc.item_spans(item_id), ws.item_spans(item_id)
    texts = [c.text for c in sorted(ws.captions(), key=lambda c: c.index)]
    assert len(rtc_spans) == len(ws_spans) == len(texts) > 10
    diffs = [abs(r[0] - offset_ms - w[0]) for r, w, t in zip(rtc_spans, ws_spans, texts) if t.strip(" ,.")]
    # Opus is lossy and the aligner works in 10 ms frames: a word may move a frame or two.
    # Where a word starts with a stop after a stop ("that passed"), the closure between them
    # belongs to either word: codec noise can move that one boundary by the closure's length
    # (76 ms seen), so one word may stray; the transport itself must add nothing.
    assert np.median(diffs) <= 10.0
    assert sorted(diffs)[-2] <= 40.0


@needs_voice
def test_interrupted_over_webrtc_captions_end_where_the_player_stopped(tmp_path):
    result, records, call = _live(tmp_path, interrupt_after_ms=1500, record=True)
    (cut,) = result.interruptions
    truncate = cut.truncate
    assert truncate is not None
    # the client cleared the server's buffer, which the server confirmed
    received = [e["type"] for e in call.stats.received]
    assert received.index("conversation.item.truncate") < received.index("output_audio_buffer.clear")
    assert "output_audio_buffer.cleared" in [e["type"] for e in call.stats.sent]
    # the last item sample the virtual player handed out, found in the item's track audio
    started = next(k for k, r in enumerate(records) if r.event["type"] == "output_audio_buffer.started")
    track = np.concatenate([_pcm(r.event["delta"]) for r in records[started:] if r.event["type"] == TRACK_EVENT])
    stop = int(round((cut.at_ms - result.recording_start_ms) * RATE / 1000.0))
    last_ms = 1000.0 * last_played(result.recording[:stop], track, RATE // 2) / RATE
    assert abs(truncate.audio_end_ms - last_ms) <= 20.0  # the bound
    # the captions end at the played offset
    caps = [c for c in result.captions if c.item_id == truncate.item_id]
    assert caps and caps[-1].truncated
    end = result.engine.item_time(truncate.item_id, truncate.audio_end_ms)
    assert caps[-1].end_ms == pytest.approx(end, abs=1.0)
    assert all(c.start_ms < end for c in caps)
    assert json.dumps(result.timeline.items[0].truncated_at_ms) == str(truncate.audio_end_ms)


def test_the_benchmarks_opus_track_keeps_the_voice_where_the_listener_hears_it():
    # bursts of noise (speech-like onsets) through soxr, Opus and the client's TrackAudio
    rng = np.random.default_rng(3)
    envelope = np.repeat(rng.random(40) > 0.5, RATE // 20).astype(np.float64)
    x = np.asarray(rng.normal(0, 4000, len(envelope)) * envelope, np.int16)
    chunks = opus_track(x, RATE)
    # played back to back, from a few ms before the start: the codec's look-ahead taken off
    assert all(abs(a + 1000.0 * len(p) / RATE - b) < 1e-6 for (a, p), (b, _) in zip(chunks, chunks[1:]))
    assert -10.0 < chunks[0][0] < 0.0
    heard = np.zeros(len(x) + RATE, np.int16)
    for at_ms, pcm in chunks:
        k = int(round(at_ms * RATE / 1000.0))
        if k >= 0:
            heard[k:k + len(pcm)] = pcm[: len(heard) - k]
    window = x[RATE // 2: RATE]  # a stretch of it is found where it was, within a millisecond
    assert abs(_lag(window, heard[: 2 * RATE]) - RATE // 2) <= RATE // 1000
