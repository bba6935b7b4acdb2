"""The sans-I/O caption engine: wire events in, caption timeline and client events out.

Feed it what the server sends (``receive``), what the app sent (``sent``) and either
device pulls (``play``) or virtual time (``advance``). It never reads a clock: every
call carries the session time in milliseconds.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import numpy as np

from captioner.core.wire import _events as ev
from captioner.core.wire._audio import PCM16, AudioFormat, AudioFormatError, decode_base64, parse_format
from captioner.core._clock import PlaybackClock
from captioner.core.estimators._energy import EstimatorFactory
from captioner.core.estimators._forced import default_estimator
from captioner.core._model import Caption, ItemRecord, Period, Role, Timeline
from captioner.core._timeline import Delta, ItemCaptions, spread

log = logging.getLogger(__name__)

Transport = Literal["websocket", "webrtc"]


@dataclass
class _Item:
    item_id: str
    role: Role
    captions: ItemCaptions
    response_id: Optional[str] = None
    # user speech span on the capture clock (session ms)
    speech_start_ms: Optional[float] = None
    speech_end_ms: Optional[float] = None
    asr_deltas: list[Delta] = field(default_factory=list)
    oob_deltas: list[Delta] = field(default_factory=list)
    # WebRTC: playback marks instead of audio
    marked_start_ms: Optional[float] = None
    marked_end_ms: Optional[float] = None


# Estimated captions reach a live viewer this much after their estimated start: on
# real speech about one word in ten is aligned >= 40 ms early and almost none that
# late, and a caption ahead of the voice is what viewers notice (benchmarks/timing.py).
SHOW_DELAY_MS = 25.0


class CaptionEngine:
    def __init__(
        self,
        transport: Transport = "websocket",
        estimator_factory: Optional[EstimatorFactory] = None,
        output_format: AudioFormat = PCM16,
        playout_delay_ms: float = 0.0,
        input_origin_ms: Optional[float] = None,
        auto_interrupt: bool = False,
        show_delay_ms: float = SHOW_DELAY_MS,
    ) -> None:
        self.transport = transport
        self.show_delay_ms = show_delay_ms
        self.estimator_factory = estimator_factory or default_estimator
        self.output_format = output_format
        self.input_format = PCM16
        self.playout_delay_ms = playout_delay_ms
        self.auto_interrupt = auto_interrupt
        self.clock = PlaybackClock(output_format.sample_rate)
        self.items: dict[str, _Item] = {}
        self.order: list[str] = []
        self.revision = 0
        self.problems: list[str] = []  # skipped input, for reports
        self._input_origin_ms = input_origin_ms
        self._responses: dict[str, dict[str, Any]] = {}
        self._pending_oob: deque[dict] = deque()
        self._active_response: Optional[str] = None
        self._seen_event_ids: deque[str] = deque(maxlen=4096)
        self._seen_set: set[str] = set()
        self._cache: Optional[list[Caption]] = None
        self._cache_segments = -1

    # --- properties ----------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.output_format.sample_rate

    def _changed(self) -> None:
        self._cache = None
        self.revision += 1

    def _skip(self, message: str) -> None:
        log.warning("skipped: %s", message)
        self.problems.append(message)

    def _item(self, item_id: str, role: Role = "assistant") -> _Item:
        item = self.items.get(item_id)
        if item is None:
            estimator = self.estimator_factory(self.sample_rate) if role == "assistant" else None
            item = _Item(item_id, role, ItemCaptions(item_id, estimator))
            self.items[item_id] = item
            self.order.append(item_id)
        return item

    def _duplicate(self, event: dict) -> bool:
        event_id = event.get("event_id") if isinstance(event, dict) else None
        if not isinstance(event_id, str):
            return False
        if event_id in self._seen_set:
            return True
        if len(self._seen_event_ids) == self._seen_event_ids.maxlen:
            self._seen_set.discard(self._seen_event_ids[0])
        self._seen_event_ids.append(event_id)
        self._seen_set.add(event_id)
        return False

    # --- input ---------------------------------------------------------------
    def receive(self, event: Any, at_ms: float) -> list[dict]:
        """A server event arrived at ``at_ms``; returns client events to send."""
        if self._duplicate(event):
            self._skip(f"duplicate event {event.get('event_id')}")
            return []
        parsed = ev.parse_server_event(event)
        try:
            return self._on_server(parsed, at_ms) or []
        except Exception as exc:  # a session must never die of one event
            log.exception("event %r failed", getattr(parsed, "type", parsed))
            self._skip(f"{type(parsed).__name__}: {exc}")
            return []

    def sent(self, event: Any, at_ms: float) -> None:
        """A client event the app sent at ``at_ms`` (truncations, out-of-band requests...)."""
        parsed = ev.parse_client_event(event)
        try:
            self._on_client(parsed, at_ms)
        except Exception as exc:
            log.exception("client event failed")
            self._skip(f"{type(parsed).__name__}: {exc}")

    def _on_server(self, e: ev.Event, at_ms: float) -> Optional[list[dict]]:
        if isinstance(e, ev.AudioDelta):
            self._on_audio(e, at_ms)
        elif isinstance(e, ev.TranscriptDelta):
            self._on_transcript_delta(e, at_ms)
        elif isinstance(e, ev.AudioDone):
            self.clock.finish(e.item_id)
            self._item(e.item_id).captions.finish_audio()
            self._changed()
        elif isinstance(e, ev.TranscriptDone):
            self._on_transcript_done(e, at_ms)
        elif isinstance(e, ev.ItemAdded):
            role: Role = "user" if e.role == "user" else "assistant"
            if e.role in ("user", "assistant"):
                self._item(e.item_id, role)
        elif isinstance(e, ev.ItemTruncated):
            self._truncate(e.item_id, e.audio_end_ms)
        elif isinstance(e, ev.SpeechStarted):
            return self._on_speech_started(e, at_ms)
        elif isinstance(e, ev.SpeechStopped):
            self._on_speech_stopped(e)
        elif isinstance(e, ev.InputTranscriptDelta):
            self._user(e.item_id).asr_deltas.append(Delta(e.text, at_ms, e.duration_ms))
            self._changed()
        elif isinstance(e, ev.InputTranscriptCompleted):
            item = self._user(e.item_id)
            if not item.asr_deltas and e.transcript:
                item.asr_deltas.append(Delta(e.transcript, at_ms))
            item.captions.finish_text()
            self._changed()
        elif isinstance(e, ev.InputTranscriptSegment):
            item = self._user(e.item_id)
            item.asr_deltas.append(Delta(e.text, at_ms, span=(e.start_ms, e.end_ms)))
            self._changed()
        elif isinstance(e, ev.InputTranscriptFailed):
            self._skip(f"input transcription failed for {e.item_id}: {e.message}")
        elif isinstance(e, ev.ResponseCreated):
            out_of_band = e.out_of_band or bool(self._pending_oob and self._pending_oob.popleft())
            self._responses[e.response_id] = {"oob": out_of_band, "metadata": e.metadata}
            if not out_of_band:
                self._active_response = e.response_id
        elif isinstance(e, ev.ResponseDone):
            self._on_response_done(e)
        elif isinstance(e, ev.OutputBufferStarted):
            self._on_buffer_mark(e.response_id, at_ms, start=True)
        elif isinstance(e, (ev.OutputBufferStopped, ev.OutputBufferCleared)):
            self._on_buffer_mark(e.response_id, at_ms, start=False)
        elif isinstance(e, ev.SessionFormats):
            self._set_formats(e.output_format, e.input_format)
        elif isinstance(e, ev.ServerError):
            log.info("server error: %s", e.message)
        elif isinstance(e, ev.Malformed):
            self._skip(f"malformed {e.type}: {e.reason}")
        return None

    def _on_client(self, e: ev.Event, at_ms: float) -> None:
        if isinstance(e, ev.ClientTruncate):
            self._truncate(e.item_id, e.audio_end_ms)
        elif isinstance(e, ev.ClientResponseCreate):
            self._pending_oob.append({"oob": True} if e.out_of_band else {})
        elif isinstance(e, ev.ClientAudioAppend):
            if self._input_origin_ms is None:
                try:
                    n = len(decode_base64(e.audio, self.input_format))
                except AudioFormatError:
                    n = 0
                self._input_origin_ms = at_ms - n * 1000.0 / self.input_format.sample_rate
        elif isinstance(e, ev.ClientSessionUpdate):
            self._set_formats(e.output_format, e.input_format)
        elif isinstance(e, ev.Malformed):
            self._skip(f"malformed client {e.type}: {e.reason}")

    def _set_formats(self, output: Any, input_: Any) -> None:
        for descriptor, attr in ((output, "output_format"), (input_, "input_format")):
            if descriptor is None:
                continue
            try:
                fmt = parse_format(descriptor)
            except AudioFormatError as exc:
                self._skip(str(exc))
                continue
            if attr == "output_format" and fmt != self.output_format:
                if self.clock.segments or self.clock.buffered_ms():
                    self._skip("output format changed mid-session; keeping the old one")
                    continue
                self.clock = PlaybackClock(fmt.sample_rate)
                for item in self.items.values():  # re-create estimators at the new rate
                    if item.role == "assistant" and not item.captions.deltas:
                        item.captions.estimator = self.estimator_factory(fmt.sample_rate)
            setattr(self, attr, fmt)

    def _on_audio(self, e: ev.AudioDelta, at_ms: float) -> None:
        item = self._item(e.item_id)
        if item.role != "assistant":
            self._skip(f"audio for user item {e.item_id}")
            return
        try:
            pcm = decode_base64(e.delta, self.output_format)
        except AudioFormatError as exc:
            self._skip(f"audio delta for {e.item_id}: {exc}")
            return
        if e.response_id and item.response_id is None:
            item.response_id = e.response_id
        first = self.clock.item(e.item_id).received == 0
        ready = at_ms + (self.playout_delay_ms if first else 0.0)
        if self.clock.enqueue(e.item_id, e.content_index, pcm, ready_ms=ready):
            item.captions.add_audio(pcm, len(pcm) * 1000.0 / self.sample_rate)
            self._changed()
        elif len(pcm):
            log.info("dropped %d samples for closed item %s", len(pcm), e.item_id)

    def _on_transcript_delta(self, e: ev.TranscriptDelta, at_ms: float) -> None:
        response = self._responses.get(e.response_id or "", {})
        if response.get("oob"):
            target = self._oob_target(response)
            if target is not None:
                target.oob_deltas.append(Delta(e.text, at_ms, e.duration_ms))
                self._changed()
            return
        if not e.spoken:
            return  # text-only assistant output is not on the spoken track
        item = self._item(e.item_id)
        if e.response_id and item.response_id is None:
            item.response_id = e.response_id
        if item.captions.truncated_at_ms is not None:
            log.info("delta after truncation of %s ignored", e.item_id)
            return
        item.captions.add_delta(Delta(e.text, at_ms, e.duration_ms))
        self._changed()

    def _on_transcript_done(self, e: ev.TranscriptDone, at_ms: float) -> None:
        response = self._responses.get(e.response_id or "", {})
        if response.get("oob") or not e.spoken:
            return
        item = self._item(e.item_id)
        if not item.captions.deltas and e.transcript:
            item.captions.add_delta(Delta(e.transcript, at_ms))  # a server that sends no deltas
        item.captions.finish_text()
        self._changed()

    def _oob_target(self, response: dict) -> Optional[_Item]:
        meta = response.get("metadata") or {}
        for key in ("item_id", "user_item_id", "input_item_id"):
            ref = meta.get(key)
            if isinstance(ref, str) and ref in self.items:
                return self.items[ref]
        users = [self.items[i] for i in self.order if self.items[i].role == "user"]
        return users[-1] if users else None

    def _on_response_done(self, e: ev.ResponseDone) -> None:
        if self._active_response == e.response_id:
            self._active_response = None
        for item_id in e.item_ids:
            item = self.items.get(item_id)
            if item is not None and item.role == "assistant":
                item.captions.finish_text()
                self.clock.finish(item_id)  # whatever the status, no more audio will come
                item.captions.finish_audio()
        self._changed()

    def _user(self, item_id: str) -> _Item:
        item = self._item(item_id, "user")
        if item.role != "user":
            item.role = "user"
        return item

    def _origin(self) -> float:
        return self._input_origin_ms if self._input_origin_ms is not None else 0.0

    def _on_speech_started(self, e: ev.SpeechStarted, at_ms: float) -> Optional[list[dict]]:
        if e.item_id:
            self._user(e.item_id).speech_start_ms = self._origin() + e.audio_start_ms
            self._changed()
        if self.auto_interrupt and self.audible(at_ms):
            return self.interrupt(at_ms)
        return None

    def _on_speech_stopped(self, e: ev.SpeechStopped) -> None:
        if e.item_id:
            item = self._user(e.item_id)
            item.speech_end_ms = self._origin() + e.audio_end_ms
            if item.speech_start_ms is None:
                item.speech_start_ms = item.speech_end_ms
            self._changed()

    def _on_buffer_mark(self, response_id: Optional[str], at_ms: float, start: bool) -> None:
        """WebRTC: the only sign of playback is when the output buffer starts and stops."""
        items = [self.items[i] for i in self.order
                 if self.items[i].role == "assistant"
                 and (response_id is None or self.items[i].response_id in (response_id, None))
                 and not self.clock.items.get(i, None)]
        if start:
            targets = [i for i in items if i.marked_start_ms is None]
            if targets:
                targets[0].marked_start_ms = at_ms
            elif response_id:
                self._responses.setdefault(response_id, {})["started_ms"] = at_ms
        else:
            for item in items:
                if item.marked_start_ms is not None and item.marked_end_ms is None:
                    item.marked_end_ms = at_ms
                    item.captions.set_audio_length(at_ms - item.marked_start_ms)
                    item.captions.finish_audio()
        self._changed()

    # --- playback --------------------------------------------------------------
    def play(self, n_frames: int, at_ms: float) -> np.ndarray:
        """Device output callback: frames for the DAC, the first playing at ``at_ms``."""
        pcm = self.clock.pull(n_frames, at_ms)
        self._after_playback()
        return pcm

    def advance(self, to_ms: float) -> None:
        """Virtual real-time player."""
        self.clock.advance(to_ms)
        self._after_playback()

    def _after_playback(self) -> None:
        n = len(self.clock.segments)
        if n != self._cache_segments:
            self._cache_segments = n
            self._changed()

    def idle(self, at_ms: Optional[float] = None) -> bool:
        return self.clock.idle()

    def audible(self, at_ms: float) -> bool:
        if self.transport == "webrtc":
            return any(i.marked_start_ms is not None and i.marked_end_ms is None
                       for i in self.items.values())
        return self.clock.playing_at(at_ms) is not None or not self.clock.idle()

    # --- interruption --------------------------------------------------------
    def interrupt(self, at_ms: float) -> list[dict]:
        """Stop what is playing now; return the client events that tell the server."""
        events: list[dict] = []
        item_id, played = self._interrupt_point(at_ms)
        if item_id is not None:
            events.append({"type": "conversation.item.truncate", "item_id": item_id,
                           "content_index": 0, "audio_end_ms": int(played)})
            self._truncate(item_id, int(played))
        if self._active_response:  # the server rejects a cancel with nothing in progress
            events.append({"type": "response.cancel", "response_id": self._active_response})
        if self.transport == "webrtc":
            events.append({"type": "output_audio_buffer.clear"})
        self.clock.clear()
        self._changed()
        return events

    def _interrupt_point(self, at_ms: float) -> tuple[Optional[str], float]:
        if self.transport == "webrtc":
            for item_id in reversed(self.order):
                item = self.items[item_id]
                if item.marked_start_ms is not None and item.marked_end_ms is None:
                    return item_id, max(0.0, at_ms - item.marked_start_ms)
            return None, 0.0
        stamp = self.clock.playing_at(at_ms)
        item_id = stamp.item_id if stamp else self.clock.current_item()
        if item_id is None or self.items.get(item_id, None) is None:
            return None, 0.0
        if self.items[item_id].captions.truncated_at_ms is not None:
            return None, 0.0
        state = self.clock.items.get(item_id)
        if state is not None and state.done and not self.clock.queued_items().count(item_id) \
                and state.end_ms is not None and state.end_ms <= at_ms:
            return None, 0.0  # that item already finished playing
        received_ms = self.clock.item(item_id).received * 1000.0 / self.sample_rate
        played = min(self.clock.played_ms(item_id, at_ms), received_ms)
        return item_id, math.floor(played)

    def _truncate(self, item_id: str, audio_end_ms: float) -> None:
        item = self._item(item_id)
        if item.role != "assistant":
            return
        received = self.clock.item(item_id).received
        if self.transport == "websocket" and item.marked_start_ms is None:
            # nothing past the audio received can have been heard
            audio_end_ms = min(audio_end_ms, received * 1000.0 / self.sample_rate)
        sample = int(round(audio_end_ms * self.sample_rate / 1000.0))
        self.clock.cut(item_id, sample)
        item.captions.truncate_to(audio_end_ms)
        self._changed()

    # --- output ----------------------------------------------------------------
    def captions(self) -> list[Caption]:
        """Every caption so far. While an item's final alignment is under way each call
        advances it a bounded step (and bumps ``revision``), so callers stay responsive."""
        if self._cache is None:
            out: list[Caption] = []
            for item_id in self.order:
                out.extend(self._item_captions(self.items[item_id]))
            out.sort(key=lambda c: (c.start_ms, c.role != "assistant", c.item_id, c.index))
            self._cache = out
            if not all(self.items[i].captions.settled for i in self.order):
                self._cache = None
                self.revision += 1
                return out
        return list(self._cache)

    def estimators(self) -> list:
        """Every assistant item's estimator (a worker feeds deferred ones)."""
        return [i.captions.estimator for i in self.items.values() if i.captions.estimator is not None]

    def refresh_estimates(self) -> None:
        """Estimates changed behind the engine's back (a worker published answers)."""
        for item in self.items.values():
            item.captions.estimate_changed()
        self._changed()

    def settle(self) -> None:
        """Finish every pending estimate now (before exports and at the end of replay)."""
        for item_id in self.order:
            self.items[item_id].captions.settle()
        self._changed()

    def _item_origin(self, item: _Item):
        """item-relative ms -> session ms, or None while the item cannot be placed."""
        if item.marked_start_ms is not None:
            start = item.marked_start_ms
            return lambda ms: start + ms
        if self.clock.items.get(item.item_id) is None:
            return None
        if self.clock.item_time(item.item_id, 0.0) is None:
            return None
        return lambda ms: self.clock.item_time(item.item_id, ms)

    def _item_captions(self, item: _Item) -> list[Caption]:
        if item.role == "user":
            return self._user_captions(item)
        to_session = self._item_origin(item)
        if to_session is None:
            return []
        final = item.captions.final and self.clock.items.get(item.item_id) is not None and \
            item.item_id not in self.clock.queued_items()
        final = final or (item.marked_end_ms is not None)
        limit = math.inf  # once an item's voice is over, its captions cannot run past it
        if item.marked_end_ms is not None:
            limit = item.captions.audio_ms
        elif self.clock.finished_playing(item.item_id):
            limit = self.clock.items[item.item_id].played_total * 1000.0 / self.sample_rate
        delay = self.show_delay_ms if item.captions.estimated else 0.0
        out = []
        for index, (start, end), is_cut in item.captions.heard():
            s, e = to_session(min(start, limit)), to_session(min(end, limit))
            out.append(Caption(item.item_id, "assistant", index, item.captions.deltas[index].text,
                               s, max(s, e), item.captions.deltas[index].arrived_ms, final, is_cut, delay))
        return out

    def _user_captions(self, item: _Item) -> list[Caption]:
        deltas = item.oob_deltas or item.asr_deltas
        if not deltas or item.speech_start_ms is None:
            return []
        start = item.speech_start_ms
        end = item.speech_end_ms if item.speech_end_ms is not None else start
        if any(d.span is None for d in deltas):
            spans = spread([d.text for d in deltas], start, end)
        else:
            spans = [(start + d.span[0], start + d.span[1]) for d in deltas]  # type: ignore[index]
        final = item.captions.text_complete and item.speech_end_ms is not None
        return [Caption(item.item_id, "user", i, d.text, s, max(s, e), d.arrived_ms, final)
                for i, (d, (s, e)) in enumerate(zip(deltas, spans))]

    def transcript(self, item_id: str) -> str:
        """What was heard of an item (its truncated transcript after an interruption)."""
        return "".join(c.text for c in self.captions() if c.item_id == item_id)

    def timeline(self) -> Timeline:
        caps = self.captions()
        items: list[ItemRecord] = []
        for item_id in self.order:
            item = self.items[item_id]
            if item.role == "user":
                if item.speech_start_ms is None:
                    continue
                end = item.speech_end_ms if item.speech_end_ms is not None else item.speech_start_ms
                items.append(ItemRecord(item_id, "user", item.speech_start_ms, end,
                                        end - item.speech_start_ms, None))
                continue
            state = self.clock.items.get(item_id)
            if item.marked_start_ms is not None:
                end = item.marked_end_ms if item.marked_end_ms is not None else item.marked_start_ms
                items.append(ItemRecord(item_id, "assistant", item.marked_start_ms, end,
                                        item.captions.audio_ms, item.captions.truncated_at_ms))
            elif state is not None and state.start_ms is not None:
                items.append(ItemRecord(item_id, "assistant", state.start_ms,
                                        state.end_ms or state.start_ms,
                                        state.received * 1000.0 / self.sample_rate,
                                        item.captions.truncated_at_ms))
        periods: list[Period] = []
        head = 0.0
        for c in caps:
            if c.role != "assistant" or not math.isfinite(c.start_ms):
                continue
            if c.start_ms > head + 1e-6:
                periods.append(Period("silence", None, None, head, c.start_ms - head, ""))
            start = max(c.start_ms, head)
            periods.append(Period("caption", c.item_id, c.index, start,
                                  max(0.0, c.end_ms - start), c.text))
            head = max(head, c.end_ms)
        for c in caps:
            if c.role == "user":
                periods.append(Period("caption", c.item_id, c.index, c.start_ms,
                                      c.end_ms - c.start_ms, c.text))
        periods.sort(key=lambda p: p.start_ms)  # stable: playback-track order is kept
        return Timeline(items, periods)
