"""``captioner replay LOG``: re-time a recorded session log and export it."""

from __future__ import annotations

import argparse
import sys

from captioner.cli._args import add_export_arguments, exports_from_args
from captioner.core import replay
from captioner.edges.files import read_session_log, write_exports


def add_arguments(sub) -> None:
    p = sub.add_parser("replay", help="re-time a recorded session log and export it")
    p.add_argument("log", help="session log (JSON Lines)")
    add_export_arguments(p)
    p.add_argument("--playout-delay-ms", type=float, default=0.0, metavar="P",
                   help="delay between an item's first audio chunk arriving and playing (default 0)")
    p.set_defaults(func=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    try:
        records, errors = read_session_log(args.log)
    except OSError as exc:
        print(f"captioner replay: cannot read {args.log}: {exc}", file=sys.stderr)
        return 2
    for error in errors:
        print(f"{args.log}: {error} (skipped)", file=sys.stderr)
    engine = replay(records, playout_delay_ms=args.playout_delay_ms)
    for problem in engine.problems:
        print(f"{args.log}: {problem} (skipped)", file=sys.stderr)
    written = write_exports(engine.timeline(), engine.captions(), exports_from_args(args))
    captions = engine.captions()
    print(f"{len(records)} events, {len(captions)} captions, "
          f"{len(engine.timeline().items)} items, underrun {engine.underrun_ms:.0f} ms")
    for path in written.values():
        print(f"wrote {path}")
    return 0
