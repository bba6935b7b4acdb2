"""Local voice activity detection (webrtcvad) on microphone audio, for barge-in.

Server VAD only reports speech after a network round trip; a local detector lets the
assistant stop the moment the user starts talking over it. webrtcvad accepts 8/16/32/48
kHz frames of 10/20/30 ms, so 24 kHz input is resampled to 16 kHz. A turn starts after
``start_ms`` of voiced frames within the last ``window_ms`` and stops after
``stop_ms`` of unvoiced ones (hysteresis, as in webrtcvad's own example).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import soxr
import webrtcvad


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
    _consumed: int = field(init=False, default=0)  # input samples turned into frames
    _silent_frames: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if self.frame_ms not in (10, 20, 30):
            raise ValueError("webrtcvad frames are 10, 20 or 30 ms")
        self._vad = webrtcvad.Vad(self.aggressiveness)
        self._pending = np.zeros(0, np.int16)
        self._window = deque(maxlen=max(1, self.window_ms // self.frame_ms))

    @property
    def _frame_in(self) -> int:
        return self.sample_rate * self.frame_ms // 1000

    def _is_speech(self, frame: np.ndarray) -> bool:
        if self.sample_rate in (8000, 16000, 32000, 48000):
            pcm = frame
        else:
            pcm = soxr.resample(frame, self.sample_rate, _VAD_RATE)
            pcm = np.pad(pcm, (0, max(0, _VAD_RATE * self.frame_ms // 1000 - len(pcm))))
            pcm = pcm[: _VAD_RATE * self.frame_ms // 1000]
        rate = self.sample_rate if pcm is frame else _VAD_RATE
        return self._vad.is_speech(pcm.astype("<i2").tobytes(), rate)

    def feed(self, pcm: np.ndarray) -> list[VadEvent]:
        """Feed any number of int16 samples; returns the turn starts/stops they complete."""
        self._pending = np.concatenate([self._pending, np.asarray(pcm, np.int16).ravel()])
        events: list[VadEvent] = []
        n = self._frame_in
        while len(self._pending) >= n:
            frame, self._pending = self._pending[:n], self._pending[n:]
            self._consumed += n
            voiced = self._is_speech(frame)
            self._window.append(voiced)
            if not self.speaking:
                if sum(self._window) * self.frame_ms >= self.start_ms:
                    self.speaking, self._silent_frames = True, 0
                    events.append(VadEvent("started", self._consumed * 1000.0 / self.sample_rate))
            else:
                self._silent_frames = 0 if voiced else self._silent_frames + 1
                if self._silent_frames * self.frame_ms >= self.stop_ms:
                    self.speaking = False
                    self._window.clear()
                    events.append(VadEvent("stopped", self._consumed * 1000.0 / self.sample_rate))
        return events
