"""``captioner replay LOG``: re-time a recorded session log and export it."""

from __future__ import annotations

import argparse

from captioner.cli._args import CliError, HelpFormatter, add_export_arguments, exports_from_args, report_skipped
from captioner.core import replay
from captioner.edges.files import read_session_log, write_exports


def add_arguments(sub) -> None:
    help_text = "re-time a recorded session log and export it"
    p = sub.add_parser("replay", help=help_text, description=help_text, formatter_class=HelpFormatter)
    p.add_argument("log", help="session log (JSON Lines)")
    add_export_arguments(p)
    p.add_argument("--playout-delay-ms", type=float, default=0.0, metavar="P",
                   help="delay between an item's first audio chunk arriving and playing")
    p.set_defaults(func=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    records, errors = read_session_log(args.log)  # OSError, SessionLogError: one line from main()
    report_skipped(args.log, errors)
    engine = replay(records, playout_delay_ms=args.playout_delay_ms)
    report_skipped(args.log, engine.problems, "problems")
    captions = engine.captions()
    timeline = engine.timeline()
    summary = (f"{len(records)} events, {len(captions)} captions, "
               f"{len(timeline.items)} items, underrun {engine.underrun_ms:.0f} ms")
    exports = exports_from_args(args)
    if not captions and exports:
        raise CliError(f"{args.log}: no captions in {len(records)} events; nothing written")
    written = write_exports(timeline, captions, exports)
    print(summary)
    for path in written.values():
        print(f"wrote {path}")
    return 0 if len(written) == len(exports) else 1
