"""Realtime API websocket client: every event in or out goes through the engine and the log.

Thin edge around :mod:`websockets`: the connection only moves JSON. Each server event
is handed to ``engine.receive`` (whose answers are sent straight back), each client
event to ``engine.sent`` before it leaves, and both to an optional session log. The API
key travels only in the connection headers, which are never logged.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Optional, Sequence, Union
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from captioner.core.wire import ClientEvent
from captioner.edges.player import SessionClock

from captioner.edges.live_dialect import live_url

log = logging.getLogger(__name__)

OPENAI_URL = "wss://api.openai.com/v1/realtime"
DEFAULT_MODEL = "gpt-realtime"

EventHook = Callable[[dict, float], Optional[Awaitable[None]]]


def realtime_url(url: Optional[str] = None, model: str = DEFAULT_MODEL) -> str:
    """The realtime endpoint with ``?model=``: a bare ``.../v1`` base gets ``/realtime`` added."""
    parts = urlsplit(url or OPENAI_URL)
    path = parts.path.rstrip("/")
    if path.endswith("/v1") or path == "":
        path += "/realtime" if path else "/v1/realtime"
    query = dict(parse_qsl(parts.query))
    query.setdefault("model", model)
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))


def connect_headers(api_key: Optional[str], beta: bool) -> dict[str, str]:
    headers = {}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    if beta:
        headers["OpenAI-Beta"] = "realtime=v1"
    return headers


def api_key_for(url: Optional[str]) -> Optional[str]:
    """$OPENAI_API_KEY, sent to OpenAI's endpoint only: another server never sees it
    unless $CAPTIONER_API_KEY is set for it explicitly."""
    explicit = os.environ.get("CAPTIONER_API_KEY")
    if explicit:
        return explicit
    if url is not None and urlsplit(url).hostname != "api.openai.com":
        return None
    key = os.environ.get("OPENAI_API_KEY")
    if not key:
        raise RuntimeError("OPENAI_API_KEY is not set (or pass --url for another server)")
    return key


def decode_message(message: Any) -> Optional[dict]:
    """A server frame as an event dict, or None (logged) when it is not one."""
    if isinstance(message, bytes):
        log.warning("skipping binary websocket frame (%d bytes)", len(message))
        return None
    try:
        event = json.loads(message)
    except ValueError as exc:
        log.warning("skipping malformed server message: %s", exc)
        return None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        log.warning("skipping server message without a type: %.80s", message)
        return None
    return event


@dataclass
class RealtimeClient:
    """One websocket session bound to an engine (guarded by ``lock``) and a session log."""

    ws: ClientConnection
    engine: Any
    lock: threading.RLock
    clock: SessionClock
    log_writer: Any = None  # captioner.edges.logfile.SessionLogWriter
    on_event: Optional[EventHook] = None  # called after the engine saw a server event

    def _log(self, source: str, event: dict, now_ms: float) -> None:
        if self.log_writer is not None:
            try:
                self.log_writer.write(source, event, now_ms / 1000.0)
            except Exception:  # noqa: BLE001 - a full disk must not end the session
                log.exception("session log write failed")

    async def send(self, event: Union[ClientEvent, dict]) -> None:
        """Send a client event (the engine's typed ones, or any wire dict)."""
        now = self.clock.now_ms()
        with self.lock:
            self.engine.sent(event, now)
        wire = event if isinstance(event, dict) else event.to_wire()
        self._log("client", wire, now)
        await self.ws.send(json.dumps(wire))

    async def send_all(self, events: Sequence[Union[ClientEvent, dict]]) -> None:
        for event in events:
            await self.send(event)

    async def handle(self, message: Any) -> None:
        event = decode_message(message)
        if event is None:
            return
        now = self.clock.now_ms()
        self._log("server", event, now)
        try:
            with self.lock:
                replies = self.engine.receive(event, now)
        except Exception:  # noqa: BLE001 - one bad event never ends a session
            log.exception("engine rejected %s; skipped", event.get("type"))
            return
        await self.send_all(replies or [])
        if self.on_event is not None:
            result = self.on_event(event, now)
            if result is not None:
                await result

    async def run(self) -> None:
        """Receive until the server closes the connection."""
        try:
            async for message in self.ws:
                await self.handle(message)
        except ConnectionClosed as exc:
            log.info("connection closed: %s", exc)


class EndpointError(ConnectionError):
    """The endpoint cannot be used: a wrong scheme, a key that would travel in clear, no
    websocket server there, or not a realtime one. The message is one line for the user."""


def _loopback(host: Optional[str]) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_endpoint(url: str, api_key: Optional[str]) -> None:
    """Refuse what cannot be a realtime websocket, and plain ``ws://`` carrying a key beyond
    this machine (anyone on the path would read it)."""
    scheme, host = urlsplit(url).scheme, urlsplit(url).hostname
    if scheme not in ("ws", "wss"):
        raise EndpointError(f"{url}: a realtime endpoint is a websocket URL, ws:// or wss://")
    if not host:
        raise EndpointError(f"{url}: no host in the URL")
    if api_key and scheme == "ws" and not _loopback(host):
        raise EndpointError(f"{url}: refusing to send the API key in clear over ws:// to {host}; use wss://")


@asynccontextmanager
async def open_connection(url: Optional[str], model: str, beta: bool, api_key: Optional[str],
                          dialect: str = "realtime") -> AsyncIterator[ClientConnection]:
    """``async with open_connection(...) as ws`` — websockets' connect with our headers
    (``dialect="live"``: the GPT-Live endpoint); failing to connect raises
    :class:`EndpointError` (or ``OSError``) saying why, in one line."""
    target = live_url(url) if dialect == "live" else realtime_url(url, model)
    check_endpoint(target, api_key)
    try:
        ws = await connect(
            target,
            additional_headers=connect_headers(api_key, beta),
            max_size=None,  # audio deltas can be large
            open_timeout=15,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        what = "the API key was refused" if status in (401, 403) else "not a realtime endpoint"
        raise EndpointError(f"HTTP {status} from {target}: {what}") from None
    except InvalidHandshake as exc:
        raise EndpointError(f"{target} did not answer as a websocket server ({exc})") from None
    except TimeoutError:
        raise EndpointError(f"{target} did not answer within 15 s") from None
    except OSError as exc:
        raise EndpointError(f"cannot connect to {target}: {exc.strerror or exc}") from None
    async with ws:
        yield ws
