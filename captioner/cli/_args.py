"""What several commands share: help formatting, user errors, logging, export files and
live subtitle displays."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

from captioner.core.render import MODES
from captioner.core.wire import RedactingFilter
from captioner.edges.displays import DEFAULT_OVERLAY_PORT
from captioner.edges.files import KINDS

MAX_REPORTED = 10  # problems printed one by one; the rest are counted


class CliError(Exception):
    """A user error: the command prints it as one line and exits with ``status``."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already says it (options
    whose default is "nothing" say what that means in their own words)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" not in text and action.option_strings and action.nargs != 0
                and action.default is not None and action.default is not False and action.default != []
                and action.default != argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


def configure_logging(verbose: Optional[bool] = None) -> None:
    """Warnings (or, ``verbose``, debug detail) on stderr, with credentials masked in every
    line: websockets' debug log prints the request headers, the API key included.
    ``verbose`` None keeps a level already set (commands called after ``main``)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s",
                            level=logging.DEBUG if verbose else logging.WARNING)
    elif verbose is not None:
        root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def report_skipped(source: str, problems: Sequence[object], what: str = "malformed lines",
                   total: Optional[int] = None) -> None:
    """The first few problems one per line, then how many more (a million bad lines must not
    print a million lines). ``total``: how many there were when ``problems`` holds the first few."""
    total = len(problems) if total is None else total
    for problem in problems[:MAX_REPORTED]:
        print(f"{source}: {problem} (skipped)", file=sys.stderr)
    if total > MAX_REPORTED:
        print(f"{source}: {total - MAX_REPORTED} more {what} skipped ({total} in all)", file=sys.stderr)


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeline", metavar="OUT.json", type=Path, help="write the timeline JSON (default: none)")
    p.add_argument("--srt", metavar="FILE", type=Path, help="write SubRip subtitles (default: none)")
    p.add_argument("--ass", metavar="FILE", type=Path, help="write ASS subtitles, karaoke timing (default: none)")
    p.add_argument("--vtt", metavar="FILE", type=Path, help="write WebVTT subtitles (default: none)")


def exports_from_args(args: argparse.Namespace) -> dict[str, Path]:
    return {k: Path(getattr(args, k)) for k in KINDS if getattr(args, k, None)}


def add_display_arguments(parser: argparse.ArgumentParser) -> None:
    """``--show [rollup|popon]``, ``--lines N``, ``--overlay [PORT]``."""
    g = parser.add_argument_group("live subtitles")
    g.add_argument("--show", nargs="?", const="rollup", choices=MODES, default=None,
                   help="subtitles in the terminal, rollup or popon (default: rollup, unless only --overlay "
                        "is given)")
    g.add_argument("--lines", type=int, default=2, help="subtitle lines on screen (roll-up 2-3)")
    g.add_argument("--overlay", nargs="?", type=int, const=DEFAULT_OVERLAY_PORT, default=None,
                   metavar="PORT", help=f"serve a browser overlay on 127.0.0.1 (default: none; "
                                        f"PORT defaults to {DEFAULT_OVERLAY_PORT})")
    g.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="let pages from ORIGIN (e.g. http://host:port, or null) read the overlay's captions "
                        "(repeatable; default: only the overlay's own pages and clients that send no Origin)")


def display_options(args: argparse.Namespace, default_show: bool = False) -> dict:
    """LiveOptions' display fields from the parsed options; ``default_show``: a terminal
    display when nothing else was asked for."""
    show = getattr(args, "show", None)
    overlay = getattr(args, "overlay", None)
    if default_show and show is None and overlay is None:
        show = "rollup"
    return dict(show=show, lines=max(1, getattr(args, "lines", 2) or 2), overlay_port=overlay,
                allow_origins=list(getattr(args, "allow_origin", None) or []))
