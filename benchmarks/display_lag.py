"""Display lag behind the playback clock: terminal (fake clock) and browser overlay (headless Chromium).

Lag of a word = the playback-clock time at which a display first shows it minus the time it
may first be shown (its caption's start, or arrival when later). Target: <= 40 ms (one frame).

Terminal: the engine runs on a fake clock stepped by a display tick loop; the rendering cost
of each update (rich, real wall time) is added to the tick time. Two loops are measured:
a fixed 40 ms tick (live.py's TICK_MS) and a tick that also wakes at the display's next word
boundary (``Displays.next_change_ms``). The baseline, measured in the same run, is what the
peers do: show text when it arrives (negative = shown before it is heard).

Browser: the overlay server runs on a real clock; the page reports the interpolated
playback-clock time at which it committed each word to the DOM in an animation frame.

Run: .venv/bin/python benchmarks/display_lag.py [--no-browser] [--items N]
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from captioner.core import CaptionEngine  # noqa: E402
from captioner.edges.displays import Displays  # noqa: E402
from captioner.edges.terminal import TerminalDisplay  # noqa: E402
from captioner.edges.overlay import OverlayServer  # noqa: E402

WORDS = ("the quick brown fox jumps over a lazy dog while seven wizards quietly "
         "hex every bold jumping zebra near the old harbour").split()


def session(items: int, seed: int = 1, start_ms: float = 0.0) -> CaptionEngine:
    """Assistant items back to back: tone audio, one timed transcript delta per word.

    Text arrives in bursts ahead of the audio, as from a realtime server."""
    rng = np.random.default_rng(seed)
    eng = CaptionEngine()
    t = start_ms
    for n in range(items):
        rid, iid = f"r{n}", f"i{n}"
        durs = rng.uniform(150, 450, size=int(rng.integers(8, 20)))
        words = [WORDS[int(k)] for k in rng.integers(0, len(WORDS), size=len(durs))]
        total = float(durs.sum())
        eng.receive({"type": "response.created", "response": {"id": rid}}, t)
        audio = (np.sin(np.arange(int(24 * total)) / 7.0) * 5000).astype(np.int16)
        for i in range(0, len(audio), 4800):
            eng.receive({"type": "response.output_audio.delta", "response_id": rid, "item_id": iid,
                         "output_index": 0, "content_index": 0,
                         "delta": base64.b64encode(audio[i:i + 4800].tobytes()).decode()}, t)
        for k, (w, d) in enumerate(zip(words, durs)):
            eng.receive({"type": "response.output_audio_transcript.delta", "response_id": rid, "item_id": iid,
                         "output_index": 0, "content_index": 0, "delta": (" " if k else "") + w,
                         "duration_ms": float(d)}, t + 60.0 * k)
        eng.receive({"type": "response.done", "response": {"id": rid, "status": "completed",
                                                             "output": [{"id": iid}]}}, t)
        t += total + 400.0
    return eng


def stats(lags: list[float]) -> str:
    if not lags:
        return "n=0"
    q = statistics.quantiles(lags, n=20) if len(lags) > 1 else [lags[0]] * 19
    return f"n={len(lags):4d}  median {statistics.median(lags):7.1f} ms  p95 {q[18]:7.1f} ms  max {max(lags):7.1f} ms"


def _word_ids(lay):
    """(position within its item, (item_id, reveal_ms, text), reveal_ms) per word piece:
    the position identifies a word across caption revisions that move its timing."""
    counts: dict[str, int] = {}
    for p in lay.pieces:
        if p.kind == "word":
            n = counts.get(p.item_id, 0)
            counts[p.item_id] = n + 1
            yield n, (p.item_id, p.reveal_ms, p.text), p.reveal_ms


def terminal_lag(items: int, boundary_aware: bool, tick_ms: float = 40.0) -> tuple[list[float], list[float]]:
    """Returns (lags, render costs in ms)."""
    eng = session(items)
    clock = [0.0]
    console = Console(file=io.StringIO(), width=100, force_terminal=True, color_system="truecolor")
    term = TerminalDisplay("rollup", 2, console=console)
    displays = Displays([term], lambda: clock[0])
    first_seen: dict[tuple[str, int], float] = {}
    costs: list[float] = []
    t = 0.0
    while True:
        clock[0] = t
        eng.advance(t)
        w0 = time.perf_counter()
        displays.update(eng)
        cost = (time.perf_counter() - w0) * 1000.0
        costs.append(cost)
        if term.view is not None and term.cache.layout is not None:
            ordinal = {key: n for n, key, _ in _word_ids(term.cache.layout)}
            for w in term.view.words:  # what the update actually rendered
                if w.kind == "word":
                    first_seen.setdefault((w.item_id, ordinal[(w.item_id, w.reveal_ms, w.text)]), t + cost)
        if eng.idle() and t > 1000:
            break
        nxt = t + tick_ms
        if boundary_aware and displays.next_change_ms is not None:
            nxt = min(nxt, displays.next_change_ms)
        t = max(nxt, t + 0.001)
    displays.close()
    final = {(key[0], n): reveal for n, key, reveal in _word_ids(term.cache.layout)} if term.cache.layout else {}
    lags = [seen_at - final[key] for key, seen_at in first_seen.items()]
    return lags, costs


def arrival_baseline(items: int) -> list[float]:
    """Peers' display: a word is shown when its text arrives; lag vs when it is heard."""
    eng = session(items)
    eng.advance(10 ** 7)
    return [c.arrived_ms - c.start_ms for c in eng.captions()]


def browser_lag(items: int) -> tuple[list[float], list[float]]:
    try:
        from tests.test_overlay_browser import headless_chromium
    except Exception as exc:  # pragma: no cover
        print(f"browser: skipped ({exc})")
        return [], []
    import pytest

    t0 = [None]

    def now_ms() -> float:
        return 0.0 if t0[0] is None else (time.monotonic() - t0[0]) * 1000.0

    eng = session(items, start_ms=1500.0)  # leave the page time to load
    eng.advance(10 ** 7)
    server = OverlayServer(now_ms, port=0, clock_rate=1.0, sync_interval_s=0.25).start()
    server.publish(eng.captions(), eng.revision)
    end_ms = max(c.end_ms for c in eng.captions()) + 500.0
    try:
        with headless_chromium(server.url(mode="rollup", lines=2)):
            if not server.client_connected.wait(30):
                print("browser: page never connected")
                return [], []
            t0[0] = time.monotonic()
            server.sync()
            while now_ms() < end_ms:
                time.sleep(0.1)
            time.sleep(0.5)  # last reports
    except pytest.skip.Exception as exc:
        print(f"browser: skipped ({exc})")
        return [], []
    finally:
        server.close()
    lags, sync_errors = [], []
    for r in server.reports:
        if r.get("type") != "painted":
            continue
        if r.get("sync_error_ms") is not None:
            sync_errors.append(float(r["sync_error_ms"]))
        for p in r.get("pieces", []):
            if p.get("kind") == "word" and p["reveal_ms"] >= 1000.0:
                lags.append(p["painted_ms"] - p["reveal_ms"])
    return lags, sync_errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=12)
    ap.add_argument("--browser-items", type=int, default=4)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()

    base = arrival_baseline(args.items)
    print(f"baseline, text shown on arrival (peers):  {stats(base)}  (negative: before it is heard)")
    fixed, costs = terminal_lag(args.items, boundary_aware=False)
    print(f"terminal, 40 ms tick:                      {stats(fixed)}")
    aware, costs2 = terminal_lag(args.items, boundary_aware=True)
    print(f"terminal, tick + word-boundary wake-ups:   {stats(aware)}")
    print(f"terminal update cost (rich render):        median {statistics.median(costs + costs2):.2f} ms"
          f"  p95 {statistics.quantiles(costs + costs2, n=20)[18]:.2f} ms")
    if not args.no_browser:
        lags, errs = browser_lag(args.browser_items)
        if lags:
            print(f"browser overlay (headless Chromium):       {stats(lags)}")
        if errs:
            print(f"browser clock sync error:                  median {statistics.median(errs):.1f} ms"
                  f"  max |err| {max(abs(e) for e in errs):.1f} ms")
    worst = max(statistics.quantiles(aware, n=20)[18], statistics.quantiles(fixed, n=20)[18])
    print(f"target p95 <= 40 ms: {'met' if worst <= 40 else 'NOT met'} (terminal worst p95 {worst:.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
