"""Sans-I/O GPT-Live server session (``/v1/live``): the embedded server's second dialect.

Same shape as :class:`~._protocol.RealtimeSession` (``receive`` / ``pop_due`` /
``next_due_ms`` / ``take_speech_requests`` / ``speech_ready``), speaking the Live events of
openai-python ``types/live``: ``session.start`` -> ``session.started``, input appends,
``response.create``, ``session.close`` -> ``session.closed``; out come
``session.output_audio.delta`` (no timing, as on the primary WebSocket) and
``session.output_transcript.delta`` / ``session.input_transcript.delta`` with ``start_ms`` /
``end_ms`` on the session timeline (ms since the connection opened).

The output audio is one continuous stream on that timeline: before each utterance the
silence since the previous one is sent as a chunk, so stream position = timeline ms, and a
client can place every delta exactly (``core/_live.py``). Barge-in: user speech detected
while the assistant speaks withdraws the audio and text not sent yet; there is no truncate.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import logging
import math
from typing import Any, Callable, Optional

import numpy as np

from captioner.core.wire._audio import PCM16, AudioFormat, AudioFormatError, decode_bytes, encode_base64, parse_format
from captioner.server._outbox import Make, Outbox
from captioner.server._protocol import ServerOptions, SpeechRequest
from captioner.server._script import Script
from captioner.server._speech import normalise, time_tokens, tokenize
from captioner.server._vad import ServerVad
from captioner.server.espeak import Speech

__all__ = ["LiveServerSession"]

log = logging.getLogger(__name__)

_TRANSCRIPTION_DELAY_MS = 200.0


class LiveServerSession:
    def __init__(self, options: ServerOptions, script: Script, model: str = "gpt-live-1") -> None:
        self.options = options
        self.script = script
        self.model = model
        self.format: AudioFormat = PCM16
        self.started = False
        self.closed = False
        self.session_id = "live_sess_000001"
        self._ids = itertools.count(1)
        self._outbox = Outbox()  # tagged True: output audio and transcripts, withdrawn on barge-in
        self._speech_requests: list[SpeechRequest] = []
        self._pending: dict[str, str] = {}  # utterance id -> text, waiting for speech
        self.output_end_ms = 0.0  # timeline end of the output audio sent so far
        self.input_ms = 0.0  # input audio received (its timeline position)
        self.vad = ServerVad(silence_duration_ms=float(options.vad_silence_ms))
        self._speech_start: Optional[float] = None
        self._last_user_text: Optional[str] = None

    # ---- driving ------------------------------------------------------------------------
    def start(self, now_ms: float) -> None:
        """Nothing is said before the client's ``session.start``."""

    def receive(self, message: Any, now_ms: float) -> None:
        try:
            event = json.loads(message)
        except (TypeError, ValueError):
            self._error(now_ms, "invalid_json", "The message is not valid JSON.")
            return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            self._error(now_ms, "invalid_event", "The event has no type.")
            return
        kind = event["type"]
        client_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        if not self.started and kind != "session.start":
            self._error(now_ms, "session_not_started", "Send session.start first.", client_id)
            return
        handler = self._HANDLERS.get(kind)
        if handler is None:
            log.info("live: client event %s not supported here; ignored", kind)
            self._error(now_ms, "unknown_event", f"Unsupported event type '{kind}'.", client_id, "type")
            return
        handler(self, event, now_ms, client_id)

    def take_speech_requests(self) -> list[SpeechRequest]:
        out, self._speech_requests = self._speech_requests, []
        return out

    def speech_ready(self, utterance_id: str, speech: Speech, now_ms: float) -> None:
        """Schedule the utterance on the output timeline, right after what was sent."""
        text = self._pending.pop(utterance_id, None)
        if text is None:
            return  # withdrawn by a barge-in meanwhile
        opts = self.options
        pace = opts.pace if opts.pace > 0 else math.inf
        rate = speech.sample_rate
        begin = max(now_ms, self.output_end_ms)  # timeline ms of the utterance's first sample
        gap = begin - self.output_end_ms
        if gap > 0:  # the stream is continuous: the silence since the last utterance first
            self._emit(now_ms, self._audio(np.zeros(int(round(gap * rate / 1000.0)), np.int16), begin), True)

        def when(audio_ms: float) -> float:
            return now_ms + max(0.0, audio_ms) / pace

        for tok in time_tokens(tokenize(text), speech):
            start = tok.start_sample * 1000.0 / rate
            end = (tok.start_sample + tok.n_samples) * 1000.0 / rate
            self._emit(when(start - opts.text_lead_ms), self._transcript(
                "session.output_transcript.delta", tok.text, begin + start, begin + end), True)
        chunk = max(1, rate * opts.chunk_ms // 1000)
        for off in range(0, len(speech.samples), chunk):
            piece = speech.samples[off: off + chunk]
            self._emit(when(off * 1000.0 / rate), self._audio(piece, begin + (off + len(piece)) * 1000.0 / rate), True)

    def speech_failed(self, utterance_id: str, reason: str, now_ms: float) -> None:
        if self._pending.pop(utterance_id, None) is not None:
            log.error("speech synthesis failed: %s", reason)
            self._error(now_ms, "speech_failed", f"Speech synthesis failed: {reason}")

    def next_due_ms(self) -> Optional[float]:
        return self._outbox.next_due_ms()

    def pop_due(self, now_ms: float) -> list[dict]:
        return [{"event_id": f"event_{next(self._ids):06d}", **event} for event in self._outbox.pop_due(now_ms)]

    # ---- client events ----------------------------------------------------------------
    def _on_start(self, event: dict, now_ms: float, client_id: Optional[str]) -> None:
        if self.started:
            self._error(now_ms, "session_already_started", "The session has already started.", client_id)
            return
        if not self._configure(event, now_ms, client_id):
            return
        self.started = True
        self._emit(now_ms, lambda: {"type": "session.started", "session": self._resource(),
                                    "client_event_id": client_id})

    def _on_update(self, event: dict, now_ms: float, client_id: Optional[str]) -> None:
        session = event.get("session") if isinstance(event.get("session"), dict) else {}
        if isinstance(session.get("audio"), dict) and "format" in session["audio"]:
            self._error(now_ms, "immutable_parameter", "audio.format cannot change after startup.",
                        client_id, "session.audio.format")
            return
        self._emit(now_ms, lambda: {"type": "session.updated", "session": self._resource(),
                                    "client_event_id": client_id})

    def _configure(self, event: dict, now_ms: float, client_id: Optional[str]) -> bool:
        session = event.get("session")
        if not isinstance(session, dict):
            self._error(now_ms, "missing_required_parameter", "Missing 'session'.", client_id, "session")
            return False
        if isinstance(session.get("model"), str):
            self.model = session["model"]
        audio = session.get("audio") if isinstance(session.get("audio"), dict) else {}
        if audio.get("format") is not None:
            try:
                fmt = parse_format(audio["format"])
            except AudioFormatError as exc:
                self._error(now_ms, "invalid_value", str(exc), client_id, "session.audio.format")
                return False
            if fmt.encoding == "pcm16" and fmt.sample_rate not in (16000, 24000):
                self._error(now_ms, "invalid_value", "PCM audio supports 16000 or 24000 Hz.", client_id,
                            "session.audio.format")
                return False
            self.format = fmt
        return True

    def _on_append(self, event: dict, now_ms: float, client_id: Optional[str]) -> None:
        audio = event.get("audio")
        try:
            data = base64.b64decode(audio if isinstance(audio, str) else "", validate=True)
        except (binascii.Error, ValueError):
            self._error(now_ms, "invalid_value", "Invalid base64 audio.", client_id, "audio")
            return
        samples = decode_bytes(data[: len(data) - len(data) % 2] if self.format.encoding == "pcm16" else data,
                               self.format)
        self.input_ms += len(samples) * 1000.0 / self.format.sample_rate
        for vad_event in self.vad.feed(samples, self.format.sample_rate):
            if vad_event.kind == "started":
                self._speech_start = vad_event.at_ms
                self._barge_in(now_ms)
            else:
                self._user_said(self._speech_start if self._speech_start is not None else vad_event.at_ms,
                                vad_event.at_ms, now_ms)
                self._speech_start = None

    def _on_response_create(self, event: dict, now_ms: float, client_id: Optional[str]) -> None:
        self._say(normalise(self.script.next_line(self._last_user_text)))

    def _on_close(self, event: dict, now_ms: float, client_id: Optional[str]) -> None:
        self._outbox.withdraw(bool)
        self._pending.clear()
        self.closed = True
        self._emit(now_ms, lambda: {"type": "session.closed", "reason": "close_requested",
                                    "session": self._resource(), "usage": {"seconds": round(now_ms / 1000.0, 3)},
                                    "client_event_id": client_id})

    _HANDLERS: dict[str, Callable[..., None]] = {
        "session.start": _on_start,
        "session.update": _on_update,
        "session.input_audio.append": _on_append,
        "response.create": _on_response_create,
        "session.close": _on_close,
    }

    # ---- turns ---------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        utterance = f"utt_{next(self._ids):06d}"
        self._pending[utterance] = text
        self._speech_requests.append(SpeechRequest(utterance, text, self.format.sample_rate))

    def _barge_in(self, now_ms: float) -> None:
        """The user speaks over the assistant: what is not sent yet is never said."""
        if self._outbox.holds(bool) or self._pending:
            log.info("live: barge-in at %.0f ms; unsent output withdrawn", now_ms)
        self._outbox.withdraw(bool)
        self._pending.clear()

    def _user_said(self, start_ms: float, end_ms: float, now_ms: float) -> None:
        said = normalise(self.options.user_says)
        self._last_user_text = said
        tokens = tokenize(said)
        weights = [max(1, len(t.text.strip())) for t in tokens]
        total, acc = sum(weights) or 1, 0
        for tok, w in zip(tokens, weights):
            a = start_ms + (end_ms - start_ms) * acc / total
            acc += w
            b = start_ms + (end_ms - start_ms) * acc / total
            self._emit(now_ms + _TRANSCRIPTION_DELAY_MS, self._transcript("session.input_transcript.delta",
                                                                           tok.text, a, b))
        if self.options.auto_response:
            self._say(normalise(self.script.next_line(said)))

    # ---- helpers ---------------------------------------------------------------------------
    def _audio(self, samples: np.ndarray, end_ms: float) -> Callable[[], dict]:
        def make() -> dict:
            self.output_end_ms = max(self.output_end_ms, end_ms)
            return {"type": "session.output_audio.delta", "delta": encode_base64(samples, self.format)}
        return make

    @staticmethod
    def _transcript(kind: str, text: str, start_ms: float, end_ms: float) -> Callable[[], dict]:
        return lambda: {"type": kind, "delta": text, "start_ms": int(round(start_ms)),
                        "end_ms": int(round(max(start_ms, end_ms)))}

    def _emit(self, at_ms: float, make: Make, output: bool = False) -> None:
        self._outbox.put(at_ms, make, output)

    def _resource(self) -> dict:
        return {"id": self.session_id, "object": "live.session", "model": self.model, "status": "active",
                "expires_at": 0, "audio": {"format": self.format.ga_descriptor(),
                                           "output": {"voice": self.options.voice}}}

    def _error(self, now_ms: float, code: str, message: str, client_id: Optional[str] = None,
               param: Optional[str] = None) -> None:
        error = {"type": "invalid_request_error", "code": code, "message": message,
                 "client_event_id": client_id, "param": param}
        self._emit(now_ms, lambda: {"type": "error", "error": error, "client_event_id": client_id})
