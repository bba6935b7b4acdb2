"""Small input, bounded work: a session of 100,000 one-character transcript deltas.

A hostile (or broken) server can split its text into tiny deltas; replaying the session
and writing its subtitles must stay linear in the input. Prints the CPU time of the
replay (default estimator: forced alignment) and of the SRT export, against the time to
merely parse the log's lines measured in the same run; then, ``--repeats`` times, the
CPU of what ``captioner replay LOG --srt F`` does with the log written to a file
(:func:`captioner.edges.batch.replay_log`: read, replay, export) and the share of it the
cyclic garbage collector took, with the median. Run::

    .venv/bin/python benchmarks/tiny_deltas.py [--deltas 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from captioner.core import replay
from captioner.core.render import export_captions
from captioner.core.wire import parse_session_log
from captioner.edges.batch import ReplayJob, replay_log


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
    p.add_argument("--repeats", type=int, default=5, help="runs of the replay command's work")
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
    del records, engine, captions, srt
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "tiny.jsonl"
        log_path.write_text("\n".join(lines) + "\n")
        del lines
        runs = [cli_replay(log_path, Path(tmp) / "tiny.srt") for _ in range(args.repeats)]
    for cpu, gc_s in runs:
        print(f"captioner replay LOG --srt: CPU {cpu:.2f} s, of it the garbage collector {gc_s:.2f} s")
    print(f"median of {len(runs)}: {statistics.median(r[0] for r in runs):.2f} s "
          f"(garbage collector {statistics.median(r[1] for r in runs):.2f} s)")
    return 0


def cli_replay(log_path: Path, srt_path: Path) -> tuple[float, float]:
    """CPU seconds of ``captioner replay LOG --srt F``'s work, and of the cyclic GC in it."""
    spent = [0.0, 0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            spent[1] = time.process_time()
        else:
            spent[0] += time.process_time() - spent[1]

    gc.collect()
    gc.callbacks.append(on_gc)
    try:
        t0 = time.process_time()
        replay_log(ReplayJob(log_path, {"srt": srt_path}))
        return time.process_time() - t0, spent[0]
    finally:
        gc.callbacks.remove(on_gc)


if __name__ == "__main__":
    sys.exit(main())
