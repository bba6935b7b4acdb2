"""OpenAI GPT-Live (``/v1/live``) events -> typed events (openai-python ``types/live``).

A different dialect from the Realtime API: ``session.*`` events, no items, responses or
truncate. Transcript deltas carry ``start_ms`` / ``end_ms`` on the Live session timeline
(ms from session start); output audio on the primary WebSocket carries none (sideband
reflections do). Its ``session.start`` / ``session.started`` and input appends share the
Realtime parsers (``_events``: one ``audio.format`` for both directions). Parsers raise
``ValueError`` on a missing field; ``_events`` turns that into ``Malformed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Literal, Optional

__all__ = ["LIVE_SERVER", "LiveAudio", "LiveClosed", "LiveTranscript"]


@dataclass(frozen=True)
class LiveAudio:
    """``session.output_audio.delta``: base64 audio, in delivery order; a sideband
    reflection also says where it lies on the session timeline (end exclusive)."""

    delta: str
    start_ms: Optional[float]
    end_ms: Optional[float]


@dataclass(frozen=True)
class LiveTranscript:
    """``session.output_transcript.delta`` (assistant) / ``session.input_transcript.delta`` (user)."""

    role: Literal["assistant", "user"]
    text: str
    start_ms: float
    end_ms: float


@dataclass(frozen=True)
class LiveClosed:
    reason: Optional[str]


def _time(ev: dict, key: str, required: bool = True) -> Optional[float]:
    value = ev.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{key} missing or not a finite number >= 0: {value!r}")
    return float(value)


def _delta(ev: dict, key: str = "delta") -> str:
    value = ev.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} missing or not a string")
    return value


def _transcript(role: Literal["assistant", "user"]) -> Callable[[dict], LiveTranscript]:
    def parse(ev: dict) -> LiveTranscript:
        start, end = _time(ev, "start_ms"), _time(ev, "end_ms")
        assert start is not None and end is not None
        if end < start:
            raise ValueError(f"end_ms {end} before start_ms {start}")
        return LiveTranscript(role, _delta(ev), start, end)
    return parse


def _audio(ev: dict) -> LiveAudio:
    start, end = _time(ev, "start_ms", required=False), _time(ev, "end_ms", required=False)
    if start is not None and end is not None and end < start:
        start = end = None  # a reflection's range that makes no sense: play it in order, untimed
    return LiveAudio(_delta(ev), start, end)


def _closed(ev: dict) -> LiveClosed:
    reason = ev.get("reason")
    return LiveClosed(reason if isinstance(reason, str) else None)


LIVE_SERVER: dict[str, Callable[[dict], Any]] = {
    "session.output_audio.delta": _audio,
    "session.output_transcript.delta": _transcript("assistant"),
    "session.input_transcript.delta": _transcript("user"),
    "session.closed": _closed,
}
