"""Build realtime event sequences for tests: GA or beta names, tone audio."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from captioner.core.wire import LogRecord

GA = {
    "audio": "response.output_audio.delta",
    "audio_done": "response.output_audio.done",
    "text": "response.output_audio_transcript.delta",
    "text_done": "response.output_audio_transcript.done",
    "item": "conversation.item.added",
}
BETA = {
    "audio": "response.audio.delta",
    "audio_done": "response.audio.done",
    "text": "response.audio_transcript.delta",
    "text_done": "response.audio_transcript.done",
    "item": "conversation.item.created",
}


def pcm_b64(n_samples: int, value: int = 3000) -> str:
    return base64.b64encode(np.full(n_samples, value, "<i2").tobytes()).decode()


@dataclass
class SessionBuilder:
    names: dict = field(default_factory=lambda: dict(GA))
    records: list[LogRecord] = field(default_factory=list)
    _n: int = 0

    def server(self, t: float, event: dict) -> None:
        self._n += 1
        self.records.append(LogRecord(t, "server", {"event_id": f"e{self._n}", **event}))

    def client(self, t: float, event: dict) -> None:
        self.records.append(LogRecord(t, "client", event))

    def item(self, t: float, item_id: str, role: str = "assistant") -> None:
        self.server(t, {"type": self.names["item"],
                        "item": {"id": item_id, "role": role, "type": "message"}})

    def audio(self, t: float, item_id: str, ms: float, response_id: str = "r1") -> None:
        self.server(t, {"type": self.names["audio"], "item_id": item_id, "response_id": response_id,
                        "output_index": 0, "content_index": 0, "delta": pcm_b64(int(ms * 24))})

    def audio_done(self, t: float, item_id: str, response_id: str = "r1") -> None:
        self.server(t, {"type": self.names["audio_done"], "item_id": item_id,
                        "response_id": response_id, "output_index": 0, "content_index": 0})

    def text(self, t: float, item_id: str, delta: str, duration_ms: Optional[float] = None,
             response_id: str = "r1") -> None:
        event = {"type": self.names["text"], "item_id": item_id, "response_id": response_id,
                 "output_index": 0, "content_index": 0, "delta": delta}
        if duration_ms is not None:
            event["duration_ms"] = duration_ms
        self.server(t, event)

    def sorted(self) -> list[LogRecord]:
        return sorted(self.records, key=lambda r: r.t)


def ask(est, audio_complete: bool = False, text_complete: bool = False, budget_ms=1000.0):
    """Tell an estimator what is complete, let it take one step of work, read its answer
    (what the engine's pump does for an item)."""
    est.complete(audio_complete, text_complete)
    est.step(budget_ms)
    return est.spans()


def settle(est) -> None:
    est.step(None)
