"""``captioner replay LOG``: re-time a recorded session log and export it; several logs
or folders (or any batch option) replay as a batch, see :mod:`captioner.edges.batch`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Union

from captioner.cli._args import CliError, HelpFormatter, add_export_arguments, exports_from_args, report_skipped
from captioner.edges.batch import BatchError, RayCluster, ReplayJob, default_jobs, plan, replay_log, run_batch
from captioner.edges.files import KINDS


def add_arguments(sub) -> None:
    help_text = "re-time recorded session logs and export them"
    p = sub.add_parser(
        "replay", help=help_text, formatter_class=HelpFormatter,
        description=f"{help_text}. One log: --srt/--ass/--vtt/--timeline name its files. Several logs, "
        "a folder (every *.jsonl in it) or any batch option: a batch, where each NAME.jsonl gets "
        "NAME.srt, NAME.ass, NAME.vtt and NAME.timeline.json beside it or in --out; a log that fails "
        "is reported and skipped (exit status 1).")
    p.add_argument("logs", nargs="+", metavar="LOG", help="session log (JSON Lines), or a folder of them")
    add_export_arguments(p)
    p.add_argument("--playout-delay-ms", type=float, default=0.0, metavar="P",
                   help="delay between an item's first audio chunk arriving and playing")
    g = p.add_argument_group("batch")
    g.add_argument("--out", type=Path, metavar="DIR", help="write the exports here (default: beside each log)")
    g.add_argument("--formats", type=_formats, metavar="LIST",
                   help=f"exports per log, comma-separated (default: {','.join(KINDS)})")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=int, metavar="N", help=f"worker processes (default: all cores, {default_jobs()})")
    where.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="run the logs as Ray tasks on the cluster at ADDRESS (write --ray=ADDRESS before "
                       "the logs; default: RAY_ADDRESS's cluster or a new local one); its workers must "
                       "share the paths")
    p.set_defaults(func=run_replay)


def _formats(text: str) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    if not kinds or any(k not in KINDS for k in kinds):
        raise argparse.ArgumentTypeError(f"choose from {','.join(KINDS)}")
    return kinds


def run_replay(args: argparse.Namespace) -> int:
    if (len(args.logs) > 1 or Path(args.logs[0]).is_dir() or args.out is not None
            or args.formats is not None or args.jobs is not None or args.ray is not None):
        return _run_batch(args)
    log = args.logs[0]  # OSError, SessionLogError: one line from main()
    result = replay_log(ReplayJob(log, exports_from_args(args), args.playout_delay_ms))
    report_skipped(log, result.malformed.first, total=result.malformed.count)
    report_skipped(log, result.problems.first, "problems", total=result.problems.count)
    print(result.summary())
    for path in result.written.values():
        print(f"wrote {path}")
    if not result.ok:
        raise CliError(result.error)
    return 0


def _run_batch(args: argparse.Namespace) -> int:
    single = [f"--{k}" for k in KINDS if getattr(args, k, None)]
    if single:
        raise CliError(f"{', '.join(single)} name one log's file; a batch writes NAME.srt, NAME.ass, NAME.vtt, "
                       "NAME.timeline.json (choose with --formats, place with --out)", status=2)
    if args.jobs is not None and args.jobs < 1:
        raise CliError("--jobs needs at least 1", status=2)
    if args.ray and Path(args.ray).exists():
        raise CliError(f"--ray took {args.ray!r} as the cluster address; write --ray=ADDRESS, "
                       "or put --ray after the logs", status=2)
    processes = args.jobs or default_jobs()
    ray = RayCluster(args.ray or None) if args.ray is not None else None
    t0 = time.monotonic()
    try:
        jobs = plan(args.logs, args.out, args.formats or KINDS, args.playout_delay_ms)
        results = run_batch(jobs, processes=processes, ray=ray, progress=sys.stderr.isatty())
    except BatchError as exc:
        raise CliError(str(exc), status=2) from None
    for r in results:
        if r.ok:
            for what, skipped in (("malformed lines", r.malformed), ("problems", r.problems)):
                if skipped.count:
                    print(f"{_shown(r.log)}: {skipped.count} {what} skipped (first: {skipped.first[0]})",
                          file=sys.stderr)
            print(f"{_shown(r.log)}: {r.summary()}, wrote {len(r.written)} files")
    failed = [r for r in results if not r.ok]
    how = "Ray" if ray else f"{min(processes, len(jobs))} process(es)"
    print(f"{len(results)} logs: {len(results) - len(failed)} replayed, {len(failed)} failed "
          f"({time.monotonic() - t0:.1f} s, {how})")
    for r in failed:  # errors that name the log (not a session log, unreadable) name it once
        error = str(r.error).replace(str(r.log), _shown(r.log))
        print(f"FAILED {error}" if _shown(r.log) in error else f"FAILED {_shown(r.log)}: {error}", file=sys.stderr)
    return 1 if failed else 0


def _shown(path: Union[str, Path]) -> str:
    """A path as short as it reads well: relative to the working folder when inside it."""
    if isinstance(path, str):  # example:NAME
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)
    return str(path) if rel.startswith("..") else rel
