"""WebRTC on loopback: how late the client forwards track audio, and where the marks fall.

An aiortc client talks to the embedded server's WebRTC endpoint on 127.0.0.1 and asks
for a few spoken answers. Measured, on one monotonic clock (both peers in this process):

- frame latency: the server's track handing a frame (pts) to aiortc -> the client
  forwarding the frame with the same pts as ``captioner.track_audio.delta``
  (Opus encode, RTP, jitter buffer, decode, soxr);
- speech onset / end: the first / last server frame with speech -> the first / last
  forwarded chunk with speech;
- marks: arrival of ``output_audio_buffer.started`` / ``.stopped`` at the client relative
  to the first / last forwarded chunk with speech (negative: the mark came first).

    .venv/bin/python benchmarks/webrtc_latency.py [--answers 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import time

import numpy as np

from captioner.edges.webrtc import TRACK_EVENT, open_webrtc
from captioner.server._webrtc import serve_webrtc

SPEECH_RMS = 300.0


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def summary(name: str, ms: list[float]) -> str:
    return (f"{name:<34} n={len(ms):4d}  median {statistics.median(ms):7.1f} ms  "
            f"p95 {pct(ms, 0.95):7.1f} ms  min {min(ms):7.1f}  max {max(ms):7.1f}")


async def main(answers: int) -> None:
    calls = []
    forwarded: dict[int, float] = {}  # client: pts -> monotonic s forwarded

    def on_frame(pts: int, at: float, event: dict) -> None:
        forwarded.setdefault(pts, at)

    async with serve_webrtc(on_call=calls.append, script="story") as url:
        async with open_webrtc(url, "bench", False, None, on_frame=on_frame) as conn:
            events: list[tuple[float, dict]] = []
            chunks: list[tuple[float, float]] = []  # (arrival, rms)

            async def read() -> None:
                async for message in conn:
                    event = json.loads(message)
                    now = time.monotonic()
                    if event["type"] == TRACK_EVENT:
                        pcm = np.frombuffer(base64.b64decode(event["delta"]), "<i2").astype(np.float64)
                        chunks.append((now, float(np.sqrt(np.mean(pcm ** 2))) if len(pcm) else 0.0))
                    else:
                        events.append((now, event))

            reader = asyncio.get_running_loop().create_task(read())
            marks_start, marks_stop, onset, end = [], [], [], []
            for _ in range(answers):
                n_events, n_chunks = len(events), len(chunks)
                n_server = len(calls[0].stats.speech_frame_times) if calls else 0
                await conn.send(json.dumps({"type": "response.create"}))
                while not any(e["type"] == "output_audio_buffer.stopped" for _, e in events[n_events:]):
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.5)
                call = calls[0]
                server_speech = call.stats.speech_frame_times[n_server:]
                client_speech = [t for t, rms in chunks[n_chunks:] if rms > SPEECH_RMS]
                started = next(t for t, e in events[n_events:] if e["type"] == "output_audio_buffer.started")
                stopped = next(t for t, e in events[n_events:] if e["type"] == "output_audio_buffer.stopped")
                onset.append((client_speech[0] - server_speech[0]) * 1000)
                end.append((client_speech[-1] - server_speech[-1]) * 1000)
                marks_start.append((started - client_speech[0]) * 1000)
                marks_stop.append((stopped - client_speech[-1]) * 1000)
            reader.cancel()
            sent = calls[0].stats.frame_times
            latency = [(forwarded[pts] - sent[pts]) * 1000 for pts in forwarded if pts in sent]
    print(f"loopback WebRTC, {answers} answers, {len(latency)} frames matched by pts")
    print(summary("frame: track -> forwarded", latency))
    print(summary("speech onset: server -> forwarded", onset))
    print(summary("speech end: server -> forwarded", end))
    print(summary("started mark - first speech fwd", marks_start))
    print(summary("stopped mark - last speech fwd", marks_stop))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=3)
    asyncio.run(main(parser.parse_args().answers))
