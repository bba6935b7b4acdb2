"""``captioner replay LOG``: re-time a recorded session log and export it; several logs
or folders (or any batch option) replay as a batch, see :mod:`captioner.edges.batch`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from captioner.cli._args import add_export_arguments, exports_from_args
from captioner.edges.batch import BatchError, RayCluster, ReplayJob, default_jobs, plan, run_batch, run_job
from captioner.edges.files import KINDS


def add_arguments(sub) -> None:
    p = sub.add_parser("replay", help="re-time recorded session logs and export them",
                       description="Re-time a session log: --srt/--ass/--vtt/--timeline name its "
                       "output files. Several logs, a folder (every *.jsonl inside) or any batch "
                       "option replay as a batch: each NAME.jsonl gets NAME.srt, NAME.ass, NAME.vtt "
                       "and NAME.timeline.json beside it or in --out; exit status 1 if any log failed.")
    p.add_argument("logs", nargs="+", metavar="LOG", help="session log (JSON Lines) or folder of them")
    add_export_arguments(p)
    p.add_argument("--playout-delay-ms", type=float, default=0.0, metavar="P",
                   help="delay between an item's first audio chunk arriving and playing (default 0)")
    g = p.add_argument_group("batch")
    g.add_argument("--out", type=Path, metavar="DIR", help="write the exports here (default: beside each log)")
    g.add_argument("--formats", type=_formats, metavar="LIST",
                   help=f"exports per log, comma-separated (default: {','.join(KINDS)})")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=int, metavar="N", help=f"worker processes (default: all cores, {default_jobs()})")
    where.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="run the jobs as Ray tasks: on the cluster at ADDRESS (write --ray=ADDRESS "
                       "before the logs), else RAY_ADDRESS's or a new local one; paths must be shared")
    p.set_defaults(func=run_replay)


def _formats(text: str) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"choose from {','.join(KINDS)}")
    return kinds


def run_replay(args: argparse.Namespace) -> int:
    batch = (len(args.logs) > 1 or Path(args.logs[0]).is_dir() or args.out is not None
             or args.formats is not None or args.jobs is not None or args.ray is not None)
    if batch:
        return _run_batch(args)
    job = ReplayJob(Path(args.logs[0]), exports_from_args(args), args.playout_delay_ms)
    result = run_job(job)
    for problem in result.skipped:
        print(f"{job.log}: {problem} (skipped)", file=sys.stderr)
    if not result.ok:
        print(f"captioner replay: {result.error}", file=sys.stderr)
        return 2
    print(result.summary())
    for path in result.written.values():
        print(f"wrote {path}")
    return 0


def _run_batch(args: argparse.Namespace) -> int:
    def usage(message: str) -> int:
        print(f"captioner replay: {message}", file=sys.stderr)
        return 2

    single = [f"--{k}" for k in KINDS if getattr(args, k, None)]
    if single:
        return usage(f"{', '.join(single)} name one log's file; a batch writes NAME.srt, NAME.ass, "
                     "NAME.vtt, NAME.timeline.json (choose with --formats, place with --out)")
    if args.jobs is not None and args.jobs < 1:
        return usage("--jobs needs at least 1")
    if args.ray and Path(args.ray).exists():
        return usage(f"--ray took {args.ray!r} as the cluster address; write --ray=ADDRESS, "
                     "or put --ray after the logs")
    try:
        jobs = plan([Path(p) for p in args.logs], args.out, args.formats or KINDS, args.playout_delay_ms)
        processes = args.jobs or default_jobs()
        ray = RayCluster(args.ray or None) if args.ray is not None else None
        t0 = time.monotonic()
        results = run_batch(jobs, processes=processes, ray=ray, progress=sys.stderr.isatty())
    except BatchError as exc:
        return usage(str(exc))
    for r in results:
        if r.ok and r.skipped:
            print(f"{_shown(r.log)}: {len(r.skipped)} skipped (first: {r.skipped[0]})", file=sys.stderr)
        if r.ok:
            print(f"{_shown(r.log)}: {r.summary()}, wrote {len(r.written)} files")
    failed = [r for r in results if not r.ok]
    how = "Ray" if ray else f"{min(processes, len(jobs))} process(es)"
    print(f"{len(results)} logs: {len(results) - len(failed)} replayed, {len(failed)} failed "
          f"({time.monotonic() - t0:.1f} s, {how})")
    for r in failed:
        print(f"FAILED {_shown(r.log)}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def _shown(path: Path) -> str:
    """A path as short as it reads well: relative to the working folder when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)
    return str(path) if rel.startswith("..") else rel
