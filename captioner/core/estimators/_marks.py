"""Marks only: where each delta is spoken when an item has no samples at all.

A browser-recorded WebRTC session has no audio: only ``output_audio_buffer.started`` /
``.stopped`` / ``.cleared`` on the data channel say when the answer played. Its text is
then timed from speech-rate priors (phonetics, not any corpus):

* every written word lasts its spoken length (``spoken_words``: syllable-like units from
  the one reading table, so "$3,482.50" takes as long as it is said) at an articulation
  rate of about 5 syllables/s; the word before a pause is lengthened (phrase-final
  lengthening);
* punctuation takes time: a pause before a word in proportion to how strongly the text
  marks one (``pause_before``: about half a second at a sentence end, a fifth after a
  comma, nothing between plain words);
* speech starts a little after the start mark (the receiver's jitter buffer holds the
  audio, the data channel does not; a voice starts with a short silence) and ends a
  little before the stop mark (the trailing silence of an utterance);
* once the stop mark gives the item's length (started..stopped) and the text is
  complete, the whole timeline is scaled to it (one tempo for speech and pauses).

A cut item (``.cleared``, a truncate) has no known length: its text is paced at the
prior rate from the start and the cut keeps what fits before it.
"""

from __future__ import annotations

import bisect
from typing import Optional, Sequence

from captioner.core.estimators._base import Span, ordered
from captioner.core.estimators._text import SpokenWord

__all__ = ["LEAD_MS", "TRAIL_MS", "UNIT_MS", "marks_spans", "pause_ms", "word_times"]

# A syllable lasts ~200 ms at the ~5 syllables/s articulation rate of conversational
# English (pauses excluded); a spoken unit is a syllable plus 0.08 per letter, about
# 1.25 units per syllable of English text, hence ~160 ms per unit.
UNIT_MS = 160.0
SENTENCE_PAUSE_MS = 450.0  # silent pause at a sentence end (read and synthetic speech: 300-700 ms)
FINAL_LENGTHENING_UNITS = 0.4  # a phrase's last syllable is 30-50 % longer
# The marks run ahead of the voice: a WebRTC receiver's jitter buffer holds the audio
# ~40-120 ms (the data channel has none), and an utterance opens with a short silence
# (none from a trimmed synthesiser, ~150 ms in studio recordings): halfway.
LEAD_MS = 80.0 + 70.0
TRAIL_MS = 200.0  # an utterance's release and trailing silence (~150-300 ms) before the stop mark
MIN_TEMPO, MAX_TEMPO = 0.4, 2.5  # a known length never implies speech 2.5x faster/slower


def pause_ms(strength: float) -> float:
    """Expected silent pause before a word whose ``pause_before`` is ``strength`` (0..1):
    ~450 ms at a sentence end (1.0), ~220 ms at a comma (0.7), nothing between words (0.1)."""
    return SENTENCE_PAUSE_MS * strength * strength if strength >= 0.3 else 0.0


def word_times(words: Sequence[SpokenWord]) -> tuple[list[float], list[float], float]:
    """Prior (start, end) of every word from speech start at the prior rate, and the total."""
    starts, ends = [], []
    t = 0.0
    for k, w in enumerate(words):
        if k:
            t += pause_ms(w.pause_before)
        nxt = words[k + 1].pause_before if k + 1 < len(words) else 1.0
        units = w.units + (FINAL_LENGTHENING_UNITS * nxt if nxt >= 0.3 else 0.0)
        starts.append(t)
        t += units * UNIT_MS
        ends.append(t)
    return starts, ends, t


def marks_spans(text: str, delta_starts: Sequence[int], words: Sequence[SpokenWord],
                length_ms: Optional[float], text_complete: bool) -> list[Span]:
    """One item-relative span per delta (delta k starts at character ``delta_starts[k]`` of
    ``text``) from text alone; ``length_ms``: the item's marked length, None while unknown."""
    if not delta_starts:
        return []
    starts, ends, total = word_times(words)
    lead, trail = LEAD_MS, TRAIL_MS
    tempo = 1.0
    if length_ms is not None:
        room = max(0.0, length_ms)
        if lead + trail > 0.5 * room:  # a very short item: the edges shrink with it
            lead, trail = lead * 0.5 * room / (lead + trail), trail * 0.5 * room / (lead + trail)
        speech = room - lead - trail
        if total > 0:
            fit = speech / total
            # all the text is known to fill the span: scale to it; text still coming: never
            # slower than the prior, but no slower than fits either
            tempo = fit if text_complete else min(1.0, fit)
            tempo = min(max(tempo, MIN_TEMPO), MAX_TEMPO) if speech > 0 else MIN_TEMPO
    word_starts = [lead + tempo * s for s in starts]
    word_ends = [lead + tempo * e for e in ends]
    speech_end = lead + tempo * total
    chars = [w.start for w in words]
    times = []
    for k, c in enumerate(delta_starts):
        end_c = delta_starts[k + 1] if k + 1 < len(delta_starts) else len(text)
        i = bisect.bisect_right(chars, c) - 1  # last word starting at or before c
        if i >= 0 and words[i].start < c < words[i].end:  # a piece inside a word
            w = words[i]
            times.append(word_starts[i] + (c - w.start) / (w.end - w.start) * (word_ends[i] - word_starts[i]))
            continue
        j = i if i >= 0 and words[i].start == c else i + 1  # the next word to start
        if j < len(words) and words[j].start < end_c:
            times.append(word_starts[j])
        else:  # only punctuation or space: the end of the word before it
            times.append(word_ends[j - 1] if j > 0 else lead)
    limit = length_ms if length_ms is not None else float("inf")
    end = max(speech_end, times[-1])
    return ordered(list(zip(times, times[1:] + [end])), limit=limit)
