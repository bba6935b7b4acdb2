"""Marks only: where each delta is spoken when an item has no samples at all.

A browser-recorded WebRTC session has no audio: only ``output_audio_buffer.started`` /
``.stopped`` / ``.cleared`` on the data channel say when the answer played. Its text is
then timed from speech-rate priors (phonetics, not any corpus):

* every written word lasts as long as its sounds take to say (``spoken_words``: the
  phones and syllables of its usual reading from the one reading table, so "$3,482.50"
  takes as long as "three thousand four hundred and eighty-two dollars fifty cents"):
  ~60 ms a sound plus ~40 ms a syllable (vowels are the long sounds), about 5
  syllables/s; the word before a pause is lengthened (phrase-final lengthening);
* punctuation takes time: a pause before a word in proportion to how strongly the text
  marks one (``pause_before``: ~300 ms at a sentence end, ~210 ms after a comma,
  nothing between plain words);
* the marks run ahead of the voice: both travel on the data channel, the voice on the
  media path, whose jitter buffer holds it ~100 ms (``MEDIA_LAG_MS``, measured on
  loopback: 97-121 ms). Speech then starts after the voice's leading silence and ends
  before its trailing silence, so the speech lies in
  ``[started + lag + lead silence, stopped + lag - trailing silence]``;
* once the stop mark gives the item's length (started..stopped) and the text is
  complete, the whole timeline is scaled to that speech span (one tempo for speech and
  pauses).

A cut item (``.cleared``, a truncate) has no known length: its text is paced at the
prior rate from where its speech starts and the cut keeps what fits before it.
"""

from __future__ import annotations

import bisect
from typing import Optional, Sequence

from captioner.core.estimators._base import Span, ordered
from captioner.core.estimators._text import SpokenWord, continues

__all__ = ["LEAD_SILENCE_MS", "MEDIA_LAG_MS", "PHONE_MS", "TRAIL_SILENCE_MS", "marks_spans", "pause_ms",
           "speech_edges", "word_ms", "word_times"]

# Segment durations of conversational English (pauses excluded): a consonant ~60 ms, a
# vowel ~100 ms, hence ~60 ms a sound and ~40 ms more a syllable: ~200 ms a syllable of
# ~2.7 sounds, the ~5 syllables/s articulation rate.
PHONE_MS = 60.0
SYLLABLE_MS = 40.0
# Silent pause between the sentences of one spoken answer: measured ~310 ms for espeak-ng,
# ~205 ms for Piper (its sentences joined back to back), 300-500 ms in conversational read
# speech. Weaker punctuation pauses less, in proportion: a comma ~0.7 of it (espeak-ng
# 150 ms, Piper 280 ms), a semicolon ~0.8 (260, 230).
SENTENCE_PAUSE_MS = 300.0
FINAL_LENGTHENING_MS = 70.0  # a phrase's last syllable is 30-50 % longer
MEDIA_LAG_MS = 100.0  # the voice's media path (jitter buffer, decoder) behind the data channel
# An utterance's edges. Its first word starts after the voice's lead-in silence, measured
# (first word onset in the item's audio): a neural voice (Piper) 40-60 ms, studio-recorded
# read speech (TIMIT) ~140 ms in either half of its speakers, trimmed synthesis (espeak-ng)
# none; the prior takes the middle of the two real voices, so neither is more than ~50 ms
# off. At the end a voice falls silent ~150 ms (Piper 140, TIMIT 150) after its last word,
# which it lengthens more than ``FINAL_LENGTHENING_MS`` says (TIMIT's last words run ~85 ms
# longer than the word model): ~220 ms of the span's end is not in the word model.
LEAD_SILENCE_MS = 95.0
TRAIL_SILENCE_MS = 220.0
MIN_TEMPO, MAX_TEMPO = 0.4, 2.5  # a known length never implies speech 2.5x faster/slower


def pause_ms(strength: float) -> float:
    """Expected silent pause before a word whose ``pause_before`` is ``strength`` (0..1):
    ~300 ms at a sentence end (1.0), ~210 ms at a comma (0.7), nothing between words (0.1)."""
    return SENTENCE_PAUSE_MS * strength if strength >= 0.3 else 0.0


def word_ms(word: SpokenWord) -> float:
    """How long ``word`` takes to say at the prior rate (its sounds and syllables)."""
    return PHONE_MS * word.phones + SYLLABLE_MS * word.syllables


def word_times(words: Sequence[SpokenWord]) -> tuple[list[float], list[float], float]:
    """Prior (start, end) of every word from speech start at the prior rate, and the total."""
    starts, ends = [], []
    t = 0.0
    for k, w in enumerate(words):
        if k:
            t += pause_ms(w.pause_before)
        nxt = words[k + 1].pause_before if k + 1 < len(words) else 1.0
        starts.append(t)
        t += word_ms(w) + (FINAL_LENGTHENING_MS * nxt if nxt >= 0.3 else 0.0)
        ends.append(t)
    return starts, ends, t


def speech_edges(length_ms: Optional[float]) -> tuple[float, Optional[float]]:
    """Where the speech starts and ends, ms after the started mark (end None while the
    item's length is unknown); a very short item's silences shrink with it."""
    lead, tail = MEDIA_LAG_MS + LEAD_SILENCE_MS, TRAIL_SILENCE_MS - MEDIA_LAG_MS
    if length_ms is None:
        return lead, None
    room = max(0.0, length_ms)
    silences = LEAD_SILENCE_MS + TRAIL_SILENCE_MS  # the lag moves both edges alike
    if silences > 0.5 * room:  # the silences can be no more than half the item
        f = 0.5 * room / silences
        lead, tail = lead * f, tail * f
    return lead, room - tail


def marks_spans(text: str, delta_starts: Sequence[int], words: Sequence[SpokenWord],
                length_ms: Optional[float], text_complete: bool,
                speech: Optional[tuple[float, float]] = None) -> list[Span]:
    """One item-relative span per delta (delta k starts at character ``delta_starts[k]`` of
    ``text``) from text alone; ``length_ms``: the item's marked length, None while unknown.
    ``speech``: where the speech starts and ends if known otherwise (default: from the
    marks, :func:`speech_edges`; benchmarks give the true span to measure the rest)."""
    if not delta_starts:
        return []
    starts, ends, total = word_times(words)
    lead, end_ms = speech if speech is not None else speech_edges(length_ms)
    tempo = 1.0
    if end_ms is not None:
        room = end_ms - lead
        if total > 0:
            fit = room / total
            # all the text is known to fill the span: scale to it; text still coming: never
            # slower than the prior, but no slower than fits either
            tempo = fit if text_complete else min(1.0, fit)
            tempo = min(max(tempo, MIN_TEMPO), MAX_TEMPO) if room > 0 else MIN_TEMPO
    word_starts = [lead + tempo * s for s in starts]
    word_ends = [lead + tempo * e for e in ends]
    speech_end = lead + tempo * total
    chars = [w.start for w in words]
    times = []
    for k, c in enumerate(delta_starts):
        end_c = delta_starts[k + 1] if k + 1 < len(delta_starts) else len(text)
        i = bisect.bisect_right(chars, c) - 1  # last word starting at or before c
        if i >= 0 and continues(words[i], text, c):  # a piece inside a word
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
