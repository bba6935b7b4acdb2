"""Local voice activity detection (webrtcvad) on microphone audio, for barge-in.

Server VAD only reports speech after a network round trip; a local detector lets the
assistant stop the moment the user starts talking over it. webrtcvad accepts 8/16/32/48
kHz frames of 10/20/30 ms, so 24 kHz input is resampled (as one stream) to 16 kHz. A turn starts after
``start_ms`` of voiced frames within the last ``window_ms`` and stops after
``stop_ms`` of unvoiced ones (hysteresis, as in webrtcvad's own example).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import webrtcvad

from captioner.core.wire import Resampler


_VAD_RATE = 16000


@dataclass(frozen=True)
class VadEvent:
    """A speech turn started or stopped, at ``at_ms`` of the detector's input audio (where
    the decision was made; the embedded server's VAD reports it on its session's clock)."""

    kind: Literal["started", "stopped"]
    at_ms: float


@dataclass
class SpeechDetector:
    sample_rate: int = 24000
    aggressiveness: int = 2  # webrtcvad mode 0..3 (3 = most eager to call audio non-speech)
    frame_ms: int = 30
    start_ms: int = 150
    stop_ms: int = 600
    window_ms: int = 300
    speaking: bool = False
    _vad: webrtcvad.Vad = field(init=False, repr=False)
    _pending: np.ndarray = field(init=False, repr=False)
    _window: deque = field(init=False, repr=False)
    _resampler: Resampler = field(init=False, repr=False)
    _rate: int = field(init=False, default=_VAD_RATE)  # what webrtcvad is given
    _consumed: int = field(init=False, default=0)  # samples (at the detector's rate) turned into frames
    _silent_frames: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.frame_ms not in (10, 20, 30):
            raise ValueError("webrtcvad frames are 10, 20 or 30 ms")
        self._vad = webrtcvad.Vad(self.aggressiveness)
        self._pending = np.zeros(0, np.int16)
        self._window = deque(maxlen=max(1, self.window_ms // self.frame_ms))
        native = self.sample_rate in (8000, 16000, 32000, 48000)
        self._rate = self.sample_rate if native else _VAD_RATE
        self._resampler = Resampler(self.sample_rate, self._rate)

    def feed(self, pcm: np.ndarray) -> list[VadEvent]:
        """Feed any number of int16 samples; returns the turn starts/stops they complete."""
        self._pending = np.concatenate([self._pending, self._resampler.feed(pcm)])
        events: list[VadEvent] = []
        n = self._rate * self.frame_ms // 1000
        while len(self._pending) >= n:
            frame, self._pending = self._pending[:n], self._pending[n:]
            self._consumed += n
            voiced = self._vad.is_speech(frame.astype("<i2").tobytes(), self._rate)
            self._window.append(voiced)
            if not self.speaking:
                if sum(self._window) * self.frame_ms >= self.start_ms:
                    self.speaking, self._silent_frames = True, 0
                    events.append(VadEvent("started", self._consumed * 1000.0 / self._rate))
            else:
                self._silent_frames = 0 if voiced else self._silent_frames + 1
                if self._silent_frames * self.frame_ms >= self.stop_ms:
                    self.speaking = False
                    self._window.clear()
                    events.append(VadEvent("stopped", self._consumed * 1000.0 / self._rate))
        return events
