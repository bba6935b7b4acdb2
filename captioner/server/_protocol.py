"""Sans-I/O Realtime server session: client events in, timed server events out.

Modelled on h11 / websockets' ``protocol.py``: no sockets, no clock, no sleeping. The
caller feeds what arrived (:meth:`RealtimeSession.receive`) and the time, asks for
speech to be synthesised (:meth:`take_speech_requests` -> :meth:`speech_ready`, since
espeak is slow and must run off the event loop), and sends what is due
(:meth:`pop_due`), sleeping until :meth:`next_due_ms`. Audio and text deltas are
scheduled ahead of time, faster than real time as the real API streams them; anything
still queued can be withdrawn by a cancel or truncate, and "audio sent" (which a
truncate is checked against) counts only what :meth:`pop_due` has handed out.

Events are built with GA names and renamed for beta clients at the last moment.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, NamedTuple, Optional

import numpy as np

from captioner.core.wire._audio import (
    PCM16,
    AudioFormat,
    AudioFormatError,
    decode_bytes,
    encode_base64,
    parse_format,
)
from captioner.server._outbox import Make, Outbox
from captioner.server._schema import ClientError, parse, validate
from captioner.server._script import Script
from captioner.server._speech import normalise, time_tokens, tokenize
from captioner.server._vad import ServerVad
from captioner.server.espeak import Speech

log = logging.getLogger(__name__)

_BETA_NAMES = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "conversation.item.added": "conversation.item.created",
}
_GA_ONLY = {"conversation.item.done"}
_BETA_CONTENT = {"output_audio": "audio", "output_text": "text"}
MAX_APPEND_AUDIO_BYTES = 15 * 2**20  # the real API's limit for the audio of one append
_MIN_COMMIT_MS = 100.0  # the real API refuses to commit less
_TRANSCRIPTION_DELAY_MS = 200.0  # input transcription arrives this long after speech stops
_TEXT_STEP_MS = 10.0  # spacing of text-only deltas


@dataclass
class ServerOptions:
    """Behaviour of the embedded server; see the package docstring for each option."""

    beta: bool = False
    script: str = "story"
    duration_ms: bool = False
    voice: str = "auto"
    wpm: int = 175
    pace: float = 4.0
    chunk_ms: int = 200
    text_lead_ms: float = 500.0
    user_says: str = "(speech)"
    auto_response: bool = True
    vad_silence_ms: int = 500


@dataclass(frozen=True)
class SpeechRequest:
    """Synthesise ``text`` at ``sample_rate`` and hand it to :meth:`RealtimeSession.speech_ready`."""

    response_id: str
    text: str
    sample_rate: int


Kind = Literal["start", "delta", "finish", "other"]


class _Tag(NamedTuple):
    """What a scheduled event belongs to, so a cancel or truncate can withdraw it."""
    kind: Kind
    response_id: Optional[str]
    item_id: Optional[str]


@dataclass
class _Item:
    id: str
    type: str
    role: Optional[str]
    content: list[dict]
    status: str = "completed"
    audio_sent_ms: float = 0.0
    truncated: bool = False
    raw: dict = field(default_factory=dict)  # non-message items are echoed as given

    def wire(self, beta: bool) -> dict:
        if self.type != "message":
            return {**self.raw, "id": self.id, "object": "realtime.item", "status": self.status}
        content = [dict(c) for c in self.content]
        if beta:
            for c in content:
                c["type"] = _BETA_CONTENT.get(c.get("type"), c.get("type"))
        return {"id": self.id, "object": "realtime.item", "type": "message", "status": self.status,
                "role": self.role, "content": content}


@dataclass
class _Response:
    id: str
    item: _Item
    out_of_band: bool
    metadata: Optional[dict]
    audio: bool
    fmt: AudioFormat
    text: str
    status: str = "in_progress"
    reason: Optional[str] = None
    waiting_for_speech: bool = False
    finished: bool = False  # response.done handed out
    sent_text: str = ""


class RealtimeSession:
    """One client connection's server state."""

    def __init__(self, options: ServerOptions, script: Script, *, beta: bool = False,
                 model: str = "gpt-realtime") -> None:
        self.options = options
        self.script = script
        self.beta = beta
        self.model = model
        self._ids = itertools.count(1)
        self._outbox = Outbox()
        self._speech_requests: list[SpeechRequest] = []
        self.session_id = self._new_id("sess")
        self.conversation_id = self._new_id("conv")
        self.items: dict[str, _Item] = {}
        self.conversation: list[str] = []  # item ids, in order
        self.responses: dict[str, _Response] = {}
        self.output_format: AudioFormat = PCM16
        self.input_format: AudioFormat = PCM16
        self.modalities: list[str] = ["text", "audio"] if beta else ["audio"]
        self.voice = "alloy"
        self.instructions = ""
        self.transcription: Optional[dict] = None
        self.turn_detection: Optional[dict] = {
            "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
            "silence_duration_ms": options.vad_silence_ms, "create_response": True,
            "interrupt_response": True,
        }
        self.vad = self._make_vad()
        self.buffer_ms = 0.0  # input audio since the last commit/clear
        self._speech_item_id: Optional[str] = None
        self._last_user_text: Optional[str] = None
        self._started = False

    # ---- public API ------------------------------------------------------------------

    def start(self, now_ms: float) -> None:
        """Queue ``session.created`` (the first thing a client hears)."""
        if not self._started:
            self._started = True
            self._emit(now_ms, lambda: {"type": "session.created", "session": self._session_object()})

    def receive(self, data: str | bytes, now_ms: float) -> None:
        """Feed one websocket message. Bad input yields an ``error`` event, never an exception."""
        try:
            event = parse(data)
        except ClientError as exc:
            log.warning("malformed client message skipped: %s", exc.message)
            self._error(now_ms, exc.code, exc.message)
            return
        self.receive_event(event, now_ms)

    def receive_event(self, event: Any, now_ms: float) -> None:
        """Feed one parsed client event; it is checked against :mod:`._schema` first."""
        event_id = event.get("event_id") if isinstance(event, dict) else None
        try:
            validate(event)
            self._HANDLERS[event["type"]](self, event, now_ms)
        except ClientError as exc:
            log.info("client event rejected: %s", exc.message)
            self._error(now_ms, exc.code, exc.message, param=exc.param, event_id=event_id)

    def take_speech_requests(self) -> list[SpeechRequest]:
        out, self._speech_requests = self._speech_requests, []
        return out

    def speech_ready(self, response_id: str, speech: Speech, now_ms: float) -> None:
        """Schedule the response's transcript and audio deltas, starting at ``now_ms``."""
        resp = self.responses.get(response_id)
        if resp is None or not resp.waiting_for_speech:
            return  # cancelled meanwhile
        resp.waiting_for_speech = False
        opts = self.options
        pace = opts.pace if opts.pace > 0 else math.inf
        rate = speech.sample_rate

        def when(audio_ms: float) -> float:
            return now_ms + max(0.0, audio_ms) / pace

        for tok in time_tokens(tokenize(resp.text), speech):
            start_ms = tok.start_sample * 1000.0 / rate
            self._emit(when(start_ms - opts.text_lead_ms), self._transcript_delta(resp, tok.text,
                       tok.n_samples * 1000.0 / rate), "delta", resp)
        chunk = max(1, rate * opts.chunk_ms // 1000)
        last = now_ms
        for off in range(0, len(speech.samples), chunk):
            last = when(off * 1000.0 / rate)
            self._emit(last, self._audio_delta(resp, speech.samples[off : off + chunk]), "delta", resp)
        self._schedule_finish(resp, last)

    def speech_failed(self, response_id: str, reason: str, now_ms: float) -> None:
        resp = self.responses.get(response_id)
        if resp is not None and resp.waiting_for_speech:
            resp.waiting_for_speech = False
            log.error("speech synthesis failed: %s", reason)
            self._drop(resp.id, ("delta", "finish"))
            resp.status, resp.reason = "failed", "error"
            resp.item.status = "incomplete"
            self._schedule_finish(resp, now_ms)

    def next_due_ms(self) -> Optional[float]:
        return self._outbox.next_due_ms()

    def pop_due(self, now_ms: float) -> list[dict]:
        """Server events due at ``now_ms``, in order, with event ids; marks them as sent."""
        out = []
        for event in self._outbox.pop_due(now_ms):
            if self.beta:
                if event["type"] in _GA_ONLY:
                    continue
                event["type"] = _BETA_NAMES.get(event["type"], event["type"])
            out.append({"event_id": self._new_id("event"), **event})
        return out

    def active_response(self) -> Optional[_Response]:
        """The in-conversation response still streaming, if any."""
        for resp in self.responses.values():
            if not resp.out_of_band and resp.status == "in_progress":
                return resp
        return None

    # ---- client event handlers --------------------------------------------------------

    def _on_session_update(self, event: dict, now_ms: float) -> None:
        session = event["session"]
        audio = session.get("audio") or {}
        inp, out = audio.get("input") or {}, audio.get("output") or {}
        in_desc = inp.get("format", session.get("input_audio_format"))
        out_desc = out.get("format", session.get("output_audio_format"))
        try:
            in_fmt = parse_format(in_desc) if in_desc is not None else self.input_format
            out_fmt = parse_format(out_desc) if out_desc is not None else self.output_format
        except AudioFormatError as exc:
            raise ClientError("invalid_value", str(exc), "session.audio.format") from exc
        if in_fmt.encoding == "pcm16" and in_fmt.sample_rate != 24000 or \
                out_fmt.encoding == "pcm16" and out_fmt.sample_rate != 24000:
            raise ClientError("invalid_value", "Only 24000 Hz pcm16 is supported.", "session.audio.format")
        modalities = session.get("output_modalities", session.get("modalities"))
        if modalities is not None:
            if not modalities:
                raise ClientError("invalid_value", f"Invalid modalities {modalities!r}.", "session.output_modalities")
            self.modalities = list(modalities)
        if "turn_detection" in inp or "turn_detection" in session:
            td = inp.get("turn_detection", session.get("turn_detection"))
            self.turn_detection = None if td is None else {**(self.turn_detection or {}), **td}
            self.vad = self._make_vad(self.vad.elapsed_ms)
        if "transcription" in inp or "input_audio_transcription" in session:
            self.transcription = inp.get("transcription", session.get("input_audio_transcription"))
        self.voice = out.get("voice", session.get("voice", self.voice))
        self.instructions = session.get("instructions", self.instructions)
        self.input_format, self.output_format = in_fmt, out_fmt
        self._emit(now_ms, lambda: {"type": "session.updated", "session": self._session_object()})

    def _on_item_create(self, event: dict, now_ms: float) -> None:
        raw = event["item"]
        kind = raw.get("type", "message")
        item_id = raw.get("id") or self._new_id("item")
        if item_id in self.items:
            raise ClientError("invalid_value", f"Item with id '{item_id}' already exists.", "item.id")
        role = raw.get("role")
        content = raw.get("content", [])
        if kind == "message":
            if role is None:
                raise ClientError("missing_required_parameter", "Missing required parameter: 'item.role'.",
                                  "item.role")
        prev = event.get("previous_item_id")
        if prev is not None and prev != "root" and prev not in self.conversation:
            raise ClientError("item_not_found", f"Previous item '{prev}' not found.", "previous_item_id")
        item = _Item(item_id, kind, role if kind == "message" else None,
                     [dict(c) for c in content] if kind == "message" else [], raw=dict(raw))
        if role == "user":
            texts = [c.get("text") or c.get("transcript") for c in item.content]
            said = " ".join(t for t in texts if isinstance(t, str) and t.strip())
            self._last_user_text = said or self._last_user_text
        self._add_to_conversation(item, now_ms, prev)

    def _on_response_create(self, event: dict, now_ms: float) -> None:
        params = event.get("response") or {}
        out_of_band = params.get("conversation") == "none"
        if not out_of_band and self.active_response() is not None:
            raise ClientError("conversation_already_has_active_response",
                              f"Conversation already has an active response in progress: "
                              f"{self.active_response().id}.")
        modalities = params.get("output_modalities", params.get("modalities"))
        if modalities is None:
            modalities = ["text"] if out_of_band else self.modalities
        fmt = self.output_format
        out_params = (params.get("audio") or {}).get("output") or {}
        desc = out_params.get("format", params.get("output_audio_format"))
        if desc is not None:
            try:
                fmt = parse_format(desc)
            except AudioFormatError as exc:
                raise ClientError("invalid_value", str(exc), "response.audio.output.format") from exc
        metadata = params.get("metadata")
        text = (self._last_user_text or self.script.next_line(None)) if out_of_band \
            else self.script.next_line(self._last_user_text)
        self._start_response(now_ms, normalise(text), out_of_band=out_of_band, metadata=metadata,
                             audio="audio" in modalities, fmt=fmt)

    def _on_response_cancel(self, event: dict, now_ms: float) -> None:
        wanted = event.get("response_id")
        if wanted is not None:
            resp = self.responses.get(wanted)
            if resp is None:
                raise ClientError("response_not_found", f"Response '{wanted}' not found.", "response_id")
            if resp.status != "in_progress":
                raise ClientError("response_cancel_not_active", f"Response '{wanted}' is not active.")
        else:
            resp = self.active_response()
            if resp is None:
                raise ClientError("response_cancel_not_active", "Cancellation failed: no active response found.")
        self._cancel(resp, "client_cancelled", now_ms)

    def _on_truncate(self, event: dict, now_ms: float) -> None:
        item_id = event["item_id"]
        end = int(event["audio_end_ms"])
        if event.get("content_index", 0) != 0:
            raise ClientError("invalid_value", "Only content_index 0 can be truncated.", "content_index")
        item = self.items.get(item_id)
        if item is None:
            raise ClientError("item_truncate_invalid_item_id", f"Item '{item_id}' not found.", "item_id")
        if item.role != "assistant" or not any(c.get("type") == "output_audio" for c in item.content):
            raise ClientError("invalid_value", f"Item '{item_id}' has no assistant audio to truncate.", "item_id")
        if end > math.ceil(item.audio_sent_ms - 1e-9):
            raise ClientError("invalid_value", f"Audio content of {item.audio_sent_ms:.0f}ms is already "
                               f"shorter than {int(end)}ms", "audio_end_ms")
        item.audio_sent_ms = float(end)
        item.truncated = True
        for c in item.content:
            if c.get("type") == "output_audio":
                c["transcript"] = ""  # nothing unheard stays in the context
        self._drop_item_deltas(item_id)
        self._emit(now_ms, lambda: {"type": "conversation.item.truncated", "item_id": item_id,
                                    "content_index": 0, "audio_end_ms": int(end)})

    def _on_append(self, event: dict, now_ms: float) -> None:
        audio = event["audio"]
        try:
            data = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ClientError("invalid_value", f"Invalid base64 audio: {exc}", "audio") from exc
        if len(data) > MAX_APPEND_AUDIO_BYTES:
            raise ClientError("invalid_value", f"Audio of one append is limited to {MAX_APPEND_AUDIO_BYTES} "
                              f"bytes; got {len(data)}.", "audio")
        if self.input_format.encoding == "pcm16" and len(data) % 2:
            log.warning("odd-sized pcm16 append (%d bytes): last byte dropped", len(data))
        samples = decode_bytes(data, self.input_format)
        self.buffer_ms += len(samples) * 1000.0 / self.input_format.sample_rate
        if self.turn_detection is None:
            self.vad.skip(len(samples) * 1000.0 / self.input_format.sample_rate)
            return
        for vad_event in self.vad.feed(samples, self.input_format.sample_rate):
            if vad_event.kind == "started":
                self._speech_started(vad_event.at_ms, now_ms)
            else:
                self._speech_stopped(vad_event.at_ms, now_ms)

    def _on_commit(self, event: dict, now_ms: float) -> None:
        if self.buffer_ms < _MIN_COMMIT_MS:
            raise ClientError("input_audio_buffer_commit_empty",
                               f"Error committing input audio buffer: buffer too small. Expected at least "
                               f"{_MIN_COMMIT_MS:.0f}ms of audio, but buffer only has {self.buffer_ms:.2f}ms of audio.")
        self._commit(now_ms, auto=False)

    def _on_clear(self, event: dict, now_ms: float) -> None:
        self.buffer_ms = 0.0
        self.vad.reset()
        self._speech_item_id = None
        self._emit(now_ms, lambda: {"type": "input_audio_buffer.cleared"})

    def _on_output_clear(self, event: dict, now_ms: float) -> None:
        raise ClientError("invalid_value", "output_audio_buffer.clear is only supported for WebRTC and SIP.")

    _HANDLERS: dict[str, Callable[["RealtimeSession", dict, float], None]] = {
        "session.update": _on_session_update,
        "conversation.item.create": _on_item_create,
        "response.create": _on_response_create,
        "response.cancel": _on_response_cancel,
        "conversation.item.truncate": _on_truncate,
        "input_audio_buffer.append": _on_append,
        "input_audio_buffer.commit": _on_commit,
        "input_audio_buffer.clear": _on_clear,
        "output_audio_buffer.clear": _on_output_clear,
    }

    # ---- server VAD turns --------------------------------------------------------------

    def _speech_started(self, audio_start_ms: float, now_ms: float) -> None:
        self._speech_item_id = self._new_id("item")
        item_id = self._speech_item_id
        self._emit(now_ms, lambda: {"type": "input_audio_buffer.speech_started",
                                    "audio_start_ms": int(audio_start_ms), "item_id": item_id})
        active = self.active_response()
        if active is not None and (self.turn_detection or {}).get("interrupt_response", True):
            self._cancel(active, "turn_detected", now_ms)

    def _speech_stopped(self, audio_end_ms: float, now_ms: float) -> None:
        item_id = self._speech_item_id or self._new_id("item")
        self._speech_item_id = item_id
        self._emit(now_ms, lambda: {"type": "input_audio_buffer.speech_stopped",
                                    "audio_end_ms": int(audio_end_ms), "item_id": item_id})
        self._commit(now_ms, auto=True)

    def _commit(self, now_ms: float, auto: bool) -> None:
        item_id = self._speech_item_id or self._new_id("item")
        self._speech_item_id = None
        self.buffer_ms = 0.0
        self.vad.reset()
        prev = self.conversation[-1] if self.conversation else None
        self._emit(now_ms, lambda: {"type": "input_audio_buffer.committed", "item_id": item_id,
                                    "previous_item_id": prev})
        item = _Item(item_id, "message", "user", [{"type": "input_audio", "transcript": None}])
        self._add_to_conversation(item, now_ms, prev)
        said = normalise(self.options.user_says)
        self._last_user_text = said
        t = now_ms + _TRANSCRIPTION_DELAY_MS
        for i, tok in enumerate(tokenize(said)):
            self._emit(t + i * _TEXT_STEP_MS, lambda d=tok.text: {
                "type": "conversation.item.input_audio_transcription.delta", "item_id": item_id,
                "content_index": 0, "delta": d})

        def completed() -> dict:
            item.content[0]["transcript"] = said
            return {"type": "conversation.item.input_audio_transcription.completed", "item_id": item_id,
                    "content_index": 0, "transcript": said}

        self._emit(t + len(tokenize(said)) * _TEXT_STEP_MS, completed)
        td = self.turn_detection or {}
        if auto and self.options.auto_response and td.get("create_response", True) \
                and self.active_response() is None:
            self._start_response(now_ms, normalise(self.script.next_line(said)), out_of_band=False,
                                 metadata=None, audio="audio" in self.modalities, fmt=self.output_format)

    # ---- responses ---------------------------------------------------------------------

    def _start_response(self, now_ms: float, text: str, *, out_of_band: bool, metadata: Optional[dict],
                        audio: bool, fmt: AudioFormat) -> None:
        kind = "output_audio" if audio else "output_text"
        content = {"type": kind, "transcript": ""} if audio else {"type": kind, "text": ""}
        item = _Item(self._new_id("item"), "message", "assistant", [content], status="in_progress")
        resp = _Response(self._new_id("resp"), item, out_of_band, metadata, audio, fmt, text)
        self.responses[resp.id] = resp
        self._emit(now_ms, lambda: {"type": "response.created", "response": self._response_object(resp)},
                   "start", resp)
        self._emit(now_ms, lambda: {"type": "response.output_item.added", "response_id": resp.id,
                                    "output_index": 0, "item": item.wire(self.beta)}, "start", resp)
        if not out_of_band:
            self._add_to_conversation(item, now_ms, self.conversation[-1] if self.conversation else None,
                                      done=False)
        part_type = "audio" if audio else "text"
        self._emit(now_ms, lambda: {**self._ids_of(resp), "type": "response.content_part.added",
                                    "part": {"type": part_type, ("transcript" if audio else "text"): ""}},
                   "start", resp)
        if audio:
            resp.waiting_for_speech = True
            self._speech_requests.append(SpeechRequest(resp.id, text, fmt.sample_rate))
        else:
            tokens = tokenize(text)
            for i, tok in enumerate(tokens):
                self._emit(now_ms + i * _TEXT_STEP_MS, self._text_delta(resp, tok.text), "delta", resp)
            self._schedule_finish(resp, now_ms + max(0, len(tokens) - 1) * _TEXT_STEP_MS)

    def _ids_of(self, resp: _Response) -> dict:
        return {"response_id": resp.id, "item_id": resp.item.id, "output_index": 0, "content_index": 0}

    def _transcript_delta(self, resp: _Response, text: str, duration_ms: float) -> Callable[[], dict]:
        def make() -> dict:
            resp.sent_text += text
            ev = {**self._ids_of(resp), "type": "response.output_audio_transcript.delta", "delta": text}
            if self.options.duration_ms:
                ev["duration_ms"] = round(duration_ms, 3)
            return ev
        return make

    def _text_delta(self, resp: _Response, text: str) -> Callable[[], dict]:
        def make() -> dict:
            resp.sent_text += text
            return {**self._ids_of(resp), "type": "response.output_text.delta", "delta": text}
        return make

    def _audio_delta(self, resp: _Response, samples: np.ndarray) -> Callable[[], dict]:
        def make() -> dict:
            resp.item.audio_sent_ms += len(samples) * 1000.0 / resp.fmt.sample_rate
            return {**self._ids_of(resp), "type": "response.output_audio.delta",
                    "delta": encode_base64(samples, resp.fmt)}
        return make

    def _schedule_finish(self, resp: _Response, at_ms: float) -> None:
        """The closing sequence; built when sent, so it reports what was really sent."""
        ids = self._ids_of(resp)

        def content_done() -> dict:
            c = resp.item.content[0]
            if resp.audio:
                if not resp.item.truncated:
                    c["transcript"] = resp.sent_text
                return {**ids, "type": "response.output_audio_transcript.done",
                        "transcript": resp.sent_text}
            c["text"] = resp.sent_text
            return {**ids, "type": "response.output_text.done", "text": resp.sent_text}

        def response_done() -> dict:
            if resp.status == "in_progress":
                resp.status = "completed"
            if resp.item.status == "in_progress":
                resp.item.status = "completed"
            resp.finished = True
            return {"type": "response.done", "response": self._response_object(resp)}

        if resp.audio:
            self._emit(at_ms, lambda: {**ids, "type": "response.output_audio.done"}, "finish", resp)
        self._emit(at_ms, content_done, "finish", resp)
        part = "audio" if resp.audio else "text"
        self._emit(at_ms, lambda: {**ids, "type": "response.content_part.done", "part": {
            "type": part, **({"transcript": resp.sent_text} if resp.audio else {"text": resp.sent_text})}},
            "finish", resp)

        def item_done() -> dict:
            if resp.item.status == "in_progress":
                resp.item.status = "completed"
            return {"type": "response.output_item.done", "response_id": resp.id, "output_index": 0,
                    "item": resp.item.wire(self.beta)}

        self._emit(at_ms, item_done, "finish", resp)
        if not resp.out_of_band:
            prev = self._previous(resp.item.id)
            self._emit(at_ms, lambda: {"type": "conversation.item.done", "item": resp.item.wire(self.beta),
                                       "previous_item_id": prev}, "finish", resp)
        self._emit(at_ms, response_done, "finish", resp)

    def _cancel(self, resp: _Response, reason: str, now_ms: float) -> None:
        """Withdraw what is still queued and close the response as cancelled, right away."""
        self._drop(resp.id, ("delta", "finish"))
        resp.waiting_for_speech = False
        resp.status, resp.reason = "cancelled", reason
        resp.item.status = "incomplete"
        self._schedule_finish(resp, now_ms)

    # ---- helpers -----------------------------------------------------------------------

    def _emit(self, at_ms: float, make: Make, kind: Kind = "other", resp: Optional[_Response] = None) -> None:
        self._outbox.put(at_ms, make, _Tag(kind, resp.id if resp else None, resp.item.id if resp else None))

    def _drop(self, response_id: str, kinds: tuple[Kind, ...]) -> None:
        self._outbox.withdraw(lambda tag: tag.response_id == response_id and tag.kind in kinds)

    def _drop_item_deltas(self, item_id: str) -> None:
        self._outbox.withdraw(lambda tag: tag.item_id == item_id and tag.kind == "delta")

    def _add_to_conversation(self, item: _Item, now_ms: float, prev: Optional[str], done: bool = True) -> None:
        if prev in (None, "root") or prev not in self.conversation:
            index = len(self.conversation) if prev is None else 0
        else:
            index = self.conversation.index(prev) + 1
        self.items[item.id] = item
        self.conversation.insert(index, item.id)
        previous = self.conversation[index - 1] if index > 0 else None
        self._emit(now_ms, lambda: {"type": "conversation.item.added", "previous_item_id": previous,
                                    "item": item.wire(self.beta)})
        if done:
            self._emit(now_ms, lambda: {"type": "conversation.item.done", "previous_item_id": previous,
                                        "item": item.wire(self.beta)})

    def _previous(self, item_id: str) -> Optional[str]:
        i = self.conversation.index(item_id) if item_id in self.conversation else 0
        return self.conversation[i - 1] if i > 0 else None

    def _make_vad(self, position_ms: float = 0.0) -> ServerVad:
        td = self.turn_detection or {}
        vad = ServerVad(threshold=float(td.get("threshold", 0.5)),
                        prefix_padding_ms=float(td.get("prefix_padding_ms", 300)),
                        silence_duration_ms=float(td.get("silence_duration_ms", self.options.vad_silence_ms)))
        vad.position_ms = position_ms
        return vad

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    def _error(self, now_ms: float, code: str, message: str, param: Optional[str] = None,
               event_id: Any = None) -> None:
        error = {"type": "invalid_request_error", "code": code, "message": message, "param": param,
                 "event_id": event_id if isinstance(event_id, str) else None}
        self._emit(now_ms, lambda: {"type": "error", "error": error})

    def _session_object(self) -> dict:
        td = dict(self.turn_detection) if self.turn_detection else None
        if self.beta:
            return {"id": self.session_id, "object": "realtime.session", "model": self.model,
                    "modalities": list(self.modalities), "instructions": self.instructions,
                    "voice": self.voice, "input_audio_format": self.input_format.beta_descriptor(),
                    "output_audio_format": self.output_format.beta_descriptor(),
                    "input_audio_transcription": self.transcription, "turn_detection": td,
                    "tools": [], "tool_choice": "auto", "temperature": 0.8,
                    "max_response_output_tokens": "inf"}
        return {"type": "realtime", "object": "realtime.session", "id": self.session_id,
                "model": self.model, "output_modalities": list(self.modalities),
                "instructions": self.instructions, "tools": [], "tool_choice": "auto",
                "max_output_tokens": "inf",
                "audio": {"input": {"format": self.input_format.ga_descriptor(),
                                    "transcription": self.transcription, "turn_detection": td,
                                    "noise_reduction": None},
                          "output": {"format": self.output_format.ga_descriptor(), "voice": self.voice,
                                     "speed": 1.0}}}

    def _response_object(self, resp: _Response) -> dict:
        details = None
        if resp.status in ("cancelled", "failed", "incomplete"):
            details = {"type": resp.status, "reason": resp.reason}
        output = [resp.item.wire(self.beta)] if resp.status != "in_progress" else []
        modalities = ["audio"] if resp.audio else ["text"]
        obj = {"id": resp.id, "object": "realtime.response", "status": resp.status,
               "status_details": details, "output": output,
               "conversation_id": None if resp.out_of_band else self.conversation_id,
               "metadata": resp.metadata, "usage": None}
        if self.beta:
            obj.update(modalities=modalities, output_audio_format=resp.fmt.beta_descriptor(), voice=self.voice)
        else:
            obj.update(output_modalities=modalities,
                       audio={"output": {"format": resp.fmt.ga_descriptor(), "voice": self.voice}})
        return obj
