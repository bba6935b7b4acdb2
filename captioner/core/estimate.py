"""Where in an item's audio each transcript delta is spoken, when the server does not say.

An :class:`ItemEstimator` is fed one item's audio and text as they stream in and
answers, at any moment, an item-relative span for every delta. The engine asks again
whenever something arrives, so estimates are revised progressively; the answer given
once audio and text are both complete is the final timing.

:class:`AudioAlignedEstimator` (the default) times text against the audio itself:

* the audio becomes a 10 ms log-energy track, computed incrementally per chunk;
  frames above an adaptive level are *voiced*; long unvoiced runs are *pauses*;
* the text becomes pronunciation-aware spoken weight per delta (numbers, currency,
  times and acronyms are spoken longer than written) plus, at each word boundary,
  how likely a pause is there (sentence end > comma > plain word > inside a word);
* a small dynamic programme matches audio pauses to text boundaries, and between
  these anchors text weight is spread over *voiced* time only — so words land on
  speech, never inside silences, and speed changes between phrases are absorbed.

While audio is incomplete, the text it covers is found from the speaking rate
(syllable nuclei counted in the energy track, blended with a prior); text beyond the
received audio is paced after it and revised as more audio arrives.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

import numpy as np

Span = tuple[float, float]  # item-relative (start_ms, end_ms)


class ItemEstimator(Protocol):
    def add_audio(self, pcm: np.ndarray) -> None:
        """Append int16 mono samples of this item (at the estimator's sample rate)."""

    def add_text(self, text: str) -> None:
        """Append the next transcript delta."""

    def set_audio_length(self, audio_ms: float) -> None:
        """Audio length known without samples (WebRTC: started..stopped marks)."""

    def spans(self, audio_complete: bool, text_complete: bool) -> list[Span]:
        """One span per delta so far: ordered, non-overlapping, starts >= 0.

        When ``audio_complete`` every span ends within the item's audio.
        """


EstimatorFactory = Callable[[int], ItemEstimator]  # sample_rate -> estimator

# --------------------------------------------------------------------------- text

_VOWEL_GROUPS = re.compile(r"[aeiouy]+", re.IGNORECASE)
_PIECE = re.compile(
    r"\$?\d[\d,]*(?:\.\d+)?(?::\d\d)?(?:%|st|nd|rd|th|s)?|[A-Za-z]+(?:'[A-Za-z]+)?|[.,;:!?]|[-@/&+=#%$]"
)
_UNITS = {0: 0, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 2, 8: 1, 9: 1, 10: 1, 11: 3, 12: 1,
          13: 2, 14: 2, 15: 2, 16: 2, 17: 3, 18: 2, 19: 2}
_TENS = {2: 2, 3: 2, 4: 2, 5: 2, 6: 2, 7: 3, 8: 2, 9: 2}
_LETTER_SYLLABLES = {"w": 3}
_SYMBOLS = {"@": 1.0, "&": 1.0, "+": 1.0, "=": 2.0, "#": 1.0, "%": 2.0, "/": 1.0, "-": 0.0, "$": 0.0}
_PAUSE_AFTER = {".": 1.0, "!": 1.0, "?": 1.0, ";": 0.8, ":": 0.7, ",": 0.7, "-": 0.3}


def _number_syllables(n: int) -> float:
    """Syllables of an integer read as words ("one thousand two hundred ...")."""
    if n < 20:
        return max(1, _UNITS[n]) if n else 2  # "zero"
    if n < 100:
        return _TENS[n // 10] + (_UNITS[n % 10] if n % 10 else 0)
    if n < 1000:
        return _UNITS[n // 100] + 2 + (_number_syllables(n % 100) if n % 100 else 0)
    for scale, sylls in ((10**9, 2), (10**6, 2), (10**3, 2)):
        if n >= scale:
            rest = n % scale
            return _number_syllables(n // scale) + sylls + (_number_syllables(rest) if rest else 0)
    return 1.0


def _numeric_syllables(token: str) -> float:
    """Spoken length of a number-like token: currency, decimals, times, years, ordinals."""
    money = token.startswith("$")
    body = token.lstrip("$")
    suffix = re.search(r"(%|st|nd|rd|th|s)$", body)
    if suffix:
        body = body[: suffix.start()]
    total = 0.0
    if ":" in body:  # 10:45 -> "ten forty-five"
        parts = [p for p in body.split(":") if p]
        total = sum(_number_syllables(int(p)) if p != "00" else 0 for p in parts)
    else:
        whole, _, frac = body.partition(".")
        digits = whole.replace(",", "")
        if not digits.isdigit():
            return 1.0
        n = int(digits)
        if 1100 <= n <= 2099 and "," not in whole and not money:  # a year: "nineteen ninety"
            total = _number_syllables(n // 100) + (_number_syllables(n % 100) if n % 100 else 2)
        elif len(digits) > 9:  # read digit by digit
            total = 1.2 * len(digits)
        else:
            total = _number_syllables(n)
        if frac:
            total += 2 + (1.1 * len(frac) if not money else _number_syllables(int(frac)) + 1)
    if money:
        total += 2  # "dollars"
    if suffix:
        total += 2 if suffix.group() == "%" else 0.3
    return total


def _word_syllables(word: str) -> float:
    """Syllables of a written word; short all-caps words are spelled out (FBI, API)."""
    letters = word.replace("'", "")
    if letters.isupper() and 1 < len(letters) <= 5 and not (
        len(letters) >= 4 and _VOWEL_GROUPS.search(letters[1:-1])
    ):
        return float(sum(_LETTER_SYLLABLES.get(c.lower(), 1) for c in letters))
    low = letters.lower()
    n = len(_VOWEL_GROUPS.findall(low))
    if low.endswith("e") and not low.endswith(("le", "ee", "ye")) and n > 1:
        n -= 1  # silent e
    return float(max(1, n))


def spoken_units(text: str) -> float:
    """Spoken length of ``text`` in syllable-like units, pauses excluded.

    Consonant clusters lengthen a syllable, so letters add a little on top of the
    syllable count (a pure syllable count under-weights "strengths" vs "idea").
    """
    units = 0.0
    for piece in _PIECE.findall(text):
        ch = piece[0]
        if ch.isdigit() or (ch == "$" and len(piece) > 1):
            units += _numeric_syllables(piece)
        elif ch.isalpha():
            units += _word_syllables(piece) + 0.08 * len(piece)
        else:
            units += _SYMBOLS.get(piece, 0.0)
    return units


def pause_after(text: str) -> float:
    """How likely speech pauses after ``text`` (0..1), from its trailing punctuation."""
    stripped = text.rstrip()
    if not stripped:
        return 0.0
    return _PAUSE_AFTER.get(stripped[-1], 0.0)


def text_weight(text: str) -> float:
    """Rough spoken length of ``text`` in syllable units (punctuation adds a pause)."""
    weight = spoken_units(text)
    for ch in re.findall(r"[.,;:!?]", text):
        weight += 1.2 if ch in ".!?" else 0.6
    return weight


# -------------------------------------------------------------------------- audio

_HOP_MS = 10.0
_MIN_PAUSE_FRAMES = 8  # 80 ms: shorter gaps are stop closures, not phrase pauses
_NUCLEI_PER_UNIT = 1.0


@dataclass
class _Features:
    """10 ms log-energy frames of one item's audio, appended chunk by chunk."""

    sample_rate: int
    energy: list[float] = field(default_factory=list)
    _tail: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    _cache: Optional[tuple] = None  # (n_frames, voiced, cumulative voiced) for the current track

    @property
    def hop(self) -> int:
        return max(1, int(self.sample_rate * _HOP_MS / 1000))

    def add(self, pcm: np.ndarray) -> None:
        x = np.concatenate([self._tail, np.asarray(pcm, dtype=np.float32)])
        n = len(x) // self.hop
        if n:
            frames = x[: n * self.hop].reshape(n, self.hop)
            db = 10.0 * np.log10(np.mean(frames * frames, axis=1) + 1.0)
            self.energy.extend(db.tolist())
        self._tail = x[n * self.hop :]
        self._cache = None

    def voicing(self) -> tuple[np.ndarray, np.ndarray]:
        """(voiced flags, cumulative voiced frames before each frame, len n+1)."""
        if self._cache is not None and self._cache[0] == len(self.energy):
            return self._cache[1], self._cache[2]
        e = np.asarray(self.energy)
        if len(e) == 0:
            voiced = np.zeros(0, bool)
        else:
            floor = float(np.percentile(e, 5))
            peak = float(np.percentile(e, 98))
            threshold = max(floor + 0.3 * (peak - floor), floor + 6.0, 25.0)
            voiced = e > threshold
            voiced = _close_gaps(voiced, 2)  # fill 10-20 ms dropouts inside speech
        cum = np.concatenate([[0], np.cumsum(voiced)])
        self._cache = (len(self.energy), voiced, cum)
        return voiced, cum


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
    padded = np.concatenate([[1], voiced.astype(np.int8), [1]])
    d = np.diff(padded)
    starts = np.nonzero(d == -1)[0]
    ends = np.nonzero(d == 1)[0]
    first, last = int(np.argmax(voiced)), len(voiced) - int(np.argmax(voiced[::-1]))
    return [
        (int(s), int(e))
        for s, e in zip(starts, ends)
        if e - s >= _MIN_PAUSE_FRAMES and s > first and e < last
    ]


def _nuclei(energy: np.ndarray, voiced: np.ndarray) -> int:
    """Count syllable nuclei: prominent peaks of the smoothed energy inside voiced frames."""
    if len(energy) < 5:
        return 0
    smooth = np.convolve(energy, np.ones(5) / 5, mode="same")
    inner = smooth[1:-1]
    peaks = np.nonzero((inner > smooth[:-2]) & (inner >= smooth[2:]) & voiced[1:-1])[0] + 1
    count, last_idx, valley = 0, -100, math.inf
    for p in peaks:
        lo = float(smooth[last_idx:p].min()) if last_idx >= 0 else -math.inf
        if p - last_idx >= 8 and smooth[p] - lo >= 3.0:
            count += 1
            last_idx = p
    return count


# ---------------------------------------------------------------------- estimator


@dataclass
class AudioAlignedEstimator:
    """Text weight matched to voiced time, anchored at audio pauses (see module doc)."""

    sample_rate: int
    prior_ms_per_unit: float = 190.0  # voiced ms per spoken unit before the audio tells us
    prior_weight_units: float = 12.0  # how many units of evidence the prior is worth
    live_lag_ms: float = 20.0  # progressive answers lean late: early captions spoil speech
    texts: list[str] = field(default_factory=list)
    _units: list[float] = field(default_factory=list)
    _pause_before: list[float] = field(default_factory=list)
    _features: _Features = field(init=False)
    _audio_ms_override: Optional[float] = None

    def __post_init__(self) -> None:
        self._features = _Features(self.sample_rate)

    # -- feeding
    def add_audio(self, pcm: np.ndarray) -> None:
        self._features.add(pcm)

    def add_text(self, text: str) -> None:
        # Pause likelihood at this delta's start: only a new word (leading space) can
        # follow a pause, and punctuation before it makes one likely.
        if self.texts and text[:1].isspace():
            strength = max(0.1, pause_after(self.texts[-1]))
        else:
            strength = 0.0
        self.texts.append(text)
        self._units.append(spoken_units(text))
        self._pause_before.append(strength)

    def set_audio_length(self, audio_ms: float) -> None:
        self._audio_ms_override = audio_ms

    @property
    def audio_ms(self) -> float:
        if self._audio_ms_override is not None:
            return self._audio_ms_override
        return len(self._features.energy) * _HOP_MS

    # -- answering
    def spans(self, audio_complete: bool, text_complete: bool) -> list[Span]:
        if not self.texts:
            return []
        voiced, cum = self._features.voicing()
        if not voiced.any():  # no samples (WebRTC) or silence: pace over the known length
            return self._paced(audio_complete, text_complete)
        units = np.asarray(self._units)
        text_total = float(units.sum())
        voiced_total = float(cum[-1])  # frames
        if audio_complete and text_complete and text_total > 0:
            rate = text_total / voiced_total  # units per voiced frame
        else:
            nuclei = _nuclei(np.asarray(self._features.energy), voiced) * _NUCLEI_PER_UNIT
            prior_frames = self.prior_weight_units * self.prior_ms_per_unit / _HOP_MS
            rate = (nuclei + self.prior_weight_units) / (voiced_total + prior_frames)
        # How much text the received audio covers, and how much audio the text covers.
        if audio_complete:
            covered_units = text_total
            covered_frames = voiced_total if text_complete else min(voiced_total, text_total / rate)
        else:
            covered_units = min(text_total, voiced_total * rate)
            covered_frames = voiced_total if covered_units < text_total or text_complete else covered_units / rate
            if text_complete and covered_units >= text_total:
                covered_frames = voiced_total
        starts = np.concatenate([[0.0], np.cumsum(units)[:-1]])  # unit position of each delta
        anchors = self._anchors(voiced, cum, starts, covered_units, covered_frames, rate)
        lag = 0.0 if (audio_complete and text_complete) else self.live_lag_ms
        out: list[float] = []
        for i, pos in enumerate(starts):
            zero = units[i] <= 0.0
            out.append(self._time_of(pos, anchors, voiced, cum, rate, left=zero) + lag)
        end = self._time_of(text_total, anchors, voiced, cum, rate, left=True)
        if audio_complete:
            limit = self.audio_ms
            out = [min(t, limit) for t in out]
            end = min(end + lag, limit)
        spans: list[Span] = []
        prev = 0.0
        bounds = out[1:] + [max(end, out[-1])]
        for s, e in zip(out, bounds):
            s = max(prev, s)
            e = max(s, e)
            spans.append((s, e))
            prev = e
        return spans

    def _anchors(self, voiced, cum, starts, covered_units, covered_frames, rate) -> list[tuple[float, float]]:
        """(unit position, voiced frames) pairs: start, DP-matched pauses, end of coverage."""
        pauses = [p for p in _pauses(voiced) if cum[p[0]] < covered_frames]
        boundaries = [
            (float(pos), self._pause_before[i])
            for i, pos in enumerate(starts)
            if self._pause_before[i] > 0 and 0 < pos < covered_units
        ]
        # Collapse boundaries at the same unit position (punctuation deltas) to the strongest.
        merged: dict[float, float] = {}
        for pos, s in boundaries:
            merged[pos] = max(merged.get(pos, 0.0), s)
        bpos = sorted(merged)
        matched = _match_pauses(
            [float(cum[s]) for s, _ in pauses],
            [e - s for s, e in pauses],
            bpos,
            [merged[p] for p in bpos],
            covered_units / max(covered_frames, 1e-9),
            covered_units,
        )
        anchors = [(0.0, 0.0)] + [(bpos[j], float(cum[pauses[k][0]])) for k, j in matched]
        anchors.append((covered_units, covered_frames))
        return anchors

    def _time_of(self, pos, anchors, voiced, cum, rate, left: bool) -> float:
        """Item ms at which text unit position ``pos`` is spoken."""
        for (u0, f0), (u1, f1) in zip(anchors, anchors[1:]):
            if pos <= u1 or (u1, f1) == anchors[-1]:
                if pos <= u1 and u1 > u0:
                    frames = f0 + (pos - u0) * (f1 - f0) / (u1 - u0)
                elif pos <= u1:
                    frames = f0
                else:
                    frames = f1 + (pos - u1) / rate
                break
        else:
            frames = anchors[-1][1]
        total = float(cum[-1])
        if frames > total:  # beyond the received audio: keep pacing at the voiced rate
            return self.audio_ms + (frames - total) * _HOP_MS
        return _voiced_to_ms(frames, cum, left)

    def _paced(self, audio_complete: bool, text_complete: bool) -> list[Span]:
        """No usable samples: text weight over the known audio length, else at the prior pace."""
        weights = [max(text_weight(t), 0.05) for t in self.texts]
        total = sum(weights)
        scale = self.prior_ms_per_unit
        if audio_complete and self.audio_ms > 0:
            fit = self.audio_ms / total
            scale = fit if text_complete else min(scale, fit)
        spans, t = [], 0.0
        for w in weights:
            spans.append((t, t + w * scale))
            t += w * scale
        return spans


def _voiced_to_ms(frames: float, cum: np.ndarray, left: bool) -> float:
    """Item ms where the ``frames``-th voiced frame starts (``left``: where the previous ends)."""
    total = cum[-1]
    frames = min(max(frames, 0.0), float(total))
    whole = int(math.floor(frames))
    frac = frames - whole
    if left and frac == 0 and whole > 0:
        idx = int(np.searchsorted(cum, whole, side="left")) - 1  # frame holding voiced #whole
        return (idx + 1) * _HOP_MS
    if whole >= total:
        idx = int(np.searchsorted(cum, total, side="left")) - 1
        return (idx + 1) * _HOP_MS
    idx = int(np.searchsorted(cum, whole + 1, side="left")) - 1  # frame holding voiced #(whole+1)
    return (idx + frac) * _HOP_MS


def _match_pauses(
    pause_at: list[float],
    pause_len: list[int],
    bpos: list[float],
    strength: list[float],
    rate: float,
    total_units: float,
) -> list[tuple[int, int]]:
    """Monotonic matching of audio pauses to text boundaries (dynamic programming).

    Matching pause k to boundary j costs the squared distance between where the pause
    falls (in text units at the average rate) and the boundary, less a bonus for
    punctuation there; leaving a pause unmatched costs more the longer it is.
    """
    K, J = len(pause_at), len(bpos)
    if K == 0 or J == 0:
        return []
    tol = 1.5 + 0.12 * total_units
    INF = math.inf
    # best[k][j]: min cost with pauses < k handled and boundaries < j available.
    best = [[INF] * (J + 1) for _ in range(K + 1)]
    back: list[list[Optional[tuple[int, int, bool]]]] = [[None] * (J + 1) for _ in range(K + 1)]
    for j in range(J + 1):
        best[0][j] = 0.0
    for k in range(1, K + 1):
        skip = 0.6 + 0.25 * min(pause_len[k - 1], 40) / 10
        where = pause_at[k - 1] * rate
        for j in range(J + 1):
            cand = best[k - 1][j] + skip
            choice: Optional[tuple[int, int, bool]] = (k - 1, j, False)
            if j > 0:
                if best[k][j - 1] < cand:
                    cand, choice = best[k][j - 1], back[k][j - 1]
                d = (where - bpos[j - 1]) / tol
                m = best[k - 1][j - 1] + d * d - 2.5 * strength[j - 1]
                if m < cand:
                    cand, choice = m, (k - 1, j - 1, True)
            best[k][j] = cand
            back[k][j] = choice
    pairs: list[tuple[int, int]] = []
    k, j = K, J
    while k > 0:
        choice = back[k][j]
        if choice is None:
            break
        pk, pj, matched = choice
        if matched:
            pairs.append((pk, pj))
        k, j = pk, pj
    return sorted(pairs)


@dataclass
class ProportionalEstimator:
    """Baseline: text weight spread over the voiced extent of the audio (no alignment)."""

    sample_rate: int
    ms_per_unit: float = 1000.0 / 3.83  # LiveKit's syllables-per-second pace
    texts: list[str] = field(default_factory=list)
    _features: _Features = field(init=False)
    _audio_ms_override: Optional[float] = None

    def __post_init__(self) -> None:
        self._features = _Features(self.sample_rate)

    def add_audio(self, pcm: np.ndarray) -> None:
        self._features.add(pcm)

    def add_text(self, text: str) -> None:
        self.texts.append(text)

    def set_audio_length(self, audio_ms: float) -> None:
        self._audio_ms_override = audio_ms

    @property
    def audio_ms(self) -> float:
        if self._audio_ms_override is not None:
            return self._audio_ms_override
        return len(self._features.energy) * _HOP_MS

    def spans(self, audio_complete: bool, text_complete: bool) -> list[Span]:
        weights = [max(text_weight(t), 0.05) for t in self.texts]
        if not weights:
            return []
        voiced, _ = self._features.voicing()
        if voiced.any():
            idx = np.nonzero(voiced)[0]
            start, end = idx[0] * _HOP_MS, (idx[-1] + 1) * _HOP_MS
        else:
            start, end = 0.0, self.audio_ms
        scale = self.ms_per_unit
        if audio_complete:
            fit = (end - start) / sum(weights)
            scale = fit if text_complete else min(scale, fit)
        spans: list[Span] = []
        t = start
        for w in weights:
            spans.append((t, t + w * scale))
            t += w * scale
        return spans


def default_estimator(sample_rate: int) -> ItemEstimator:
    return AudioAlignedEstimator(sample_rate)
