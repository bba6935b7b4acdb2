"""Server VAD: the shared webrtcvad detector, reporting the way the Realtime API does.

Times are ms from the start of all input audio of the session; ``audio_start_ms`` is the
speech onset minus ``prefix_padding_ms``, ``audio_end_ms`` includes the
``silence_duration_ms`` that ended the turn (the real API's conventions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from captioner.edges.vad import SpeechDetector, VadEvent

FRAME_MS = 20


@dataclass
class ServerVad:
    threshold: float = 0.5  # 0..1, mapped onto webrtcvad's aggressiveness 0..3
    prefix_padding_ms: float = 300.0
    silence_duration_ms: float = 500.0
    min_speech_ms: int = 60  # this many ms of consecutive voiced frames start speech
    position_ms: float = 0.0  # input audio before the current detector (whole session)
    _detector: Optional[SpeechDetector] = field(default=None, repr=False)
    _fed: int = 0  # samples given to the current detector

    @property
    def in_speech(self) -> bool:
        return self._detector is not None and self._detector.speaking

    def reset(self) -> None:
        """Forget the current turn (buffer cleared/committed); the session clock keeps going."""
        self.position_ms = self.elapsed_ms
        self._detector, self._fed = None, 0

    def skip(self, ms: float) -> None:
        """Input audio that is not analysed (turn detection off) still advances the clock."""
        self.reset()
        self.position_ms += ms

    @property
    def elapsed_ms(self) -> float:
        """All input audio of the session so far."""
        d = self._detector
        return self.position_ms + (self._fed * 1000.0 / d.sample_rate if d else 0.0)

    def feed(self, samples: np.ndarray, sample_rate: int) -> list[VadEvent]:
        if self._detector is not None and self._detector.sample_rate != sample_rate:
            self.reset()  # input format changed: start a detector at the new rate
        if self._detector is None:
            step = int(self.min_speech_ms // FRAME_MS * FRAME_MS) or FRAME_MS
            self._detector = SpeechDetector(
                sample_rate=sample_rate, aggressiveness=min(3, max(0, int(self.threshold * 4))),
                frame_ms=FRAME_MS, start_ms=step, window_ms=step, stop_ms=int(self.silence_duration_ms))
        d = self._detector
        self._fed += len(samples)
        out = []
        for ev in d.feed(samples):
            decided_ms = self.position_ms + ev.at_ms
            if ev.kind == "started":  # the window was all voiced: onset is its first frame
                out.append(VadEvent("started", max(0.0, decided_ms - d.start_ms - self.prefix_padding_ms)))
            else:
                out.append(VadEvent("stopped", decided_ms))
        return out
