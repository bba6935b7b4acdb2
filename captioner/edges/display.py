"""Live subtitle displays driven by the playback clock: terminal (rich) and browser overlay.

Live, demo and replay create them with :func:`open_displays` from the CLI options added by
:func:`add_display_arguments`, then call ``Displays.update(engine)`` often (every player
tick). An update costs a revision check and a time comparison unless the captions changed
or a word boundary was crossed (:class:`captioner.core.view.ViewCache`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Optional, Protocol, Sequence

from rich.console import Console
from rich.live import Live
from rich.text import Text

from captioner.core.model import Caption
from captioner.core.view import CUT_MARK, INTERRUPTED, MODES, View, ViewCache

log = logging.getLogger(__name__)

CaptionsFn = Callable[[], Sequence[Caption]]
DEFAULT_OVERLAY_PORT = 8766
LABEL_STYLES = {"assistant": "bold cyan", "user": "bold magenta"}
TEXT_STYLES = {"assistant": "white", "user": "yellow"}
CURRENT_STYLE = "bold reverse"
PROVISIONAL_STYLE = "dim italic"
MARK_STYLE = "bold red"


class Display(Protocol):
    def show(self, captions_fn: CaptionsFn, revision: int, now_ms: float) -> None:
        """Bring the display up to date; ``captions_fn`` only when ``revision`` moved."""

    def close(self) -> None: ...


def render_view(view: View, lines: int) -> Text:
    """A view as styled rich text: a speaker gutter, then the words; always ``lines`` rows tall."""
    gutter = max(len(role) for role in LABEL_STYLES) + 2
    rows: list[Text] = []
    for line in view.lines:
        row = Text()
        if line.label:
            row.append(f"{line.label}: ".rjust(gutter), style=LABEL_STYLES.get(line.role, "bold"))
        else:
            row.append(" " * gutter)
        for i, word in enumerate(line.words):
            if i and not word.glue:
                row.append(" ")
            if word.kind == "mark":
                style = MARK_STYLE
            else:
                style = TEXT_STYLES.get(word.role, "")
                if word.provisional:
                    style += " " + PROVISIONAL_STYLE
                if word.current:
                    style += " " + CURRENT_STYLE
            row.append(word.text, style=style.strip())
        rows.append(row)
    while len(rows) < lines:
        rows.append(Text(""))
    return Text("\n").join(rows)


class TerminalDisplay:
    """Roll-up or pop-on subtitles in the terminal with ``rich.live.Live``."""

    def __init__(
        self, mode: str = "rollup", lines: int = 2, width: int = 42, console: Optional[Console] = None
    ) -> None:
        self.console = console or Console(stderr=True)
        self.lines = lines
        gutter = max(len(role) for role in LABEL_STYLES) + 2
        # the cut mark may overhang a full line: keep room for it so rich never wraps a row
        width = max(10, min(width, self.console.width - gutter - len(CUT_MARK + " " + INTERRUPTED) - 1))
        self.cache = ViewCache(mode, lines, width)
        self.repaints = 0
        self.live = Live(
            render_view(View(0.0, mode, (), None), lines),  # type: ignore[arg-type]
            console=self.console, auto_refresh=False, transient=False,
        )
        self.live.start()

    def show(self, captions_fn: CaptionsFn, revision: int, now_ms: float) -> None:
        view = self.cache.update(captions_fn, revision, now_ms)
        if view is not None:
            self.live.update(render_view(view, self.lines), refresh=True)
            self.repaints += 1

    @property
    def view(self) -> Optional[View]:
        return self.cache.view

    def close(self) -> None:
        self.live.stop()


class Displays:
    """The displays a session opened; ``update(engine)`` keeps them all in step."""

    def __init__(self, displays: Sequence[Display], now_ms_fn: Callable[[], float]) -> None:
        self.displays = list(displays)
        self.now_ms_fn = now_ms_fn

    def update(self, engine) -> None:
        """Cheap unless the engine's captions changed or a word boundary was crossed."""
        if not self.displays:
            return
        now = self.now_ms_fn()
        revision = engine.revision
        for d in self.displays:
            try:
                d.show(engine.captions, revision, now)
            except Exception:  # a display must never break the session
                log.exception("display %s failed to update", type(d).__name__)

    @property
    def next_change_ms(self) -> Optional[float]:
        """When a terminal view next changes on its own (a word boundary), if captions stay put.

        A tick loop can wake then instead of on a fixed period, so words appear on time.
        """
        times = [d.view.next_change_ms for d in self.displays
                 if isinstance(d, TerminalDisplay) and d.view is not None and d.view.next_change_ms is not None]
        return min(times) if times else None

    def close(self) -> None:
        for d in self.displays:
            try:
                d.close()
            except Exception:
                log.exception("display %s failed to close", type(d).__name__)
        self.displays = []

    def __enter__(self) -> "Displays":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def add_display_arguments(parser: argparse.ArgumentParser) -> None:
    """``--show [rollup|popon]``, ``--lines N``, ``--overlay [PORT]``."""
    g = parser.add_argument_group("live subtitles")
    g.add_argument("--show", nargs="?", const="rollup", choices=MODES, default=None,
                   help="show subtitles in the terminal (default mode: rollup)")
    g.add_argument("--lines", type=int, default=2, help="subtitle lines on screen (roll-up 2-3)")
    g.add_argument("--overlay", nargs="?", type=int, const=DEFAULT_OVERLAY_PORT, default=None,
                   metavar="PORT", help=f"serve a browser overlay on 127.0.0.1 (default port {DEFAULT_OVERLAY_PORT})")


def open_displays(args: argparse.Namespace, now_ms_fn: Callable[[], float]) -> Displays:
    """Open what ``args`` asks for; ``now_ms_fn`` reads the playback clock (session ms)."""
    displays: list[Display] = []
    lines = max(1, getattr(args, "lines", 2) or 2)
    if getattr(args, "show", None):
        displays.append(TerminalDisplay(args.show, lines))
    port = getattr(args, "overlay", None)
    if port is not None:
        from captioner.edges.overlay import OverlayServer

        server = OverlayServer(now_ms_fn, port=port).start()
        print(f"caption overlay: {server.url()}", file=sys.stderr)
        displays.append(server)
    return Displays(displays, now_ms_fn)
