"""Small input, bounded work: a session of 100,000 one-character transcript deltas.

A hostile (or broken) server can split its text into tiny deltas; replaying the session
and writing its subtitles must stay linear in the input. Prints the CPU time of the
replay (default estimator: forced alignment) and of the SRT export, against the time to
merely parse the log's lines measured in the same run. Run::

    .venv/bin/python benchmarks/tiny_deltas.py [--deltas 100000]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time

import numpy as np

from captioner.core import replay
from captioner.core.render import export_captions
from captioner.core.wire import parse_session_log


def tiny_log(n: int, audio_s: float = 2.0) -> list[str]:
    """n deltas of one character (words of three letters), then audio_s of tone bursts."""
    lines = [json.dumps({"t": 0.0, "from": "server", "event": {
        "type": "response.created", "response": {"id": "r1", "conversation_id": "c"}}})]
    for k in range(n):
        lines.append(json.dumps({"t": k * 1e-5, "from": "server", "event": {
            "type": "response.output_audio_transcript.delta", "item_id": "i1", "response_id": "r1",
            "content_index": 0, "delta": " b" if k % 3 == 0 else "a"}}))
    t = np.arange(int(24000 * audio_s)) / 24000
    pcm = (np.sin(2 * np.pi * 180 * t) * 6000 * (np.sin(2 * np.pi * 3 * t) > 0)).astype("<i2")
    lines.append(json.dumps({"t": 1.0, "from": "server", "event": {
        "type": "response.output_audio.delta", "item_id": "i1", "response_id": "r1", "content_index": 0,
        "delta": base64.b64encode(pcm.tobytes()).decode()}}))
    lines.append(json.dumps({"t": 1.1, "from": "server", "event": {
        "type": "response.output_audio.done", "item_id": "i1", "response_id": "r1", "content_index": 0}}))
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--deltas", type=int, default=100_000)
    args = p.parse_args(argv)
    lines = tiny_log(args.deltas)
    t0 = time.process_time()
    records, _ = parse_session_log(lines)
    parse = time.process_time() - t0
    t0 = time.process_time()
    engine = replay(records)
    captions = engine.captions()
    t1 = time.process_time()
    srt = export_captions(captions, "srt")
    t2 = time.process_time()
    print(f"{args.deltas} deltas -> {len(captions)} captions, {srt.count(' --> ')} SRT cues; CPU: parse "
          f"{parse:.2f} s, replay {t1 - t0:.2f} s, SRT {t2 - t1:.2f} s, total {t2 - t0 + parse:.2f} s "
          f"({(t2 - t0 + parse) / max(parse, 1e-9):.0f}x the parse)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
