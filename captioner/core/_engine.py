"""The sans-I/O caption engine: wire events in, caption timeline and client events out.

Feed it what the server sends (``receive``), what the app sent (``sent``) and either
device pulls (``play``) or virtual time (``advance``); run its estimation pump
(``step``, ``settle``) when there is time. It never reads a clock: every call carries
the session time in milliseconds. Edges ask it questions through its query methods
(``captions``, ``timeline``, ``item_state``, ``played_ms``, ``now_playing`` ...);
its items, clock and timeline are its own.
"""

from __future__ import annotations

import bisect
import logging
import math
import numbers
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Callable, Literal, Optional, Union

import numpy as np

from captioner.core._capture import Capture, CaptureOrigin, TranscriptPreference
from captioner.core._clock import FrameStamp, PlaybackClock
from captioner.core._items import AudioSource, Item, ItemState, Phase, Transition
from captioner.core._live import LiveTimeline
from captioner.core._model import Caption, ItemRecord, Period, Problem, Role, Timeline
from captioner.core._timeline import Delta, ItemCaptions
from captioner.core._timing import TimedText
from captioner.core.estimators._base import STEP_MS, EstimatorFactory, ItemEstimator
from captioner.core.estimators._forced import default_estimator
from captioner.core.wire import _events as ev
from captioner.core.wire._events import TRACK_AUDIO_EVENT
from captioner.core.wire._audio import (
    PCM16, AudioFormat, AudioFormatError, decode_base64, ms_to_samples, parse_format, samples_to_ms,
)
from captioner.core.wire._outbound import CancelResponse, ClearOutputBuffer, ClientEvent, TruncateItem

__all__ = ["SHOW_DELAY_MS", "CaptionEngine", "Transport"]

log = logging.getLogger(__name__)

Transport = Literal["websocket", "webrtc"]

# Estimated captions reach a live viewer this much after their estimated start: on
# real speech about one word in ten is aligned >= 40 ms early and almost none that
# late, and a caption ahead of the voice is what viewers notice (benchmarks/timing.py).
SHOW_DELAY_MS = 25.0
# Text deltas often come in bursts (one server flush, one socket read). Until a burst is
# over, the estimate of its words is an estimate of a partial text, and can place a word
# in the past that the next delta moves later: estimated captions wait until their burst
# has paused (no delta for BURST_GAP_MS), but never more than BURST_HOLD_MS.
BURST_GAP_MS = 20.0
BURST_HOLD_MS = 80.0
MAX_PROBLEMS = 200  # problems kept in full; counts go on


MAX_FRAMES = 48000 * 60  # one device pull: a minute of audio is already absurd
# WebRTC marks run ahead of the track audio they mark (60-120 ms on loopback, more over a
# network): after a stop mark the item keeps its track audio until the track goes quiet.
TRACK_TAIL_QUIET_MS = 300.0  # this much quiet track audio after the stop mark ends the item
TRACK_TAIL_MAX_MS = 1500.0  # ... and it ends this long after the mark whatever the track says
TRACK_QUIET_RMS = 50.0  # int16 RMS below this is silence (about -56 dBFS)


def _ms(value: Any, name: str = "at_ms") -> float:
    """A caller's time: a finite number of ms (misuse raises before any state changes)."""
    if type(value) is float or type(value) is int:  # the usual case, without the ABC check
        if math.isfinite(value):
            return float(value)
        raise ValueError(f"{name} must be finite, not {value}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number of milliseconds, not {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, not {value}")
    return float(value)


def _caption_order(c: Caption) -> tuple:
    """Captions are sorted by start; at one instant the assistant's first (no two are equal)."""
    return (c.start_ms, c.role != "assistant", c.item_id, c.index)


def _burst_holds(arrivals: list[float]) -> list[float]:
    """Per delta, how long after its arrival its burst paused (see BURST_GAP_MS); the
    latest burst is taken to pause BURST_GAP_MS after its last delta so far."""
    holds = [0.0] * len(arrivals)
    burst_end, following = math.inf, math.inf
    for k in range(len(arrivals) - 1, -1, -1):
        at = arrivals[k]
        if not following - at < BURST_GAP_MS:  # the next delta came later (or not yet): a burst ends here
            burst_end = at + BURST_GAP_MS
        holds[k] = min(max(burst_end - at, 0.0), BURST_HOLD_MS)
        following = at
    return holds


def _merge(ordered: list[Caption], more: list[Caption]) -> list[Caption]:
    """Two lists sorted by ``_caption_order`` as one, in time linear in the longer one and
    logarithmic per caption of the shorter (``more``: the few captions still changing)."""
    if not more:
        return list(ordered)
    out: list[Caption] = []
    lo = 0
    for c in more:
        hi = bisect.bisect_right(ordered, _caption_order(c), lo, key=_caption_order)
        out += ordered[lo:hi]
        out.append(c)
        lo = hi
    out += ordered[lo:]
    return out


@dataclass
class _Request:
    """A ``response.create`` the app sent, waiting for the server's ``response.created``."""

    out_of_band: bool
    metadata: dict
    user_item: Optional[str]  # the latest user item when it was sent


@dataclass
class _Response:
    out_of_band: bool
    metadata: dict
    started_ms: Optional[float] = None  # output_audio_buffer.started before its item was known
    user_item: Optional[str] = None  # out-of-band: the user item whose transcript it is


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
        capture_origin: CaptureOrigin = "auto",
        user_transcript: TranscriptPreference = "out_of_band",
    ) -> None:
        """``capture_origin``: where the server counts VAD marks from ("session": the
        OpenAI API, "buffer": speaches, "auto": detected; see core/_capture.py);
        ``user_transcript``: which text a user item shows when it has both an input
        transcription and an out-of-band one."""
        if transport not in ("websocket", "webrtc"):
            raise ValueError(f"transport must be 'websocket' or 'webrtc', not {transport!r}")
        self.transport = transport
        self.show_delay_ms = show_delay_ms
        self.estimator_factory = estimator_factory or default_estimator
        self.output_format = output_format
        self.input_format = PCM16
        self.playout_delay_ms = playout_delay_ms
        self.auto_interrupt = auto_interrupt
        self.revision = 0  # moves whenever captions may have changed
        self._clock = PlaybackClock(output_format.sample_rate)
        self._items: dict[str, Item] = {}
        self._order: list[str] = []
        self._sounding: set[str] = set()  # items with queued or playing audio (not ended)
        self._capture = Capture(self.estimator_factory, capture_origin, user_transcript, input_origin_ms)
        self._responses: dict[str, _Response] = {}
        self._requests: deque[_Request] = deque()  # response.create sent, not answered yet
        self._active_response: Optional[str] = None
        self._seen_event_ids: deque[str] = deque(maxlen=4096)
        self._seen_set: set[str] = set()
        self._outbox: dict[str, ClientEvent] = {}  # produced here, not reported sent yet
        self._produced: dict[str, ClientEvent] = {}  # every event produced here, by event_id
        self._next_event = 0
        self._problems: deque[Problem] = deque(maxlen=MAX_PROBLEMS)
        self.problem_counts: Counter[tuple[str, str]] = Counter()
        self._cache: Optional[list[Caption]] = None
        # captions of items that are over (ended, settled, played out), with what they were
        # computed from: kept until the item changes again (a late cut), and meanwhile its
        # derived caches are dropped, so a long session holds one Caption per delta
        self._done: dict[str, tuple[int, Phase, float]] = {}  # item -> what its captions were made from
        self._done_sorted: list[Caption] = []  # their captions, in the order of captions()
        self._segments_seen = 0
        self._live: Optional[LiveTimeline] = None  # set by the first GPT-Live event

    # --- bookkeeping ----------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.output_format.sample_rate

    @property
    def problems(self) -> list[Problem]:
        """Skipped input, most recent last (bounded; ``problem_counts`` counts them all)."""
        return list(self._problems)

    def _changed(self) -> None:
        self._cache = None
        self.revision += 1

    def _skip(self, kind: str, event_type: str, detail: str) -> None:
        problem = Problem(kind, event_type, detail)
        if self.problem_counts[(kind, event_type)] < 3:
            log.warning("skipped: %s", problem)
        self.problem_counts[(kind, event_type)] += 1
        self._problems.append(problem)

    def _item(self, item_id: str, role: Role = "assistant") -> Item:
        item = self._items.get(item_id)
        if item is None:
            if role == "user":
                source, estimator = AudioSource.CAPTURE, None
            else:
                source = AudioSource.MARKS if self.transport == "webrtc" else AudioSource.EVENTS
                estimator = self.estimator_factory(self.sample_rate)
            item = Item(item_id, role, source, ItemCaptions(item_id, estimator))
            self._items[item_id] = item
            self._order.append(item_id)
        return item

    def _user(self, item_id: str) -> Item:
        item = self._item(item_id, "user")
        if item.role != "user":  # announced as assistant by a stray event: it is speech
            item.role, item.source, item.captions.estimator = "user", AudioSource.CAPTURE, None
        return item

    def _duplicate(self, event: Any) -> bool:
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

    def _new_event_id(self) -> str:
        self._next_event += 1
        return f"captioner_{self._next_event}"

    # --- input -----------------------------------------------------------------
    def receive(self, event: Any, at_ms: float) -> list[ClientEvent]:
        """A server event arrived at ``at_ms``; returns client events to send."""
        at_ms = _ms(at_ms)
        if self._duplicate(event):
            self._skip("duplicate", str(event.get("type", "?")), f"event_id {event.get('event_id')}")
            return []
        parsed = ev.parse_server_event(event)
        try:
            return self._on_server(parsed, at_ms) or []
        except Exception as exc:  # a session must never die of one event
            log.exception("event %s failed", type(parsed).__name__)
            self._skip("failed", type(parsed).__name__, str(exc))
            return []

    def sent(self, event: Union[ClientEvent, dict], at_ms: float) -> None:
        """A client event the app sent at ``at_ms`` (truncations, out-of-band requests...).

        Events this engine produced (``interrupt``) are already applied: reporting them
        only marks them sent."""
        at_ms = _ms(at_ms)
        event_id = event.event_id if not isinstance(event, dict) else event.get("event_id")
        if isinstance(event_id, str) and self._outbox.pop(event_id, None) is not None:
            return
        if not isinstance(event, dict):
            event = event.to_wire()
        parsed = ev.parse_client_event(event)
        try:
            self._on_client(parsed, at_ms)
        except Exception as exc:
            log.exception("client event failed")
            self._skip("failed", type(parsed).__name__, str(exc))

    def _on_server(self, e: ev.Event, at_ms: float) -> Optional[list[ClientEvent]]:
        handler = self._SERVER_HANDLERS.get(type(e))
        if handler is not None:
            return handler(self, e, at_ms)
        if isinstance(e, ev.Malformed):
            self._skip("malformed", e.type, e.reason)
        return None

    def _on_client(self, e: ev.Event, at_ms: float) -> None:
        if isinstance(e, ev.ClientTruncate):
            item = self._items.get(e.item_id)
            if item is None or item.role != "assistant":
                self._skip("skipped", "conversation.item.truncate", f"unknown item {e.item_id}")
                return
            self._cut(item, e.audio_end_ms, at_ms, "client conversation.item.truncate")
        elif isinstance(e, ev.ClientResponseCreate):
            users = [i for i in self._order if self._items[i].role == "user"]
            self._requests.append(_Request(e.out_of_band, e.metadata, users[-1] if users else None))
        elif isinstance(e, ev.ClientAudioAppend):
            try:
                pcm = decode_base64(e.audio, self.input_format)
            except AudioFormatError as exc:
                self._skip("malformed", "input_audio_buffer.append", str(exc))
                return
            self._capture.append(pcm, at_ms)
            self._changed()
        elif isinstance(e, ev.ClientInputCommit):
            self._capture.client_restart(commit=True)
        elif isinstance(e, ev.ClientInputClear):
            self._capture.client_restart(commit=False)
        elif isinstance(e, ev.ClientSessionUpdate):
            self._set_formats(e.output_format, e.input_format)
            self._capture.set_turn_detection(e.turn_detection)
        elif isinstance(e, ev.SessionEnd):
            self.end(at_ms)
        elif isinstance(e, ev.Malformed):
            self._skip("malformed", e.type, e.reason)

    # --- server events ----------------------------------------------------------
    def _set_formats(self, output: Any, input_: Any) -> None:
        for descriptor, attr in ((output, "output_format"), (input_, "input_format")):
            if descriptor is None:
                continue
            try:
                fmt = parse_format(descriptor)
            except AudioFormatError as exc:
                self._skip("skipped", "session", str(exc))
                continue
            if attr == "output_format" and fmt != self.output_format:
                if self._clock.segments or self._clock.buffered_ms():
                    self._skip("skipped", "session", "output format changed mid-session; keeping the old one")
                    continue
                self._clock = PlaybackClock(fmt.sample_rate)
                for item in self._items.values():  # re-create estimators at the new rate
                    if item.role == "assistant" and not item.captions.deltas:
                        item.captions.estimator = self.estimator_factory(fmt.sample_rate)
            setattr(self, attr, fmt)
            if attr == "input_format":
                self._capture.set_format(fmt)

    def _on_session(self, e: ev.SessionFormats, at_ms: float) -> None:
        self._set_formats(e.output_format, e.input_format)
        self._capture.set_turn_detection(e.turn_detection)

    def _on_audio(self, e: ev.AudioDelta, at_ms: float) -> None:
        response = self._responses.get(e.response_id or "")
        if response is not None and response.out_of_band:
            self._skip("skipped", "response.output_audio.delta", f"out-of-band audio ({e.response_id})")
            return
        item = self._item(e.item_id)
        if item.role != "assistant":
            self._skip("skipped", "response.output_audio.delta", f"audio for user item {e.item_id}")
            return
        try:
            pcm = decode_base64(e.delta, self.output_format)
        except AudioFormatError as exc:
            self._skip("malformed", "response.output_audio.delta", f"{e.item_id}: {exc}")
            return
        self._note_response(item, e.response_id)
        item.source = AudioSource.EVENTS
        self._receive_audio(item, e.content_index, pcm, at_ms)

    def _receive_audio(self, item: Item, content_index: int, pcm: np.ndarray, at_ms: float) -> None:
        first = self._clock.received(item.item_id) == 0
        ready = at_ms + (self.playout_delay_ms if first else 0.0)
        if item.phase.ended or item.captions.audio_complete:
            if len(pcm):
                log.info("dropped %d samples for closed item %s", len(pcm), item.item_id)
            return
        if self._clock.enqueue(item.item_id, content_index, pcm, ready_ms=ready):
            self._sounding.add(item.item_id)
            item.captions.add_audio(pcm, samples_to_ms(len(pcm), self.sample_rate))
            item.move(Phase.RECEIVING, at_ms, "audio")
            self._changed()

    def _on_audio_done(self, e: ev.AudioDone, at_ms: float) -> None:
        item = self._item(e.item_id)
        self._note_response(item, e.response_id)
        if item.source == AudioSource.EVENTS:
            self._audio_complete(item)
            self._changed()
        # marks and track: the buffer marks say when playback ends, not this

    def _audio_complete(self, item: Item) -> None:
        """No more audio will come for the item: the clock may call a dry buffer idle."""
        item.captions.finish_audio()
        self._clock.finish(item.item_id)

    def _on_transcript_delta(self, e: ev.TranscriptDelta, at_ms: float) -> None:
        response = self._responses.get(e.response_id or "")
        if response is not None and response.out_of_band:
            target = self._oob_target(response, e.text)
            if target is not None:
                self._capture.out_of_band_delta(target, Delta(e.text, at_ms))
                self._changed()
            return
        if not e.spoken:
            return  # text-only assistant output is not on the spoken track
        item = self._item(e.item_id)
        self._note_response(item, e.response_id)
        if e.bad_timing:
            self._skip("skipped", "transcript delta timing", f"{e.item_id}: {e.bad_timing}")
        if item.captions.truncated_at_ms is not None or item.phase == Phase.CANCELLED:
            log.info("delta after the end of %s ignored", e.item_id)
            return
        item.captions.add_delta(Delta(e.text, at_ms, e.duration_ms, start_ms=e.start_ms))
        self._changed()

    def _on_word_timestamp(self, e: ev.WordTimestamp, at_ms: float) -> None:
        if e.item_id not in self._items and e.response_id in self._responses \
                and not self._responses[e.response_id].out_of_band:
            self._item(e.item_id)  # an item of a response in progress, timed before its first delta
        item = self._items.get(e.item_id)
        if item is None or item.role != "assistant":
            self._skip("skipped", "response.audio_timestamp.delta", f"timing for unknown item {e.item_id}")
            return
        self.add_timing(e.item_id, [TimedText(e.text, e.start_ms, e.start_ms + e.duration_ms)])

    def add_timing(self, item_id: str, timed: list[TimedText], offset_ms: float = 0.0) -> bool:
        """Word or character timings for an item's audio (a TTS service's, or a provider's):
        ``timed`` are ms from ``offset_ms`` into the item's audio (ElevenLabs sends them per
        audio chunk: pass the chunk's offset, ``received_ms(item_id)`` before adding it).
        The item's captions then follow them exactly (see ``core/_timing.py``); False when
        the item is unknown (skipped, with a problem logged)."""
        item = self._items.get(item_id)
        if item is None or item.role != "assistant":
            self._skip("skipped", "timing", f"timing for unknown item {item_id}")
            return False
        shifted = [TimedText(t.text, t.start_ms + offset_ms, t.end_ms + offset_ms) for t in timed]
        good = [t for t in shifted if t.valid]
        if len(good) < len(shifted):
            self._skip("skipped", "timing", f"{item_id}: {len(shifted) - len(good)} timed word(s) with "
                       "negative or non-finite times")
        item.captions.add_words(good)
        self._changed()
        return True

    def _on_transcript_done(self, e: ev.TranscriptDone, at_ms: float) -> None:
        response = self._responses.get(e.response_id or "")
        if response is not None and response.out_of_band:
            target = self._oob_target(response, e.transcript)
            if target is not None:
                self._capture.out_of_band_done(target, e.transcript, at_ms)
                self._changed()
            return
        if not e.spoken:
            return
        item = self._item(e.item_id)
        if not item.captions.deltas and e.transcript and item.cut_ms is None:
            item.captions.add_delta(Delta(e.transcript, at_ms, fallback=True))  # a server sending no deltas
        item.captions.finish_text()
        self._changed()

    def _note_response(self, item: Item, response_id: Optional[str]) -> None:
        if not response_id or item.response_id is not None:
            return
        item.response_id = response_id
        response = self._responses.get(response_id)
        if response is not None and response.started_ms is not None and item.marked_start_ms is None \
                and item.source == AudioSource.MARKS:
            self._mark_started(item, response.started_ms)
            response.started_ms = None

    def _on_item_added(self, e: ev.ItemAdded, at_ms: float) -> None:
        if e.role == "user":
            self._user(e.item_id)
        elif e.role == "assistant":
            self._item(e.item_id)

    def _on_truncated(self, e: ev.ItemTruncated, at_ms: float) -> None:
        """The server's word on a cut: confirms ours, or is the cut (server-side truncation)."""
        item = self._items.get(e.item_id)
        if item is None or item.role != "assistant":
            self._skip("skipped", "conversation.item.truncated", f"unknown item {e.item_id}")
            return
        if item.cut_ms is not None and e.audio_end_ms >= math.floor(item.cut_ms):
            item.cut_confirmed = True  # what we cut, the server kept: nothing changes
            return
        self._cut(item, e.audio_end_ms, at_ms, "server conversation.item.truncated")
        item.cut_confirmed = True

    def _on_response_created(self, e: ev.ResponseCreated, at_ms: float) -> None:
        request = self._answered(e)
        out_of_band = e.out_of_band or (e.in_conversation is None and request is not None and request.out_of_band)
        response = self._responses.setdefault(e.response_id, _Response(out_of_band, e.metadata))
        response.out_of_band, response.metadata = out_of_band, e.metadata
        response.user_item = request.user_item if request is not None else None
        if not out_of_band:
            self._active_response = e.response_id

    def _answered(self, e: ev.ResponseCreated) -> Optional[_Request]:
        """The request a ``response.created`` answers: the server answers requests in
        order, but a response it starts itself (VAD auto-reply) answers none. Out-of-band
        ones say so (``conversation_id: null``) and echo ``metadata``; a response in the
        conversation answers the oldest in-conversation request."""
        def take(match: Callable[[_Request], bool]) -> Optional[_Request]:
            for request in self._requests:
                if match(request):
                    self._requests.remove(request)
                    return request
            return None
        if e.in_conversation is False or e.out_of_band:
            return take(lambda r: r.out_of_band and r.metadata == e.metadata) \
                or take(lambda r: r.out_of_band)
        if e.in_conversation:
            return take(lambda r: not r.out_of_band)
        # the server does not say: metadata it echoed, else the oldest request
        if e.metadata:
            return take(lambda r: r.metadata == e.metadata)
        return take(lambda r: not r.metadata)

    def _on_response_done(self, e: ev.ResponseDone, at_ms: float) -> None:
        if self._active_response == e.response_id:
            self._active_response = None
        for item_id in e.item_ids:
            item = self._items.get(item_id)
            if item is None or item.role != "assistant":
                continue
            item.captions.finish_text()
            if item.source == AudioSource.EVENTS:  # whatever the status, no more audio will come
                self._audio_complete(item)
            if self._clock.received(item_id) == 0 and item.marked_start_ms is None:
                item.captions.finish_audio()
                item.move(Phase.CANCELLED if e.status == "cancelled" else Phase.PLAYED, at_ms, "response.done")
        self._changed()

    def _on_error(self, e: ev.ServerError, at_ms: float) -> None:
        produced = self._produced.get(e.event_id or "")
        if isinstance(produced, TruncateItem):  # our truncate was refused: it is answered
            item = self._items.get(produced.item_id)
            if item is not None:
                item.cut_confirmed = True
        log.info("server error: %s", e.message)

    # --- user speech (capture clock: core/_capture.py) --------------------------------------
    def _on_speech_started(self, e: ev.SpeechStarted, at_ms: float) -> Optional[list[ClientEvent]]:
        if e.item_id:
            item = self._user(e.item_id)
            self._capture.speech_started(item, e.audio_start_ms)
            item.move(Phase.RECEIVING, at_ms, "speech_started")
            self._changed()
        else:
            self._skip("skipped", "input_audio_buffer.speech_started", "no item_id")
        if self.auto_interrupt and self.audible(at_ms):
            return self.interrupt(at_ms)
        return None

    def _on_speech_stopped(self, e: ev.SpeechStopped, at_ms: float) -> None:
        if not e.item_id:
            self._skip("skipped", "input_audio_buffer.speech_stopped", "no item_id")
            return
        item = self._user(e.item_id)
        self._capture.speech_stopped(item, e.audio_end_ms)
        item.move(Phase.PLAYED, at_ms, "speech_stopped")
        self._changed()

    def _on_input_committed(self, e: ev.InputCommitted, at_ms: float) -> None:
        if e.item_id:
            item = self._user(e.item_id)
            self._capture.committed(item, at_ms)
            item.move(Phase.PLAYED, at_ms, "input_audio_buffer.committed")
        else:
            self._capture.server_restart(commit=True)
        self._changed()

    def _on_input_cleared(self, e: ev.InputCleared, at_ms: float) -> None:
        self._capture.server_restart(commit=False)

    def _on_input_delta(self, e: ev.InputTranscriptDelta, at_ms: float) -> None:
        self._capture.input_delta(self._user(e.item_id), Delta(e.text, at_ms, e.duration_ms))
        self._changed()

    def _on_input_completed(self, e: ev.InputTranscriptCompleted, at_ms: float) -> None:
        self._capture.input_completed(self._user(e.item_id), e.transcript, at_ms)
        self._changed()

    def _on_input_segment(self, e: ev.InputTranscriptSegment, at_ms: float) -> None:
        self._capture.input_segment(self._user(e.item_id), e.text, e.start_ms, e.end_ms, at_ms)
        self._changed()

    def _on_input_failed(self, e: ev.InputTranscriptFailed, at_ms: float) -> None:
        self._skip("skipped", "conversation.item.input_audio_transcription.failed",
                   f"input transcription failed for {e.item_id}: {e.message}")

    def _oob_target(self, response: _Response, text: str) -> Optional[Item]:
        """The user item an out-of-band response transcribes: one its metadata names (any
        value that is a user item's id), else the latest user item when it was requested,
        else the latest one now. None (logged, with the text) when there is no user item."""
        for value in response.metadata.values():
            if isinstance(value, str) and value in self._items and self._items[value].role == "user":
                return self._items[value]
        if response.user_item in self._items:
            return self._items[response.user_item]  # type: ignore[index]
        users = [self._items[i] for i in self._order if self._items[i].role == "user"]
        if users:
            return users[-1]
        self._skip("skipped", "response.output_text.delta", f"out-of-band text for no user item: {text!r}")
        return None

    # --- WebRTC playback marks ------------------------------------------------------
    def _marked(self, response_id: Optional[str]) -> list[Item]:
        """Assistant items timed by marks or a track, of this response (any, without an id)."""
        return [self._items[i] for i in self._order
                if self._items[i].role == "assistant"
                and self._items[i].source in (AudioSource.MARKS, AudioSource.TRACK)
                and (response_id is None or self._items[i].response_id in (response_id, None))]

    def _mark_started(self, item: Item, at_ms: float) -> None:
        item.marked_start_ms = at_ms
        item.move(Phase.PLAYING, at_ms, "output_audio_buffer.started")

    def _on_buffer_started(self, e: ev.OutputBufferStarted, at_ms: float) -> None:
        for item in self._marked(None):  # a new answer plays: the last one's track audio is over
            if item.stop_mark_ms is not None and not item.captions.audio_complete:
                self._audio_complete(item)
        waiting = [i for i in self._marked(e.response_id) if i.marked_start_ms is None and not i.phase.ended]
        if waiting:
            self._mark_started(waiting[0], at_ms)
        elif e.response_id:
            self._responses.setdefault(e.response_id, _Response(False, {})).started_ms = at_ms
        self._changed()

    def _on_buffer_stopped(self, e: ev.OutputBufferStopped, at_ms: float) -> None:
        for item in self._marked(e.response_id):
            if item.marked_start_ms is None or item.marked_end_ms is not None or item.phase.ended:
                continue
            if item.source == AudioSource.MARKS:
                item.marked_end_ms = at_ms
                item.captions.set_audio_length(max(0.0, at_ms - item.marked_start_ms))
                item.captions.finish_audio()
                item.move(Phase.PLAYED, at_ms, "output_audio_buffer.stopped")
            elif item.stop_mark_ms is None:  # its last audio is still on its way (see TRACK_TAIL_*)
                item.stop_mark_ms = at_ms
        self._changed()

    def _on_buffer_cleared(self, e: ev.OutputBufferCleared, at_ms: float) -> None:
        for item in self._marked(e.response_id):
            if item.marked_start_ms is None or item.marked_end_ms is not None or item.phase.ended:
                continue
            item.marked_end_ms = at_ms
            played = (at_ms - item.marked_start_ms if item.source == AudioSource.MARKS
                      else self._clock.played_ms(item.item_id, at_ms))
            self._cut(item, played, at_ms, "output_audio_buffer.cleared")
        self._changed()

    def _on_track_audio(self, e: ev.TrackAudio, at_ms: float) -> None:
        """WebRTC track audio belongs to the item whose playback is marked as started, until
        the track goes quiet after its stop mark; between answers it is silence."""
        playing = [i for i in self._marked(None) if i.marked_start_ms is not None and i.marked_end_ms is None
                   and not i.phase.ended and not i.captions.audio_complete]
        if not playing:
            return
        try:
            pcm = decode_base64(e.delta, self.output_format)
        except AudioFormatError as exc:
            self._skip("malformed", TRACK_AUDIO_EVENT, str(exc))
            return
        item = playing[-1]
        if item.stop_mark_ms is not None:
            quiet = len(pcm) == 0 or float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) < TRACK_QUIET_RMS
            item.quiet_after_stop_ms = item.quiet_after_stop_ms + samples_to_ms(len(pcm), self.sample_rate) \
                if quiet else 0.0
            if item.quiet_after_stop_ms >= TRACK_TAIL_QUIET_MS or at_ms - item.stop_mark_ms >= TRACK_TAIL_MAX_MS:
                self._audio_complete(item)
                self._changed()
                return
        item.source = AudioSource.TRACK
        self._receive_audio(item, 0, pcm, at_ms)

    # --- GPT-Live (core/_live.py: the session timeline onto turns) ---------------------
    def _live_timeline(self) -> LiveTimeline:
        if self._live is None:
            self._live = LiveTimeline()
        return self._live

    def _on_live_audio(self, e: ev.LiveAudio, at_ms: float) -> None:
        live = self._live_timeline()
        try:
            pcm = decode_base64(e.delta, self.output_format)
        except AudioFormatError as exc:
            self._skip("malformed", "session.output_audio.delta", str(exc))
            return
        gap = live.gap_before(e.start_ms)
        user = live.user_turn
        if gap < -0.5:  # overlaps what was delivered: that part is played once, not twice
            self._skip("skipped", "session.output_audio.delta",
                       f"chunk at {e.start_ms} ms overlaps the {-gap:.1f} ms before it; the overlap is dropped")
            pcm = pcm[int(round(ms_to_samples(-gap, self.sample_rate))):]
            if not len(pcm):
                return
        item = self._item(live.current().item_id)
        item.source = AudioSource.EVENTS
        if gap > 0.5:  # dropped frames: silence keeps what follows at its place on the timeline
            log.info("live output: %.1f ms of dropped frames played as silence", gap)
            n = int(round(ms_to_samples(gap, self.sample_rate)))
            self._receive_audio(item, 0, np.zeros(n, np.int16), at_ms)
            live.delivered(samples_to_ms(n, self.sample_rate))
        self._receive_audio(item, 0, pcm, at_ms)
        live.delivered(samples_to_ms(len(pcm), self.sample_rate))
        self._live_user_done(user, at_ms)
        for text, arrived, start, end in live.due():
            self._live_place(text, arrived, start, end)

    def _live_user_done(self, user: Optional[tuple[str, float]], at_ms: float) -> None:
        """The assistant's turn began: the user turn before it has all its text."""
        if user is not None and self._live is not None and self._live.user_turn is None:
            item = self._items[user[0]]
            item.captions.text_complete = True
            item.move(Phase.PLAYED, at_ms, "assistant turn")
            self._changed()

    def _on_live_transcript(self, e: ev.LiveTranscript, at_ms: float) -> None:
        live = self._live_timeline()
        if e.role == "user":
            ended = live.end_turn()  # the user speaks: the assistant's turn is over
            if ended is not None:
                self._audio_complete(self._items[ended])
            item_id, first, new = live.user(e.start_ms)
            item = self._user(item_id)
            turn = self._capture.turn(item)  # the Live timeline is the capture clock
            if new:
                turn.start_ms = first
                item.move(Phase.RECEIVING, at_ms, "session.input_transcript.delta")
            turn.end_ms = max(turn.end_ms or 0.0, e.end_ms)
            self._capture.input_segment(item, e.text, e.start_ms - first, e.end_ms - first, at_ms)
            self._changed()
            return
        if live.is_ahead(e.start_ms):  # its audio (and so its turn) is still to come
            live.ahead.append((e.text, at_ms, e.start_ms, e.end_ms))
            return
        self._live_place(e.text, at_ms, e.start_ms, e.end_ms)

    def _live_place(self, text: str, at_ms: float, start_ms: float, end_ms: float) -> None:
        live = self._live_timeline()
        user = live.user_turn
        placed = live.place(start_ms, end_ms)
        self._live_user_done(user, at_ms)
        if placed is None:
            self._skip("skipped", "session.output_transcript.delta",
                       f"at {start_ms} ms, before the output stream began ({live.origin} ms)")
            return
        item_id, span = placed
        item = self._item(item_id)
        if item.captions.truncated_at_ms is not None or item.phase == Phase.CANCELLED:
            log.info("live delta after the cut of %s ignored", item_id)
            return
        item.captions.add_delta(Delta(text, at_ms, span=span))
        self._changed()

    def _live_flush(self) -> None:
        """No more audio: text still waiting for its audio goes where the stream ended."""
        if self._live is not None:
            waiting = self._live.due(final=True)
            if waiting:
                log.info("live: %d delta(s) for audio that never came", len(waiting))
            for text, arrived, start, end in waiting:
                self._live_place(text, arrived, start, end)

    def _on_live_closed(self, e: ev.LiveClosed, at_ms: float) -> None:
        self._live_flush()
        for item in self._items.values():
            if item.role == "assistant" and not item.phase.ended:
                item.captions.finish_text()
                self._audio_complete(item)
            elif item.role == "user" and item.phase == Phase.RECEIVING:
                item.captions.text_complete = True
                item.move(Phase.PLAYED, at_ms, "session.closed")
        if self._live is not None:
            self._live.end_turn()
        self._changed()

    _SERVER_HANDLERS: dict[type, Callable[..., Any]] = {
        ev.AudioDelta: _on_audio,
        ev.AudioDone: _on_audio_done,
        ev.TranscriptDelta: _on_transcript_delta,
        ev.WordTimestamp: _on_word_timestamp,
        ev.TranscriptDone: _on_transcript_done,
        ev.ItemAdded: _on_item_added,
        ev.ItemTruncated: _on_truncated,
        ev.SpeechStarted: _on_speech_started,
        ev.SpeechStopped: _on_speech_stopped,
        ev.InputTranscriptDelta: _on_input_delta,
        ev.InputTranscriptCompleted: _on_input_completed,
        ev.InputTranscriptSegment: _on_input_segment,
        ev.InputTranscriptFailed: _on_input_failed,
        ev.InputCommitted: _on_input_committed,
        ev.InputCleared: _on_input_cleared,
        ev.ResponseCreated: _on_response_created,
        ev.ResponseDone: _on_response_done,
        ev.OutputBufferStarted: _on_buffer_started,
        ev.OutputBufferStopped: _on_buffer_stopped,
        ev.OutputBufferCleared: _on_buffer_cleared,
        ev.TrackAudio: _on_track_audio,
        ev.SessionFormats: _on_session,
        ev.ServerError: _on_error,
        ev.LiveAudio: _on_live_audio,
        ev.LiveTranscript: _on_live_transcript,
        ev.LiveClosed: _on_live_closed,
    }

    # --- playback ----------------------------------------------------------------
    def play(self, n_frames: int, at_ms: float) -> np.ndarray:
        """Device output callback: frames for the DAC, the first playing at ``at_ms``."""
        at_ms = _ms(at_ms)
        if isinstance(n_frames, bool) or not isinstance(n_frames, numbers.Integral):
            raise TypeError(f"n_frames must be a whole number, not {type(n_frames).__name__}")
        if not 0 <= n_frames <= MAX_FRAMES:
            raise ValueError(f"n_frames must be 0..{MAX_FRAMES}, not {n_frames}")
        pcm = self._clock.pull(int(n_frames), at_ms)
        self._after_playback(at_ms)
        return pcm

    def advance(self, to_ms: float) -> None:
        """Virtual real-time player: play everything due up to ``to_ms``."""
        to_ms = _ms(to_ms, "to_ms")
        self._clock.advance(to_ms)
        self._after_playback(to_ms)

    def _after_playback(self, at_ms: float) -> None:
        n = len(self._clock.segments)
        if n != self._segments_seen:
            self._segments_seen = n
            self._changed()
        if not self._sounding:
            return
        for item_id in list(self._sounding):  # only items with audio still to play
            item = self._items[item_id]
            if item.source is not AudioSource.EVENTS and item.source is not AudioSource.TRACK or item.phase.ended:
                self._sounding.discard(item_id)
                continue
            if item.phase is not Phase.PLAYING:
                start = self._clock.start_ms(item_id)
                if start is not None:
                    item.move(Phase.PLAYING, start, "first sample played")
            if item.phase is Phase.PLAYING and item.captions.audio_complete \
                    and self._clock.finished_playing(item_id):
                item.move(Phase.PLAYED, at_ms, "audio played out")

    def finish(self, at_ms: float) -> None:
        """No more events will come (a log ended): what each item received is all it gets,
        and the audio already queued plays out."""
        at_ms = _ms(at_ms)
        self._live_flush()
        for item in self._items.values():
            if item.role != "assistant" or item.phase.ended:
                continue
            item.captions.finish_text()
            if item.source == AudioSource.MARKS:
                if item.marked_start_ms is None:
                    item.captions.finish_audio()
                    item.move(Phase.CANCELLED, at_ms, "input ended before playback")
                elif item.marked_end_ms is None:  # never marked stopped: it played until now
                    self._on_buffer_stopped(ev.OutputBufferStopped(item.response_id), at_ms)
            else:
                self._audio_complete(item)
        self._capture.finish()
        self._after_playback(at_ms)
        self._changed()

    def end(self, at_ms: float) -> None:
        """The session is over, whatever the cause (closed, Ctrl-C, a time limit): audio
        not heard by ``at_ms`` never will be. Items still playing or waiting are cut where
        playback had got to, so nothing unheard is captioned or exported."""
        at_ms = _ms(at_ms)
        for item in self._items.values():
            if item.role != "assistant" or item.phase.ended:
                continue
            item.captions.finish_text()
            if item.source == AudioSource.MARKS and item.marked_start_ms is None \
                    or item.source != AudioSource.MARKS and self._clock.start_ms(item.item_id) is None:
                item.captions.finish_audio()
                item.move(Phase.CANCELLED, at_ms, "session ended before playback")
                continue
            self._cut(item, self.played_ms(item.item_id, at_ms), at_ms, "session ended")
        self._clock.clear()
        self._changed()

    # --- interruption --------------------------------------------------------
    def interrupt(self, at_ms: float) -> list[ClientEvent]:
        """Stop what is playing now; the client events that tell the server (already
        applied here: report them with ``sent`` as you send them)."""
        at_ms = _ms(at_ms)
        events: list[ClientEvent] = []
        item, played = self._interrupt_point(at_ms)
        if self._live is not None:  # GPT-Live: no truncate; playback stops here, the turn ends
            if item is not None:
                self._cut(item, int(played), at_ms, "interrupt")
            self._live.end_turn()
        elif item is not None:
            events.append(TruncateItem(self._new_event_id(), item.item_id, int(played)))
            self._cut(item, int(played), at_ms, "interrupt")
        if self._active_response:  # the server rejects a cancel with nothing in progress
            events.append(CancelResponse(self._new_event_id(), self._active_response))
        if self.transport == "webrtc":
            events.append(ClearOutputBuffer(self._new_event_id()))
        for queued in self._clock.queued_items():  # audio queued for later items is dropped too
            if queued in self._items:
                self._audio_complete(self._items[queued])
        self._clock.clear()
        for event in events:
            self._outbox[event.event_id] = self._produced[event.event_id] = event
        self._changed()
        return events

    def _interrupt_point(self, at_ms: float) -> tuple[Optional[Item], float]:
        for item_id in reversed(self._order):  # marks only: playing since its started mark
            item = self._items[item_id]
            if item.source == AudioSource.MARKS and item.phase == Phase.PLAYING \
                    and item.marked_start_ms is not None:
                return item, math.floor(max(0.0, at_ms - item.marked_start_ms))
        stamp = self._clock.playing_at(at_ms)
        item_id = stamp.item_id if stamp else self._clock.current_item()
        item = self._items.get(item_id) if item_id is not None else None
        if item is None or item.role != "assistant" or item.phase.ended:
            return None, 0.0
        if self._clock.finished_playing(item.item_id) and item.captions.audio_complete:
            return None, 0.0
        received = samples_to_ms(self._clock.received(item.item_id), self.sample_rate)
        return item, math.floor(min(self._clock.played_ms(item.item_id, at_ms), received))

    def _cut(self, item: Item, audio_end_ms: float, at_ms: float, cause: str) -> None:
        """Playback of ``item`` stopped ``audio_end_ms`` into it: the one way items are cut."""
        if item.source != AudioSource.MARKS:  # nothing past the audio received can have been heard
            audio_end_ms = min(audio_end_ms, samples_to_ms(self._clock.received(item.item_id), self.sample_rate))
        audio_end_ms = max(0.0, audio_end_ms)
        if item.cut_ms is not None and audio_end_ms >= item.cut_ms:
            return  # already cut there or earlier
        self._clock.cut(item.item_id, int(round(ms_to_samples(audio_end_ms, self.sample_rate))))
        if item.source == AudioSource.MARKS and item.marked_start_ms is not None:
            item.marked_end_ms = item.marked_start_ms + audio_end_ms  # the voice stopped there
            # the heard length, not the answer's: its text keeps its pace and the cut keeps
            # what fits before it (a length from the stop mark, if any, stays the estimate's)
            item.captions.audio_ms = audio_end_ms
        item.captions.truncate_to(audio_end_ms)
        if item.phase == Phase.TRUNCATED:  # cut again, earlier (the server's smaller offset)
            item.history.append(Transition(Phase.TRUNCATED, at_ms, cause))
        else:
            item.move(Phase.TRUNCATED, at_ms, cause)
        self._changed()

    # --- estimation pump --------------------------------------------------------
    def step(self, budget_ms: Optional[float] = STEP_MS) -> bool:
        """Let pending estimation work run (about ``budget_ms`` of audio per item; None:
        all of it); True once nothing is pending. Call it when the session has time."""
        for item_id in self._order:
            captions = self._items[item_id].captions
            if captions.step(budget_ms):
                self._changed()
        self._capture.release_settled()
        return all(self._items[i].captions.settled for i in self._order)

    def settle(self) -> None:
        """Finish every pending estimate now (before exports and at the end of replay)."""
        self.step(None)
        self._changed()

    def estimators(self) -> list[ItemEstimator]:
        """Every assistant item's estimator (a worker feeds deferred ones)."""
        return [i.captions.estimator for i in self._items.values() if i.captions.estimator is not None]

    def estimator(self, item_id: str) -> Optional[ItemEstimator]:
        """One item's estimator (None: unknown item, a user turn, or given timing only)."""
        item = self._items.get(item_id)
        return item.captions.estimator if item is not None else None

    def refresh_estimates(self) -> None:
        """Estimates changed outside the engine (a worker published answers)."""
        for item in self._items.values():
            item.captions.estimate_changed()
        self._changed()

    # --- queries ------------------------------------------------------------------
    def item_ids(self) -> list[str]:
        return list(self._order)

    def item_state(self, item_id: str) -> Optional[ItemState]:
        item = self._items.get(item_id)
        if item is None:
            return None
        if item.source == AudioSource.MARKS:
            received = item.captions.audio_ms
        else:
            received = samples_to_ms(self._clock.received(item_id), self.sample_rate)
        return item.state(received)

    def received_ms(self, item_id: str) -> float:
        state = self.item_state(item_id)
        return state.received_ms if state is not None else 0.0

    def played_ms(self, item_id: str, at_ms: float) -> float:
        """How much of the item had played by ``at_ms`` (item ms)."""
        item = self._items.get(item_id)
        if item is not None and item.source == AudioSource.MARKS:
            if item.marked_start_ms is None:
                return 0.0
            end = item.marked_end_ms if item.marked_end_ms is not None else math.inf
            played = max(0.0, min(at_ms, end) - item.marked_start_ms)
            return min(played, item.cut_ms) if item.cut_ms is not None else played
        return self._clock.played_ms(item_id, at_ms)

    def now_playing(self, at_ms: float) -> Optional[FrameStamp]:
        """Which item's sample plays at ``at_ms`` (None: silence)."""
        return self._clock.playing_at(at_ms)

    def item_time(self, item_id: str, item_ms: float) -> Optional[float]:
        """Session ms at which ``item_ms`` into the item plays (played or projected)."""
        to_session = self._item_origin(self._items[item_id]) if item_id in self._items else None
        return to_session(item_ms) if to_session is not None else None

    def item_spans(self, item_id: str) -> list[tuple[float, float]]:
        """Item-relative (start, end) ms of each of the item's deltas, before any cut."""
        item = self._items.get(item_id)
        return list(item.captions.spans()) if item is not None else []

    def unconfirmed_cuts(self) -> list[str]:
        """Items this engine cut whose truncation the server has not answered yet."""
        return [e.item_id for e in self._produced.values()
                if isinstance(e, TruncateItem) and not self._items[e.item_id].cut_confirmed]

    @property
    def underrun_ms(self) -> float:
        return self._clock.underrun_ms

    def buffered_ms(self) -> float:
        return self._clock.buffered_ms()

    def idle(self) -> bool:
        """Nothing is queued to play."""
        return self._clock.idle()

    def blocked(self) -> bool:
        """Queued audio waits behind an item whose audio never completed."""
        return self._clock.blocked()

    def audible(self, at_ms: float) -> bool:
        """Is it the assistant's turn to be heard at ``at_ms``: its voice plays, is queued,
        or waits mid-answer for more audio (an underrun gap is not the end of the answer)?
        What barge-in asks: an interruption now would cut something."""
        if any(i.source == AudioSource.MARKS and i.phase == Phase.PLAYING for i in self._items.values()):
            return True
        if self._clock.playing_at(at_ms) is not None or not self._clock.idle():
            return True
        return self._interrupt_point(_ms(at_ms))[0] is not None

    # --- output ----------------------------------------------------------------
    def captions(self) -> list[Caption]:
        """Every caption so far, sorted by start (a pure read: see ``step``).

        Items that are over keep their captions, in order, in one list; a change re-places
        only the other items' captions and merges them in."""
        if self._cache is None:
            live: list[Caption] = []
            for item_id in self._order:
                live.extend(self._item_captions(self._items[item_id]))
            live.sort(key=_caption_order)
            self._cache = _merge(self._done_sorted, live)
        return list(self._cache)

    def _item_origin(self, item: Item) -> Optional[Callable[[float], float]]:
        """item-relative ms -> session ms, or None while the item cannot be placed."""
        if item.source == AudioSource.MARKS:
            if item.marked_start_ms is None:
                return None
            start = item.marked_start_ms
            return lambda ms: start + ms
        return self._clock.item_mapper(item.item_id)

    def _item_captions(self, item: Item) -> list[Caption]:
        """The item's captions, unless they are among those of the items that are over."""
        if item.role == "user":
            return self._user_captions(item)
        key = (item.captions.version, item.phase, self.show_delay_ms)
        done = self._done.get(item.item_id)
        if done == key:
            return []
        if done is not None:  # changed since it was over (a late cut): placed afresh
            del self._done[item.item_id]
            self._done_sorted = [c for c in self._done_sorted if c.item_id != item.item_id]
        out = self._placed_captions(item)
        if not self._over(item):
            return out
        self._done[item.item_id] = key
        self._done_sorted = _merge(self._done_sorted, sorted(out, key=_caption_order))
        item.captions.release()
        return []

    def _over(self, item: Item) -> bool:
        """Nothing but a late cut can change the item's captions any more."""
        if not (item.phase.ended and item.captions.final and item.captions.settled):
            return False
        if item.source == AudioSource.MARKS:
            return item.marked_start_ms is not None and item.marked_end_ms is not None
        return self._clock.finished_playing(item.item_id)

    def _placed_captions(self, item: Item) -> list[Caption]:
        """The item's heard deltas on the session clock."""
        to_session = self._item_origin(item)
        if to_session is None:
            return []
        final = item.phase.ended and item.captions.settled
        limit = math.inf  # once an item's voice is over, its captions cannot run past it
        if item.source == AudioSource.MARKS:
            if item.marked_end_ms is not None:
                limit = item.captions.audio_ms
        elif self._clock.finished_playing(item.item_id):
            limit = self._clock.played_ms(item.item_id, math.inf)
        pins = item.captions.pins()  # given timing is shown on time; only estimates wait
        deltas, item_id, show_delay = item.captions.deltas, item.item_id, self.show_delay_ms
        holds = _burst_holds([d.arrived_ms for d in deltas])
        out = []
        at, mapped = math.nan, math.nan  # spans follow one another: a start is mapped as the end before it
        for index, (start, end), is_cut in item.captions.heard():
            start, end = min(start, limit), min(end, limit)
            s = mapped if start == at else to_session(start)
            at, mapped = end, to_session(end)
            delta = deltas[index]
            estimated = pins[index] is None
            out.append(Caption(item_id, "assistant", index, delta.text, s, max(s, mapped), delta.arrived_ms,
                               final, is_cut, show_delay if estimated else 0.0, holds[index] if estimated else 0.0))
        return out

    def _user_captions(self, item: Item) -> list[Caption]:
        return self._capture.captions(item)

    def transcript(self, item_id: str) -> str:
        """What was heard of an item (its truncated transcript after an interruption)."""
        return "".join(c.text for c in self.captions() if c.item_id == item_id)

    def timeline(self) -> Timeline:
        caps = self.captions()
        items: list[ItemRecord] = []
        for item_id in self._order:
            item = self._items[item_id]
            given = item.captions.timing  # "provider", "mixed" or "estimated"
            timing = (given if given != "estimated" else
                      "spread" if item.captions.estimator_failed else
                      "marks" if item.source == AudioSource.MARKS else "aligned")
            if item.role == "user":
                record = self._capture.record(item)
                if record is not None:
                    items.append(record)
            elif item.source == AudioSource.MARKS:
                if item.marked_start_ms is not None:
                    end = item.marked_end_ms if item.marked_end_ms is not None else item.marked_start_ms
                    items.append(ItemRecord(item_id, "assistant", item.marked_start_ms, end,
                                            item.captions.audio_ms, item.cut_ms, timing))
            else:
                start = self._clock.start_ms(item_id)
                if start is not None:
                    end = self._clock.end_ms(item_id)
                    items.append(ItemRecord(item_id, "assistant", start, end if end is not None else start,
                                            samples_to_ms(self._clock.received(item_id), self.sample_rate),
                                            item.cut_ms, timing))
        periods: list[Period] = []
        head = 0.0
        # One playback track: at an instant where one item ends and the next begins, the
        # captions of the item that began playing first come first (a cut item's last
        # words, clamped to its end, stay inside it).
        began = {r.item_id: r.start_ms for r in items if r.role == "assistant"}
        track = sorted((c for c in caps if c.role == "assistant" and math.isfinite(c.start_ms)),
                       key=lambda c: (c.start_ms, began.get(c.item_id, math.inf), c.index))
        for c in track:
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
