"""Thin asyncio websocket layer over :class:`~.protocol.RealtimeSession`.

Per connection: one task reads messages into the session, one pump sends whatever is
due and sleeps until the next scheduled event. The server's voice is loaded once before
it listens and synthesises on one dedicated thread (neither libespeak-ng nor Piper's
phonemiser is re-entrant; the thread also keeps synthesis off the event loop). Messages
larger than :data:`OFFLOAD_BYTES` are parsed and applied on a worker thread, so one client
appending minutes of audio does not stall the others.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import http
import json
import logging
from dataclasses import dataclass
from typing import AsyncIterator, Optional
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from captioner.server._live import LiveServerSession
from captioner.server._protocol import MAX_APPEND_AUDIO_BYTES, RealtimeSession, ServerOptions, SpeechRequest
from captioner.server._script import Script, load_script
from captioner.server._voice import Voice, load_voice

log = logging.getLogger(__name__)

PATHS = ("/v1/realtime", "/realtime")
LIVE_PATHS = ("/v1/live", "/live", "/v1/live/sessions")  # GPT-Live (the SDK asks for .../live/sessions)
# One message at most: an append with the real API's largest audio (15 MiB) in base64, plus room.
MAX_MESSAGE_BYTES = MAX_APPEND_AUDIO_BYTES * 4 // 3 + 2**20
OFFLOAD_BYTES = 256 * 1024  # larger messages are handled off the event loop (~2.7 s of pcm16)


@dataclass
class _Server:
    """What every connection of one server shares."""

    options: ServerOptions
    script: Script
    voice: Voice
    synth: concurrent.futures.ThreadPoolExecutor  # one thread: the voice's only caller


def wants_beta(headers: Headers, options: ServerOptions) -> bool:
    return options.beta or "realtime=v1" in headers.get("OpenAI-Beta", "").replace(" ", "")


def _check_path(connection: ServerConnection, request: Request) -> Optional[Response]:
    if urlsplit(request.path).path.rstrip("/") not in PATHS + LIVE_PATHS:
        return connection.respond(http.HTTPStatus.NOT_FOUND, f"no realtime endpoint at {request.path}\n")
    return None


async def _synthesise(server: _Server, session: "RealtimeSession | LiveServerSession", lock: asyncio.Lock,
                      req: SpeechRequest, clock, wake: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    try:
        speech = await loop.run_in_executor(server.synth, server.voice.synthesize, req.text, req.sample_rate)
    except Exception as exc:  # a failing voice must not kill the session
        log.exception("speech synthesis failed")
        async with lock:
            session.speech_failed(req.response_id, str(exc), clock())
    else:
        async with lock:
            session.speech_ready(req.response_id, speech, clock())
    wake.set()


async def handle_connection(ws: ServerConnection, server: _Server) -> None:
    loop = asyncio.get_running_loop()
    options, script = server.options, server.script
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
    lock = asyncio.Lock()  # the session is touched by the reader (maybe on a thread), pump and voice
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
            async with lock:
                events = session.pop_due(clock())
                requests = session.take_speech_requests()
            for event in events:
                await ws.send(json.dumps(event))
            for req in requests:
                task = asyncio.create_task(_synthesise(server, session, lock, req, clock, wake))
                synth_tasks.add(task)
                task.add_done_callback(synth_tasks.discard)
            async with lock:
                due = session.next_due_ms()
            timeout = None if due is None else max(0.0, (due - clock()) / 1000.0)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)

    pump_task = asyncio.create_task(pump())
    try:
        async for message in ws:
            async with lock:
                if len(message) > OFFLOAD_BYTES:
                    await loop.run_in_executor(None, session.receive, message, clock())
                else:
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
async def shared_server(options: ServerOptions) -> AsyncIterator[_Server]:
    """What every connection of a server shares, the voice loaded before anyone connects
    (:class:`~._voice.VoiceUnavailable` if it cannot be), so no connection waits for a model
    load or races another to create it. WebSocket and WebRTC endpoints both use it."""
    voice = load_voice(options.voice, options.wpm)
    synth = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="voice")
    try:
        await asyncio.get_running_loop().run_in_executor(synth, voice.load)
        yield _Server(options, load_script(options.script), voice, synth)
    finally:  # answers still queued are for connections that are gone
        synth.shutdown(wait=False, cancel_futures=True)


@contextlib.asynccontextmanager
async def serve_embedded(port: int = 0, host: str = "127.0.0.1", **opts) -> AsyncIterator[str]:
    """Run the server for the block; yields ``ws://127.0.0.1:PORT/v1``."""
    async with shared_server(ServerOptions(**opts)) as shared:
        handler = functools.partial(handle_connection, server=shared)
        async with serve(handler, host, port, process_request=_check_path, max_size=MAX_MESSAGE_BYTES,
                         compression=None) as server:
            yield f"ws://{host}:{_port(server)}/v1"


def _port(server: Server) -> int:
    return next(iter(server.sockets)).getsockname()[1]
