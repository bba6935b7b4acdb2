"""Where in an item's audio each transcript delta is spoken, when the server does not say.

An :class:`ItemEstimator` is fed one item's audio and text as they stream in and
answers, at any moment, an item-relative span for every delta. The engine asks again
whenever something arrives, so estimates are revised progressively; the answer given
once audio and text are both complete is the final timing.
"""

from __future__ import annotations

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

_VOWEL_GROUPS = re.compile(r"[aeiouy]+", re.IGNORECASE)
_DIGIT = re.compile(r"\d")


def text_weight(text: str) -> float:
    """Rough spoken length of ``text`` in syllable units (punctuation adds a pause)."""
    weight = 0.0
    for word in re.findall(r"[A-Za-z']+|\d|[.,;:!?]", text):
        if word.isdigit():
            weight += 1.5
        elif word in ".!?":
            weight += 1.2
        elif word in ",;:":
            weight += 0.6
        else:
            weight += max(1, len(_VOWEL_GROUPS.findall(word)))
    return weight


@dataclass
class ProportionalEstimator:
    """First estimator: text weight spread over the voiced part of the item's audio.

    While audio is still arriving it paces text at a nominal speaking rate; when the
    audio is complete it stretches the text over the voiced region (energy-gated).
    """

    sample_rate: int
    ms_per_unit: float = 1000.0 / 3.83  # LiveKit's syllables-per-second pace
    texts: list[str] = field(default_factory=list)
    _chunks: list[np.ndarray] = field(default_factory=list)
    _samples: int = 0
    _audio_ms_override: Optional[float] = None

    def add_audio(self, pcm: np.ndarray) -> None:
        self._chunks.append(np.asarray(pcm, dtype=np.int16))
        self._samples += len(pcm)

    def add_text(self, text: str) -> None:
        self.texts.append(text)

    def set_audio_length(self, audio_ms: float) -> None:
        self._audio_ms_override = audio_ms

    @property
    def audio_ms(self) -> float:
        if self._audio_ms_override is not None:
            return self._audio_ms_override
        return self._samples * 1000.0 / self.sample_rate

    def _voiced_region(self) -> tuple[float, float]:
        if not self._chunks:
            return 0.0, self.audio_ms
        audio = np.concatenate(self._chunks).astype(np.float32)
        hop = max(1, self.sample_rate // 100)  # 10 ms frames
        n = len(audio) // hop
        if n == 0:
            return 0.0, self.audio_ms
        energy = np.sqrt(np.mean(audio[: n * hop].reshape(n, hop) ** 2, axis=1))
        voiced = np.nonzero(energy > max(200.0, 0.05 * float(energy.max())))[0]
        if len(voiced) == 0:
            return 0.0, self.audio_ms
        return voiced[0] * 10.0, min(self.audio_ms, (voiced[-1] + 1) * 10.0)

    def spans(self, audio_complete: bool, text_complete: bool) -> list[Span]:
        weights = [max(text_weight(t), 0.05) for t in self.texts]
        if not weights:
            return []
        start, end = self._voiced_region() if self._chunks else (0.0, self.audio_ms)
        if audio_complete and text_complete:
            scale = (end - start) / sum(weights)
        else:
            scale = self.ms_per_unit
            if audio_complete:  # text still coming: never run past the audio
                scale = min(scale, (end - start) / sum(weights))
        spans: list[Span] = []
        t = start
        for w in weights:
            spans.append((t, t + w * scale))
            t += w * scale
        return spans


def default_estimator(sample_rate: int) -> ItemEstimator:
    return ProportionalEstimator(sample_rate)
