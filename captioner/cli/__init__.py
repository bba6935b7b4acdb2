"""captioner: live captions in lock-step with realtime voice audio.

Commands: replay (re-time a recorded session log), serve (the embedded realtime-compatible
server), live (caption a live session), demo (embedded server + live session with an
interruption), overlay (browser overlay for a recorded session).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable, Optional

from captioner.cli import _replay
from captioner.cli._args import CliError, HelpFormatter, configure_logging
from captioner.edges.files import SessionLogError

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
    parser = argparse.ArgumentParser(prog="captioner", description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail (credentials masked)")
    parser.add_argument("--debug", action="store_true",
                        help="log debug detail and show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _replay.add_arguments(sub)
    for name, (module, add_fn, run_fn, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=HelpFormatter)
        try:
            mod = importlib.import_module(module)
            getattr(mod, add_fn)(p)
            p.set_defaults(func=getattr(mod, run_fn))
        except (ImportError, AttributeError) as exc:
            p.set_defaults(func=_unavailable(name, exc))
    return parser


def _unavailable(name: str, exc: Exception) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        raise CliError(f"unavailable: {exc}", status=2)
    return run


def describe(exc: BaseException) -> str:
    """An OS error in one line, without errno noise: ``path: reason``."""
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else None
        return f"{where}: {exc.strerror}" if where is not None else exc.strerror
    return str(exc) or type(exc).__name__


def main(argv: Optional[list[str]] = None) -> int:
    """Run a command. A user error (a bad file, a port in use, an endpoint that is not a
    realtime server) is one line on stderr and a non-zero status; anything else is a bug,
    reported in one line too, with its traceback under ``--debug``."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose or args.debug)
    name = f"captioner {args.command}"
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except CliError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return exc.status
    except (OSError, SessionLogError) as exc:
        if args.debug:
            raise
        print(f"{name}: {describe(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug: one line unless --debug asks for more
        if args.debug:
            raise
        print(f"{name}: internal error: {type(exc).__name__}: {exc} (--debug shows where)", file=sys.stderr)
        return 1
