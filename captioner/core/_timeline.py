"""Per-item caption timing in item-relative milliseconds.

An item's captions are one span per transcript delta, ordered and non-overlapping.
A delta's span comes from its ``duration_ms`` when every delta of the item carries
one (the exact algorithm of seed 004); otherwise from the item's estimator, asked
again whenever audio or text arrives. ``truncate_to`` keeps only what was heard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from captioner.core.estimators._energy import ItemEstimator, Span, text_weight


@dataclass
class Delta:
    text: str
    arrived_ms: float
    duration_ms: Optional[float] = None
    span: Optional[Span] = None  # explicit item-relative timing (input transcription segments)


@dataclass
class ItemCaptions:
    item_id: str
    estimator: Optional[ItemEstimator]
    deltas: list[Delta] = field(default_factory=list)
    audio_complete: bool = False
    text_complete: bool = False
    audio_ms: float = 0.0
    truncated_at_ms: Optional[float] = None
    _spans: Optional[list[Span]] = None

    def add_delta(self, delta: Delta) -> int:
        self.deltas.append(delta)
        if self.estimator is not None:
            self.estimator.add_text(delta.text)
        self._spans = None
        return len(self.deltas) - 1

    def add_audio(self, pcm: np.ndarray, audio_ms: float) -> None:
        if self.estimator is not None:
            self.estimator.add_audio(pcm)
        self.audio_ms += audio_ms
        self._spans = None

    def set_audio_length(self, audio_ms: float) -> None:
        self.audio_ms = audio_ms
        if self.estimator is not None:
            self.estimator.set_audio_length(audio_ms)
        self._spans = None

    def finish_audio(self) -> None:
        if not self.audio_complete:
            self.audio_complete = True
            self._spans = None

    def finish_text(self) -> None:
        if not self.text_complete:
            self.text_complete = True
            self._spans = None

    def truncate_to(self, item_ms: float) -> None:
        """Keep only what played before ``item_ms``; nothing after it can be added."""
        if self.truncated_at_ms is None or item_ms < self.truncated_at_ms:
            self.truncated_at_ms = max(0.0, item_ms)
        self.audio_complete = True
        self.text_complete = True
        self._spans = None

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
        """False while the estimator is still working (each spans() call advances it)."""
        return bool(getattr(self.estimator, "settled", True))

    def settle(self) -> None:
        self.spans()  # sets off any work still to do
        settle = getattr(self.estimator, "settle", None)
        if settle is not None and not self.settled:
            settle()
            self._spans = None

    def estimate_changed(self) -> None:
        self._spans = None

    def spans(self) -> list[Span]:
        """One span per delta, before truncation (cached until something arrives)."""
        if self._spans is None or not self.settled:
            self._spans = self._compute()
        return self._spans

    def _compute(self) -> list[Span]:
        if not self.deltas:
            return []
        if all(d.span is not None for d in self.deltas):
            return _ordered([d.span for d in self.deltas])  # type: ignore[misc]
        if all(d.duration_ms is not None for d in self.deltas):
            spans, t = [], 0.0
            for d in self.deltas:
                spans.append((t, t + float(d.duration_ms)))  # type: ignore[arg-type]
                t += float(d.duration_ms)  # type: ignore[arg-type]
            return spans
        if self.estimator is not None:
            spans = list(self.estimator.spans(self.audio_complete, self.text_complete))
            if len(spans) == len(self.deltas):
                return _ordered(spans)
        return spread([d.text for d in self.deltas], 0.0, self.audio_ms)

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


def _ordered(spans: list[Span]) -> list[Span]:
    """Force spans monotonic and non-overlapping (an estimator's answer is advice)."""
    out: list[Span] = []
    t = 0.0
    for start, end in spans:
        start = max(t, float(start))
        end = max(start, float(end))
        out.append((start, end))
        t = end
    return out


def spread(texts: list[str], start_ms: float, end_ms: float) -> list[Span]:
    """Share ``[start_ms, end_ms)`` among texts by spoken weight (user speech spans)."""
    weights = [max(text_weight(t), 0.05) for t in texts]
    total = sum(weights) or 1.0
    length = max(0.0, end_ms - start_ms)
    spans, t = [], start_ms
    for w in weights:
        spans.append((t, t + length * w / total))
        t += length * w / total
    return spans
