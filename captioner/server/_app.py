"""Thin asyncio websocket layer over :class:`~.protocol.RealtimeSession`.

Per connection: one task reads messages into the session, one pump sends whatever is
due and sleeps until the next scheduled event; espeak runs in a thread executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http
import json
import logging
from typing import AsyncIterator, Optional
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from captioner.server import espeak as tts
from captioner.server._live import LiveServerSession
from captioner.server._protocol import RealtimeSession, ServerOptions, SpeechRequest
from captioner.server._script import Script, load_script

log = logging.getLogger(__name__)

PATHS = ("/v1/realtime", "/realtime")
LIVE_PATHS = ("/v1/live", "/live", "/v1/live/sessions")  # GPT-Live (the SDK asks for .../live/sessions)


def wants_beta(headers: Headers, options: ServerOptions) -> bool:
    return options.beta or "realtime=v1" in headers.get("OpenAI-Beta", "").replace(" ", "")


def _check_path(connection: ServerConnection, request: Request) -> Optional[Response]:
    if urlsplit(request.path).path.rstrip("/") not in PATHS + LIVE_PATHS:
        return connection.respond(http.HTTPStatus.NOT_FOUND, f"no realtime endpoint at {request.path}\n")
    return None


async def _synthesise(session: "RealtimeSession | LiveServerSession", req: SpeechRequest, clock, wake: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    opts = session.options
    try:
        speech = await loop.run_in_executor(None, functools.partial(
            tts.synthesize, req.text, voice=opts.voice, wpm=opts.wpm, sample_rate=req.sample_rate))
    except Exception as exc:  # espeak missing or a bad voice must not kill the session
        session.speech_failed(req.response_id, str(exc), clock())
    else:
        session.speech_ready(req.response_id, speech, clock())
    wake.set()


async def handle_connection(ws: ServerConnection, options: ServerOptions, script: Script) -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()

    def clock() -> float:
        return (loop.time() - t0) * 1000.0

    query = parse_qs(urlsplit(ws.request.path).query)
    session: "RealtimeSession | LiveServerSession"
    if urlsplit(ws.request.path).path.rstrip("/") in LIVE_PATHS:
        session = LiveServerSession(options, Script(script.lines, script.echo))
    else:
        session = RealtimeSession(options, Script(script.lines, script.echo),
                                  beta=wants_beta(ws.request.headers, options),
                                  model=query.get("model", ["gpt-realtime"])[0])
    session.start(clock())
    wake = asyncio.Event()
    synth_tasks: set[asyncio.Task] = set()

    async def pump() -> None:
        try:
            await _pump()
        except ConnectionClosed:
            pass
        except Exception:  # a bug here must end this connection visibly, not hang it
            log.exception("server session failed")
            await ws.close(1011, "internal error")

    async def _pump() -> None:
        while True:
            wake.clear()
            for event in session.pop_due(clock()):
                await ws.send(json.dumps(event))
            for req in session.take_speech_requests():
                task = asyncio.create_task(_synthesise(session, req, clock, wake))
                synth_tasks.add(task)
                task.add_done_callback(synth_tasks.discard)
            due = session.next_due_ms()
            timeout = None if due is None else max(0.0, (due - clock()) / 1000.0)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)

    pump_task = asyncio.create_task(pump())
    try:
        async for message in ws:
            session.receive(message, clock())
            wake.set()
    except ConnectionClosed:
        pass
    finally:
        pump_task.cancel()
        for task in list(synth_tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await pump_task


@contextlib.asynccontextmanager
async def serve_embedded(port: int = 0, host: str = "127.0.0.1", **opts) -> AsyncIterator[str]:
    """Run the server for the block; yields ``ws://127.0.0.1:PORT/v1``."""
    options = ServerOptions(**opts)
    script = load_script(options.script)
    handler = functools.partial(handle_connection, options=options, script=script)
    async with serve(handler, host, port, process_request=_check_path, max_size=None,
                     compression=None) as server:
        yield f"ws://{host}:{_port(server)}/v1"


def _port(server: Server) -> int:
    return next(iter(server.sockets)).getsockname()[1]
