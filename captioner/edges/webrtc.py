"""Realtime API over WebRTC (aiortc): the same events as the websocket, audio on media tracks.

The connection is set up the way the Realtime API does it: an SDP offer POSTed over
HTTP (GA ``POST /v1/realtime/calls``; beta ``POST /v1/realtime?model=...``) with
``Content-Type: application/sdp`` and the key (or an ephemeral client secret) as
Bearer, the answer SDP in the response body. JSON events travel both ways on a data
channel named ``oai-events``; the microphone (silence without one) is the outgoing
track and the assistant's voice is the remote track.

Over WebRTC no audio ever appears as an event, yet the engine must see the audio that
plays. So every frame of the remote track (decoded by aiortc, 48 kHz) is resampled
once, by one streaming soxr resampler, to the engine's output rate and handed on as a
local server event ``{"type": "captioner.track_audio.delta", "delta": <base64 pcm16>}``
through the same queue as the data channel's events. :class:`WebRTCConnection` offers
``send(text)`` and ``async for message in ...`` like a websocket connection, so the
one :class:`~captioner.edges.client.RealtimeClient` feeds the engine and the session
log on both transports, and replay reproduces a WebRTC session from its log.

Frames forwarded: aiortc's Opus decoder yields 20 ms frames (960 samples at 48 kHz,
stereo, averaged to mono); each becomes one delta of about 480 samples at 24 kHz (the
resampler's start-up delay makes the first few slightly shorter; the total is kept).
Every frame is forwarded, silence included: the engine attributes track audio to a
response by the ``output_audio_buffer.started`` / ``.stopped`` / ``.cleared`` marks.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fractions
import ipaddress
import json
import logging
import time
from collections import deque
from typing import Any, AsyncIterator, Callable, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aioice.ice
import aiohttp
import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from captioner.core.wire._audio import PCM16, Resampler, encode_base64
from captioner.edges.client import DEFAULT_MODEL

log = logging.getLogger(__name__)

OPENAI_CALLS_URL = "https://api.openai.com/v1/realtime/calls"
CHANNEL = "oai-events"
TRACK_RATE = 48000  # WebRTC audio (Opus) clock rate
FRAME_MS = 20
FRAME_SAMPLES = TRACK_RATE * FRAME_MS // 1000
TRACK_EVENT = "captioner.track_audio.delta"
OPEN_TIMEOUT_S = 15.0


class WebRTCError(ConnectionError):
    """Setting up or keeping the WebRTC connection failed; the message is one line for the user."""


# ---- loopback-only ICE ---------------------------------------------------------------

_LOOPBACK_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("captioner_loopback_ice", default=False)
_system_host_addresses = aioice.ice.get_host_addresses


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if _LOOPBACK_ONLY.get():
        return ["127.0.0.1"] if use_ipv4 else []
    return _system_host_addresses(use_ipv4, use_ipv6)


@contextlib.contextmanager
def loopback_ice(enabled: bool = True):
    """Within the block, ICE gathers only 127.0.0.1 host candidates.

    aioice always leaves loopback out and offers every other interface, with no option
    to choose; a peer talking to a server on this machine (the embedded one, tests)
    must use loopback only. The switch is a context variable, so other peer
    connections in the process (and tasks started outside the block) are unaffected.
    """
    aioice.ice.get_host_addresses = _host_addresses  # idempotent; only consults the variable
    token = _LOOPBACK_ONLY.set(enabled)
    try:
        yield
    finally:
        _LOOPBACK_ONLY.reset(token)


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ---- endpoint ------------------------------------------------------------------------

def calls_url(url: Optional[str] = None, model: str = DEFAULT_MODEL, beta: bool = False) -> str:
    """Where the SDP offer goes. ``url`` may be a base (``http://host:port/v1``), a full
    endpoint, or a websocket URL (its scheme is mapped to http/https)."""
    parts = urlsplit(url or OPENAI_CALLS_URL)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if path.endswith("/v1") or path == "":
        path = (path or "/v1") + "/realtime"
    query = dict(parse_qsl(parts.query))
    if beta:
        path = path.removesuffix("/calls")
        query.setdefault("model", model)
    elif path.endswith("/realtime"):
        path += "/calls"
        query.pop("model", None)  # GA: the model is part of the session, not the URL
    return urlunsplit((scheme, parts.netloc, path, urlencode(query), ""))


async def post_offer(endpoint: str, offer_sdp: str, api_key: Optional[str], beta: bool,
                     timeout_s: float = OPEN_TIMEOUT_S) -> str:
    """POST the offer, return the answer SDP; any failure is a one-line :class:`WebRTCError`."""
    headers = {"Content-Type": "application/sdp", "Accept": "application/sdp"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    if beta:
        headers["OpenAI-Beta"] = "realtime=v1"
    where = urlunsplit(urlsplit(endpoint)._replace(query=""))
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http:
            async with http.post(endpoint, data=offer_sdp.encode(), headers=headers) as resp:
                body = await resp.text(errors="replace")
                status = resp.status
    except asyncio.TimeoutError:
        raise WebRTCError(f"no SDP answer from {where} within {timeout_s:g} s") from None
    except aiohttp.ClientError as exc:
        raise WebRTCError(f"could not post the SDP offer to {where}: {exc}") from None
    if status not in (200, 201):
        raise WebRTCError(f"{where} refused the SDP offer (HTTP {status}){_error_detail(body)}")
    if not body.lstrip().startswith("v=0"):
        raise WebRTCError(f"the answer from {where} is not SDP: {_one_line(body)!r}")
    return body


def _error_detail(body: str) -> str:
    try:
        message = json.loads(body)["error"]["message"]
        if isinstance(message, str) and message:
            return f": {_one_line(message)}"
    except (ValueError, KeyError, TypeError):
        pass
    return f": {_one_line(body)}" if body.strip() else ""


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


# ---- audio in and out ----------------------------------------------------------------

def frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
    """An aiortc audio frame (s16 or float, packed or planar) as mono int16 samples."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    data = data.reshape(channels, -1) if frame.format.is_planar else data.reshape(-1, channels).T
    if data.dtype.kind == "f":
        data = np.clip(data * 32768.0, -32768, 32767)
    mono = data.astype(np.float64).mean(axis=0) if channels > 1 else data[0]
    return np.asarray(np.round(mono), np.int16)


class TrackAudio:
    """Remote-track frames -> pcm16 at ``out_rate`` through one streaming soxr resampler."""

    def __init__(self, out_rate: int = PCM16.sample_rate) -> None:
        self.out_rate = out_rate
        self.in_rate: Optional[int] = None
        self._stream: Optional[Resampler] = None
        self.frames = 0  # frames converted
        self.samples_in = 0  # at in_rate
        self.samples_out = 0  # at out_rate

    def convert(self, frame: av.AudioFrame) -> np.ndarray:
        mono = frame_to_mono(frame)
        if frame.sample_rate != self.in_rate:
            if self.in_rate is not None:
                log.warning("remote track changed rate %d -> %d Hz", self.in_rate, frame.sample_rate)
            self.in_rate = frame.sample_rate
            self._stream = Resampler(self.in_rate, self.out_rate)
        assert self._stream is not None
        out = self._stream.feed(mono)
        self.frames += 1
        self.samples_in += len(mono)
        self.samples_out += len(out)
        return np.asarray(out, np.int16)

    def event(self, frame: av.AudioFrame) -> Optional[dict]:
        """The local server event for one frame (None while the resampler fills up)."""
        pcm = self.convert(frame)
        if not len(pcm):
            return None
        return {"type": TRACK_EVENT, "delta": encode_base64(pcm, PCM16)}


class ChunkQueue:
    """Samples queued in the chunks they came in, read out in blocks of any size."""

    def __init__(self) -> None:
        self._chunks: deque[np.ndarray] = deque()
        self._offset = 0  # into _chunks[0]

    def push(self, pcm: np.ndarray) -> None:
        if len(pcm):
            self._chunks.append(np.asarray(pcm, np.int16))

    def __bool__(self) -> bool:
        return bool(self._chunks)

    def __len__(self) -> int:
        return sum(len(c) for c in self._chunks) - self._offset

    def read_into(self, out: np.ndarray, filled: int) -> int:
        """Copies queued samples into ``out[filled:]``; returns how far ``out`` is filled."""
        while self._chunks and filled < len(out):
            chunk = self._chunks[0]
            take = min(len(out) - filled, len(chunk) - self._offset)
            out[filled:filled + take] = chunk[self._offset:self._offset + take]
            filled += take
            self._offset += take
            if self._offset == len(chunk):
                self._chunks.popleft()
                self._offset = 0
        return filled


class SampleFifo:
    """Audio waiting for an outgoing track: pushed at any rate, read at 48 kHz."""

    def __init__(self, in_rate: int = PCM16.sample_rate) -> None:
        self._stream = Resampler(in_rate, TRACK_RATE)
        self._queue = ChunkQueue()

    def push(self, pcm: np.ndarray) -> None:
        self._queue.push(self._stream.feed(pcm))

    def pull(self, n: int) -> np.ndarray:
        out = np.zeros(n, np.int16)
        self._queue.read_into(out, 0)
        return out


class PacedAudioTrack(MediaStreamTrack):
    """An outgoing track: 20 ms mono frames at 48 kHz read from ``source(n)``, at real-time
    pace (aiortc's sender encodes and sends each frame as soon as ``recv`` returns it).
    ``on_frame(pts, monotonic_s)`` sees each frame as it leaves (latency measurements)."""

    kind = "audio"

    def __init__(self, source: Callable[[int], np.ndarray],
                 on_frame: Optional[Callable[[int, float], None]] = None) -> None:
        super().__init__()
        self.source = source
        self.on_frame = on_frame
        self._start: Optional[float] = None
        self._pts = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._start + self._pts / TRACK_RATE - time.monotonic()))
        samples = np.asarray(self.source(FRAME_SAMPLES), np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = TRACK_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, TRACK_RATE)
        if self.on_frame is not None:
            self.on_frame(self._pts, time.monotonic())
        self._pts += FRAME_SAMPLES
        return frame


# ---- the connection ------------------------------------------------------------------

FrameHook = Callable[[int, float, dict], None]


class WebRTCConnection:
    """A peer connection seen as a websocket: ``send(text)`` goes out on the data channel,
    ``async for message in conn`` yields the channel's messages and the remote track's
    audio events, in arrival order, until the connection closes."""

    def __init__(self, pc: RTCPeerConnection, out_rate: int = PCM16.sample_rate,
                 on_frame: Optional[FrameHook] = None) -> None:
        self.pc = pc
        self.channel: Any = None
        self.mic = SampleFifo()
        self.track_audio = TrackAudio(out_rate)
        self.on_frame = on_frame  # (pts, monotonic_s, event) for each forwarded frame
        self._queue: asyncio.Queue[Optional[str]] = asyncio.Queue()
        self._forward: Optional[asyncio.Task] = None
        self.closed = False

    # websocket-like surface used by RealtimeClient
    async def send(self, text: str) -> None:
        if self.channel is None or self.channel.readyState != "open":
            raise WebRTCError("the data channel is closed")
        self.channel.send(text)

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            message = await self._queue.get()
            if message is None:
                return
            yield message

    def push_mic(self, pcm: np.ndarray) -> None:
        """Microphone audio (pcm16 at 24 kHz) for the outgoing track."""
        self.mic.push(pcm)

    # wiring
    def attach_channel(self, channel: Any) -> None:
        self.channel = channel
        channel.on("message", self._on_message)
        channel.on("close", self.close_stream)

    def _on_message(self, message: Any) -> None:
        if isinstance(message, bytes):
            log.warning("skipping binary data channel message (%d bytes)", len(message))
            return
        self._queue.put_nowait(message)

    def start_forwarding(self, track: MediaStreamTrack) -> None:
        self._forward = asyncio.get_running_loop().create_task(self._forward_track(track))

    async def _forward_track(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                log.info("remote audio track ended")
                return
            event = self.track_audio.event(frame)
            if event is None:
                continue
            if self.on_frame is not None:
                self.on_frame(frame.pts or 0, time.monotonic(), event)
            self._queue.put_nowait(json.dumps(event))

    def close_stream(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)

    async def close(self) -> None:
        self.close_stream()
        if self._forward is not None:
            self._forward.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._forward
        await self.pc.close()


async def _wait(awaitable: Any, timeout_s: float, message: str) -> Any:
    try:
        return await asyncio.wait_for(awaitable, timeout_s)
    except asyncio.TimeoutError:
        raise WebRTCError(message) from None


@contextlib.asynccontextmanager
async def open_webrtc(url: Optional[str], model: str, beta: bool, api_key: Optional[str], *,
                      out_rate: int = PCM16.sample_rate, open_timeout: float = OPEN_TIMEOUT_S,
                      on_frame: Optional[FrameHook] = None) -> AsyncIterator[WebRTCConnection]:
    """``async with open_webrtc(...) as conn``: offer, answer, data channel open, remote
    track there; each failure is a :class:`WebRTCError` with a one-line reason."""
    endpoint = calls_url(url, model, beta)
    loop = asyncio.get_running_loop()
    # no STUN: the service answers with reachable candidates, and nothing else is contacted
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    conn = WebRTCConnection(pc, out_rate, on_frame)
    track_arrived: asyncio.Future = loop.create_future()

    @pc.on("track")
    def _on_track(track: MediaStreamTrack) -> None:
        if track.kind == "audio" and not track_arrived.done():
            track_arrived.set_result(track)

    try:
        channel = pc.createDataChannel(CHANNEL)
        conn.attach_channel(channel)
        opened: asyncio.Future = loop.create_future()
        channel.on("open", lambda: opened.done() or opened.set_result(True))
        pc.addTrack(PacedAudioTrack(conn.mic.pull))
        with loopback_ice(is_loopback(endpoint)):
            await pc.setLocalDescription(await pc.createOffer())
        answer = await post_offer(endpoint, pc.localDescription.sdp, api_key, beta, open_timeout)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        except Exception as exc:  # noqa: BLE001 - aiortc raises ValueError & co. on bad SDP
            raise WebRTCError(f"the SDP answer was rejected: {_one_line(str(exc)) or type(exc).__name__}") from None
        await _wait(opened, open_timeout, f"data channel '{CHANNEL}' did not open within {open_timeout:g} s")
        track = await _wait(track_arrived, open_timeout,
                            f"the server sent no audio track within {open_timeout:g} s")
        conn.start_forwarding(track)
        yield conn
    finally:
        await conn.close()
