"""espeak-ng speech with the exact sample position of every word.

Used by the embedded server (its voice, and ``duration_ms`` when asked) and by the
benchmarks (ground truth). Talks to libespeak-ng through ctypes in synchronous mode:
the synth callback hands over audio blocks together with WORD events whose ``sample``
field is the word's first sample in the output stream.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np
from captioner.core.wire import resample

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_EVENT_WORD = 1
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE = 1
_PITCH = 3
DEFAULT_PITCH = 50  # espeak-ng's own default


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class EspeakUnavailable(RuntimeError):
    """libespeak-ng is not installed (Debian: ``apt-get install libespeak-ng1 espeak-ng``)."""


@dataclass(frozen=True)
class WordMark:
    text_start: int  # character offset of the word in the synthesised text
    length: int  # characters
    sample: int  # first sample of the word in ``Speech.samples``

    def text(self, source: str) -> str:
        return source[self.text_start : self.text_start + self.length]


@dataclass(frozen=True)
class Speech:
    samples: np.ndarray  # int16 mono
    sample_rate: int
    words: list[WordMark]

    @property
    def duration_ms(self) -> float:
        return len(self.samples) * 1000.0 / self.sample_rate


class _Espeak:
    """Process-wide handle: the library keeps global state, so calls are serialised."""

    def __init__(self) -> None:
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(path)
        except OSError as exc:
            raise EspeakUnavailable(str(exc)) from exc
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.native_rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
        if self.native_rate <= 0:
            raise EspeakUnavailable("espeak_Initialize failed (espeak-ng-data missing?)")
        self.lock = threading.Lock()
        self._blocks: list[np.ndarray] = []
        self._marks: list[tuple[int, int, int]] = []
        self._callback = _Callback(self._on_synth)  # keep a reference alive
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, numsamples, events) -> int:
        if numsamples > 0 and wav:
            self._blocks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        i = 0
        while events[i].type != 0:  # LIST_TERMINATED
            ev = events[i]
            if ev.type == _EVENT_WORD:
                self._marks.append((ev.text_position, ev.length, ev.sample))
            i += 1
        return 0

    def _say(self, text: str) -> None:
        data = text.encode("utf-8") + bytes(1)
        self.lib.espeak_Synth(ctypes.c_char_p(data), ctypes.c_size_t(len(data)), 0, _POS_CHARACTER, 0,
                              _CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()

    def synth(self, text: str, voice: str, wpm: int, pitch: Optional[int]) -> tuple[np.ndarray, list]:
        with self.lock:
            self._blocks, self._marks = [], []
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"unknown espeak-ng voice {voice!r}")
            self.lib.espeak_SetParameter(_RATE, int(wpm), 0)
            # always set: espeak keeps the last call's pitch, so the same text would sound
            # (and time) differently depending on what was said before
            self.lib.espeak_SetParameter(_PITCH, DEFAULT_PITCH if pitch is None else int(pitch), 0)
            # espeak carries some of the last utterance's settings into the next one (a voice
            # variant, its pitch): a throwaway utterance first, so what comes out depends on
            # this call alone and not on what was said before
            self._say("a.")
            self._blocks, self._marks = [], []
            self._say(text)
            audio = np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.int16)
            return audio.astype(np.int16), list(self._marks)


_instance: Optional[_Espeak] = None
_instance_lock = threading.Lock()


def _espeak() -> _Espeak:
    """The one handle of the process: two ``espeak_Initialize`` calls at once crash the library."""
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = _Espeak()
        return _instance


def available() -> bool:
    try:
        _espeak()
        return True
    except EspeakUnavailable:
        return False


def synthesize(
    text: str,
    voice: str = "en-us",
    wpm: int = 175,
    sample_rate: int = 24000,
    pitch: Optional[int] = None,
) -> Speech:
    """Speak ``text``; every word comes back with its character span and first sample."""
    engine = _espeak()
    audio, marks = engine.synth(text, voice, wpm, pitch)
    ratio = sample_rate / engine.native_rate
    # espeak counts characters from 1; clamp to the text in case of trailing marks.
    # After a number it sometimes emits a stray WORD event that points back into the
    # text at a later sample; a word never starts before the previous one, so drop it.
    words: list[WordMark] = []
    for pos, length, sample in marks:
        mark = WordMark(max(0, pos - 1), length, int(round(sample * ratio)))
        if words and (mark.text_start < words[-1].text_start or mark.sample < words[-1].sample):
            continue
        words.append(mark)
    return Speech(resample(audio, engine.native_rate, sample_rate) if len(audio) else audio, sample_rate, words)
