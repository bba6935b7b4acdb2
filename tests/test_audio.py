import numpy as np
import pytest

from captioner.core.wire import (PCM16, PCMA, PCMU, AudioFormat, AudioFormatError, decode_base64,
                                  decode_bytes, encode_base64, encode_samples, parse_format, resample, Resampler)


def test_format_descriptors_ga_and_beta():
    assert parse_format({"type": "audio/pcm", "rate": 24000}) == PCM16
    assert parse_format("pcm16") == PCM16
    assert parse_format({"type": "audio/pcmu"}) == PCMU == parse_format("g711_ulaw")
    assert parse_format({"type": "audio/pcma"}) == PCMA == parse_format("g711_alaw")
    assert parse_format({"type": "audio/pcm", "rate": 16000}).sample_rate == 16000
    for bad in ("mp3", {"type": "audio/ogg"}, None, 5):
        with pytest.raises(AudioFormatError):
            parse_format(bad)


def test_pcm16_is_little_endian_and_odd_byte_dropped():
    data = b"\x01\x00\xff\x7f\x05"
    assert decode_bytes(data, PCM16).tolist() == [1, 32767]


def _ulaw_reference(code: int) -> int:
    """ITU-T G.711 µ-law expansion, written out per sample."""
    u = ~code & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return (0x84 - t) if (u & 0x80) else (t - 0x84)


def _alaw_reference(code: int) -> int:
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if (a & 0x80) else -t


@pytest.mark.parametrize("fmt,ref", [(PCMU, _ulaw_reference), (PCMA, _alaw_reference)])
def test_g711_decode_matches_reference_and_roundtrips(fmt, ref):
    codes = bytes(range(256))
    assert decode_bytes(codes, fmt).tolist() == [ref(c) for c in codes]
    x = (np.sin(np.arange(4000) / 9.0) * 30000).astype(np.int16)
    back = decode_bytes(encode_samples(x, fmt), fmt).astype(int)
    # G.711 keeps ~13 bits: error grows with amplitude but stays within one segment step
    assert np.all(np.abs(back - x) <= np.maximum(16, np.abs(x.astype(int)) // 16 + 16))


def test_base64_roundtrip_and_bad_input():
    x = np.arange(-100, 100, dtype=np.int16)
    assert decode_base64(encode_base64(x, PCM16), PCM16).tolist() == x.tolist()
    with pytest.raises(AudioFormatError):
        decode_base64("!!!not base64", PCM16)


def test_ms_sample_conversion():
    fmt = AudioFormat("pcmu", 8000)
    assert fmt.ms_to_samples(125) == 1000 and fmt.samples_to_ms(8) == 1.0


def test_resample_gives_the_same_samples_for_the_same_audio():
    """libsoxr's int16 path dithers with a time-seeded generator (a 30 ms block came out
    9 ways in 300 calls); timing must depend on the audio only."""
    x = (np.random.default_rng(1).standard_normal(720) * 3000).astype(np.int16)
    outs = {resample(x, 24000, 16000).tobytes() for _ in range(100)}
    assert len(outs) == 1
    streamed = {Resampler(24000, 16000).feed(x, last=True).tobytes() for _ in range(100)}
    assert len(streamed) == 1
    y = resample(x, 24000, 16000)
    assert y.dtype == np.int16 and abs(len(y) - 480) <= 1
    # the same band-limited signal: a 440 Hz tone keeps its level
    t = np.arange(24000) / 24000
    tone = (10000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    assert abs(np.abs(resample(tone, 24000, 16000)[1000:-1000]).max() - 10000) < 50
