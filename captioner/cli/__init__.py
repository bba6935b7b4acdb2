"""captioner: live captions in lock-step with realtime voice audio.

Commands: replay (re-time a recorded session log), serve (the embedded realtime-compatible
server), live (caption a live session), demo (embedded server + live session with an
interruption), overlay (browser overlay for a recorded session).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Callable, Optional

from captioner.cli import _replay

# subcommand -> (module, add-arguments function, run function, help); loaded lazily so a
# missing optional dependency only breaks the command that needs it.
_COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "serve": ("captioner.cli._serve", "add_arguments", "run",
              "run the embedded local realtime-compatible server (espeak-ng voice)"),
    "live": ("captioner.cli._live", "add_live_arguments", "run_live",
             "caption a live realtime session (OpenAI API or any --url)"),
    "demo": ("captioner.cli._live", "add_demo_arguments", "run_demo",
             "embedded server + live session with an interruption; writes log and subtitles"),
    "overlay": ("captioner.cli._overlay", "add_arguments", "run",
                "browser caption overlay (OBS source) for a replayed session log"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="captioner", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True)
    _replay.add_arguments(sub)
    for name, (module, add_fn, run_fn, help_text) in _COMMANDS.items():
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

