"""Browser caption overlay (an OBS browser source): one port serves the page and its websocket.

The server pushes, per connected page, the caption layout for that page's mode/lines/width
(:func:`captioner.core.view.layout`) whenever captions change, and a clock sync
``{"type": "clock", "now_ms", "rate"}`` a few times a second. The page interpolates the
playback clock with ``performance.now()`` and filters the layout each animation frame (the
same rule as :func:`captioner.core.view.view_at`), so words appear and the karaoke highlight
moves on the playback clock, not on network timing. Pages report when they painted each
piece (``{"type": "painted", ...}``), which is how display lag is measured.

Each page has its own sender task and holds only the latest state (one pending caption
layout, one pending clock sync): a page that stops reading is dropped after
``send_timeout_s`` and never delays another. Only pages served by the overlay itself may
open its websocket (the Origin must be this server; ``allow_origins`` opens it to others,
``"null"`` included); a client without an Origin header is not a browser page and is let
in. The Host header must be an IP address, ``localhost`` or an allowed origin's host,
which defeats DNS rebinding. Page reports are bounded in size and number.

``captioner overlay LOG`` replays a recorded session log at real-time speed into the overlay.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import json
import logging
import mimetypes
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence
from urllib.parse import parse_qs, urlencode, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from captioner.core import Caption
from captioner.core.render import MODES, finite_json, layout

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("overlay_static")
STATIC_FILES = {"/": "overlay.html", "/overlay.html": "overlay.html", "/overlay.js": "overlay.js",
                "/overlay.css": "overlay.css"}
WS_PATH = "/ws"
REPORT_MAX_BYTES = 8 * 1024  # a page message larger than this closes its connection (pages send <= 20 pieces)
REPORTS_KEPT = 1000  # page reports kept (the newest)
SEND_TIMEOUT_S = 5.0  # a page that takes longer to take one message is dropped


def _host_allowed(host: Optional[str], extra_hosts: frozenset[str]) -> bool:
    """An IP literal or ``localhost`` (a DNS-rebinding page cannot produce either), or the
    host of an allowed origin."""
    if not host:
        return False
    name = urlsplit("//" + host).hostname or ""
    if name in extra_hosts or name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(eq=False)
class _Page:
    """A connected page and what it has yet to be sent (the latest of each kind only)."""

    ws: ServerConnection
    config: tuple[str, int, int]
    clock: Optional[str] = None
    captions: Optional[str] = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def post(self, clock: Optional[str] = None, captions: Optional[str] = None) -> None:
        """Supersede what is pending (a newer state makes an unsent older one pointless)."""
        if clock is not None:
            self.clock = clock
        if captions is not None:
            self.captions = captions
        self.wake.set()


def _page_config(path: str) -> tuple[str, int, int]:
    """(mode, lines, width) a page asked for in its websocket URL; bad values fall back."""
    q = parse_qs(urlsplit(path).query)

    def num(name: str, default: int, lo: int, hi: int) -> int:
        try:
            return min(hi, max(lo, int(q.get(name, [default])[0])))
        except ValueError:
            return default

    mode = q.get("mode", ["rollup"])[0]
    return (mode if mode in MODES else "rollup", num("lines", 2, 1, 5), num("width", 42, 10, 200))


class OverlayServer:
    """Serves the overlay on ``host:port`` from a background thread (callers may be sync or async).

    Use it as a :class:`captioner.edges.display.Display`: ``show(captions_fn, revision, now_ms)``.
    ``now_ms_fn`` is read from the server thread for clock syncs; ``clock_rate`` 0 freezes
    the pages' clock at the last sync (virtual-time tests, paused replays).
    """

    def __init__(
        self,
        now_ms_fn: Callable[[], float],
        host: str = "127.0.0.1",
        port: int = 8766,
        clock_rate: float = 1.0,
        sync_interval_s: float = 0.25,
        allow_origins: Sequence[str] = (),
        send_timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        self.now_ms_fn = now_ms_fn
        self.host, self.port = host, port
        self.clock_rate = clock_rate
        self.sync_interval_s = sync_interval_s
        self.send_timeout_s = send_timeout_s
        self.allow_origins = frozenset(o.rstrip("/") for o in allow_origins)
        self._origin_hosts = frozenset(urlsplit(o).hostname or "" for o in self.allow_origins) - {""}
        # page reports ("painted", "rendered"), the newest REPORTS_KEPT, in arrival order
        self.reports: deque[dict] = deque(maxlen=REPORTS_KEPT)
        self._captions: list[Caption] = []
        self._revision: Optional[int] = None
        self._sent_revision: Optional[int] = None
        self._clients: dict[ServerConnection, _Page] = {}
        self._refused: set[str] = set()  # origins/hosts already warned about
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._stop: Optional[asyncio.Event] = None
        self._error: Optional[BaseException] = None
        self.client_connected = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "OverlayServer":
        self._thread = threading.Thread(target=self._run, name="caption-overlay", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(5)
        self._thread = None

    def __enter__(self) -> "OverlayServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def url(self, **params: Any) -> str:
        query = ("?" + urlencode(params)) if params else ""
        return f"http://{self.host}:{self.port}/{query}"

    # -- display protocol ---------------------------------------------------------------------
    def show(self, captions_fn: Callable[[], Sequence[Caption]], revision: int, now_ms: float) -> None:
        if revision != self._revision:
            self.publish(captions_fn(), revision)

    def publish(self, captions: Sequence[Caption], revision: int) -> None:
        """New caption state: every page gets its layout (thread-safe).

        Revisions that leave the captions as they were (audio arriving) send nothing.
        """
        captions = list(captions)
        if captions == self._captions and self._sent_revision is not None:
            self._revision = revision
            return
        self._captions, self._revision, self._sent_revision = captions, revision, revision
        self._call(self._broadcast_captions)

    @property
    def sent_revision(self) -> Optional[int]:
        """Revision of the captions the pages have (the last one that changed them)."""
        return self._sent_revision

    def sync(self) -> None:
        """Push a clock sync now (after a jump of a virtual clock)."""
        self._call(self._broadcast_clock)

    @property
    def clients(self) -> int:
        return len(self._clients)

    def _call(self, fn: Callable[[], Any]) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(fn()))

    # -- server thread -------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except OSError as exc:  # surfaced by start(), in words a user can act on
            reason = "the port is in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            self._error = OSError(exc.errno, f"cannot serve the overlay on {self.host}:{self.port}: {reason}")
            self._ready.set()
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self._handler, self.host, self.port, process_request=self._http,
                         max_size=REPORT_MAX_BYTES) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            ticker = asyncio.ensure_future(self._tick())
            await self._stop.wait()
            ticker.cancel()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.sync_interval_s)
            await self._broadcast_clock()

    def _refuse(self, connection: ServerConnection, what: str) -> Response:
        if what not in self._refused:
            self._refused.add(what)
            log.warning("overlay: refused a connection from %s (--allow-origin opens the overlay to another origin)",
                        what)
        return connection.respond(403, f"forbidden: {what}\n")

    def _http(self, connection: ServerConnection, request: Request) -> Optional[Response]:
        host = request.headers.get("Host")
        if not _host_allowed(host, self._origin_hosts):
            return self._refuse(connection, f"Host {host!r}")
        path = urlsplit(request.path).path
        if path == WS_PATH:
            origins = request.headers.get_all("Origin")
            if origins and not (len(origins) == 1 and (origins[0] == f"http://{host}"
                                                      or origins[0].rstrip("/") in self.allow_origins)):
                return self._refuse(connection, f"origin {', '.join(origins)}")
            return None  # websocket handshake
        name = STATIC_FILES.get(path)
        if name is None:
            return connection.respond(404, "not found\n")
        body = (STATIC_DIR / name).read_bytes()
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        headers = Headers([("Content-Type", f"{ctype}; charset=utf-8"), ("Content-Length", str(len(body))),
                           ("Cache-Control", "no-store")])
        return Response(200, "OK", headers, body)

    async def _handler(self, ws: ServerConnection) -> None:
        page = _Page(ws, _page_config(ws.request.path if ws.request else ""))
        page.post(clock=self._clock_message(), captions=self._captions_message(page.config))
        self._clients[ws] = page
        self.client_connected.set()
        sender = asyncio.ensure_future(self._sender(page))
        try:
            async for raw in ws:
                self._on_report(raw)
        except Exception as exc:  # a page going away never disturbs the session
            log.debug("overlay client ended: %s", exc)
        finally:
            self._clients.pop(ws, None)
            sender.cancel()

    async def _sender(self, page: _Page) -> None:
        """Sends a page its pending state; a page that does not take a message within
        ``send_timeout_s`` is dropped (its connection aborted), whatever the others do."""
        try:
            while True:
                await page.wake.wait()
                page.wake.clear()
                for name in ("clock", "captions"):
                    msg = getattr(page, name)
                    if msg is None:
                        continue
                    setattr(page, name, None)
                    await asyncio.wait_for(page.ws.send(msg), self.send_timeout_s)
        except asyncio.TimeoutError:
            log.info("overlay: dropped a page that stopped reading")
            page.ws.transport.abort()
        except Exception as exc:  # noqa: BLE001 - the page went away: its handler cleans up
            log.debug("overlay: send failed: %s", exc)

    def _on_report(self, raw: Any) -> None:
        try:
            msg = json.loads(raw)
        except (TypeError, ValueError, RecursionError):
            log.info("overlay: skipped malformed page message %r", str(raw)[:80])
            return
        if not isinstance(msg, dict) or msg.get("type") not in ("painted", "rendered"):
            log.info("overlay: skipped unknown page message %r", str(raw)[:80])
            return
        self.reports.append(msg)

    def _clock_message(self) -> str:
        return json.dumps({"type": "clock", "now_ms": float(self.now_ms_fn()), "rate": self.clock_rate})

    def _captions_message(self, config: tuple[str, int, int]) -> str:
        mode, lines, width = config
        lay = layout(self._captions, mode, width, lines)
        return json.dumps({
            "type": "captions", "revision": self._sent_revision, "lines": lines,
            "captions": [finite_json(asdict(c)) for c in self._captions], "layout": lay.to_json(),
        }, allow_nan=False)

    async def _broadcast_captions(self) -> None:
        cache: dict[tuple[str, int, int], str] = {}
        for page in list(self._clients.values()):
            if page.config not in cache:
                cache[page.config] = self._captions_message(page.config)
            page.post(captions=cache[page.config])

    async def _broadcast_clock(self) -> None:
        if self._clients:
            msg = self._clock_message()
            for page in list(self._clients.values()):
                page.post(clock=msg)


class RealTimeObserver:
    """A replay observer that paces the virtual clock to wall time and feeds the displays."""

    def __init__(self, displays: Any, speed: float = 1.0) -> None:
        self.displays, self.speed = displays, max(speed, 1e-3)
        self.now_ms = 0.0
        self._t0: Optional[float] = None

    def clock(self) -> float:
        """The replay's playback clock, read between observer steps too (for clock syncs)."""
        if self._t0 is None:
            return self.now_ms
        return (time.monotonic() - self._t0) * 1000.0 * self.speed

    def __call__(self, engine: Any, now_ms: float) -> None:
        if self._t0 is None:
            self._t0 = time.monotonic() - now_ms / 1000.0 / self.speed
        delay = self._t0 + now_ms / 1000.0 / self.speed - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.now_ms = now_ms
        self.displays.update(engine)
