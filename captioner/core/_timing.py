"""Provider timing: when the server (or a TTS service) says when, captions follow it exactly.

Timing comes in three shapes, all item-relative milliseconds once here:

* a **duration** on a delta (seed 004's ``duration_ms``): laid end to end from the item's
  first sample, so a delta starts where the previous timed one ended;
* a **start** (and maybe an end) of a delta on the item's audio (``start_time``);
* **timed words or characters** for the item's audio (Azure ``audio_timestamp``,
  ElevenLabs alignments, Cartesia word timestamps, GPT-Live's session timeline mapped onto
  the item), matched to the deltas' text by character position.

:func:`pin` turns what was given into one span per delta where timing covers it (None
where it does not); :func:`fill` lets estimation place only the rest, between the pinned
neighbours. Arrival order does not matter: the answer depends only on what was given.
Bad timing (out of order, overlapping, past the audio) is clamped, never trusted blindly.
"""

from __future__ import annotations

import bisect
import logging
import math
from dataclasses import dataclass
from typing import Optional, Sequence

from captioner.core.estimators._base import Span, ordered, spread
from captioner.core.estimators._text import text_weight

__all__ = ["TimedText", "Timing", "fill", "pin", "timing_kind"]

log = logging.getLogger(__name__)

Timing = str  # "provider" | "estimated" | "mixed" (timeline JSON items[].timing)


@dataclass(frozen=True)
class TimedText:
    """A word (or character, or delta) and where it is spoken in its item's audio (ms)."""

    text: str
    start_ms: float
    end_ms: float

    @property
    def valid(self) -> bool:
        return (math.isfinite(self.start_ms) and math.isfinite(self.end_ms)
                and self.start_ms >= 0 and self.end_ms >= self.start_ms)


@dataclass(frozen=True)
class GivenDelta:
    """What a delta says about its own timing (any of them may be absent)."""

    text: str
    duration_ms: Optional[float] = None
    start_ms: Optional[float] = None
    end_ms: Optional[float] = None


def _char_times(transcript: str, words: Sequence[TimedText]) -> tuple[list[tuple[int, int, float, float]], int]:
    """Place each timed word on the transcript, in order: (first char, end char, start, end).

    A word is looked for from where the previous one ended (case-insensitive, spaces
    ignored at its edges); one that cannot be found is skipped (returned count)."""
    low = transcript.lower()
    placed: list[tuple[int, int, float, float]] = []
    cursor, missing = 0, 0
    for w in words:
        needle = w.text.strip().lower()
        if not needle:
            continue
        at = low.find(needle, cursor)
        if at < 0:
            missing += 1
            continue
        placed.append((at, at + len(needle), w.start_ms, w.end_ms))
        cursor = at + len(needle)
    return placed, missing


def _time_at(placed: list[tuple[int, int, float, float]], firsts: list[int], char: int,
             end: bool = False) -> Optional[float]:
    """Time of a character position inside a timed word (linear within the word)."""
    i = bisect.bisect_right(firsts, char if not end else char - 1) - 1
    if i < 0:
        return None
    a, b, s, e = placed[i]
    if not (a <= char < b or (end and a < char <= b)):
        return None
    return s + (e - s) * (char - a) / max(1, b - a)


def pin(deltas: Sequence[GivenDelta], words: Sequence[TimedText]) -> tuple[list[Optional[Span]], list[str]]:
    """One provider span per delta (None: no timing covers it), and notes on what was
    wrong with the timing given (each is logged by the caller)."""
    notes: list[str] = []
    pins: list[Optional[Span]] = [None] * len(deltas)
    cursor: Optional[float] = 0.0  # where the next duration-only delta starts (None: unknown)
    for k, d in enumerate(deltas):
        if d.start_ms is not None:
            end = d.end_ms if d.end_ms is not None else (
                d.start_ms + d.duration_ms if d.duration_ms is not None else math.nan)
            pins[k] = (d.start_ms, end)  # NaN end: open, closed by the next start below
            cursor = None if math.isnan(end) else end
        elif d.duration_ms is not None:
            if cursor is not None:
                pins[k] = (cursor, cursor + d.duration_ms)
                cursor += d.duration_ms
            else:
                notes.append(f"delta {k}: duration_ms after an untimed delta; its start is estimated")
        else:
            cursor = None
    if words:
        good = [w for w in words if w.valid]
        if len(good) < len(words):
            notes.append(f"{len(words) - len(good)} timed word(s) with negative or non-finite times skipped")
        transcript = "".join(d.text for d in deltas)
        placed, missing = _char_times(transcript, sorted(good, key=lambda w: w.start_ms))
        if missing:
            notes.append(f"{missing} timed word(s) not found in the transcript so far")
        firsts = [p[0] for p in placed]
        pos = 0
        for k, d in enumerate(deltas):
            a, b = pos, pos + len(d.text)
            pos = b
            if pins[k] is not None:
                continue
            first = a + (len(d.text) - len(d.text.lstrip()))
            if first >= b:
                continue  # only spaces
            start = _time_at(placed, firsts, first)
            if start is None:
                continue
            last = b - (len(d.text) - len(d.text.rstrip()))
            end = _time_at(placed, firsts, last, end=True)
            pins[k] = (start, end if end is not None and end >= start else math.nan)
    for k in range(len(pins)):  # an open end runs to the next pinned start
        p = pins[k]
        if p is not None and math.isnan(p[1]):
            nxt = next((q[0] for q in pins[k + 1:] if q is not None), None)
            pins[k] = (p[0], p[0] if nxt is None or nxt < p[0] else nxt)
    last_end = 0.0
    for k, p in enumerate(pins):
        if p is None:
            continue
        if p[0] < last_end - 1e-6:
            notes.append(f"delta {k}: given start {p[0]:.1f} ms before the previous delta's end "
                         f"{last_end:.1f} ms (out of order or overlapping); moved")
        last_end = max(last_end, p[1])
    return pins, notes


def fill(pins: Sequence[Optional[Span]], texts: Sequence[str], estimate: Optional[Sequence[Span]],
         audio_ms: float, audio_complete: bool) -> list[Span]:
    """Every delta's span: pinned ones as given, the others estimated between their pinned
    neighbours (the estimator's answer squeezed into the gap, else a spread by weight)."""
    n = len(pins)
    limit = audio_ms if audio_complete else math.inf
    out: list[Optional[Span]] = list(pins)
    k = 0
    while k < n:
        if out[k] is not None:
            k += 1
            continue
        j = k
        while j < n and pins[j] is None:
            j += 1
        lo = next((p[1] for p in reversed(pins[:k]) if p is not None), 0.0)
        hi = pins[j][0] if j < n else limit  # type: ignore[index]
        hi = max(lo, hi)
        if estimate is not None and len(estimate) == n:
            gap = ordered(estimate[k:j], floor=lo, limit=hi)
        else:
            end = hi if math.isfinite(hi) else max(lo, audio_ms)
            gap = spread([max(text_weight(t), 0.05) for t in texts[k:j]], lo, end)
        out[k:j] = gap
        k = j
    return ordered([s for s in out if s is not None], limit=limit)


def timing_kind(pins: Sequence[Optional[Span]]) -> Timing:
    if pins and all(p is not None for p in pins):
        return "provider"
    if any(p is not None for p in pins):
        return "mixed"
    return "estimated"
