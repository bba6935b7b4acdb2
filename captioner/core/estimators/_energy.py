"""Audio-only estimation: word onsets from the audio's energy, no acoustic model.

:class:`AudioAlignedEstimator` (the fallback of :mod:`forced`, and the quick local answer
of :mod:`deferred`) times text against the audio itself:

* the audio becomes a 10 ms log-energy track, computed incrementally per chunk; from it
  come voicing, pauses, syllable nuclei and candidate word onsets (energy dips, pause ends);
* the text becomes pronunciation-aware spoken weight per word (numbers, currency, times,
  acronyms and abbreviations are spoken longer than written) plus how likely a pause
  precedes each word (sentence end > comma > plain space > glued);
* speech time is warped by the local syllable-nucleus rate, so a fast stretch holds more
  text per second than a slow one (speed changes inside an item);
* a banded Viterbi pass puts every word start on a candidate so word lengths match their
  weight, pauses fall at punctuation and deep dips are preferred; a second pass re-fits
  the local rate around each word.

While audio is incomplete, the received speech's nucleus count says how much text it
holds; words beyond it are paced after the audio and revised as more arrives.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Literal, Optional

import numpy as np

from captioner.core.estimators._base import AudioFed, Span, ordered, pace
from captioner.core.estimators._marks import marks_spans
from captioner.core.wire._audio import samples_to_ms
from captioner.core.estimators._text import SpokenWord, continues, speakable, spoken_share, spoken_words, text_weight

__all__ = ["AudioAlignedEstimator", "ProportionalEstimator", "syllable_level"]

# -------------------------------------------------------------------------- audio

_HOP_MS = 10.0
_MIN_PAUSE_FRAMES = 8  # 80 ms: shorter gaps are stop closures, not phrase pauses
_VOWEL_FRAMES = 4  # 40 ms: the shortest a vowel is loud for (a click is over sooner)


@dataclass
class _Features:
    """10 ms log-energy frames of one item's audio, appended chunk by chunk.

    Derived tracks (voicing, landmarks) are recomputed from the energy only when new
    frames arrived, so asking for spans after every text delta costs nothing extra.
    """

    sample_rate: int
    energy: list[float] = field(default_factory=list)
    samples: int = 0
    _tail: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    _cache: Optional["_Track"] = None
    _levels: Optional[tuple[np.ndarray, float]] = None

    @property
    def hop(self) -> int:
        return max(1, int(self.sample_rate * _HOP_MS / 1000))

    def add(self, pcm: np.ndarray) -> None:
        x = np.concatenate([self._tail, np.asarray(pcm, dtype=np.float32).ravel()])
        self.samples += len(x) - len(self._tail)
        n = len(x) // self.hop
        if n:
            frames = x[: n * self.hop].reshape(n, self.hop)
            db = 10.0 * np.log10(np.mean(frames * frames, axis=1) + 1.0)
            self.energy.extend(db.tolist())
        self._tail = x[n * self.hop :]
        self._cache = None

    def levels(self) -> tuple[np.ndarray, float]:
        if self._levels is None or len(self._levels[0]) != len(self.energy):
            e = np.asarray(self.energy, dtype=np.float64)
            self._levels = (e, float(np.percentile(e, 5)) if len(e) else 0.0)
        return self._levels

    def track(self) -> "_Track":
        if self._cache is None:
            self._cache = _Track.build(np.asarray(self.energy, dtype=np.float64))
        return self._cache


@dataclass
class _Track:
    """Voicing and word-onset candidates of an energy track (frames of 10 ms)."""

    voiced: np.ndarray  # bool per frame
    cum: np.ndarray  # voiced frames before each frame, len n+1
    cand: np.ndarray  # candidate onset frames, sorted
    score: np.ndarray  # 0..1 landmark strength per candidate
    pause_end: np.ndarray  # bool per candidate: first voiced frame after a pause
    pauses_before: np.ndarray  # pause ends strictly before each candidate
    nuc_cum: np.ndarray  # syllable nuclei before each frame, len n+1 (speaking-rate evidence)
    onset: int = 0  # first frame of speech (see build)

    @classmethod
    def build(cls, e: np.ndarray) -> "_Track":
        n = len(e)
        if n == 0:
            z = np.zeros(0, np.int64)
            return cls(np.zeros(0, bool), np.zeros(1, np.int64), z, np.zeros(0), z.astype(bool), z,
                       np.zeros(1, np.int64))
        floor = float(np.percentile(e, 5))
        peak = float(np.percentile(e, 98))
        voiced = e > max(floor + 0.3 * (peak - floor), floor + 6.0, 25.0)
        voiced = _close_gaps(voiced, 2)  # 10-20 ms dropouts inside speech
        cum = np.concatenate([[0], np.cumsum(voiced)])
        pauses = _pauses(voiced)
        # Energy minima are where words start inside connected speech (closures, dips).
        sm = np.convolve(np.pad(e, 1, mode="edge"), np.ones(3) / 3, mode="valid")
        if n >= 3:
            inner = np.arange(1, n - 1)
            is_min = (sm[inner] <= sm[inner - 1]) & (sm[inner] < sm[inner + 1])
            mins = inner[is_min]
        else:
            mins = np.zeros(0, np.int64)
        w = 6
        padded = np.pad(sm, w, mode="edge")
        win = np.lib.stride_tricks.sliding_window_view(padded, w)
        left_max = win[mins]  # sm[m-w : m]
        right_max = win[mins + w + 1]  # sm[m+1 : m+w+1]
        depth = np.minimum(left_max.max(axis=1), right_max.max(axis=1)) - sm[mins]
        keep = depth >= 1.5
        mins, depth = mins[keep], depth[keep]
        inside = np.zeros(n + 1, bool)
        for s, t in pauses:
            inside[s:t] = True
        sel = ~inside[mins]
        pause_ends = np.asarray([t for _, t in pauses], dtype=np.int64)
        cand = np.concatenate([mins[sel], pause_ends])
        score = np.concatenate([np.clip(depth[sel] / 12.0, 0.0, 1.0), np.ones(len(pause_ends))])
        is_pe = np.concatenate([np.zeros(sel.sum(), bool), np.ones(len(pause_ends), bool)])
        order = np.argsort(cand, kind="stable")
        cand, score, is_pe = cand[order], score[order], is_pe[order]
        pauses_before = np.searchsorted(pause_ends, cand, side="left")
        nuc = np.zeros(n, np.int64)
        nuc[_nuclei(sm, voiced)] = 1
        return cls(voiced, cum, cand, score, is_pe, pauses_before, np.concatenate([[0], np.cumsum(nuc)]),
                   _onset(e, voiced, syllable_level(e, floor)))

    @property
    def ends_in_pause(self) -> bool:
        """The audio so far ends in a pause: the next word starts after it."""
        idx = np.nonzero(self.voiced)[0]
        return len(idx) > 0 and len(self.voiced) - int(idx[-1]) - 1 >= _MIN_PAUSE_FRAMES

    @property
    def speech(self) -> tuple[int, int]:
        """First frame of speech and one past the last voiced frame."""
        idx = np.nonzero(self.voiced)[0]
        return max(int(idx[0]), self.onset), int(idx[-1]) + 1


def syllable_level(energy: np.ndarray, floor: float) -> float:
    """How loud a syllable gets: 0.6 of the way from the noise floor to the peak (the 98th
    percentile frame). A breath or a click stays under it."""
    return floor + 0.6 * (float(np.percentile(energy, 98)) - floor)


def _onset(e: np.ndarray, voiced: np.ndarray, strong: float) -> int:
    """Where speech starts: the first voiced run that holds a syllable's loudness as long
    as a vowel lasts. A run before it that does not is a breath or a click before the
    first word (real recordings often open with one: a lip click is as loud as a vowel,
    for 10-30 ms), not speech."""
    idx = np.nonzero(voiced)[0]
    if len(idx) == 0:
        return 0
    breaks = np.nonzero(np.diff(idx) > 1)[0]
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks] + 1, [idx[-1] + 1]])
    for a, b in zip(starts, ends):
        if int(np.count_nonzero(e[a:b] >= strong)) >= _VOWEL_FRAMES:
            return int(a)
    return int(idx[0])


def _close_gaps(flags: np.ndarray, max_gap: int) -> np.ndarray:
    """Mark as voiced any unvoiced run of <= max_gap frames between voiced frames."""
    out = flags.copy()
    idx = np.nonzero(flags)[0]
    if len(idx) < 2:
        return out
    gaps = np.diff(idx)
    for i in np.nonzero((gaps > 1) & (gaps <= max_gap + 1))[0]:
        out[idx[i] + 1 : idx[i + 1]] = True
    return out


def _pauses(voiced: np.ndarray) -> list[tuple[int, int]]:
    """Internal unvoiced runs (start frame, end frame) at least _MIN_PAUSE_FRAMES long."""
    if not voiced.any():
        return []
    d = np.diff(np.concatenate([[1], voiced.astype(np.int8), [1]]))
    starts, ends = np.nonzero(d == -1)[0], np.nonzero(d == 1)[0]
    first, last = int(np.argmax(voiced)), len(voiced) - int(np.argmax(voiced[::-1]))
    return [
        (int(s), int(t))
        for s, t in zip(starts, ends)
        if t - s >= _MIN_PAUSE_FRAMES and s > first and t < last
    ]


def _nuclei(sm: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Frames of syllable nuclei: voiced energy peaks >= 3 dB above the dip before them."""
    if len(sm) < 3:
        return np.zeros(0, np.int64)
    inner = np.arange(1, len(sm) - 1)
    peaks = inner[(sm[inner] > sm[inner - 1]) & (sm[inner] >= sm[inner + 1]) & voiced[inner]]
    out: list[int] = []
    last, low, prev = -100, math.inf, 0
    for p in peaks:
        low = min(low, float(sm[prev : p + 1].min()))
        prev = p
        if p - last >= 7 and sm[p] - low >= 3.0:
            out.append(int(p))
            last, low = p, math.inf
    return np.asarray(out, dtype=np.int64)


# ---------------------------------------------------------------------- estimator


@dataclass
class _EnergyFed(AudioFed):
    """An estimator keeping the item's incremental energy features."""

    _features: _Features = field(init=False)

    def __post_init__(self) -> None:
        self._features = _Features(self.sample_rate)

    def add_audio(self, pcm: np.ndarray) -> None:
        self._features.add(pcm)

    def energy(self) -> tuple[np.ndarray, float]:
        """The 10 ms log-energy track so far and its floor (5th percentile, dB)."""
        return self._features.levels()

    def voiced(self) -> np.ndarray:
        """Per 10 ms frame: is it speech? (Relative to the item's range, so it holds
        before the item has had a pause to measure its noise floor in.)"""
        return self._features.track().voiced

    @property
    def audio_ms(self) -> float:
        if self._audio_ms_override is not None:
            return self._audio_ms_override
        return samples_to_ms(self._features.samples, self.sample_rate)


@dataclass
class AudioAlignedEstimator(_EnergyFed):
    """Word onsets found on energy landmarks by dynamic programming (see module doc).

    Each word's start is placed on a candidate frame (an energy dip or the end of a
    pause) so that the voiced time between consecutive starts matches the words'
    spoken weight at the local speaking rate, pauses fall where punctuation is, and
    deep dips are preferred. A banded Viterbi pass, run twice: the second with the
    speaking rate re-estimated around every word (speed changes inside an item).
    """

    prior_ms_per_unit: float = 150.0  # voiced ms per spoken unit before the audio tells us
    prior_weight_units: float = 10.0  # how many units of evidence the prior is worth
    live_lag_ms: float = 20.0  # progressive answers lean late: early captions spoil speech
    _text_len: int = 0
    _delta_starts: list[int] = field(default_factory=list)
    _joined: tuple[int, str] = (0, "")
    _word_cache: tuple[int, list[SpokenWord]] = (-1, [])

    def add_text(self, text: str) -> None:
        self._delta_starts.append(self._text_len)
        super().add_text(text)
        self._text_len += len(text)

    @property
    def text(self) -> str:
        """The text so far, joined when asked (``+=`` per delta copies it all each time:
        quadratic in a hostile stream of tiny deltas)."""
        if self._joined[0] != self._text_len:
            self._joined = (self._text_len, "".join(self.texts))
        return self._joined[1]

    def words(self) -> list[SpokenWord]:
        if self._word_cache[0] != self._text_len:
            self._word_cache = (self._text_len, spoken_words(self.text))
        return self._word_cache[1]

    # -- answering
    def spans(self) -> list[Span]:
        if not self.texts:
            return []
        audio_complete, text_complete = self.audio_complete, self.text_complete
        tr = self._features.track()
        words = self.words()
        if not tr.voiced.any() or not words:  # no samples (WebRTC), silence, no words yet
            return self._paced()
        if audio_complete and len(speakable(words, self.audio_ms)) < len(words):
            return self._paced()  # more text than any voice says in this audio: no landmarks to find
        first, last = tr.speech
        units = np.array([w.units for w in words])
        starts_u = np.concatenate([[0.0], np.cumsum(units)[:-1]])
        final = audio_complete and text_complete
        cu = self._axis(tr, first, last, float(units.sum()) if final else None)
        held = float(cu[last] - cu[first])  # text units the received speech holds
        # Words the received audio covers (all of them once both are complete).
        if final or (audio_complete and units.sum() <= held):
            covered = len(words)
        else:
            margin = 0.0 if audio_complete else 1.0  # the last word may be cut off
            covered = max(1, int(np.searchsorted(starts_u, held - margin, side="left")))
        fixed_end = final or (covered == len(words) and audio_complete)
        end: _End = "fixed" if fixed_end else "free" if audio_complete else "open"
        onsets = _align(tr, first, last, words[:covered], cu, end)
        # Axis position (units after speech start) of every word start, and of the end.
        vpos = [float(cu[f] - cu[first]) for f in onsets]
        after = vpos[-1] + units[len(onsets) - 1]
        if not audio_complete:
            after = max(after, held)  # the words not heard yet start after the speech received
        covered = len(onsets)
        for w in words[covered:]:
            vpos.append(after)
            after += w.units
        vend = held if fixed_end else after
        per_unit = max(last - first, 1) / max(held, 1e-6)  # frames per unit, pauses included
        lag = 0.0 if final else self.live_lag_ms

        def at(v: float, left: bool) -> float:
            return self._axis_ms(float(cu[first]) + v, cu, per_unit, left)

        word_starts = [w.start for w in words]
        times = [self._delta_time(c, words, word_starts, onsets, vpos, vend, at) + lag for c in self._delta_starts]
        end = at(vend, True) + lag
        if audio_complete:
            times = [min(t, self.audio_ms) for t in times]
            end = min(end, self.audio_ms)
        return ordered(list(zip(times, times[1:] + [max(end, times[-1])])))

    def _axis(self, tr: "_Track", first: int, last: int, total_units: Optional[float]) -> np.ndarray:
        """Cumulative text units at each frame boundary: speech time warped by the local
        syllable rate, so a fast stretch holds more text per second than a slow one.

        Scaled to ``total_units`` when the whole text is known to fill the audio, else
        by the units-per-nucleus calibration with a prior pace for short evidence.
        """
        n = len(tr.voiced)
        f = np.arange(n)
        lo = np.clip(f - _RATE_HALF_WINDOW, first, last)
        hi = np.clip(f + _RATE_HALF_WINDOW + 1, first, last)
        V, N = tr.cum, tr.nuc_cum
        local = (N[hi] - N[lo]) / np.maximum(V[hi] - V[lo], 30)
        prior_frames = self.prior_weight_units * self.prior_ms_per_unit / _HOP_MS
        prior_nuclei = self.prior_weight_units / _UNITS_PER_NUCLEUS
        overall = (N[last] - N[first] + prior_nuclei) / (V[last] - V[first] + prior_frames)
        density = _LOCAL_WEIGHT * local + (1 - _LOCAL_WEIGHT) * overall
        rho = np.where(tr.voiced & (f >= first) & (f < last), density, 0.0)
        cu = np.concatenate([[0.0], np.cumsum(rho)])
        if total_units is not None and cu[-1] > 0:
            return cu * (total_units / cu[-1])
        return cu * _UNITS_PER_NUCLEUS

    def _axis_ms(self, v: float, cu: np.ndarray, per_unit: float, left: bool) -> float:
        """Item ms where axis position ``v`` is reached (``left``: before a pause, else after)."""
        total = float(cu[-1])
        if v > total:
            return self.audio_ms + (v - total) * per_unit * _HOP_MS
        v = max(v, 0.0)
        i = int(np.searchsorted(cu, v, side="left"))
        if i < len(cu) and cu[i] == v:
            j = i if left else int(np.searchsorted(cu, v, side="right")) - 1
            return j * _HOP_MS
        i = max(i, 1)
        step = cu[i] - cu[i - 1]
        return (i - 1 + ((v - cu[i - 1]) / step if step > 0 else 0.0)) * _HOP_MS

    def _delta_time(self, c, words, word_starts, onsets, vpos, vend, at) -> float:
        """Item ms where the delta starting at character ``c`` is spoken."""
        i = bisect.bisect_right(word_starts, c) - 1  # last word starting at/before c
        if i >= 0 and continues(words[i], self.text, c):  # inside a word cut in pieces
            w = words[i]
            nxt = vpos[i + 1] if i + 1 < len(vpos) else vend
            if i < len(onsets) and i + 1 >= len(vpos):
                nxt = vpos[i] + w.units
            return at(vpos[i] + spoken_share(self.text[w.start : w.end], c - w.start) * (nxt - vpos[i]), False)
        j = i if i >= 0 and c == words[i].start else i + 1  # the next word to start
        if j < len(words) and self._owns(c, words[j].start):
            return onsets[j] * _HOP_MS if j < len(onsets) else at(vpos[j], False)
        # Only punctuation/space: it belongs to the end of the previous word.
        return at(vpos[j] if j < len(vpos) else vend, True)

    def _owns(self, c: int, word_start: int) -> bool:
        """Does the delta starting at ``c`` contain ``word_start``?"""
        k = bisect.bisect_right(self._delta_starts, c) - 1
        end = self._delta_starts[k + 1] if k + 1 < len(self._delta_starts) else self._text_len
        return c <= word_start < end

    def _paced(self) -> list[Span]:
        """No usable samples: text weight over the known audio length, else at the prior
        pace; while the audio received is silence, after it (the speech comes later)."""
        if self._features.samples == 0:  # marks only (WebRTC, no audio): speech-rate priors
            return marks_spans(self.text, self._delta_starts, self.words(), self._audio_ms_override,
                               self.text_complete)
        weights = [max(text_weight(t), 0.05) for t in self.texts]
        start_ms = 0.0
        if self._features.samples and not self.audio_complete:
            start_ms = self.audio_ms + self.live_lag_ms
        return pace(weights, start_ms, self.prior_ms_per_unit, self.audio_ms if self.audio_complete else None,
                    fit_exactly=self.text_complete)



_SIGMA = 0.6  # log-duration tolerance of a word against its expected length
_W_LANDMARK = 1.0
_W_PAUSE_INSIDE = 3.0
_W_PUNCT_NO_PAUSE = 10.0
_RATE_WINDOW = 4  # words each side when re-estimating the local speaking rate
_RATE_HALF_WINDOW = 120  # frames each side for the syllable-rate axis
_LOCAL_WEIGHT = 1.0  # local vs whole-item syllable rate on the axis
_UNITS_PER_NUCLEUS = 1.0  # text units per detected nucleus (measured on the corpus: 0.98)


def _spread(cu: np.ndarray, first: int, last: int, pos: np.ndarray) -> list[int]:
    """Frames where the axis reaches ``pos`` (no candidates to choose from)."""
    frames = np.searchsorted(cu, cu[first] + pos, side="left")
    return [int(min(max(f, first), last)) for f in frames]


_End = Literal["fixed", "free", "open"]  # how a Viterbi path ends (see _viterbi)


def _align(tr: _Track, first: int, last: int, words: list[SpokenWord], cu: np.ndarray, end: _End) -> list[int]:
    """Onset frame of each word: Viterbi on the rate axis, then with local corrections."""
    if not words:
        return []
    units = np.array([w.units for w in words])
    onsets = _viterbi(tr, first, last, units, [w.pause_before for w in words], cu, end)
    words, units = words[: len(onsets)], units[: len(onsets)]  # the rest start after the audio
    if len(words) < 3:
        return onsets
    v = np.array([cu[f] - cu[first] for f in onsets], dtype=np.float64)
    stop = float(cu[last] - cu[first]) if end == "fixed" else v[-1] + units[-1]
    dur = np.diff(np.append(v, stop))
    k = _RATE_WINDOW
    local = np.array([
        dur[max(0, i - k) : i + k + 1].sum() / units[max(0, i - k) : i + k + 1].sum()
        for i in range(len(words))
    ])
    return _viterbi(tr, first, last, units * local, [w.pause_before for w in words], cu, end)


def _viterbi(
    tr: _Track, first: int, last: int, expected: np.ndarray, strength: list[float],
    cu: np.ndarray, end: _End,
) -> list[int]:
    """Start frame of each word: the cheapest path through onset candidates.

    ``expected`` is each word's length on the rate axis ``cu``. ``end``: "fixed", the last
    word ends where speech ends; "free", the path may end anywhere (more text will
    follow); "open", as "free", but audio is still arriving and may end inside any word:
    the path may also stop after any word, which is then still being spoken (only a
    length past its expected one costs), and the words after it start after the audio -
    fewer starts are returned. The axis misjudges how much text the speech holds (an
    emphatic "Okay!" counts as four syllables), and forcing a word onto a candidate then
    puts it inside the word before.
    """
    starts = [first]
    if len(expected) == 1:
        return starts
    sel = (tr.cand > first) & (tr.cand < last)
    cf = tr.cand[sel]
    pos = np.concatenate([[0.0], np.cumsum(expected)])
    if len(cf) == 0:
        return starts + _spread(cu, first, last, pos[1:-1])
    cv = cu[cf] - cu[first]
    land = _W_LANDMARK * tr.score[sel]
    is_pe = tr.pause_end[sel]
    pe_f = is_pe.astype(np.float64)
    pb = tr.pauses_before[sel].astype(np.float64)
    pb0 = float(np.sum(tr.cand[tr.pause_end] <= first))
    held = float(cu[last] - cu[first])
    # How far a word may sit from its place on the axis: the syllable rate misjudges a
    # stretch read slowly (digits, spelling) by half, and with the text's end free only
    # this bound keeps its words off a wrong pause.
    band = max(6.0, 0.5 * pos[-1])
    n = len(cf)

    def dur_cost(d: np.ndarray, exp: float) -> np.ndarray:
        z = np.log((np.maximum(d, 0.0) + 0.2) / (exp + 0.2)) / _SIGMA
        return z * z

    def still_spoken(d: np.ndarray, exp: float) -> np.ndarray:
        return np.where(d > exp, dur_cost(d, exp), 0.0)

    # A word after punctuation starts after a pause, or this costs.
    no_pause = [_W_PUNCT_NO_PAUSE * max(0.0, s - 0.3) for s in strength]
    # A word that starts after the audio received starts where that audio ends: after a
    # pause if it ends in one, else inside speech.
    after_pause = tr.ends_in_pause

    def unstarted(j: int) -> float:
        return 0.0 if after_pause else no_pause[j]

    stop = (math.inf, 0, 0)  # (cost, words placed, candidate of the last placed one)
    if end == "open":
        stop = (float(still_spoken(np.array([held]), expected[0])[0]) + unstarted(1), 1, 0)
    cost = np.zeros(0)
    back: list[np.ndarray] = []
    for j in range(1, len(expected)):
        if end == "open" and j >= 2:
            ending = cost + still_spoken(held - cv, expected[j - 1]) + unstarted(j)
            if np.min(ending) < stop[0]:
                stop = (float(np.min(ending)), j, int(np.argmin(ending)))
        node = -land + np.where(is_pe, 0.0, no_pause[j])
        node = np.where(np.abs(cv - pos[j]) <= band, node, np.inf)
        if j == 1:
            cost = dur_cost(cv, expected[0]) + _W_PAUSE_INSIDE * np.maximum(pb - pb0, 0.0) + node
            back.append(np.zeros(n, np.int64))
            continue
        d = cv[None, :] - cv[:, None]
        trans = dur_cost(d, expected[j - 1]) + _W_PAUSE_INSIDE * np.maximum(
            pb[None, :] - pb[:, None] - pe_f[:, None], 0.0)
        trans[d <= 0] = np.inf
        total = cost[:, None] + trans
        arg = np.argmin(total, axis=0)
        cost = total[arg, np.arange(n)] + node
        back.append(arg)
    if end == "fixed":
        n_pe = float(np.sum(tr.cand[tr.pause_end] < last))
        cost = cost + dur_cost(held - cv, expected[-1]) + _W_PAUSE_INSIDE * np.maximum(
            n_pe - pb - pe_f, 0.0)
    if np.isfinite(cost).any() and np.min(cost) <= stop[0]:
        placed, at = len(expected), int(np.argmin(cost))
    elif math.isfinite(stop[0]):
        placed, at = stop[1], stop[2]
    else:
        return starts + _spread(cu, first, last, pos[1:-1])
    if placed == 1:
        return starts
    path = [at]
    for arg in reversed(back[1 : placed - 1]):
        path.append(int(arg[path[-1]]))
    path.reverse()
    return starts + [int(cf[i]) for i in path]


@dataclass
class ProportionalEstimator(_EnergyFed):
    """Baseline: text weight spread over the voiced extent of the audio (no alignment)."""

    ms_per_unit: float = 1000.0 / 3.83  # LiveKit's syllables-per-second pace

    def spans(self) -> list[Span]:
        weights = [max(text_weight(t), 0.05) for t in self.texts]
        if not weights:
            return []
        tr = self._features.track()
        if tr.voiced.any():
            first, last = tr.speech
            start, end = first * _HOP_MS, last * _HOP_MS
        else:
            start, end = 0.0, self.audio_ms
        return pace(weights, start, self.ms_per_unit, end - start if self.audio_complete else None,
                    fit_exactly=self.text_complete)
