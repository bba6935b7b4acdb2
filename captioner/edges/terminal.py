"""Live subtitles in the terminal (rich), driven by the playback clock.

An update costs a revision check and a time comparison unless the captions changed or a
word boundary was crossed (:class:`captioner.core.render.ViewCache`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any, Callable, Optional, Protocol, Sequence, TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from captioner.core import Caption
from captioner.core.render import CUT_MARK, INTERRUPTED, View, ViewCache

log = logging.getLogger(__name__)

CaptionsFn = Callable[[], Sequence[Caption]]
LABEL_STYLES = {"assistant": "bold cyan", "user": "bold magenta"}
TEXT_STYLES = {"assistant": "white", "user": "yellow"}
CURRENT_STYLE = "bold reverse"
# Provisional text (timing may still change) in a cooler colour, never italic: italics mean
# something in broadcast captions. Settled text is TEXT_STYLES.
PROVISIONAL_STYLES = {"assistant": "grey70", "user": "khaki3"}
PROVISIONAL_STYLE = PROVISIONAL_STYLES["assistant"]
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
                style = (PROVISIONAL_STYLES if word.provisional else TEXT_STYLES).get(word.role, "")
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


class EnterKey:
    """Calls ``on_enter`` each time Enter is pressed on a terminal, reading keys without echo
    (cbreak mode: an echoed newline would push the live subtitles down a row and leave a
    stale copy above them). Ctrl-C still interrupts. ``close`` restores the terminal.
    """

    def __init__(self, on_enter: Callable[[], Any], stream: Optional[TextIO] = None) -> None:
        self.on_enter = on_enter
        self.stream = stream if stream is not None else sys.stdin
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._saved: Optional[list] = None

    def start(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Listen on ``loop``; False (and nothing changed) when the stream is not a terminal."""
        try:
            fd = self.stream.fileno()
            if not os.isatty(fd):
                return False
            import termios
            import tty

            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        except (ImportError, OSError, ValueError, AttributeError):
            return False
        loop.add_reader(fd, self._on_input)
        self._loop = loop
        return True

    def _on_input(self) -> None:
        try:
            data = os.read(self.stream.fileno(), 1024)
        except OSError:
            data = b""
        if not data:  # the terminal went away
            self.close()
            return
        for _ in range(data.count(b"\n") + data.count(b"\r")):
            self.on_enter()

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.stream.fileno())
            self._loop = None
        if self._saved is not None:
            import termios

            try:
                termios.tcsetattr(self.stream.fileno(), termios.TCSADRAIN, self._saved)
            except (OSError, termios.error):
                pass
            self._saved = None
