"""Per-item caption timing in item-relative milliseconds.

An item's captions are one span per transcript delta, ordered and non-overlapping.
Where the provider gave timing (a delta's ``duration_ms`` or start, timed words) the
span is exactly that, whatever order things arrived in (``core/_timing.py``); the
item's estimator places only the deltas no timing covers, between the pinned ones. Its
answer changes only when something arrives or the engine's pump steps it.
``truncate_to`` keeps only what was heard.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from captioner.core._timing import GivenDelta, TimedText, Timing, fill, pin, timing_kind
from captioner.core.estimators._base import ItemEstimator, Span, spread
from captioner.core.estimators._text import text_weight

__all__ = ["Delta", "ItemCaptions", "weighted_spread"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Delta:
    text: str
    arrived_ms: float
    duration_ms: Optional[float] = None
    span: Optional[Span] = None  # given item-relative (start, end) (segments, word timing)
    start_ms: Optional[float] = None  # given item-relative start without an end (start_time)
    fallback: bool = False  # the whole transcript from a .done event that came before any delta

    def given(self) -> GivenDelta:
        if self.span is not None:
            return GivenDelta(self.text, self.duration_ms, self.span[0], self.span[1])
        return GivenDelta(self.text, self.duration_ms, self.start_ms)


def weighted_spread(texts: list[str], start_ms: float, end_ms: float) -> list[Span]:
    """Share ``[start_ms, end_ms)`` among texts by spoken weight."""
    return spread([max(text_weight(t), 0.05) for t in texts], start_ms, end_ms)


@dataclass(slots=True)
class ItemCaptions:
    item_id: str
    estimator: Optional[ItemEstimator]
    deltas: list[Delta] = field(default_factory=list)
    audio_complete: bool = False
    text_complete: bool = False
    audio_ms: float = 0.0
    truncated_at_ms: Optional[float] = None
    estimator_failed: Optional[str] = None  # why the estimator was dropped (the spread stands in)
    words: list[TimedText] = field(default_factory=list)  # timed words/characters of the audio
    version: int = 0  # moves whenever anything its spans or captions depend on may have changed
    _spans: Optional[list[Span]] = None
    _pins: Optional[list[Optional[Span]]] = None
    _timing: Optional[Timing] = None
    _notes_logged: Optional[set[str]] = None  # timing notes already logged (made on the first)

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
        if self.deltas and self.deltas[0].fallback and not delta.fallback:  # (a fallback is alone)
            # deltas after the transcript.done that stood in for them: they replace it (the
            # estimator was fed that text, so it is dropped; timing given or a spread stands in)
            log.info("deltas of %s after its transcript.done: the transcript is replaced", self.item_id)
            self.deltas = []
            self.estimator, self.estimator_failed = None, "transcript replaced by late deltas"
        self.deltas.append(delta)
        self._ask(lambda e: e.add_text(delta.text))
        self._changed()
        return len(self.deltas) - 1

    def add_words(self, words: list[TimedText]) -> None:
        """Timed words (or characters) of this item's audio, from the provider or a TTS."""
        self.words.extend(words)
        self._changed()

    def _changed(self) -> None:
        self._spans = None
        self._pins = self._timing = None
        self.version += 1

    def _respan(self) -> None:
        """The spans may change (the given timing did not)."""
        self._spans = None
        self.version += 1

    def release(self) -> None:
        """Drop what is derived and cached (the engine keeps the captions of an item that is
        over); anything asked later is worked out again from the same state."""
        self._spans = self._pins = None

    def add_audio(self, pcm: np.ndarray, audio_ms: float) -> None:
        self._ask(lambda e: e.add_audio(pcm))
        self.audio_ms += audio_ms
        self._respan()

    def set_audio_length(self, audio_ms: float) -> None:
        self.audio_ms = audio_ms
        self._ask(lambda e: e.set_audio_length(audio_ms))
        self._respan()

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
        self._changed()

    def truncate_to(self, item_ms: float) -> None:
        """Keep only what played before ``item_ms``; nothing after it can be added."""
        if self.truncated_at_ms is None or item_ms < self.truncated_at_ms:
            self.truncated_at_ms = max(0.0, item_ms)
        self.audio_complete = self.text_complete = True
        self._completed()

    def pins(self) -> list[Optional[Span]]:
        """Per delta, the span provider timing gives it (None: estimated)."""
        if self._pins is None:
            if not self.words and not any(d.duration_ms is not None or d.span is not None
                                          or d.start_ms is not None for d in self.deltas):
                self._pins = [None] * len(self.deltas)  # nothing given (the usual case)
                return self._pins
            self._pins, notes = pin([d.given() for d in self.deltas], self.words)
            for note in notes:
                self._note(note)
        return self._pins

    def _note(self, note: str) -> None:
        """Log a timing problem once per item."""
        if self._notes_logged is None:
            self._notes_logged = set()
        if note not in self._notes_logged:
            self._notes_logged.add(note)
            log.warning("timing of %s: %s", self.item_id, note)

    @property
    def timing(self) -> Timing:
        """"provider", "estimated" or "mixed": what this item's spans come from."""
        if self._timing is None:
            self._timing = timing_kind(self.pins())
        return self._timing

    @property
    def estimated(self) -> bool:
        """Some span comes from the estimator, not from the provider."""
        return self.timing != "provider"

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
        before = self._spans  # not worked out since the last change: nobody has seen it
        self._ask(lambda e: e.step(budget_ms))
        self._respan()
        return before is None or self.spans() != before

    def estimate_changed(self) -> None:
        self._respan()

    def spans(self) -> list[Span]:
        """One span per delta, before truncation (cached until something changes)."""
        if self._spans is None:
            self._spans = self._compute()
        return self._spans

    def _compute(self) -> list[Span]:
        if not self.deltas:
            return []
        pins = self.pins()
        estimate = None
        if any(p is None for p in pins):
            estimate = self._ask(lambda e: list(e.spans()))
        bounded = self.audio_complete and self.audio_ms > 0  # no audio seen: no length to hold to
        spans = fill(pins, [d.text for d in self.deltas], estimate, self.audio_ms, bounded)
        if bounded and any(p is not None and p[1] > self.audio_ms + 1.0 for p in pins):  # whole-ms times
            self._note(f"provider timing runs past the item's {self.audio_ms:.1f} ms of audio; clamped")
        return spans

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
