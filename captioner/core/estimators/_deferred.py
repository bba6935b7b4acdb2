"""Estimates worked out somewhere else, so a live session never waits for one.

pocketsphinx keeps the GIL for as long as one decoder call runs (up to a few hundred
ms when a long item's utterance ends). In the process that feeds the sound card and
reads the websocket that is an audible glitch, and a thread would not help: it holds
the same GIL. So a live session hands each item's estimation to a worker process.

:class:`DeferredEstimator` stands in for the item's estimator in the session: it keeps
what the item receives for the worker to :meth:`~DeferredEstimator.take`, and answers
``spans()`` at once from the latest :class:`Answer` the worker published. Deltas the
worker has not answered for yet, or answered only with the audio-only estimate (past
an answer's ``confident`` spans: words the aligner has not confirmed), and every delta
if there is no worker, get the audio-only estimate computed here: cheap, and never
behind the audio the session holds. The worker's answers lag; the first words of an
item must not wait for them.

:class:`EstimatorHost` is the worker's side: the real estimator of each item, fed
:class:`Work` and stepped a bounded amount at a time. Both sides are plain
computation; the process and the pipe between them are in :mod:`captioner.edges.worker`.
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from captioner.core.estimators._base import STEP_MS, EstimatorFactory, ItemEstimator, Span, after
from captioner.core.estimators._energy import AudioAlignedEstimator

__all__ = ["Answer", "DeferredEstimator", "EstimatorHost", "Source", "Work"]

log = logging.getLogger(__name__)
_keys = itertools.count(1)


@dataclass
class Work:
    """What an item received since the worker last took its inputs."""

    seq: int
    sample_rate: int
    audio: list[np.ndarray]
    texts: list[str]
    audio_length_ms: Optional[float]
    audio_complete: bool
    text_complete: bool


@dataclass(frozen=True)
class Source:
    """Where a delta's live start came from: the worker's answer ("worker": the live
    alignment; "final": the finished one) or the session's audio-only estimate ("local"),
    and how far that was moved later (kept after the words the worker placed)."""

    kind: str
    moved_ms: float


@dataclass(frozen=True)
class Answer:
    seq: int  # the last Work it includes
    spans: tuple[Span, ...]  # one per delta the worker had
    settled: bool  # nothing left to do with what it had
    confident: Optional[int] = None  # leading spans worth more than the session's own estimate (None: all)


class DeferredEstimator:
    """An :class:`ItemEstimator` whose work is done by a worker (see module doc).

    Thread-safe between one session thread (add_*, spans) and one worker thread
    (take, publish); each call holds a lock only while it copies a few references.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.key = next(_keys)  # names the item to the worker
        self.local = AudioAlignedEstimator(sample_rate)
        self._lock = threading.Lock()
        self._audio: list[np.ndarray] = []
        self._texts: list[str] = []
        self._length: Optional[float] = None
        self._deltas = 0
        self._flags = (False, False)
        self._sent_flags = (False, False)
        self._taken = 0  # seq of the last Work taken
        self._answer = Answer(0, (), True)

    # -- the session's side (ItemEstimator)
    def add_audio(self, pcm: np.ndarray) -> None:
        pcm = np.array(pcm, dtype=np.int16).ravel()  # a copy: the worker reads it later
        self.local.add_audio(pcm)
        with self._lock:
            self._audio.append(pcm)

    def add_text(self, text: str) -> None:
        self.local.add_text(text)
        with self._lock:
            self._texts.append(text)
            self._deltas += 1

    def set_audio_length(self, audio_ms: float) -> None:
        self.local.set_audio_length(audio_ms)
        with self._lock:
            self._length = audio_ms

    def complete(self, audio: bool, text: bool) -> None:
        self.local.complete(audio, text)
        with self._lock:
            self._flags = (self._flags[0] or audio, self._flags[1] or text)

    def step(self, budget_ms: Optional[float]) -> bool:
        return True  # the worker does the work

    def spans(self) -> list[Span]:
        return self.explain()[0]

    def explain(self) -> tuple[list[Span], list[Source]]:
        """``spans()`` and, per delta, where its start came from (benchmarks break the
        live view's lateness down by it)."""
        with self._lock:
            answer, deltas, audio_complete = self._answer, self._deltas, self._flags[0]
            final = answer.settled and answer.seq == self._taken and self._sent_flags == (True, True)
        trusted = len(answer.spans) if answer.confident is None else answer.confident
        known = list(answer.spans[:min(deltas, trusted)])
        kind = "final" if final else "worker"
        sources = [Source(kind, 0.0)] * len(known)
        if len(known) == deltas:
            return known, sources
        local = self.local.spans()[len(known):]
        # Captions end within the item's audio once its length is known (samples, or a
        # length from marks); a cut marks-only item has neither: the engine cuts it.
        limit = self.local.audio_ms if audio_complete and self.local.audio_ms > 0 else float("inf")
        rest = after(local, known[-1][1] if known else 0.0, limit)  # after what the worker placed
        sources += [Source("local", s - own) for (s, _), (own, _) in zip(rest, local)]
        return known + rest, sources

    @property
    def answered_seq(self) -> int:
        """The last :class:`Work` the worker's latest answer includes (0: none yet)."""
        with self._lock:
            return self._answer.seq

    # -- the worker's side
    @property
    def pending(self) -> bool:
        """Inputs not taken yet, or taken but not fully answered."""
        with self._lock:
            return self._untaken() or self._answer.seq < self._taken or not self._answer.settled

    def _untaken(self) -> bool:
        return bool(self._audio or self._texts or self._length is not None
                    or self._flags != self._sent_flags)

    def take(self) -> Optional[Work]:
        """Everything received since the last take (None if nothing)."""
        with self._lock:
            if not self._untaken():
                return None
            self._taken += 1
            work = Work(self._taken, self.sample_rate, self._audio, self._texts, self._length, *self._flags)
            self._audio, self._texts, self._length = [], [], None
            self._sent_flags = self._flags
            return work

    def publish(self, answer: Answer) -> None:
        with self._lock:
            if answer.seq >= self._answer.seq:
                self._answer = answer


@dataclass
class _Hosted:
    estimator: ItemEstimator
    seq: int = 0
    dirty: bool = True  # fed since the last answer
    settled: bool = False  # the estimator's last step left nothing to do
    last: Optional[Answer] = None
    failed: bool = False  # raised: the item keeps the session's audio-only estimate


@dataclass
class EstimatorHost:
    """The worker's side: one real estimator per item key."""

    factory: EstimatorFactory
    _items: dict[int, _Hosted] = field(default_factory=dict)
    _turn: int = 0

    def feed(self, key: int, work: Work) -> None:
        hosted = self._items.get(key)
        if hosted is None:
            hosted = self._items[key] = _Hosted(self.factory(work.sample_rate))
        hosted.seq, hosted.dirty = work.seq, True
        if hosted.failed:
            return
        est = hosted.estimator
        try:
            for pcm in work.audio:
                est.add_audio(pcm)
            for text in work.texts:
                est.add_text(text)
            if work.audio_length_ms is not None:
                est.set_audio_length(work.audio_length_ms)
            est.complete(work.audio_complete, work.text_complete)
        except Exception:  # noqa: BLE001 - one item's estimate is never worth the others
            log.exception("estimating item %d failed; it keeps the audio-only estimate", key)
            hosted.failed = True

    def drop(self, key: int) -> None:
        self._items.pop(key, None)

    def busy(self) -> bool:
        return any(self._needs_step(h) for h in self._items.values())

    @staticmethod
    def _needs_step(hosted: _Hosted) -> bool:
        return hosted.dirty or not (hosted.failed or hosted.settled)

    def step(self) -> list[tuple[int, Answer]]:
        """One bounded step of one item that has work (in turn); its answer if it changed."""
        busy = [k for k, h in self._items.items() if self._needs_step(h)]
        if not busy:
            return []
        self._turn = (self._turn + 1) % len(busy)
        key = busy[self._turn]
        hosted = self._items[key]
        hosted.dirty = False
        if not hosted.failed:
            try:
                settled = hosted.settled = hosted.estimator.step(STEP_MS)
                spans = tuple(hosted.estimator.spans())
                confident = getattr(hosted.estimator, "confident", None)
                trusted = confident() if confident is not None else None
            except Exception:  # noqa: BLE001 - as in feed()
                log.exception("estimating item %d failed; it keeps the audio-only estimate", key)
                hosted.failed = True
        if hosted.failed:  # no spans: the session answers every delta itself
            spans, settled, trusted = (), True, None
        answer = Answer(hosted.seq, spans, settled, trusted)
        if answer == hosted.last:
            return []
        hosted.last = answer
        return [(key, answer)]
