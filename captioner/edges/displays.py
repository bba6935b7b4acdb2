"""The displays a live session or replay shows captions on, kept in step together.

Sessions call ``Displays.update(engine)`` often (every player tick); each display repaints
only when captions changed or a word boundary was crossed.
"""

from __future__ import annotations

import logging
import sys
from typing import Callable, Optional, Sequence

from captioner.edges.terminal import Display, TerminalDisplay

log = logging.getLogger(__name__)

DEFAULT_OVERLAY_PORT = 8766


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


def open_displays(show: Optional[str], lines: int, overlay_port: Optional[int],
                  now_ms_fn: Callable[[], float], allow_origins: Sequence[str] = ()) -> Displays:
    """A terminal display in ``show`` mode (None: none) and an overlay on ``overlay_port``
    (None: none; ``allow_origins`` as :class:`OverlayServer` takes them); ``now_ms_fn``
    reads the playback clock (session ms). The overlay starts first: a port in use fails
    before the terminal is taken over."""
    from captioner.edges.overlay import OverlayServer

    displays: list[Display] = []
    lines = max(1, lines)
    if overlay_port is not None:
        server = OverlayServer(now_ms_fn, port=overlay_port, allow_origins=allow_origins).start()
        print(f"caption overlay: {server.url()}", file=sys.stderr)
        displays.append(server)
    if show:
        displays.insert(0, TerminalDisplay(show, lines))
    return Displays(displays, now_ms_fn)
