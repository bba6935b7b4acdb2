"""Per-item caption timing in item-relative milliseconds.

An item's captions are one span per transcript delta, ordered and non-overlapping.
A delta's span comes from its ``duration_ms`` when every delta of the item carries
one (the exact algorithm of seed 004); otherwise from the item's estimator, whose
answer changes only when something arrives or the engine's pump steps it.
``truncate_to`` keeps only what was heard.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from captioner.core.estimators._base import ItemEstimator, Span, ordered, spread
from captioner.core.estimators._text import text_weight

__all__ = ["Delta", "ItemCaptions", "weighted_spread"]

log = logging.getLogger(__name__)


@dataclass
class Delta:
    text: str
    arrived_ms: float
    duration_ms: Optional[float] = None
    span: Optional[Span] = None  # explicit item-relative timing (input transcription segments)


def weighted_spread(texts: list[str], start_ms: float, end_ms: float) -> list[Span]:
    """Share ``[start_ms, end_ms)`` among texts by spoken weight."""
    return spread([max(text_weight(t), 0.05) for t in texts], start_ms, end_ms)


@dataclass
class ItemCaptions:
    item_id: str
    estimator: Optional[ItemEstimator]
    deltas: list[Delta] = field(default_factory=list)
    audio_complete: bool = False
    text_complete: bool = False
    audio_ms: float = 0.0
    truncated_at_ms: Optional[float] = None
    estimator_failed: Optional[str] = None  # why the estimator was dropped (the spread stands in)
    _spans: Optional[list[Span]] = None

    def _ask(self, call: Callable[[ItemEstimator], Any]) -> Any:
        """Call the estimator; one that raises is dropped for good (estimates are advice:
        the item's captions fall back to a spread by spoken weight, none is lost)."""
        if self.estimator is None:
            return None
        try:
            return call(self.estimator)
        except Exception as exc:  # noqa: BLE001 - whatever an estimator does wrong
            log.exception("estimating %s failed; spreading its text over its audio instead", self.item_id)
            self.estimator, self.estimator_failed = None, f"{type(exc).__name__}: {exc}"
            return None

    def add_delta(self, delta: Delta) -> int:
        self.deltas.append(delta)
        self._ask(lambda e: e.add_text(delta.text))
        self._spans = None
        return len(self.deltas) - 1

    def add_audio(self, pcm: np.ndarray, audio_ms: float) -> None:
        self._ask(lambda e: e.add_audio(pcm))
        self.audio_ms += audio_ms
        self._spans = None

    def set_audio_length(self, audio_ms: float) -> None:
        self.audio_ms = audio_ms
        self._ask(lambda e: e.set_audio_length(audio_ms))
        self._spans = None

    def finish_audio(self) -> None:
        if not self.audio_complete:
            self.audio_complete = True
            self._completed()

    def finish_text(self) -> None:
        if not self.text_complete:
            self.text_complete = True
            self._completed()

    def _completed(self) -> None:
        self._ask(lambda e: e.complete(self.audio_complete, self.text_complete))
        self._spans = None

    def truncate_to(self, item_ms: float) -> None:
        """Keep only what played before ``item_ms``; nothing after it can be added."""
        if self.truncated_at_ms is None or item_ms < self.truncated_at_ms:
            self.truncated_at_ms = max(0.0, item_ms)
        self.audio_complete = self.text_complete = True
        self._completed()

    @property
    def estimated(self) -> bool:
        """Timing comes from the estimator, not from the server (duration_ms, segments)."""
        return not (self.deltas and (all(d.span is not None for d in self.deltas)
                                     or all(d.duration_ms is not None for d in self.deltas)))

    @property
    def final(self) -> bool:
        return self.audio_complete and self.text_complete

    @property
    def settled(self) -> bool:
        """No estimation work is pending for this item."""
        return not self.estimated or self.estimator is None or bool(getattr(self.estimator, "settled", True))

    def step(self, budget_ms: Optional[float]) -> bool:
        """Let the estimator work (about ``budget_ms`` of audio); True if the spans changed."""
        if self.settled:
            return False
        before = self.spans()
        self._ask(lambda e: e.step(budget_ms))
        self._spans = None
        return self.spans() != before

    def estimate_changed(self) -> None:
        self._spans = None

    def spans(self) -> list[Span]:
        """One span per delta, before truncation (cached until something changes)."""
        if self._spans is None:
            self._spans = self._compute()
        return self._spans

    def _compute(self) -> list[Span]:
        if not self.deltas:
            return []
        if all(d.span is not None for d in self.deltas):
            return ordered([d.span for d in self.deltas])  # type: ignore[misc]
        if all(d.duration_ms is not None for d in self.deltas):
            spans, t = [], 0.0
            for d in self.deltas:
                spans.append((t, t + float(d.duration_ms)))  # type: ignore[arg-type]
                t += float(d.duration_ms)  # type: ignore[arg-type]
            return spans
        spans = self._ask(lambda e: list(e.spans()))
        if spans is not None and len(spans) == len(self.deltas):
            return ordered(spans)
        return weighted_spread([d.text for d in self.deltas], 0.0, self.audio_ms)

    def heard(self) -> list[tuple[int, Span, bool]]:
        """(index, span, is_cut) for every delta that was (or will be) heard."""
        out: list[tuple[int, Span, bool]] = []
        cut = self.truncated_at_ms
        for i, (start, end) in enumerate(self.spans()):
            if cut is not None:
                if start >= cut:
                    break
                if end > cut:
                    out.append((i, (start, cut), True))
                    break
            out.append((i, (start, end), False))
        if cut is not None and out and not out[-1][2]:
            i, span, _ = out[-1]
            out[-1] = (i, span, True)
        return out
