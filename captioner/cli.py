"""``captioner`` command line: replay / serve / live / demo / overlay."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Callable, Optional

from .core.replay import replay
from .edges.logfile import read_session_log
from .edges.exports import add_export_arguments, exports_from_args, write_exports

# subcommand -> (module, add-arguments function, run function); edges load lazily so a
# missing optional dependency only breaks the command that needs it.
_EDGE_COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "serve": ("captioner.edges.server", "add_arguments", "run",
              "run the embedded local realtime-compatible server (espeak-ng voice)"),
    "live": ("captioner.edges.live", "add_live_arguments", "run_live",
             "caption a live realtime session (OpenAI API or any --url)"),
    "demo": ("captioner.edges.live", "add_demo_arguments", "run_demo",
             "embedded server + live session with an interruption; writes log and subtitles"),
    "overlay": ("captioner.edges.overlay", "add_arguments", "run",
                "browser caption overlay (OBS source) for a replayed session log"),
}


def _add_replay(sub) -> None:
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
          f"{len(engine.timeline().items)} items, underrun {engine.clock.underrun_ms:.0f} ms")
    for path in written.values():
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="captioner", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_replay(sub)
    for name, (module, add_fn, run_fn, help_text) in _EDGE_COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        try:
            mod = importlib.import_module(module)
            getattr(mod, add_fn)(p)
            p.set_defaults(func=getattr(mod, run_fn))
        except (ImportError, AttributeError) as exc:
            p.set_defaults(func=_unavailable(name, exc))
    return parser


def _unavailable(name: str, exc: Exception) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(f"captioner {name} is unavailable: {exc}", file=sys.stderr)
        return 2
    return run


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
