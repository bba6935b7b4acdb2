"""The embedded server's WebRTC endpoint: the same sessions, with WebRTC's event semantics.

A small aiohttp app on 127.0.0.1 takes the SDP offer (GA ``POST /v1/realtime/calls``,
beta ``POST /v1/realtime?model=...``; body ``application/sdp``, or the multipart form
with an ``sdp`` field) and answers with aiortc's SDP (201). Each call drives one
:class:`~.protocol.RealtimeSession`, exactly as the websocket layer does, and
transforms its output the way the real service behaves over WebRTC:

- audio deltas never go out as events: their audio is queued on the outgoing track
  (48 kHz, 20 ms frames at real-time pace), in an :class:`OutputBuffer`;
- ``output_audio_buffer.started`` when a response's first sample goes out on the track,
  ``output_audio_buffer.stopped`` when its last one has (so ``response.output_audio.done``
  — sent when generation ends, faster than real time — comes first);
- ``conversation.item.truncate`` + ``response.cancel`` stop generation but not the
  buffered audio: it keeps playing (seed 001) until the client sends
  ``output_audio_buffer.clear``, answered by ``output_audio_buffer.cleared``; server VAD
  speech (``interrupt_response``) clears it too, as the service does;
- the client's microphone track feeds the session's input buffer (server VAD).

ICE uses host candidates on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import AsyncIterator, Callable, Optional

import numpy as np
from aiohttp import web
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from captioner.core.wire._audio import Resampler, decode_base64, encode_base64
from captioner.edges.webrtc import CHANNEL, TRACK_RATE, ChunkQueue, PacedAudioTrack, TrackAudio, loopback_ice
from captioner.server._app import _Server, _synthesise, shared_server
from captioner.server._protocol import RealtimeSession, ServerOptions
from captioner.server._script import Script

log = logging.getLogger(__name__)

GA_PATHS = ("/v1/realtime/calls", "/realtime/calls")
BETA_PATHS = ("/v1/realtime", "/realtime")
_AUDIO_DELTAS = ("response.output_audio.delta", "response.audio.delta")
_AUDIO_DONE = ("response.output_audio.done", "response.audio.done")


# ---- what the voice track still has to send (pure) -----------------------------------

@dataclass
class _Pending:
    response_id: str
    audio: ChunkQueue = field(default_factory=ChunkQueue)
    done: bool = False  # no more audio will come for it
    started: bool = False


class OutputBuffer:
    """Per-response audio queued for the track, and the playback marks reading it makes.

    ``pull(n)`` hands out the next ``n`` samples (silence where there are none) and the
    marks they cause: ``("started", id)`` with a response's first sample, ``("stopped", id)``
    once its last sample is out and no more is coming. Audio of a response still being
    generated that runs dry is an underrun (silence), not a stop.
    """

    def __init__(self) -> None:
        self._queue: deque[_Pending] = deque()
        self._gone: set[str] = set()  # cleared or stopped: later audio is not queued

    def push(self, response_id: str, samples: np.ndarray) -> None:
        if response_id in self._gone or not len(samples):
            return
        pending = self._find(response_id)
        if pending is None:
            pending = _Pending(response_id)
            self._queue.append(pending)
        pending.audio.push(samples)

    def finish(self, response_id: str) -> None:
        pending = self._find(response_id)
        if pending is not None:
            pending.done = True

    def clear(self) -> list[str]:
        """Drop everything queued; the responses whose audio was playing or waiting."""
        ids = [p.response_id for p in self._queue if p.started or p.audio]
        self._gone.update(p.response_id for p in self._queue)
        self._queue.clear()
        return ids

    @property
    def queued_samples(self) -> int:
        return sum(len(p.audio) for p in self._queue)

    def pull(self, n: int) -> tuple[np.ndarray, list[tuple[str, str]]]:
        out = np.zeros(n, np.int16)
        marks: list[tuple[str, str]] = []
        filled = 0
        while self._queue:
            p = self._queue[0]
            if p.audio and filled < n:
                if not p.started:
                    p.started = True
                    marks.append(("started", p.response_id))
                filled = p.audio.read_into(out, filled)
                continue
            if not p.audio and p.done:
                if p.started:
                    marks.append(("stopped", p.response_id))
                self._gone.add(p.response_id)
                self._queue.popleft()
                continue
            break  # frame full, or waiting for more of this response
        return out, marks

    def _find(self, response_id: str) -> Optional[_Pending]:
        return next((p for p in self._queue if p.response_id == response_id), None)


# ---- one call --------------------------------------------------------------------------

@dataclass
class CallStats:
    """What a call did, for tests and benchmarks."""

    frames_sent: int = 0
    speech_frames_sent: int = 0
    received: list[dict] = field(default_factory=list)  # client events, as parsed
    sent: list[dict] = field(default_factory=list)  # server events on the data channel
    frame_times: dict[int, float] = field(default_factory=dict)  # pts -> monotonic s it left
    speech_frame_times: list[float] = field(default_factory=list)  # monotonic s of non-silent frames
    generated: list[tuple[float, dict]] = field(default_factory=list)  # (ms, event) as a WebSocket server sends them


class WebRTCCall:
    """One peer connection bound to one :class:`RealtimeSession`."""

    def __init__(self, call_id: str, pc: RTCPeerConnection, shared: _Server, beta: bool, model: str) -> None:
        self.call_id = call_id
        self.pc = pc
        self.shared = shared
        self.lock = asyncio.Lock()  # the session is touched by the pump and the voice
        script = shared.script
        self.session = RealtimeSession(shared.options, Script(script.lines, script.echo), beta=beta, model=model)
        self.buffer = OutputBuffer()
        self.track = PacedAudioTrack(self._pull, on_frame=self._frame_left)
        self.stats = CallStats()
        self.channel = None
        self._t0 = time.monotonic()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._resamplers: dict[str, Resampler] = {}
        self._event_ids = itertools.count(1)
        self._last_frame_speech = False

    def clock(self) -> float:
        return (time.monotonic() - self._t0) * 1000.0

    # -- data channel --------------------------------------------------------------
    def attach_channel(self, channel) -> None:
        if channel.label != CHANNEL:
            log.warning("ignoring data channel %r (events go on %r)", channel.label, CHANNEL)
            return
        self.channel = channel
        channel.on("message", self._on_message)
        channel.on("close", self._wake.set)
        if channel.readyState == "open":
            self._begin()
        else:
            channel.on("open", self._begin)

    def _begin(self) -> None:
        self.session.start(self.clock())
        self._spawn(self._pump())

    def _on_message(self, message) -> None:
        try:
            event = json.loads(message)
        except (ValueError, TypeError):
            event = None
        if isinstance(event, dict):
            self.stats.received.append(event)
        if isinstance(event, dict) and event.get("type") == "output_audio_buffer.clear":
            self._clear()
        else:
            self.session.receive(message, self.clock())
        self._wake.set()

    def _send(self, event: dict) -> None:
        if self.channel is None or self.channel.readyState != "open":
            return
        self.stats.sent.append(event)
        self.channel.send(json.dumps(event))

    def _mark(self, kind: str, response_id: Optional[str]) -> None:
        self._send({"event_id": f"event_rtc_{next(self._event_ids):06d}",
                    "type": f"output_audio_buffer.{kind}", "response_id": response_id})

    def _clear(self) -> None:
        ids = self.buffer.clear()
        for response_id in ids or [None]:
            self._mark("cleared", response_id)

    # -- the session's output, as WebRTC sends it ----------------------------------
    async def _pump(self) -> None:
        try:
            while self.channel is not None and self.channel.readyState == "open":
                self._wake.clear()
                for event in self.session.pop_due(self.clock()):
                    self._route(event)
                for req in self.session.take_speech_requests():
                    self._spawn(_synthesise(self.shared, self.session, self.lock, req, self.clock, self._wake))
                due = self.session.next_due_ms()
                timeout = None if due is None else max(0.0, (due - self.clock()) / 1000.0)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        except Exception:  # a bug here must end this call visibly, not hang it
            log.exception("webrtc call %s failed", self.call_id)
            await self.pc.close()

    def _route(self, event: dict) -> None:
        kind = event["type"]
        response_id = event.get("response_id")
        self.stats.generated.append((self.clock(), event))
        if kind in _AUDIO_DELTAS:
            self.buffer.push(response_id, self._to_track_rate(response_id, event["delta"]))
            return
        if kind in _AUDIO_DONE:
            self._flush_resampler(response_id)
            self.buffer.finish(response_id)
        elif kind == "response.done":
            response_id = (event.get("response") or {}).get("id")
            self._flush_resampler(response_id)
            self.buffer.finish(response_id)
        self._send(event)
        if kind == "input_audio_buffer.speech_started" and \
                (self.session.turn_detection or {}).get("interrupt_response", True):
            ids = self.buffer.clear()
            for rid in ids:
                self._mark("cleared", rid)

    def _to_track_rate(self, response_id: str, delta: str) -> np.ndarray:
        fmt = self.session.output_format
        stream = self._resamplers.get(response_id)
        if stream is None:
            stream = self._resamplers[response_id] = Resampler(fmt.sample_rate, TRACK_RATE)
        return stream.feed(decode_base64(delta, fmt))

    def _flush_resampler(self, response_id: Optional[str]) -> None:
        stream = self._resamplers.pop(response_id, None) if response_id else None
        if stream is not None:
            self.buffer.push(response_id, stream.feed(np.zeros(0, np.int16), last=True))

    # -- the voice track ---------------------------------------------------------------
    def _pull(self, n: int) -> np.ndarray:
        samples, marks = self.buffer.pull(n)
        for kind, response_id in marks:
            self._mark(kind, response_id)
        self._last_frame_speech = bool(np.any(samples))
        return samples

    def _frame_left(self, pts: int, at_s: float) -> None:
        self.stats.frames_sent += 1
        self.stats.frame_times[pts] = at_s
        if self._last_frame_speech:
            self.stats.speech_frames_sent += 1
            self.stats.speech_frame_times.append(at_s)

    # -- the caller's microphone -------------------------------------------------------
    def receive_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._listen(track))

    async def _listen(self, track: MediaStreamTrack) -> None:
        fmt = self.session.input_format
        audio = TrackAudio(fmt.sample_rate)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            pcm = audio.convert(frame)
            if len(pcm):
                self.session.receive_event({"type": "input_audio_buffer.append",
                                            "audio": encode_base64(pcm, fmt)}, self.clock())
                self._wake.set()

    # -- lifetime ------------------------------------------------------------------------
    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.track.stop()
        await self.pc.close()


# ---- HTTP ------------------------------------------------------------------------------

def _json_error(status: int, message: str, code: str = "invalid_request_error") -> web.Response:
    return web.json_response({"error": {"type": "invalid_request_error", "code": code, "message": message}},
                             status=status)


class WebRTCServer:
    """The aiohttp handlers and the calls they opened."""

    def __init__(self, shared: _Server) -> None:
        self.shared, self.options = shared, shared.options
        self.calls: dict[str, WebRTCCall] = {}
        self.on_call: Optional[Callable[[WebRTCCall], None]] = None  # tests, benchmarks
        self._ids = itertools.count(1)

    async def offer(self, request: web.Request) -> web.Response:
        path = request.path.rstrip("/")
        sdp = await self._read_sdp(request)
        if isinstance(sdp, web.Response):
            return sdp
        if not sdp.lstrip().startswith("v=0") or "m=application" not in sdp:
            return _json_error(400, "The body must be an SDP offer with a data channel (m=application).")
        beta = self.options.beta or path in BETA_PATHS or \
            "realtime=v1" in request.headers.get("OpenAI-Beta", "").replace(" ", "")
        model = request.query.get("model", "gpt-realtime")
        call_id = f"rtc_{next(self._ids):06d}"
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        call = WebRTCCall(call_id, pc, self.shared, beta, model)
        pc.on("datachannel", call.attach_channel)
        pc.on("track", call.receive_track)

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed") and self.calls.pop(call_id, None) is not None:
                await call.close()

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            pc.addTrack(call.track)
            with loopback_ice():
                await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # noqa: BLE001 - a malformed offer is the client's problem
            log.info("rejected SDP offer: %s", exc)
            await pc.close()
            return _json_error(400, f"Invalid SDP offer: {exc}")
        self.calls[call_id] = call
        if self.on_call is not None:
            self.on_call(call)
        return web.Response(status=201, text=pc.localDescription.sdp, content_type="application/sdp",
                            headers={"Location": f"/v1/realtime/calls/{call_id}"})

    @staticmethod
    async def _read_sdp(request: web.Request):
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            sdp = form.get("sdp")
            if not isinstance(sdp, str):
                return _json_error(400, "Missing 'sdp' form field.", "missing_required_parameter")
            return sdp
        if request.content_type not in ("application/sdp", "text/plain"):
            return _json_error(415, f"Unsupported Content-Type {request.content_type!r}: send application/sdp.")
        return await request.text()

    async def close(self) -> None:
        calls, self.calls = list(self.calls.values()), {}
        await asyncio.gather(*(c.close() for c in calls), return_exceptions=True)

    def app(self) -> web.Application:
        app = web.Application()
        for path in GA_PATHS + BETA_PATHS:
            app.router.add_post(path, self.offer)
        return app


@contextlib.asynccontextmanager
async def serve_webrtc(port: int = 0, host: str = "127.0.0.1",
                       on_call: Optional[Callable[[WebRTCCall], None]] = None,
                       **opts) -> AsyncIterator[str]:
    """Run the WebRTC endpoint for the block; yields ``http://127.0.0.1:PORT/v1``
    (offers go to ``.../realtime/calls``). ``opts`` are :class:`ServerOptions` fields."""
    async with shared_server(ServerOptions(**opts)) as shared:
        server = WebRTCServer(shared)
        server.on_call = on_call
        runner = web.AppRunner(server.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        try:
            bound = runner.addresses[0][1]
            yield f"http://{host}:{bound}/v1"
        finally:
            await server.close()
            await runner.cleanup()
