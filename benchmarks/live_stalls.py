"""How long caption estimation can keep a live session's audio callback waiting.

A sound card asks for audio from its own thread every few ms; when the session process
holds the GIL or the session lock longer than the device's buffer (50 ms for
``captioner live``), the listener hears a gap. This plays corpus sessions through a
CaptionEngine in real time, as a live session does: server events fed at their log
times, a display asking for captions every 40 ms, and a device thread pulling 10 ms
blocks on schedule, recording how late each block is served. Two ways to estimate:

* in-process: the default estimator runs in the session process, a bounded step per
  captions() call (what ``captioner live`` did before the worker);
* worker: ``DeferredEstimator`` + ``EstimateWorker``, alignment in a separate process
  (what ``captioner live`` does now).

Prints block lateness per mode (median, p99, max, blocks later than 40 ms) and how far
the two final timelines are apart (they should agree: an item's final timing depends
only on its data). ``--speed`` > 1 plays faster than real time (more work per second).

    .venv/bin/python benchmarks/live_stalls.py [--sessions 4] [--seed 1] [--speed 2]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import corpus  # noqa: E402

from captioner.core import CaptionEngine  # noqa: E402
from captioner.core.estimators import DeferredEstimator  # noqa: E402
from captioner.edges.worker import EstimateWorker  # noqa: E402

BLOCK_MS = 10.0
DISPLAY_MS = 10.0  # as timing.py observes the live view
DEVICE_LATENCY_MS = 50.0


def play(session: corpus.Session, worker_mode: bool, speed: float) -> tuple[list[float], dict, list]:
    """Block lateness (wall ms) over one session, each delta's final onset (item ms), and
    (live error, text led) for each scored delta: when it was first on screen minus when
    its word played."""
    lock = threading.RLock()
    engine = CaptionEngine(estimator_factory=DeferredEstimator) if worker_mode else CaptionEngine()
    worker = EstimateWorker(engine, lock) if worker_mode else None
    if worker is not None:
        worker.start()
        time.sleep(1.0)  # the worker process starts with the session, before any item
    events = [(line["t"] * 1000.0, line["event"]) for line in session.log if line["from"] == "server"]
    end_ms = max(t for t, _ in events) + sum(i.audio_ms for i in session.items) + 500.0
    t0 = time.perf_counter()

    def now_ms() -> float:
        return (time.perf_counter() - t0) * 1000.0 * speed

    lateness: list[float] = []
    done = threading.Event()

    def device() -> None:
        n = int(engine.sample_rate * BLOCK_MS / 1000)
        k = 0
        while not done.is_set():
            due = k * BLOCK_MS
            wait = (due - now_ms()) / speed / 1000.0
            if wait > 0:
                time.sleep(wait)
            with lock:
                engine.play(n, due + DEVICE_LATENCY_MS)
            lateness.append(max(0.0, now_ms() - due) / speed)  # wall ms
            k += 1

    thread = threading.Thread(target=device, daemon=True)
    thread.start()
    next_display = 0.0
    shown: dict[tuple[str, int], float] = {}
    for t, event in events + [(end_ms, None)]:
        while True:
            now = now_ms()
            if next_display <= min(now, t):
                with lock:
                    engine.step()  # in-process: the pump does the alignment here
                    captions = engine.captions()
                for c in captions:
                    if now >= c.shown_ms:
                        shown.setdefault((c.item_id, c.index), now)
                next_display += DISPLAY_MS
                continue
            if now >= t:
                break
            time.sleep(max(0.0, (min(t, next_display) - now) / speed / 1000.0))
        if event is not None:
            with lock:
                engine.receive(event, t)
    done.set()
    thread.join()
    if worker is not None:
        worker.settle()
        worker.close()
    with lock:
        engine.settle()
        final = {(item_id, i): span[0] for item_id in engine.item_ids()
                 for i, span in enumerate(engine.item_spans(item_id))}  # item ms: underruns aside
        live = []
        for item in session.items:
            for d in item.deltas:
                if d.onset_item_ms is not None and (item.item_id, d.index) in shown:
                    spoken = engine.item_time(item.item_id, d.onset_item_ms)
                    live.append((shown[(item.item_id, d.index)] - spoken, d.arrived_ms < spoken))
    return lateness, final, live


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--speed", type=float, default=2.0)
    args = p.parse_args(argv)
    sessions = list(corpus.generate(args.seed, args.sessions, timit=False))
    audio_s = sum(i.audio_ms for s in sessions for i in s.items) / 1000.0
    print(f"{len(sessions)} espeak sessions, {audio_s:.0f} s of assistant audio, played at {args.speed:g}x; "
          f"device: {BLOCK_MS:.0f} ms blocks, {DEVICE_LATENCY_MS:.0f} ms buffer")
    results: dict[str, tuple[list[float], dict, list]] = {}
    for mode in ("in-process", "worker"):
        late: list[float] = []
        finals: dict = {}
        lives: list = []
        for s in sessions:
            lateness, final, live = play(s, mode == "worker", args.speed)
            late += lateness
            finals.update({(s.name, *k): v for k, v in final.items()})
            lives += live
        results[mode] = (late, finals, lives)
    print("| estimation | blocks | lateness median | p99 | max | blocks > 40 ms late "
          "| live: shown > 40 ms early | live lateness when text leads: median | p95 | max "
          "| stalls (> 250 ms late, text there) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for mode, (late, _, live) in results.items():
        x = np.array(late)
        err = np.array([e for e, _ in live])
        led = np.array([e for e, lead in live if lead])
        print(f"| {mode} | {len(x)} | {np.median(x):.1f} | {np.percentile(x, 99):.1f} | {x.max():.1f} "
              f"| {int(np.sum(x > 40.0))} | {100 * np.mean(err < -40.0):.1f} % of {len(err)} "
              f"| {np.median(led):.0f} ms | {np.percentile(led, 95):.0f} ms | {led.max():.0f} ms "
              f"| {int(np.sum(led > 250.0))} |")
    print("(block lateness in wall ms; live figures in session ms)")
    a, b = results["in-process"][1], results["worker"][1]
    keys = sorted(set(a) & set(b))
    diff = np.array([abs(a[k] - b[k]) for k in keys])
    print(f"final timelines: {len(keys)} captions in both (of {len(a)}/{len(b)}); "
          f"|difference| median {np.median(diff):.1f} ms, max {diff.max():.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
