"""Browser caption overlay (an OBS browser source): one port serves the page and its websocket.

The server pushes, per connected page, the caption layout for that page's mode/lines/width
(:func:`captioner.core.view.layout`) whenever captions change, and a clock sync
``{"type": "clock", "now_ms", "rate"}`` a few times a second. A page gets the whole layout
once (``{"type": "captions", "revision", "lines", "layout"}``, on connecting or when it
asks with ``{"type": "resync"}``), then only what changed since the revision it has
(``{"type": "captions_diff", "base", "revision", "layout"}``: for each of the layout's
``lines``, ``pieces`` and ``cues``, how many of the page's entries to ``keep`` and the
entries to ``add`` after them; :func:`apply_message` is the rule). A page whose revision
is not the diff's base asks for a resync. The page interpolates the
playback clock with ``performance.now()`` and filters the layout each animation frame (the
same rule as :func:`captioner.core.view.view_at`), so words appear and the karaoke highlight
moves on the playback clock, not on network timing. Pages report when they painted each
piece (``{"type": "painted", ...}``), which is how display lag is measured.

Each page has its own sender task and holds only the latest state (whether its captions are
behind, one pending clock sync; a page that read slowly gets one diff from what it has to
the newest layout): a page that stops reading is dropped after
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
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence
from urllib.parse import parse_qs, urlencode, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from captioner.core import Caption
from captioner.core.render import MODES, layout

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


Config = tuple[str, int, int]  # a page's (mode, lines, width)
PARTS = ("lines", "pieces", "cues")  # the layout's lists, sent as diffs


@dataclass(frozen=True)
class _Encoded:
    """One revision's layout for one page config: each list entry as its JSON text, so a
    diff is a comparison of strings and a message is a join of them."""

    revision: Optional[int]
    lines: int
    head: str  # the layout's scalar fields as JSON members: "mode":...,"width":...,...
    parts: dict[str, list[str]]

    @classmethod
    def of(cls, captions: Sequence[Caption], revision: Optional[int], config: Config) -> "_Encoded":
        mode, lines, width = config
        lay = layout(captions, mode, width, lines).to_json()
        head = json.dumps({k: v for k, v in lay.items() if k not in PARTS})[1:-1]
        return cls(revision, lines, head, {k: [json.dumps(x, allow_nan=False) for x in lay[k]] for k in PARTS})

    def snapshot(self) -> str:
        parts = ",".join(f'"{k}":[{",".join(v)}]' for k, v in self.parts.items())
        return (f'{{"type":"captions","revision":{json.dumps(self.revision)},"lines":{json.dumps(self.lines)},'
                f'"layout":{{{self.head},{parts}}}}}')

    def diff_from(self, have: "_Encoded") -> str:
        """What turns ``have`` into this: per list, the common prefix kept and the rest."""
        out = []
        for k, new in self.parts.items():
            old = have.parts[k]
            keep, n = 0, min(len(old), len(new))
            while keep < n and old[keep] == new[keep]:
                keep += 1
            out.append(f'"{k}":{{"keep":{keep},"add":[{",".join(new[keep:])}]}}')
        return (f'{{"type":"captions_diff","base":{json.dumps(have.revision)},"revision":{json.dumps(self.revision)},'
                f'"layout":{{{self.head},{",".join(out)}}}}}')


def apply_message(layout_json: Optional[dict], revision: Optional[int], msg: dict
                  ) -> tuple[Optional[dict], Optional[int], bool]:
    """What a page does with a captions message (overlay.js follows the same rule): the
    new (layout, revision), and False when a diff does not apply to what the page has
    (it then asks for a resync and keeps what it shows)."""
    if msg.get("type") == "captions":
        return msg["layout"], msg["revision"], True
    if msg.get("type") != "captions_diff":
        return layout_json, revision, True
    if layout_json is None or msg["base"] != revision:
        return layout_json, revision, False
    new = {k: v for k, v in msg["layout"].items() if k not in PARTS}
    for k in PARTS:
        part = msg["layout"][k]
        new[k] = layout_json[k][:part["keep"]] + part["add"]
    return new, msg["revision"], True


@dataclass(eq=False)
class _Page:
    """A connected page: what it has, and what it has yet to be sent (the latest of each kind only)."""

    ws: ServerConnection
    config: Config
    clock: Optional[str] = None
    behind: bool = False  # newer captions than the page has (or a resync asked)
    have: Optional[_Encoded] = None  # the layout the page has (None: send it whole)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def post(self, clock: Optional[str] = None, captions: bool = False) -> None:
        """Supersede what is pending (a newer state makes an unsent older one pointless)."""
        if clock is not None:
            self.clock = clock
        self.behind = self.behind or captions
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
        self._revision: Optional[int] = None
        # the captions the pages are to show and their revision, replaced as one (read by
        # the server thread)
        self._published: tuple[list[Caption], Optional[int]] = ([], None)
        # the newest layout per page config in use, with the published state it lays out
        self._encoded: dict[Config, tuple[tuple[list[Caption], Optional[int]], _Encoded]] = {}
        # what the pages were sent (messages, bytes), by message type
        self.sent_counts: Counter[str] = Counter()
        self.sent_bytes: Counter[str] = Counter()
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
        if captions == self._published[0] and self._published[1] is not None:
            self._revision = revision
            return
        self._published, self._revision = (captions, revision), revision
        self._call(self._broadcast_captions)

    @property
    def sent_revision(self) -> Optional[int]:
        """Revision of the captions the pages have (the last one that changed them)."""
        return self._published[1]

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
        page.post(clock=self._clock_message(), captions=True)
        self._clients[ws] = page
        self.client_connected.set()
        sender = asyncio.ensure_future(self._sender(page))
        try:
            async for raw in ws:
                self._on_report(raw, page)
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
                if page.clock is not None:
                    msg, page.clock = page.clock, None
                    await self._send(page, "clock", msg)
                if page.behind:
                    page.behind = False
                    latest = self._latest(page.config)
                    if page.have is None:
                        await self._send(page, "captions", latest.snapshot())
                    elif page.have is not latest:
                        await self._send(page, "captions_diff", latest.diff_from(page.have))
                    page.have = latest
        except asyncio.TimeoutError:
            log.info("overlay: dropped a page that stopped reading")
            page.ws.transport.abort()
        except Exception as exc:  # noqa: BLE001 - the page went away: its handler cleans up
            log.debug("overlay: send failed: %s", exc)

    async def _send(self, page: _Page, kind: str, msg: str) -> None:
        await asyncio.wait_for(page.ws.send(msg), self.send_timeout_s)
        self.sent_counts[kind] += 1
        self.sent_bytes[kind] += len(msg.encode())

    def _on_report(self, raw: Any, page: Optional[_Page] = None) -> None:
        try:
            msg = json.loads(raw)
        except (TypeError, ValueError, RecursionError):
            log.info("overlay: skipped malformed page message %r", str(raw)[:80])
            return
        if isinstance(msg, dict) and msg.get("type") == "resync" and page is not None:
            page.have = None  # whatever it has, it gets the whole layout again
            page.post(captions=True)
            return
        if not isinstance(msg, dict) or msg.get("type") not in ("painted", "rendered"):
            log.info("overlay: skipped unknown page message %r", str(raw)[:80])
            return
        self.reports.append(msg)

    def _clock_message(self) -> str:
        return json.dumps({"type": "clock", "now_ms": float(self.now_ms_fn()), "rate": self.clock_rate})

    def _latest(self, config: Config) -> _Encoded:
        """The newest layout for a page config (laid out once per revision, whatever the pages)."""
        published = self._published
        cached = self._encoded.get(config)
        if cached is None or cached[0] is not published:
            cached = self._encoded[config] = (published, _Encoded.of(*published, config))
        return cached[1]

    async def _broadcast_captions(self) -> None:
        in_use = {page.config for page in self._clients.values()}
        for config in list(self._encoded):
            if config not in in_use:
                del self._encoded[config]
        for page in list(self._clients.values()):
            page.post(captions=True)

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
