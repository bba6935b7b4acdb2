"""Rebuild captioner/examples/seed001_webrtc_marks.jsonl: seed 001 as a browser would record it over WebRTC.

The same event sequence as ``seed001_story_truncated.jsonl`` (a story truncated at 2449 ms)
with what WebRTC changes: no audio events at all (the voice is on the media track, which
a browser log does not hold); ``output_audio_buffer.started`` when the server starts
playing the answer; after the client's truncate + cancel, the client's
``output_audio_buffer.clear`` and the server's ``output_audio_buffer.cleared``.
Captions come from the marks and the text alone (marks-only estimation).
Run: .venv/bin/python examples/make_seed001_webrtc_marks.py
"""

from __future__ import annotations

import json
from pathlib import Path

from captioner.core.wire import format_record

HERE = Path(__file__).resolve().parent.parent / "captioner" / "examples"  # the bundled logs
SOURCE = HERE / "seed001_story_truncated.jsonl"
AUDIO = ("response.audio.delta", "response.output_audio.delta")


def build(lines: list[str]) -> list[str]:
    records = [json.loads(line) for line in lines if line.strip()]
    audio = [r for r in records if r["event"].get("type") in AUDIO]
    response_id = audio[0]["event"]["response_id"]
    started = audio[0]["t"]  # the server starts playing when its first audio goes out
    timed: list[tuple[float, int, str, dict]] = []
    for n, r in enumerate(records):
        kind = r["event"].get("type")
        if kind in AUDIO:
            continue
        timed.append((r["t"], 2 * n, r["from"], r["event"]))
        if r["from"] == "client" and kind == "response.cancel":  # the client clears the buffer
            timed.append((r["t"] + 0.001, 2 * n + 1, "client",
                          {"event_id": "evt_clear", "type": "output_audio_buffer.clear"}))
            timed.append((r["t"] + 0.12, 2 * n + 1, "server",
                          {"event_id": "event_cleared", "type": "output_audio_buffer.cleared",
                           "response_id": response_id}))
    timed.append((started, -1, "server", {"event_id": "event_started", "type": "output_audio_buffer.started",
                                          "response_id": response_id}))
    timed.sort(key=lambda x: (x[0], x[1]))
    return [format_record(source, event, t) for t, _, source, event in timed]


if __name__ == "__main__":
    out = HERE / "seed001_webrtc_marks.jsonl"
    out.write_text("\n".join(build(SOURCE.read_text().splitlines())) + "\n")
    print(f"wrote {out}")
