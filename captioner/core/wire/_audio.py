"""Realtime API audio formats: pcm16 24 kHz and G.711 µ-law / A-law 8 kHz.

Everything is decoded to int16 mono at the format's own rate; the playback clock
counts samples at that rate.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import soxr

Encoding = Literal["pcm16", "pcmu", "pcma"]


class AudioFormatError(ValueError):
    pass


def samples_to_ms(samples: float, sample_rate: int) -> float:
    """Duration of ``samples`` at ``sample_rate``: the one place ms and samples meet."""
    return samples * 1000.0 / sample_rate


def ms_to_samples(ms: float, sample_rate: int) -> float:
    """Sample position (fractional) ``ms`` into audio at ``sample_rate``; callers round."""
    return ms * sample_rate / 1000.0


@dataclass(frozen=True)
class AudioFormat:
    encoding: Encoding = "pcm16"
    sample_rate: int = 24000

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.encoding == "pcm16" else 1

    def ms_to_samples(self, ms: float) -> int:
        return int(round(ms_to_samples(ms, self.sample_rate)))

    def samples_to_ms(self, samples: int) -> float:
        return samples_to_ms(samples, self.sample_rate)

    def ga_descriptor(self) -> dict:
        if self.encoding == "pcm16":
            return {"type": "audio/pcm", "rate": self.sample_rate}
        return {"type": f"audio/{self.encoding}"}

    def beta_descriptor(self) -> str:
        return {"pcm16": "pcm16", "pcmu": "g711_ulaw", "pcma": "g711_alaw"}[self.encoding]


MIN_RATE, MAX_RATE = 8000, 48000  # what voice audio is sent at; anything else is a mistake
PCM16 = AudioFormat("pcm16", 24000)
PCMU = AudioFormat("pcmu", 8000)
PCMA = AudioFormat("pcma", 8000)

_BY_NAME: dict[str, AudioFormat] = {
    "pcm16": PCM16,
    "audio/pcm": PCM16,
    "g711_ulaw": PCMU,
    "audio/pcmu": PCMU,
    "g711_alaw": PCMA,
    "audio/pcma": PCMA,
}


def parse_format(descriptor: Any) -> AudioFormat:
    """GA ``{"type": "audio/pcm", "rate": 24000}`` or beta ``"pcm16"`` / ``"g711_ulaw"``."""
    if isinstance(descriptor, dict):
        name = descriptor.get("type")
        fmt = _BY_NAME.get(name) if isinstance(name, str) else None
        if fmt is None:
            raise AudioFormatError(f"unknown audio format {descriptor!r}")
        rate = descriptor.get("rate")
        if fmt.encoding != "pcm16" or rate is None:
            return fmt
        if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
            raise AudioFormatError(f"unusable sample rate {rate!r:.40} (expected {MIN_RATE}..{MAX_RATE} Hz)")
        return AudioFormat("pcm16", rate)
    if isinstance(descriptor, str) and descriptor in _BY_NAME:
        return _BY_NAME[descriptor]
    raise AudioFormatError(f"unknown audio format {descriptor!r}")


# --- G.711 (ITU-T), vectorised over lookup tables -------------------------------

def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


_ULAW_DECODE = _ulaw_decode_table()
_ALAW_DECODE = _alaw_decode_table()


def _nearest_code_table(decode: np.ndarray) -> np.ndarray:
    """int16 value (offset by 32768) -> code whose decoded value is nearest."""
    order = np.argsort(decode, kind="stable")
    values = decode[order].astype(np.int32)
    x = np.arange(-32768, 32768, dtype=np.int32)
    idx = np.clip(np.searchsorted(values, x), 1, len(values) - 1)
    left, right = values[idx - 1], values[idx]
    pick = np.where(x - left <= right - x, idx - 1, idx)
    return order[pick].astype(np.uint8)


_ULAW_ENCODE = _nearest_code_table(_ULAW_DECODE)
_ALAW_ENCODE = _nearest_code_table(_ALAW_DECODE)


def decode_bytes(data: bytes, fmt: AudioFormat) -> np.ndarray:
    """Wire bytes -> int16 samples. A trailing odd byte of pcm16 is dropped."""
    if fmt.encoding == "pcm16":
        usable = len(data) - (len(data) % 2)
        return np.frombuffer(data[:usable], dtype="<i2").astype(np.int16)
    table = _ULAW_DECODE if fmt.encoding == "pcmu" else _ALAW_DECODE
    return table[np.frombuffer(data, dtype=np.uint8)]


def encode_samples(pcm: np.ndarray, fmt: AudioFormat) -> bytes:
    pcm = np.asarray(pcm, dtype=np.int16)
    if fmt.encoding == "pcm16":
        return pcm.astype("<i2").tobytes()
    table = _ULAW_ENCODE if fmt.encoding == "pcmu" else _ALAW_ENCODE
    return table[pcm.astype(np.int32) + 32768].tobytes()


def decode_base64(delta: str, fmt: AudioFormat) -> np.ndarray:
    """Decode a ``delta`` field; raises AudioFormatError on bad base64."""
    try:
        data = base64.b64decode(delta, validate=False)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise AudioFormatError(f"bad base64 audio: {exc}") from exc
    return decode_bytes(data, fmt)


def encode_base64(pcm: np.ndarray, fmt: AudioFormat) -> str:
    return base64.b64encode(encode_samples(pcm, fmt)).decode("ascii")


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def resample(pcm: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """int16 audio at another rate (soxr, high quality), the same output for the same input.

    libsoxr dithers int16 output with a seed taken from the time and a pointer, so its
    int16 path gives different samples on every call; the float path does not, so audio
    goes through float32 and is rounded here.
    """
    pcm = np.asarray(pcm, np.int16).ravel()
    if src_rate == dst_rate:
        return pcm.copy()
    return _to_int16(soxr.resample(pcm.astype(np.float32), src_rate, dst_rate))


class Resampler:
    """Streaming :func:`resample`: feed blocks, get what is ready; ``last=True`` flushes.
    (The output still depends on how the input was cut into blocks, by an LSB or two:
    callers that need the same samples for the same audio feed fixed blocks.)"""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate, self.dst_rate = src_rate, dst_rate
        self._stream = soxr.ResampleStream(src_rate, dst_rate, 1, dtype="float32") if src_rate != dst_rate else None

    def feed(self, pcm: np.ndarray, last: bool = False) -> np.ndarray:
        pcm = np.asarray(pcm, np.int16).ravel()
        if self._stream is None:
            return pcm.copy()
        return _to_int16(self._stream.resample_chunk(pcm.astype(np.float32), last=last))
