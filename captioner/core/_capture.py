"""User speech: the capture clock and user turns.

The microphone audio the client sends (``input_audio_buffer.append``, seen through
``CaptionEngine.sent``) *is* the user's speech, on the capture clock: capture ms 0 is
the first input sample of the session, on the session clock at ``origin_ms`` (the first
append's send time less its length: a block is sent once it has been captured).

A user turn is the audio between the server's VAD marks, widened by ``WIDEN_MS`` either
side (the marks include the server's prefix padding and trailing silence, so the speech
is inside; the widening covers marks that are a few ms off). Its transcript, in
whatever shape it comes (word deltas, one whole-turn delta, the ``.completed``
transcript, GA ``.segment`` events, an out-of-band response's text), is cut into words
and aligned to that audio by the item estimator the engine makes for assistant items
(live: the deferred estimator, so alignment runs in the estimate worker). So every word
of a user turn is its own caption: **a user item's caption/period ``index`` counts the
pieces of its transcript (one per word, in order)**, not the server's deltas; the
pieces' text joined is the transcript exactly as the server sent it.

Where the marks count from (``CaptureOrigin``): the OpenAI API counts
``audio_start_ms``/``audio_end_ms`` from the first input audio of the session
("session"); speaches from the start of the current input buffer, which restarts at
every commit or clear ("buffer"). "auto" (the default) reads a mark as the API does
unless the audio says otherwise: a mark that, counted from the session, falls in audio
already committed or cleared is counted from the buffer; once seen, the server is
taken to count that way for the rest of the session.

What the aligner is given: a turn's audio goes to its captions once the turn is complete
(its transcript comes after speech stopped), narrowed to what may hold speech: the span
the server heard speech in (its onset after the prefix padding to the start of the
trailing silence), widened to the sound joined to it (10 ms frames above the window's
noise floor, no 150 ms pause between) and a 200 ms margin either side; the padding and
silence around it are a quarter of a turn's audio, and alignment costs in proportion
to the audio. Then it is resampled once to the aligner's rate (G.711: see ``heard`` and
``_to_align_rate``). Words that come while the turn is still said get its audio as it
comes instead, untrimmed, so they can be followed live.

How a turn is timed (``timing`` in the timeline JSON):
  * "aligned"  - forced alignment of its words to its captured audio;
  * "provider" - the server's own times (``.segment`` start/end, ``duration_ms``);
  * "marks"    - no audio: words spread by spoken weight over the VAD span less the
                 prefix padding and the trailing silence;
  * "spread"   - no marks and no audio (or the aligner gave up): words spread over the
                 committed audio, or paced to end where the turn was committed.

Memory: the clock keeps ``PRE_ROLL_MS`` of audio while no turn needs it (a
``speech_started`` arrives after the onset it reports); a turn keeps its own audio
until its words are settled and a later turn has begun (an out-of-band transcript may
still replace its text), then only its word times.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Literal, Optional

import numpy as np

from captioner.core._items import Item
from captioner.core._model import Caption, ItemRecord
from captioner.core._timeline import Delta, ItemCaptions, weighted_spread
from captioner.core.estimators._base import EstimatorFactory, Span, pace
from captioner.core.estimators._sphinx import ALIGN_RATE
from captioner.core.estimators._text import text_weight
from captioner.core.wire._audio import PCM16, AudioFormat, decode_bytes, ms_to_samples, resample, samples_to_ms

__all__ = ["Capture", "CaptureClock", "CaptureOrigin", "TranscriptPreference", "UserTurn", "words_of"]

log = logging.getLogger(__name__)

CaptureOrigin = Literal["auto", "session", "buffer"]
TranscriptPreference = Literal["out_of_band", "input"]  # whose text a user item shows when both exist
Timing = Literal["aligned", "provider", "marks", "spread"]

WIDEN_MS = 150.0  # audio taken either side of a turn's VAD marks
PRE_ROLL_MS = 5000.0  # audio kept while no turn is open: marks point back this far at most
DEFAULT_PREFIX_PADDING_MS = 300.0  # the Realtime API's server VAD defaults
DEFAULT_SILENCE_MS = 500.0
_PADDING_REACH_MS = 1000.0  # a session-counted mark never lies this far inside committed audio
_PACE_MS_PER_UNIT = 150.0  # spoken pace for text with no audio and no marks
# Aligned user words start one video frame (25 fps) after the aligned onset: subtitles may
# start within 1-2 frames of speech, the aligner errs early more often than late (a
# word's lead-in joins it), and a caption ahead of the voice is what viewers notice
# (the assistant's live view leans late for the same reason, SHOW_DELAY_MS).
ALIGNED_LEAN_MS = 40.0
# Trimming a marked turn's window (the prefix padding and trailing silence the marks
# include) to what may hold speech: the span the server heard speech in, widened over
# 10 ms frames more than _SPEECH_DB above the window's noise floor (its quietest 5 %:
# the padding and silence make sure that is no speech) joined to it, and
# _SPEECH_MARGIN_MS around that: a weak onset (/h/, /f/, /th/, breathy voicing) below
# the threshold, the silence the aligner's filler model and the onset snap need before
# a word, and the frames of context its features span.
_SPEECH_DB = 6.0
_SPEECH_MARGIN_MS = 200.0
_FLOOR_PERCENTILE = 5.0
_FLOOR_FRAMES = 10
_JOIN_FRAMES = 15  # 150 ms: a quiet run this long is a pause, not a stop closure inside speech


_IN_CELL = np.random.default_rng(0).random(1 << 16)  # where in its cell a sample goes back (by position)


@functools.lru_cache(maxsize=None)
def _cells(fmt: AudioFormat) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The levels a companded format decodes to, and the cell of input values each stands for."""
    levels = np.unique(decode_bytes(bytes(range(256)), fmt).astype(np.float64))
    mids = (levels[1:] + levels[:-1]) / 2
    return levels, np.concatenate([levels[:1], mids]), np.concatenate([mids, levels[-1:]])


def heard(pcm: np.ndarray, fmt: AudioFormat, first: int) -> np.ndarray:
    """Microphone audio as the aligner should hear it. G.711 keeps one level per cell of
    input values and decodes to the level; quiet noise (under 4 of 32768 for mu-law) all
    decodes to 0: digital silence, which no microphone gives, and which the aligner's
    noise floor, its onset snap and its acoustic model's silence read as something else
    (more words placed early than with the same audio in pcm16). Each sample is put
    back anywhere in its cell (uniformly: all that is known of it), so the audio has the
    statistics of what was sent again: its noise floor, and the quantisation noise of
    its louder parts. Fixed by the sample's place on the capture clock (``first``: that
    of pcm[0]): the same audio, the same result."""
    if fmt.encoding == "pcm16" or not len(pcm):
        return pcm
    levels, low, high = _cells(fmt)
    i = np.searchsorted(levels, pcm)
    where = _IN_CELL[(np.arange(len(pcm)) + first) % len(_IN_CELL)]
    return np.clip(np.round(low[i] + where * (high[i] - low[i])), -32768, 32767).astype(np.int16)


def words_of(text: str) -> list[str]:
    """``text`` cut into words, each with the whitespace before it (the last keeps the
    whitespace after it): joined, they are ``text`` again."""
    pieces = re.findall(r"\s*\S+", text)
    if not pieces:
        return [text] if text else []
    tail = len(text) - len(text.rstrip())
    if tail:
        pieces[-1] += text[-tail:]
    return pieces


def _joined(loud: np.ndarray, frame: int, step: int) -> int:
    """The farthest loud frame from ``frame`` on (towards ``step``) with no quiet run of
    _JOIN_FRAMES between: the sound joined to it (``frame`` itself when there is none)."""
    last, quiet = frame, 0
    i = min(max(frame, 0), len(loud) - 1)
    while 0 <= i < len(loud) and quiet < _JOIN_FRAMES:
        if loud[i]:
            last, quiet = i, 0
        else:
            quiet += 1
        i += step
    return last


class CaptureClock:
    """The session's input audio: how much there is, and its recent samples."""

    def __init__(self, fmt: AudioFormat = PCM16, start_ms: float = 0.0) -> None:
        self.format = fmt
        self.start_ms = start_ms  # capture ms of this clock's sample 0 (format changes restart it)
        self.total = 0  # samples appended
        self._chunks: list[tuple[int, np.ndarray]] = []  # (first sample, samples), oldest first

    @property
    def rate(self) -> int:
        return self.format.sample_rate

    @property
    def end_ms(self) -> float:
        return self.ms(self.total)

    def ms(self, sample: int) -> float:
        return self.start_ms + samples_to_ms(sample, self.rate)

    def sample(self, ms: float) -> int:
        return max(0, int(round(ms_to_samples(ms - self.start_ms, self.rate))))

    def append(self, pcm: np.ndarray) -> None:
        self._chunks.append((self.total, np.asarray(pcm, np.int16).ravel().copy()))
        self.total += len(pcm)

    @property
    def kept_from(self) -> int:
        return self._chunks[0][0] if self._chunks else self.total

    def audio(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) that are still kept."""
        parts = []
        for s, c in reversed(self._chunks):  # the newest are asked for most
            if s + len(c) <= start:
                break
            if s < stop:
                parts.append(c[max(0, start - s): max(0, stop - s)])
        return np.concatenate(parts[::-1]) if parts else np.zeros(0, np.int16)

    def release(self, before: int) -> None:
        """Forget whole chunks that end at or before sample ``before``."""
        while self._chunks and self._chunks[0][0] + len(self._chunks[0][1]) <= before:
            self._chunks.pop(0)


@dataclass
class UserTurn:
    """One user item: where it was said, what was said, and the audio to align them."""

    item: Item
    start_ms: Optional[float] = None  # capture ms of the VAD marks
    end_ms: Optional[float] = None
    committed_ms: Optional[tuple[float, float]] = None  # the committed buffer (no marks)
    committed_at: Optional[float] = None  # session ms the commit arrived
    # the audio window, capture ms; audio: what of it arrived (at the clock's rate)
    window: Optional[tuple[float, float]] = None
    rate: int = PCM16.sample_rate
    audio: list[np.ndarray] = field(default_factory=list)
    audio_samples: int = 0
    audio_done: bool = False
    streaming: bool = False  # its text came while audio still arrived: the captions get audio as it comes
    audio_dropped: bool = False  # settled and superseded: only word times are kept
    spoken: Optional[Span] = None  # item ms from its first word to its last, once dropped
    dropped_source: Optional[str] = None  # whose words were aligned before the audio went
    # the transcripts: the input transcription and an out-of-band response's text
    asr: list[Delta] = field(default_factory=list)
    asr_done: bool = False
    oob: list[Delta] = field(default_factory=list)
    oob_done: bool = False
    shown: Optional[str] = None  # "asr" | "oob": whose words the captions hold

    @property
    def has_audio(self) -> bool:
        return self.window is not None and (self.audio_samples > 0 or self.audio_dropped)

    @property
    def window_open(self) -> bool:
        return self.window is not None and not self.audio_done and not self.audio_dropped


class Capture:
    """The capture clock and every user turn; the engine calls it from its user-speech
    handlers and asks it for user captions (see module doc)."""

    def __init__(self, estimator_factory: EstimatorFactory, origin: CaptureOrigin = "auto",
                 prefer: TranscriptPreference = "out_of_band", origin_ms: Optional[float] = None) -> None:
        if origin not in ("auto", "session", "buffer"):
            raise ValueError(f"capture origin must be 'auto', 'session' or 'buffer', not {origin!r}")
        self.estimator_factory = estimator_factory
        self.origin = origin
        self.prefer = prefer
        self.origin_ms = origin_ms  # session ms of capture ms 0 (None: no audio seen, 0 assumed)
        self.clock = CaptureClock()
        self.buffer_start_ms = 0.0  # capture ms where the server's input buffer starts
        self._pending: deque[Optional[tuple[float, float]]] = deque()  # client commits (span) / clears (None)
        self.prefix_padding_ms = DEFAULT_PREFIX_PADDING_MS
        self.silence_ms = DEFAULT_SILENCE_MS
        self.turns: dict[str, UserTurn] = {}
        self._order: list[str] = []
        self._open: list[UserTurn] = []  # turns whose window was open when last looked at

    # --- configuration -------------------------------------------------------------
    def set_format(self, fmt: AudioFormat) -> None:
        if fmt == self.clock.format:
            return
        if self.clock.total:  # the count goes on in ms; open windows keep what they have
            for turn in self.turns.values():
                if turn.window_open:
                    self._audio_complete(turn)
        self.clock = CaptureClock(fmt, self.clock.end_ms)

    def set_turn_detection(self, td: Optional[dict]) -> None:
        if not td:
            return
        for key, attr in (("prefix_padding_ms", "prefix_padding_ms"), ("silence_duration_ms", "silence_ms")):
            value = td.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 10_000:
                setattr(self, attr, float(value))

    # --- the clock -------------------------------------------------------------------
    def session_ms(self, capture_ms: float) -> float:
        return (self.origin_ms or 0.0) + capture_ms

    def append(self, pcm: np.ndarray, at_ms: float) -> None:
        """Microphone audio the client sent at ``at_ms``."""
        if self.origin_ms is None:
            self.origin_ms = at_ms - samples_to_ms(len(pcm), self.clock.rate)
        self.clock.append(pcm)
        for turn in self._open_turns():
            self._feed(turn)
        keep = self.clock.total - int(ms_to_samples(PRE_ROLL_MS, self.clock.rate))
        for turn in self._open_turns():
            assert turn.window is not None
            keep = min(keep, self.clock.sample(turn.window[0]) + turn.audio_samples)
        self.clock.release(keep)

    def _open_turns(self) -> list[UserTurn]:
        """Turns whose audio window is still open (a session's turns pile up; few are open)."""
        self._open = [turn for turn in self._open if turn.window_open]
        return self._open

    def client_restart(self, commit: bool) -> None:
        """The client sent a commit or a clear: the server's buffer restarts exactly here
        (it handles events in order). The server's answer will not move it again."""
        self._pending.append((self.buffer_start_ms, self.clock.end_ms) if commit else None)
        self.buffer_start_ms = self.clock.end_ms

    def server_restart(self, commit: bool) -> Optional[tuple[float, float]]:
        """The server committed or cleared its buffer; the span it committed (capture ms).
        One the client asked for restarted it already; one of its own (server VAD) restarts
        it at the audio sent so far (a network delay's worth late)."""
        if self._pending and (self._pending[0] is not None) == commit:
            span = self._pending.popleft()
            return span
        span = (self.buffer_start_ms, self.clock.end_ms)
        self.buffer_start_ms = self.clock.end_ms
        return span if commit else None

    def _locate(self, mark_ms: float) -> float:
        """A VAD mark as capture ms (see the module doc on where servers count from)."""
        if self.origin == "buffer":
            return self.buffer_start_ms + mark_ms
        if self.origin == "auto" and self.buffer_start_ms > 0 and self.clock.total \
                and mark_ms < self.buffer_start_ms - _PADDING_REACH_MS:
            log.info("VAD marks count from the input buffer (mark %.0f ms, buffer starts at %.0f ms)",
                     mark_ms, self.buffer_start_ms)
            self.origin = "buffer"
            return self.buffer_start_ms + mark_ms
        return mark_ms

    # --- turns -----------------------------------------------------------------------
    def turn(self, item: Item) -> UserTurn:
        turn = self.turns.get(item.item_id)
        if turn is None:
            turn = self.turns[item.item_id] = UserTurn(item, rate=self.clock.rate)
            self._order.append(item.item_id)
        turn.item = item
        return turn

    def speech_started(self, item: Item, audio_start_ms: float) -> None:
        turn = self.turn(item)
        turn.start_ms = self._locate(audio_start_ms)
        if turn.end_ms is not None and turn.end_ms < turn.start_ms:
            log.info("speech_started for %s at %.0f ms after its speech_stopped at %.0f ms: an empty span",
                     item.item_id, turn.start_ms, turn.end_ms)
            turn.end_ms = turn.start_ms
        for other in self._open_turns():  # a new turn: earlier ones got all their audio
            if other is not turn and other.window_open and other.end_ms is not None:
                self._audio_complete(other)
        self._open_window(turn, turn.start_ms - WIDEN_MS, math.inf)

    def speech_stopped(self, item: Item, audio_end_ms: float) -> None:
        turn = self.turn(item)
        turn.end_ms = self._locate(audio_end_ms)
        if turn.start_ms is None or turn.start_ms > turn.end_ms:
            turn.start_ms = turn.end_ms
        if turn.window is None:
            self._open_window(turn, turn.start_ms - WIDEN_MS, turn.end_ms + WIDEN_MS)
        elif turn.window_open:
            turn.window = (turn.window[0], turn.end_ms + WIDEN_MS)
            self._feed(turn)

    def committed(self, item: Item, at_ms: float) -> None:
        """The buffer became this user item: without marks, its audio is the buffer."""
        turn = self.turn(item)
        turn.committed_at = at_ms
        span = self.server_restart(commit=True)
        if turn.start_ms is None and turn.end_ms is None and span is not None:
            turn.committed_ms = span
            self._open_window(turn, *span)
            if turn.window_open:
                self._audio_complete(turn)

    def _open_window(self, turn: UserTurn, start_ms: float, end_ms: float) -> None:
        if turn.window is not None or not self.clock.total:
            return  # no input audio seen at all: the marks are all there is
        start = max(start_ms, self.clock.ms(self.clock.kept_from), self.clock.start_ms)
        turn.window, turn.rate = (start, end_ms), self.clock.rate
        self._open.append(turn)
        self._rebuild(turn)
        self._stream(turn)
        self._feed(turn)

    def _stream(self, turn: UserTurn) -> None:
        """Words to show while the turn is still said: its captions get its audio as it
        comes from now on (not only once it is complete, trimmed)."""
        if turn.streaming or not turn.window_open or turn.shown is None:
            return
        turn.streaming = True
        for pcm in turn.audio:
            turn.item.captions.add_audio(pcm, samples_to_ms(len(pcm), turn.rate))

    def _feed(self, turn: UserTurn) -> None:
        assert turn.window is not None
        first = self.clock.sample(turn.window[0]) + turn.audio_samples
        stop = min(self.clock.total, self.clock.sample(turn.window[1]) if math.isfinite(turn.window[1])
                   else self.clock.total)
        pcm = heard(self.clock.audio(first, stop), self.clock.format, first)
        if len(pcm):
            turn.audio.append(pcm)
            turn.audio_samples += len(pcm)
            if turn.streaming:
                turn.item.captions.add_audio(pcm, samples_to_ms(len(pcm), turn.rate))
        if math.isfinite(turn.window[1]) and self.clock.total >= self.clock.sample(turn.window[1]):
            self._audio_complete(turn)

    def _audio_complete(self, turn: UserTurn) -> None:
        if turn.window is not None and not turn.audio_done:
            end = turn.window[0] + samples_to_ms(turn.audio_samples, turn.rate)
            turn.window = (turn.window[0], end)
            if not turn.streaming:  # the captions get the audio now: what may hold speech, at the aligner's rate
                self._trim(turn)
                self._to_align_rate(turn)
                for pcm in turn.audio:
                    turn.item.captions.add_audio(pcm, samples_to_ms(len(pcm), turn.rate))
        turn.audio_done = True
        turn.item.captions.finish_audio()

    def _to_align_rate(self, turn: UserTurn) -> None:
        """The whole turn resampled once to the rate the aligner listens at (its captions
        hold no audio yet: they are made again for that rate).

        Narrow-band audio (G.711: 8 kHz, nothing above 4 kHz) is doubled by putting a zero
        between samples (and twice the value in the others), with no filter: 0-4 kHz mirrors into 4-8 kHz (spectral folding,
        the simplest bandwidth extension). The acoustic model is wideband and finds
        /s/, /sh/, /f/ by their energy above 4 kHz; with the band empty it hears them as
        silence, starting those words late and the words after them early. Folded, a
        fricative's energy near 4 kHz lands in 4-5.5 kHz where the model looks for it,
        while the strong low-frequency energy of voiced sounds mirrors to 7-8 kHz, above
        the model's filterbank (it ends at 6.8 kHz)."""
        if turn.rate == ALIGN_RATE or not turn.audio:
            return
        pcm = np.concatenate(turn.audio) if len(turn.audio) > 1 else turn.audio[0]
        if 2 * turn.rate == ALIGN_RATE:
            folded = np.zeros(2 * len(pcm), np.int16)  # x2: the 0-4 kHz band keeps its level
            folded[0::2] = np.clip(2 * pcm.astype(np.int32), -32768, 32767)
            turn.audio = [folded]
        else:
            turn.audio = [resample(pcm, turn.rate, ALIGN_RATE)]
        turn.audio_samples, turn.rate = len(turn.audio[0]), ALIGN_RATE
        self._rebuild(turn)

    def _trim(self, turn: UserTurn) -> None:
        """Narrow a marked turn's window to the audio that may hold speech (see module doc):
        the aligner's work is in proportion to the audio it is given."""
        assert turn.window is not None
        if turn.start_ms is None or turn.end_ms is None or not turn.audio:
            return
        pcm = np.concatenate(turn.audio) if len(turn.audio) > 1 else turn.audio[0]
        hop = max(1, turn.rate // 100)
        n = len(pcm) // hop
        if n < 2 * _FLOOR_FRAMES:
            return
        frames = pcm[: n * hop].astype(np.float32).reshape(n, hop)
        db = 10.0 * np.log10(np.mean(frames * frames, axis=1) + 1.0)
        loud = db > float(np.percentile(db, _FLOOR_PERCENTILE)) + _SPEECH_DB
        # where the server heard speech: its onset (after the prefix padding) to the start
        # of the silence that ended the turn; widened to the sound joined to it
        heard_from = turn.start_ms + min(self.prefix_padding_ms, turn.end_ms - turn.start_ms) - turn.window[0]
        heard_to = max(heard_from, turn.end_ms - self.silence_ms - turn.window[0])
        first = min(heard_from, 10.0 * _joined(loud, int(heard_from // 10), -1)) - _SPEECH_MARGIN_MS
        last = max(heard_to, 10.0 * (_joined(loud, int(heard_to // 10), 1) + 1)) + _SPEECH_MARGIN_MS
        a = max(0, int(round(ms_to_samples(first, turn.rate))))
        b = min(len(pcm), int(round(ms_to_samples(last, turn.rate))))
        if a == 0 and b == len(pcm) or b <= a:
            return
        start = turn.window[0] + samples_to_ms(a, turn.rate)
        turn.window = (start, start + samples_to_ms(b - a, turn.rate))
        turn.audio, turn.audio_samples = [pcm[a:b]], b - a

    # --- transcripts -------------------------------------------------------------------
    def input_delta(self, item: Item, delta: Delta) -> None:
        turn = self.turn(item)
        turn.asr.append(delta)
        self._text_changed(turn, "asr", [delta])

    def input_completed(self, item: Item, transcript: str, at_ms: float) -> None:
        turn = self.turn(item)
        if not turn.asr and transcript:
            turn.asr.append(Delta(transcript, at_ms))
            self._text_changed(turn, "asr", turn.asr[-1:])
        turn.asr_done = True
        self._text_done(turn, "asr")

    def input_segment(self, item: Item, text: str, start_ms: float, end_ms: float, at_ms: float) -> None:
        """A GA segment: its times count from the turn's start mark."""
        turn = self.turn(item)
        delta = Delta(text, at_ms, span=(start_ms, max(start_ms, end_ms)))
        turn.asr.append(delta)
        self._text_changed(turn, "asr", [delta])

    def out_of_band_delta(self, item: Item, delta: Delta) -> None:
        turn = self.turn(item)
        turn.oob.append(delta)
        self._text_changed(turn, "oob", [delta])

    def out_of_band_done(self, item: Item, text: str, at_ms: float) -> None:
        turn = self.turn(item)
        if not turn.oob and text:
            turn.oob.append(Delta(text, at_ms))
            self._text_changed(turn, "oob", turn.oob[-1:])
        turn.oob_done = True
        self._text_done(turn, "oob")

    def _source(self, turn: UserTurn) -> Optional[str]:
        """Whose text the turn shows: the preferred transcript once it has any text."""
        first, second = ("oob", "asr") if self.prefer == "out_of_band" else ("asr", "oob")
        for name in (first, second):
            if any(d.text.strip() for d in getattr(turn, name)):
                return name
        return None

    def _text_changed(self, turn: UserTurn, source: str, new: list[Delta]) -> None:
        wanted = self._source(turn)
        if wanted != turn.shown:
            first = turn.shown is None and not turn.item.captions.deltas and not turn.item.captions.text_complete
            turn.shown = wanted
            if first:  # the captions lack only text: no new estimator, no audio fed twice
                for delta in self._deltas(turn):
                    self._add_words(turn, delta)
            else:
                self._rebuild(turn)
            self._stream(turn)
        elif source == turn.shown:
            for delta in new:
                self._add_words(turn, delta)

    def _text_done(self, turn: UserTurn, source: str) -> None:
        if source == turn.shown or turn.shown is None:
            turn.item.captions.finish_text()
        if turn.window_open and (turn.end_ms is not None or turn.committed_ms is not None):
            self._audio_complete(turn)  # the server has had the whole turn

    def _deltas(self, turn: UserTurn) -> list[Delta]:
        return turn.oob if turn.shown == "oob" else turn.asr

    def _add_words(self, turn: UserTurn, delta: Delta) -> None:
        for piece in self._pieces(turn, delta):
            turn.item.captions.add_delta(piece)

    def _pieces(self, turn: UserTurn, delta: Delta) -> list[Delta]:
        """One delta as word pieces (a segment's words share its span by spoken weight)."""
        pieces = words_of(delta.text) or [delta.text]
        spans: list[Optional[Span]] = [None] * len(pieces)
        if delta.span is not None:
            offset = self._start_offset(turn)
            spans = list(weighted_spread(pieces, delta.span[0] + offset, delta.span[1] + offset))
        out = []
        for piece, span in zip(pieces, spans):
            duration = None
            if delta.duration_ms is not None:
                duration = delta.duration_ms * max(text_weight(piece), 0.05) / \
                    sum(max(text_weight(p), 0.05) for p in pieces)
            out.append(Delta(piece, delta.arrived_ms, duration, span))
        return out

    def _start_offset(self, turn: UserTurn) -> float:
        """Item ms of the start mark (item ms 0 is the window start when there is audio)."""
        if turn.window is not None and turn.start_ms is not None:
            return turn.start_ms - turn.window[0]
        return 0.0

    def _rebuild(self, turn: UserTurn, pieces: Optional[list[Delta]] = None) -> None:
        """Fresh captions for the turn's words and audio (its text source changed, its
        audio window opened, or its audio went: ``pieces`` then holds its words pinned
        where they were heard). The estimator comes from the engine's factory."""
        old = turn.item.captions
        estimator = self.estimator_factory(turn.rate) if turn.window is not None and not turn.audio_dropped \
            else None
        captions = ItemCaptions(turn.item.item_id, estimator)
        turn.item.captions = captions
        if turn.streaming or turn.audio_done:
            for pcm in turn.audio:
                captions.add_audio(pcm, samples_to_ms(len(pcm), turn.rate))
        if turn.audio_dropped and turn.window is not None:
            captions.audio_ms = turn.window[1] - turn.window[0]
        if pieces is None:
            pieces = [p for delta in self._deltas(turn) for p in self._pieces(turn, delta)]
            if turn.audio_dropped and turn.spoken is not None and pieces:
                # the audio is gone: the new words share the time the old ones were heard in
                spread_ = weighted_spread([p.text for p in pieces], *turn.spoken)
                pieces = [replace(p, span=span) for p, span in zip(pieces, spread_)]
        for piece in pieces:
            captions.add_delta(piece)
        if turn.audio_done:
            captions.finish_audio()
        if (turn.shown == "oob" and turn.oob_done) or (turn.shown == "asr" and turn.asr_done) \
                or (old.text_complete and turn.shown is None):
            captions.finish_text()

    def finish(self) -> None:
        """No more input: every turn has all its audio and text."""
        for turn in self.turns.values():
            if turn.window_open:
                self._audio_complete(turn)
            turn.item.captions.finish_audio()
            turn.item.captions.finish_text()

    def release_settled(self) -> None:
        """Drop the audio of turns whose words are settled, all but the latest turn."""
        for item_id in self._order[:-1]:
            turn = self.turns[item_id]
            captions = turn.item.captions
            if turn.audio_dropped or not turn.audio or not captions.final or not captions.settled:
                continue
            spans = captions.spans()
            turn.audio, turn.audio_dropped = [], True
            turn.spoken = (spans[0][0], spans[-1][1]) if spans else None
            turn.dropped_source = turn.shown
            # the word times stay, pinned; the estimator and its audio go
            self._rebuild(turn, [replace(d, span=span) for d, span in zip(captions.deltas, spans)])

    # --- answers -------------------------------------------------------------------------
    def timing(self, turn: UserTurn) -> Timing:
        captions = turn.item.captions
        if turn.audio_dropped:
            return "aligned" if turn.shown == turn.dropped_source else "spread"
        if captions.deltas and all(d.span is not None or d.duration_ms is not None for d in captions.deltas):
            return "provider"
        if turn.has_audio:
            return "spread" if captions.estimator_failed else "aligned"
        if turn.start_ms is not None and turn.end_ms is not None:
            return "marks"
        return "spread"

    def placed(self, turn: UserTurn) -> tuple[Optional[float], list[Span], Timing]:
        """Session ms of the turn's item ms 0, one item-relative span per word, how timed."""
        captions = turn.item.captions
        timing = self.timing(turn)
        if not captions.deltas:
            return None, [], timing
        texts = [d.text for d in captions.deltas]
        if timing in ("aligned", "provider") or (turn.has_audio and timing == "spread"):
            zero = turn.window[0] if turn.window is not None else turn.start_ms
            if zero is None:  # provider times but no mark to count them from
                return None, [], timing
            spans = captions.spans()
            if timing == "aligned":
                spans = [(a + ALIGNED_LEAN_MS, b + ALIGNED_LEAN_MS) for a, b in spans]
            return self.session_ms(zero), spans, timing
        if timing == "marks":
            assert turn.start_ms is not None and turn.end_ms is not None
            length = turn.end_ms - turn.start_ms
            lo, hi = min(self.prefix_padding_ms, length), length - self.silence_ms
            if hi - lo < 0.25 * length:  # a span shorter than its padding: use all of it
                lo, hi = 0.0, length
            return self.session_ms(turn.start_ms), weighted_spread(texts, lo, hi), timing
        # no marks, no audio: paced to end where the turn was committed (or its text came)
        end = turn.committed_at if turn.committed_at is not None else captions.deltas[0].arrived_ms
        weights = [max(text_weight(t), 0.05) for t in texts]
        spans = pace(weights, 0.0, _PACE_MS_PER_UNIT)
        length = spans[-1][1]
        return end - length, spans, timing

    def captions(self, item: Item) -> list[Caption]:
        turn = self.turns.get(item.item_id)
        if turn is None:
            return []
        zero, spans, _ = self.placed(turn)
        if zero is None:
            return []
        captions = item.captions
        final = captions.final and captions.settled
        return [Caption(item.item_id, "user", i, d.text, zero + s, zero + max(s, e), d.arrived_ms, final)
                for i, (d, (s, e)) in enumerate(zip(captions.deltas, spans))]

    def record(self, item: Item) -> Optional[ItemRecord]:
        """The timeline's ``items[]`` entry: the speech span (marks, else what was placed)."""
        turn = self.turns.get(item.item_id)
        if turn is None:
            return None
        zero, spans, timing = self.placed(turn)
        if turn.start_ms is not None and turn.end_ms is not None:
            start, end = self.session_ms(turn.start_ms), self.session_ms(turn.end_ms)
        elif turn.committed_ms is not None:
            start, end = self.session_ms(turn.committed_ms[0]), self.session_ms(turn.committed_ms[1])
        elif zero is not None and spans:
            start, end = zero + spans[0][0], zero + spans[-1][1]
        elif turn.start_ms is not None:
            start = end = self.session_ms(turn.start_ms)
        else:
            return None
        return ItemRecord(item.item_id, "user", start, end, end - start, None, timing)
