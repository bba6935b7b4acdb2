"""Conversation items and their lifecycle: the one place an item's state changes.

An assistant item is announced (by the server, or by its first text or audio), receives
audio, plays, and ends one of three ways: played out, truncated at a played offset, or
cancelled before anything of it was heard::

    announced -> receiving -> playing -> played
                         \\           \\-> truncated
                          \\-> cancelled

A user item follows the same path on the capture clock: receiving while the person
speaks (speech started), played once speech stopped.

Every item is timed by one audio source, fixed by what the server sends for it: audio
events (WebSocket: samples arrive as ``response.output_audio.delta``), a received media
track (WebRTC with the track's audio handed to the engine) or playback marks only
(WebRTC ``output_audio_buffer.started/stopped/cleared`` and no samples). The engine moves
items through :meth:`Item.move`; nothing else writes ``phase``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

from captioner.core._model import Role
from captioner.core._timeline import ItemCaptions

__all__ = ["AudioSource", "Item", "ItemState", "Phase", "Transition"]


class Phase(str, Enum):
    ANNOUNCED = "announced"
    RECEIVING = "receiving"
    PLAYING = "playing"
    PLAYED = "played"
    TRUNCATED = "truncated"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return id(self) in _ENDED


# compared by identity: asked for every item at every playback step
_ENDED = frozenset({id(Phase.PLAYED), id(Phase.TRUNCATED), id(Phase.CANCELLED)})


class AudioSource(str, Enum):
    EVENTS = "audio events"  # samples arrive as audio delta events
    TRACK = "track"  # samples come from a received media track (WebRTC)
    MARKS = "marks"  # no samples: output_audio_buffer.started/stopped mark playback
    CAPTURE = "capture"  # user speech on the capture clock


# Which phases an item may move to from each phase: anything else is a bug in the engine.
_NEXT: dict[Phase, frozenset[Phase]] = {
    Phase.ANNOUNCED: frozenset({Phase.RECEIVING, Phase.PLAYING, Phase.TRUNCATED, Phase.CANCELLED, Phase.PLAYED}),
    Phase.RECEIVING: frozenset({Phase.PLAYING, Phase.TRUNCATED, Phase.CANCELLED, Phase.PLAYED}),
    Phase.PLAYING: frozenset({Phase.PLAYED, Phase.TRUNCATED}),
    Phase.PLAYED: frozenset({Phase.TRUNCATED}),  # a cut confirmed after the voice ended
    Phase.TRUNCATED: frozenset(),
    Phase.CANCELLED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Transition:
    phase: Phase
    at_ms: float
    cause: str  # the event (or engine decision) that moved it


@dataclass(slots=True)
class Item:
    """An item as the engine tracks it (its captions, its place on a clock)."""

    item_id: str
    role: Role
    source: AudioSource
    captions: ItemCaptions
    phase: Phase = Phase.ANNOUNCED
    response_id: Optional[str] = None
    history: list[Transition] = field(default_factory=list)
    cut_confirmed: bool = False  # the server acknowledged the truncation
    # marks source: playback started / ended at these session times
    marked_start_ms: Optional[float] = None
    marked_end_ms: Optional[float] = None
    # track source: the stop mark came (the audio it marks is still arriving) and how much
    # quiet track audio followed it
    stop_mark_ms: Optional[float] = None
    quiet_after_stop_ms: float = 0.0

    def move(self, phase: Phase, at_ms: float, cause: str) -> bool:
        """Enter ``phase`` if the lifecycle allows it; False (and no change) otherwise."""
        if phase == self.phase or phase not in _NEXT[self.phase]:
            return False
        self.phase = phase
        self.history.append(Transition(phase, at_ms, cause))
        return True

    @property
    def cut_ms(self) -> Optional[float]:
        """Item-relative offset where playback was cut (None: not cut)."""
        return self.captions.truncated_at_ms

    def state(self, received_ms: float) -> "ItemState":
        return ItemState(self.item_id, self.role, self.phase, self.source, self.response_id,
                         received_ms, self.captions.audio_complete, self.captions.text_complete,
                         self.cut_ms, self.cut_confirmed, tuple(self.history))


@dataclass(frozen=True)
class ItemState:
    """A snapshot of one item for edges and tests (``CaptionEngine.item_state``)."""

    item_id: str
    role: Role
    phase: Phase
    source: AudioSource
    response_id: Optional[str]
    received_ms: float  # audio received so far (marks: the marked length)
    audio_complete: bool
    text_complete: bool
    cut_ms: Optional[float]
    cut_confirmed: bool
    history: tuple[Transition, ...]
