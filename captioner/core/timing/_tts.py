"""Adapters: a TTS service's timing payload -> :class:`TimedText` (ms into its audio)."""

from __future__ import annotations

from typing import Any

from captioner.core._timing import TimedText

__all__ = ["cartesia", "elevenlabs"]


def elevenlabs(alignment: Any) -> list[TimedText]:
    """ElevenLabs stream-input ``alignment`` / ``normalizedAlignment``: ``{chars,
    charStartTimesMs, charsDurationsMs}``, relative to the audio chunk it came with (pass
    that chunk's offset in the item to ``add_timing``). Ragged or non-numeric lists give
    what lines up; the engine drops negative or non-finite times."""
    if not isinstance(alignment, dict):
        return []
    chars = alignment.get("chars") or []
    starts = alignment.get("charStartTimesMs") or []
    durations = alignment.get("charsDurationsMs") or []
    return [TimedText(str(c), float(s), float(s) + float(d))
            for c, s, d in zip(chars, starts, durations) if _numbers(s, d)]


def cartesia(word_timestamps: Any) -> list[TimedText]:
    """Cartesia ``word_timestamps``: ``{words, start, end}`` in seconds into the audio."""
    if not isinstance(word_timestamps, dict):
        return []
    words = word_timestamps.get("words") or []
    starts = word_timestamps.get("start") or []
    ends = word_timestamps.get("end") or []
    return [TimedText(str(w), 1000.0 * float(s), 1000.0 * float(e))
            for w, s, e in zip(words, starts, ends) if _numbers(s, e)]


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
