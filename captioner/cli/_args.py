"""Options several commands share: export files and live subtitle displays."""

from __future__ import annotations

import argparse
from pathlib import Path

from captioner.core.render import MODES
from captioner.edges.displays import DEFAULT_OVERLAY_PORT
from captioner.edges.files import KINDS


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeline", metavar="OUT.json", type=Path, help="write the timeline JSON")
    p.add_argument("--srt", metavar="FILE", type=Path, help="write SubRip subtitles")
    p.add_argument("--ass", metavar="FILE", type=Path, help="write ASS subtitles (karaoke timing)")
    p.add_argument("--vtt", metavar="FILE", type=Path, help="write WebVTT subtitles")


def exports_from_args(args: argparse.Namespace) -> dict[str, Path]:
    return {k: Path(getattr(args, k)) for k in KINDS if getattr(args, k, None)}


def add_display_arguments(parser: argparse.ArgumentParser) -> None:
    """``--show [rollup|popon]``, ``--lines N``, ``--overlay [PORT]``."""
    g = parser.add_argument_group("live subtitles")
    g.add_argument("--show", nargs="?", const="rollup", choices=MODES, default=None,
                   help="show subtitles in the terminal (default mode: rollup)")
    g.add_argument("--lines", type=int, default=2, help="subtitle lines on screen (roll-up 2-3)")
    g.add_argument("--overlay", nargs="?", type=int, const=DEFAULT_OVERLAY_PORT, default=None,
                   metavar="PORT", help=f"serve a browser overlay on 127.0.0.1 (default port {DEFAULT_OVERLAY_PORT})")


def display_options(args: argparse.Namespace, default_show: bool = False) -> dict:
    """LiveOptions' display fields from the parsed options; ``default_show``: a terminal
    display when nothing else was asked for."""
    show = getattr(args, "show", None)
    overlay = getattr(args, "overlay", None)
    if default_show and show is None and overlay is None:
        show = "rollup"
    return dict(show=show, lines=max(1, getattr(args, "lines", 2) or 2), overlay_port=overlay)
