"""The client's side of the GPT-Live dialect (``/v1/live``): its URL and the few client
events that differ from the Realtime API. Everything else (playback, captions, logs) is
the same engine: it recognises Live events by their names."""

from __future__ import annotations

from typing import Optional
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from captioner.core.wire import PCM16, AudioFormat, encode_base64

__all__ = ["LIVE_MODEL", "OPENAI_LIVE_URL", "append_event", "live_url", "session_start"]

OPENAI_LIVE_URL = "wss://api.openai.com/v1/live"
LIVE_MODEL = "gpt-live-1"


def live_url(url: Optional[str] = None) -> str:
    """A bare ``.../v1`` base gets ``/live`` added; the model goes in ``session.start``."""
    parts = urlsplit(url or OPENAI_LIVE_URL)
    path = parts.path.rstrip("/")
    if path.endswith("/v1") or path == "":
        path += "/live" if path else "/v1/live"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def session_start(model: str, instructions: Optional[str] = None) -> dict:
    """The first client event of a Live WebSocket: pcm16 24 kHz both ways (one format)."""
    session: dict = {"model": model, "audio": {"format": {"type": "audio/pcm", "rate": 24000}}}
    if instructions:
        session["instructions"] = instructions
    return {"type": "session.start", "session": session}


def append_event(pcm: np.ndarray, fmt: AudioFormat = PCM16) -> dict:
    """One block of microphone audio."""
    return {"type": "session.input_audio.append", "audio": encode_base64(np.asarray(pcm, np.int16), fmt)}
