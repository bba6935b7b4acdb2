"""The playback clock: every output frame stamped with what it played and when.

Audio is queued per item as it arrives; a consumer takes it out either as a device
does (``pull(n, at_ms)`` from an output callback, ``at_ms`` being the DAC time of the
first frame) or as a virtual real-time player (``advance(to_ms)``). Each contiguous
run of one item's samples becomes a :class:`Segment`, so the clock can answer "what
was playing at T" and "how far into item X had playback got at T" to the sample.

When the queue runs dry while an item is still expecting audio, the gap is an
*underrun*: silence is output, the clock keeps counting and later samples of the item
play later. A gap between items is idle time, not an underrun.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from captioner.core.wire._audio import ms_to_samples, samples_to_ms

__all__ = ["DAC_JITTER_MS", "FrameStamp", "PlaybackClock", "Segment"]

DAC_JITTER_MS = 4.0  # reported DAC times wobble this much while frames play back to back
_DAC_FOLLOW = 1 / 16  # share of the wobble a block's stamp moves towards the report


@dataclass(frozen=True)
class FrameStamp:
    item_id: Optional[str]  # None: silence (idle or underrun)
    content_index: int
    item_sample: int
    stream_sample: int
    at_ms: float


@dataclass(slots=True)
class Segment:
    """A contiguous run of one item's samples played at real-time rate."""

    item_id: str
    content_index: int
    item_sample: int
    n_samples: int
    stream_sample: int
    start_ms: float
    sample_rate: int

    @property
    def end_ms(self) -> float:
        return self.start_ms + samples_to_ms(self.n_samples, self.sample_rate)

    @property
    def item_end_sample(self) -> int:
        return self.item_sample + self.n_samples


@dataclass(slots=True)
class _Chunk:
    item_id: str
    content_index: int
    pcm: np.ndarray
    item_sample: int
    ready_ms: float
    pos: int = 0

    @property
    def remaining(self) -> int:
        return len(self.pcm) - self.pos


@dataclass(slots=True)
class ItemPlayback:
    item_id: str
    received: int = 0  # samples queued so far
    done: bool = False  # no more audio will come (audio done, cut, cleared)
    cut_at: Optional[int] = None  # item sample where playback was cut
    segments: list[Segment] = field(default_factory=list)

    @property
    def played_total(self) -> int:
        return sum(s.n_samples for s in self.segments)

    @property
    def start_ms(self) -> Optional[float]:
        return self.segments[0].start_ms if self.segments else None

    @property
    def end_ms(self) -> Optional[float]:
        return self.segments[-1].end_ms if self.segments else None


class PlaybackClock:
    def __init__(self, sample_rate: int = 24000) -> None:
        self.sample_rate = sample_rate
        self.items: dict[str, ItemPlayback] = {}
        self.segments: list[Segment] = []  # all items, in play order
        self._queue: deque[_Chunk] = deque()
        self._stream_sample = 0
        self._now: Optional[float] = None  # virtual player position (session ms)
        self._flushed = False  # cut since the last device block: its DAC time starts afresh
        self._current: Optional[str] = None  # item whose audio is playing or awaited
        self.underrun_ms = 0.0
        self.underruns = 0  # number of distinct dry spells inside an item
        self._dry = False
        self._rank: dict[str, int] = {}

    # --- feeding -------------------------------------------------------------
    def _state(self, item_id: str) -> ItemPlayback:
        if item_id not in self.items:
            self.items[item_id] = ItemPlayback(item_id)
        return self.items[item_id]

    def enqueue(self, item_id: str, content_index: int, pcm: np.ndarray,
                ready_ms: float = float("-inf")) -> bool:
        """Queue an item's samples; False (and dropped) if the item is closed."""
        state = self._state(item_id)
        if state.done or len(pcm) == 0:
            return False
        rank = self._rank.setdefault(item_id, len(self._rank))
        chunk = _Chunk(item_id, content_index, np.asarray(pcm, np.int16), state.received, ready_ms)
        # items play in the order their audio first arrived, whole, one after another
        at = len(self._queue)
        while at > 0 and self._rank[self._queue[at - 1].item_id] > rank:
            at -= 1
        self._queue.insert(at, chunk)
        state.received += len(pcm)
        return True

    def finish(self, item_id: str) -> None:
        """No more audio for this item: a dry buffer after it is idle time, not an underrun."""
        self._state(item_id).done = True

    def cut(self, item_id: str, item_sample: int) -> None:
        """Stop an item at ``item_sample``: queued audio after it is dropped and frames
        already stamped past it (handed to a device ahead of the DAC) are un-stamped."""
        state = self._state(item_id)
        state.done = True
        self._flushed = True
        state.cut_at = item_sample if state.cut_at is None else min(state.cut_at, item_sample)
        kept: deque[_Chunk] = deque()
        for chunk in self._queue:
            if chunk.item_id != item_id:
                kept.append(chunk)
            elif chunk.item_sample + chunk.pos < item_sample:
                end = min(len(chunk.pcm), item_sample - chunk.item_sample)
                chunk.pcm = chunk.pcm[:end]
                kept.append(chunk)
        self._queue = kept
        trimmed = []
        for seg in state.segments:
            if seg.item_sample >= item_sample:
                self.segments.remove(seg)
                continue
            if seg.item_end_sample > item_sample:
                seg.n_samples = item_sample - seg.item_sample
            trimmed.append(seg)
        state.segments = trimmed
        if self._current == item_id:
            self._current = None

    def clear(self) -> None:
        """Drop everything queued (output_audio_buffer.clear)."""
        self._flushed = True
        for chunk in self._queue:
            self._state(chunk.item_id).done = True
        self._queue.clear()

    # --- consuming -----------------------------------------------------------
    def _awaiting_audio(self) -> bool:
        """True when the playing item has not ended: a dry buffer is an underrun."""
        return self._current is not None and not self.items[self._current].done

    def _head(self) -> Optional[_Chunk]:
        """Next chunk to play; None while the playing item still awaits its own audio."""
        if not self._queue:
            return None
        chunk = self._queue[0]
        if chunk.item_id != self._current and self._awaiting_audio():
            return None
        return chunk

    def blocked(self) -> bool:
        """Audio of a later item waits for an item whose audio never finished."""
        return bool(self._queue) and self._head() is None

    def _note_dry(self, dry: bool) -> None:
        if dry and not self._dry:
            self.underruns += 1
        self._dry = dry

    def _play(self, chunk: _Chunk, n: int, at_ms: float) -> np.ndarray:
        state = self.items[chunk.item_id]
        item_sample = chunk.item_sample + chunk.pos
        last = state.segments[-1] if state.segments else None
        if (last is not None and last.item_sample + last.n_samples == item_sample  # continues it
                and abs(last.start_ms + samples_to_ms(last.n_samples, last.sample_rate) - at_ms) < 1e-6
                and last.content_index == chunk.content_index):
            last.n_samples += n
        else:
            seg = Segment(chunk.item_id, chunk.content_index, item_sample, n,
                          self._stream_sample, at_ms, self.sample_rate)
            state.segments.append(seg)
            self.segments.append(seg)
        out = chunk.pcm[chunk.pos:chunk.pos + n]
        chunk.pos += n
        self._stream_sample += n
        self._current = chunk.item_id
        if chunk.remaining == 0:
            self._queue.popleft()
        return out

    def _silence(self, n: int, dry_inside_item: bool) -> None:
        if dry_inside_item and n > 0:
            self.underrun_ms += samples_to_ms(n, self.sample_rate)
        self._stream_sample += n

    def _ms(self, samples: int) -> float:
        return samples_to_ms(samples, self.sample_rate)

    def pull(self, n: int, at_ms: float) -> np.ndarray:
        """Device callback: ``n`` frames whose first reaches the DAC at ``at_ms``."""
        at_ms = self._dac_time(at_ms)
        out = np.zeros(n, dtype=np.int16)
        filled = 0
        while filled < n:
            chunk = self._head()
            if chunk is not None and chunk.ready_ms <= at_ms + self._ms(filled) + 1e-9:
                take = min(chunk.remaining, n - filled)
                out[filled:filled + take] = self._play(chunk, take, at_ms + self._ms(filled))
                self._dry = False
                filled += take
                continue
            # Nothing had arrived by this point of the block: silence, up to the head's
            # arrival (a player catching up on late blocks never plays audio before it came).
            gap = n - filled
            if chunk is not None:
                wait = ms_to_samples(chunk.ready_ms - at_ms - self._ms(filled), self.sample_rate)
                gap = min(gap, max(1, int(math.ceil(wait - 1e-6))))
            self._note_dry(self._awaiting_audio())
            self._silence(gap, self._dry)
            filled += gap
        self._now = at_ms + self._ms(n)
        return out

    def _dac_time(self, at_ms: float) -> float:
        """Where a device block really plays. Its frames follow the previous block's, but
        reported DAC times wobble (callback scheduling, the host API's delay steps); taken
        literally, a block could be stamped before the last one ended. Within
        DAC_JITTER_MS of the continuation a block continues the stream, its stamp moving
        a little towards the report so a device clock drifting from session time is
        followed; later than that the device stalled (a real gap). Earlier than the
        continuation is impossible unless the device dropped its buffer, which it does
        when playback is cut (an interruption stops the stream and starts it again)."""
        if self._now is None or self._flushed:
            self._flushed = False
            return at_ms
        offset = at_ms - self._now
        if offset > DAC_JITTER_MS:
            return at_ms
        nudge = max(offset, -DAC_JITTER_MS) * _DAC_FOLLOW
        return self._now + nudge if abs(nudge) * self.sample_rate >= 500.0 else self._now

    def advance(self, to_ms: float) -> None:
        """Virtual player: consume queued audio in real time up to ``to_ms``."""
        if self._now is None:
            first_ready = self._queue[0].ready_ms if self._queue else to_ms
            self._now = min(to_ms, first_ready) if first_ready > float("-inf") else to_ms
        rate, queue = self.sample_rate, self._queue
        while self._now < to_ms - 1e-9:
            chunk = self._head() if queue else None
            if chunk is not None and chunk.ready_ms <= self._now + 1e-9:
                room = int(round(ms_to_samples(to_ms - self._now, rate)))
                if room <= 0:
                    break
                take = min(len(chunk.pcm) - chunk.pos, room)
                self._play(chunk, take, self._now)
                self._now += samples_to_ms(take, rate)
                self._dry = False
                continue
            until = to_ms
            if chunk is not None:
                until = min(to_ms, chunk.ready_ms)
            gap = int(round(ms_to_samples(until - self._now, rate)))
            self._note_dry(self._awaiting_audio())
            if gap <= 0:
                self._now = until
                continue
            self._silence(gap, self._dry)
            self._now += samples_to_ms(gap, rate)

    # --- questions -----------------------------------------------------------
    def received(self, item_id: str) -> int:
        """Samples of the item queued so far (0 for an unknown item)."""
        state = self.items.get(item_id)
        return state.received if state is not None else 0

    def start_ms(self, item_id: str) -> Optional[float]:
        """Session ms of the item's first played sample (None: not played yet)."""
        state = self.items.get(item_id)
        return state.start_ms if state is not None else None

    def end_ms(self, item_id: str) -> Optional[float]:
        """Session ms after the item's last played sample so far."""
        state = self.items.get(item_id)
        return state.end_ms if state is not None else None

    @property
    def now_ms(self) -> Optional[float]:
        """Where the consumer has got to (end of the last frame handed out)."""
        return self._now

    def played_samples(self, item_id: str, at_ms: float) -> int:
        state = self.items.get(item_id)
        if state is None:
            return 0
        total = 0
        for seg in state.segments:
            if seg.start_ms >= at_ms:
                break
            if seg.end_ms <= at_ms:
                total += seg.n_samples
            else:
                total += int(ms_to_samples(at_ms - seg.start_ms, self.sample_rate))
        return total

    def played_ms(self, item_id: str, at_ms: float) -> float:
        return self._ms(self.played_samples(item_id, at_ms))

    def playing_at(self, at_ms: float) -> Optional[FrameStamp]:
        starts = [s.start_ms for s in self.segments]
        i = bisect.bisect_right(starts, at_ms) - 1
        if i < 0:
            return None
        seg = self.segments[i]
        if at_ms >= seg.end_ms:
            return None
        offset = int(ms_to_samples(at_ms - seg.start_ms, self.sample_rate))
        return FrameStamp(seg.item_id, seg.content_index, seg.item_sample + offset,
                          seg.stream_sample + offset, at_ms)

    def buffered_ms(self) -> float:
        return self._ms(sum(c.remaining for c in self._queue))

    def queued_items(self) -> list[str]:
        seen: list[str] = []
        for chunk in self._queue:
            if chunk.item_id not in seen:
                seen.append(chunk.item_id)
        return seen

    def current_item(self) -> Optional[str]:
        """The item being heard or about to be (head of the queue)."""
        if self._current is not None and self._awaiting_audio():
            return self._current
        if self._queue:
            return self._queue[0].item_id
        return self._current

    def finished_playing(self, item_id: str) -> bool:
        """The item's audio is over: it played, nothing of it is queued, and either no
        more will come or another item has played since (its voice can no longer run on)."""
        state = self.items.get(item_id)
        if state is None or not state.segments or item_id in self.queued_items():
            return False
        return state.done or self.segments[-1].item_id != item_id

    def idle(self) -> bool:
        return not self._queue

    def item_time(self, item_id: str, item_ms: float) -> Optional[float]:
        """Session ms at which ``item_ms`` into the item plays (played, or projected)."""
        to_session = self.item_mapper(item_id)
        return None if to_session is None else to_session(item_ms)

    def item_mapper(self, item_id: str) -> Optional[Callable[[float], float]]:
        """item ms -> session ms for one item as things stand (None: it cannot be placed
        yet), for mapping many times at once: a segment is found by bisection."""
        state = self.items.get(item_id)
        if state is None:
            return None
        rate = self.sample_rate
        if not state.segments:
            start = self.projected_start_ms(item_id)
            if start is None:
                return None
            return lambda item_ms: start + item_ms
        segs = list(state.segments)
        ends = [seg.item_end_sample for seg in segs]
        last = segs[-1]

        def to_session(item_ms: float) -> float:
            sample = ms_to_samples(item_ms, rate)
            k = bisect.bisect_right(ends, sample)  # the first segment ending after the sample
            if k < len(segs):
                seg = segs[k]
                return seg.start_ms + samples_to_ms(max(0.0, sample - seg.item_sample), rate)
            return last.end_ms + samples_to_ms(sample - last.item_end_sample, rate)
        return to_session

    def projected_start_ms(self, item_id: str) -> Optional[float]:
        """When an item that has not started yet would start if audio keeps flowing."""
        state = self.items.get(item_id)
        if state is None:
            return None
        if state.segments:
            return state.segments[0].start_ms
        if self._now is None:
            return None
        ahead = 0
        for chunk in self._queue:
            if chunk.item_id == item_id:
                return max(self._now + self._ms(ahead), chunk.ready_ms)
            ahead += chunk.remaining
        return None
