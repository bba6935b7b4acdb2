"""What every estimator is and shares: the protocol, item-relative spans, and the few
span helpers (spread text over time, keep spans ordered) used everywhere spans are made.

An estimator is fed one item's audio and text as they stream in (``add_audio``,
``add_text``, ``complete``). Work that takes time is done only in ``step(budget_ms)``,
called by the engine's pump; ``spans()`` answers at once from the work done so far,
one ordered span per delta. The answer once audio and text are both complete and
``step`` reports it settled is the final timing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, Sequence

import numpy as np

__all__ = [
    "STEP_MS", "AudioFed", "EstimatorFactory", "ItemEstimator", "Span", "after", "ordered", "pace",
    "spread",
]

Span = tuple[float, float]  # item-relative (start_ms, end_ms)
STEP_MS = 1000.0  # audio worked through per step: ~15 ms of CPU for forced alignment


class ItemEstimator(Protocol):
    def add_audio(self, pcm: np.ndarray) -> None:
        """Append int16 mono samples of this item (at the estimator's sample rate)."""

    def add_text(self, text: str) -> None:
        """Append the next transcript delta."""

    def set_audio_length(self, audio_ms: float) -> None:
        """Audio length known without samples (WebRTC: started..stopped marks)."""

    def complete(self, audio: bool, text: bool) -> None:
        """No more audio / text will come (flags only ever turn on)."""

    def step(self, budget_ms: Optional[float]) -> bool:
        """Do about ``budget_ms`` of audio's worth of pending work (None: all of it);
        True when nothing is left to do with what was fed."""

    def spans(self) -> list[Span]:
        """One span per delta so far: ordered, non-overlapping, starts >= 0; once audio is
        complete every span ends within the item's audio. Never does heavy work."""


EstimatorFactory = Callable[[int], ItemEstimator]  # sample_rate -> estimator


def ordered(spans: Sequence[Span], floor: float = 0.0, limit: float = math.inf) -> list[Span]:
    """Spans made monotonic and non-overlapping, starting at ``floor`` at the earliest and
    ending by ``limit`` (an estimator's answer is advice; the timeline's is a contract)."""
    out: list[Span] = []
    append = out.append
    t = floor
    for start, end in spans:  # (comparisons, not min/max calls: this runs once per delta)
        start = float(start)
        if not start >= t:  # (NaN too)
            start = t
        elif start > limit:
            start = limit if limit > t else t
        end = float(end)
        if not end >= start:
            end = start
        elif end > limit:
            end = limit if limit > start else start
        append((start, end))
        t = end
    return out


def after(spans: Sequence[Span], floor: float, limit: float = math.inf) -> list[Span]:
    """``spans``, an estimate of the words after some placed by hearing them (which end at
    ``floor``), kept after those: an estimate that put the first of them before ``floor``
    is early there, so every one of them moves as much later, not only the ones before it
    ("no more, no less" had been piled onto the end of "day", 600 ms early). Then ordered."""
    if spans and spans[0][0] < floor:
        early = floor - spans[0][0]
        spans = [(start + early, end + early) for start, end in spans]
    return ordered(spans, floor, limit)


def spread(weights: Sequence[float], start_ms: float, end_ms: float) -> list[Span]:
    """Share ``[start_ms, end_ms)`` among consecutive pieces in proportion to their weight."""
    total = sum(weights) or 1.0
    length = max(0.0, end_ms - start_ms)
    spans, t = [], start_ms
    for w in weights:
        spans.append((t, t + length * w / total))
        t += length * w / total
    return spans


def pace(weights: Sequence[float], start_ms: float, ms_per_unit: float,
         fit_ms: Optional[float] = None, fit_exactly: bool = False) -> list[Span]:
    """Consecutive pieces from ``start_ms`` at ``ms_per_unit``; with ``fit_ms`` (the time
    known to hold them) never slower than fits, and with ``fit_exactly`` filling it."""
    if fit_ms is not None:
        fit = fit_ms / (sum(weights) or 1.0)
        ms_per_unit = fit if fit_exactly else min(ms_per_unit, fit)
    return spread(weights, start_ms, start_ms + ms_per_unit * sum(weights))


@dataclass
class AudioFed:
    """What the audio-based estimators keep: texts, completion flags, audio length."""

    sample_rate: int
    texts: list[str] = field(default_factory=list)
    audio_complete: bool = False
    text_complete: bool = False
    _audio_ms_override: Optional[float] = None

    def add_text(self, text: str) -> None:
        self.texts.append(text)

    def set_audio_length(self, audio_ms: float) -> None:
        self._audio_ms_override = audio_ms

    def complete(self, audio: bool, text: bool) -> None:
        self.audio_complete = self.audio_complete or audio
        self.text_complete = self.text_complete or text

    def step(self, budget_ms: Optional[float]) -> bool:
        return True  # answers are computed when asked: cheap

    @property
    def settled(self) -> bool:
        return True
