"""Forced-alignment decoder settings: cost against final timing accuracy, one run.

Replays a subset of the corpus (``corpus.py``: espeak sessions and TIMIT sessions) with
the default estimator under each pocketsphinx setting given, and prints per setting the
CPU of the offline replay (the final pass, what ``captioner replay`` does) as % of a core
per audio s and as a ratio to the first setting, optionally the live cost (a step after
every event, as ``timing.py``'s estimator cost), the decodes per item, the final onset
error (median / p95 abs ms) on espeak and on TIMIT, and where the CPU goes (resampling,
dither, mean measurement, each kind of decode, best path, the rest). Choose from the
Pareto front with the accuracy unchanged (within run-to-run noise) on both::

    python benchmarks/align_sweep.py [--sessions 8] [--timit 6] [--live] [--repeats 3]
        [--set NAME:key=value,key=value ...]

Without ``--set`` it sweeps a built-in grid around the shipped settings
(``_sphinx.DECODER_OPTIONS``); each ``--set`` is applied on top of them.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402
import timing  # noqa: E402

from captioner.core.estimators import ForcedAlignEstimator  # noqa: E402
from captioner.core.estimators import _forced, _sphinx  # noqa: E402

# name -> changes to the shipped settings
GRID: dict[str, dict] = {
    "shipped": {},
    "topn=4 (pocketsphinx's)": dict(topn=4),
    "topn=3": dict(topn=3),
    "topn=1": dict(topn=1),
    "ds=2": dict(ds=2),
    "maxhmmpf=500": dict(maxhmmpf=500),
    "beam=1e-45": dict(beam=1e-45, pbeam=1e-45),
    "beam=1e-30": dict(beam=1e-30, pbeam=1e-30, wbeam=1e-25),
}


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_set(spec: str) -> tuple[str, dict]:
    name, _, body = spec.partition(":")
    changes = dict(kv.split("=", 1) for kv in body.split(",") if kv) if body else {}
    return name, {k: _value(v) for k, v in changes.items()}


class Tally:
    """While in use: the aligner's decodes per kind (utterances started, by their
    options; mean measurements), samples fed, and CPU s per part of the work."""

    def __init__(self) -> None:
        self.counts: collections.Counter = collections.Counter()
        self.cpu: collections.Counter = collections.Counter()
        self._saved = [(owner, name, getattr(owner, name)) for owner, name in (
            (_sphinx.Aligner, "start"), (_sphinx.Aligner, "measure_cmn"), (_sphinx.Aligner, "feed"),
            (_sphinx.Aligner, "finish"), (_forced, "dither"), (soxr.ResampleStream, "resample_chunk"))]
        original = {name: fn for _, name, fn in self._saved}
        counts, cpu = self.counts, self.cpu

        def timed(part, fn, *args, **kwargs):
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                cpu[part] += time.process_time() - t0

        def start(aligner, words, offset_ms=0.0, **how):
            kind = ",".join(f"{k}={v}" for k, v in sorted(how.items()) if k != "cmn") or "default"
            aligner.tally_kind = "decode " + kind
            counts[aligner.tally_kind] += 1
            return timed("grammar", original["start"], aligner, words, offset_ms, **how)

        def measure_cmn(aligner, pcm):
            counts["mean measurement"] += 1
            counts["samples fed"] += len(pcm)
            return timed("mean measurement (front end)", original["measure_cmn"], aligner, pcm)

        def feed(aligner, pcm):
            counts["samples fed"] += len(pcm)
            return timed(getattr(aligner, "tally_kind", "decode"), original["feed"], aligner, pcm)

        def finish(aligner):
            return timed("best path", original["finish"], aligner)

        def dither(pcm, first):
            return timed("dither", original["dither"], pcm, first)

        def resample_chunk(stream, x, last=False):
            return timed("resampling", original["resample_chunk"], stream, x, last)

        patched = dict(start=start, measure_cmn=measure_cmn, feed=feed, finish=finish, dither=dither,
                       resample_chunk=resample_chunk)
        for owner, name, _ in self._saved:
            setattr(owner, name, patched[name])

    def close(self) -> None:
        for owner, name, fn in self._saved:
            setattr(owner, name, fn)


def use(options: dict) -> None:
    """Aligners made from now on use ``options`` (the pool's idle ones are dropped)."""
    _sphinx.DECODER_OPTIONS.clear()
    _sphinx.DECODER_OPTIONS.update(options)
    _sphinx.ALIGNERS._idle.clear()
    _sphinx.ALIGNERS.give(_sphinx.ALIGNERS.take())  # loading the model is not per-item cost


def measure(sessions: list[corpus.Session], live: bool, repeats: int) -> dict:
    audio_s = sum(i.audio_ms for s in sessions for i in s.items) / 1000
    n_items = sum(len(s.items) for s in sessions)
    errs: dict[str, list[float]] = collections.defaultdict(list)
    cpu = 0.0
    tally = Tally()
    try:
        for s in sessions:
            times = []
            for r in range(repeats):
                t0 = time.process_time()
                final = timing.run_engine(s, ForcedAlignEstimator, live=False)[0]
                times.append(time.process_time() - t0)
            cpu += min(times)  # the least disturbed by other processes on the machine
            for item in s.items:
                for d in item.deltas:
                    key = (item.item_id, d.index)
                    if d.onset_ms is not None and key in final:
                        errs[s.kind].append(abs(final[key] - d.onset_ms))
        decodes = {k: v / n_items / repeats for k, v in tally.counts.items()}
        split = {k: v / repeats / audio_s for k, v in tally.cpu.items()}
    finally:
        tally.close()
    out = dict(cpu=cpu / audio_s, decodes=decodes, errs=errs, split=split)
    if live:
        out["live"] = timing.estimator_cost(sessions, ForcedAlignEstimator)[0]
    return out


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=8, help="espeak sessions (default 8)")
    p.add_argument("--timit", type=int, default=6, help="TIMIT sessions of 4 utterances (default 6)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--live", action="store_true", help="also the live cost (a step after every event)")
    p.add_argument("--repeats", type=int, default=3, help="replays of each session per setting (least CPU)")
    p.add_argument("--set", action="append", default=[], metavar="NAME:key=value,...",
                   help="a setting to try, as changes to the shipped ones (repeatable)")
    args = p.parse_args(argv)
    sessions = list(corpus.generate(args.seed, args.sessions, timit=args.timit > 0))
    sessions = [s for s in sessions if s.kind == "espeak"] + [s for s in sessions if s.kind == "timit"][: args.timit]
    shipped = dict(_sphinx.DECODER_OPTIONS)
    grid = dict(parse_set(s) for s in args.set) if args.set else GRID
    audio_s = sum(i.audio_ms for s in sessions for i in s.items) / 1000
    kinds = sorted({s.kind for s in sessions})
    print(f"{len(sessions)} sessions ({', '.join(f'{sum(s.kind == k for s in sessions)} {k}' for k in kinds)}), "
          f"{audio_s:.0f} s of audio; shipped settings {shipped}")
    print()
    cols = " | ".join(f"{k} median / p95 abs ms" for k in kinds)
    print(f"| setting | offline % core | vs first |{' live % core |' if args.live else ''} decodes per item | {cols} |")
    print("|---|---|---|" + ("---|" if args.live else "") + "---|" + "---|" * len(kinds))
    first = None
    splits = {}
    try:
        for name, changes in grid.items():
            use({**shipped, **changes})
            m = measure(sessions, args.live, args.repeats)
            first = first or m["cpu"]
            dec = ", ".join(f"{k} {v:.2f}" for k, v in sorted(m["decodes"].items()) if k != "samples fed")
            fed = m["decodes"].get("samples fed", 0)
            acc = " | ".join(f"{np.median(m['errs'][k]):.1f} / {np.percentile(m['errs'][k], 95):.0f}" for k in kinds)
            live = f" {100 * m['live']:.2f} |" if args.live else ""
            print(f"| {name} | {100 * m['cpu']:.2f} | {m['cpu'] / first:.2f}x |{live} {dec}; "
                  f"fed {fed / _sphinx.ALIGN_RATE:.1f} s/item | {acc} |", flush=True)
            splits[name] = {**m["split"], "rest (parsing, engine, energy estimate, bookkeeping)":
                            m["cpu"] - sum(m["split"].values())}
    finally:
        use(shipped)
    print("\nCPU of the offline replay by part, % of a core per audio s (least-CPU replay of each session; "
          "a decode's share is its front end, Gaussians and search):")
    for name, split in splits.items():
        print(f"  {name}: " + ", ".join(f"{k} {100 * v:.2f}" for k, v in sorted(split.items(), key=lambda kv: -kv[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
