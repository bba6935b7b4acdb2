"""Client events the engine asks the app to send, typed (as h11's events are).

Each carries the ``event_id`` the engine gave it, so when the app reports it as sent
(``CaptionEngine.sent``) — as this object or as the wire dict — the engine knows it is
its own and that its effect is already applied, and a server ``error`` naming that id
is recognised as the answer to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

__all__ = ["CancelResponse", "ClearOutputBuffer", "ClientEvent", "TruncateItem"]


@dataclass(frozen=True)
class TruncateItem:
    """``conversation.item.truncate``: the item was heard up to ``audio_end_ms``."""

    event_id: str
    item_id: str
    audio_end_ms: int
    content_index: int = 0

    def to_wire(self) -> dict:
        return {"type": "conversation.item.truncate", "event_id": self.event_id, "item_id": self.item_id,
                "content_index": self.content_index, "audio_end_ms": self.audio_end_ms}


@dataclass(frozen=True)
class CancelResponse:
    """``response.cancel``: stop generating the response in progress."""

    event_id: str
    response_id: Optional[str] = None

    def to_wire(self) -> dict:
        event = {"type": "response.cancel", "event_id": self.event_id}
        if self.response_id:
            event["response_id"] = self.response_id
        return event


@dataclass(frozen=True)
class ClearOutputBuffer:
    """``output_audio_buffer.clear`` (WebRTC): without it the server keeps sending audio."""

    event_id: str

    def to_wire(self) -> dict:
        return {"type": "output_audio_buffer.clear", "event_id": self.event_id}


ClientEvent = Union[TruncateItem, CancelResponse, ClearOutputBuffer]
