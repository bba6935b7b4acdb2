"""GPT-Live: the Live session timeline mapped onto items the engine can play and caption.

The Live API has no items: the model's output is one audio stream, played in delivery
order, and transcript deltas say where they lie on the *session timeline* (ms from session
start). The mapping, stated once:

* **Output.** Stream position ``p`` (ms of output audio delivered so far, in order) is
  session-timeline ms ``origin + p``: the output stream is the session's output media,
  continuous from its first frame. ``origin`` is 0 (the stream starts with the session)
  unless a chunk says where it lies (sideband reflections carry ``start_ms``): the first
  such chunk fixes it. A later chunk whose ``start_ms`` is past where the stream has got to
  means frames were dropped: the gap is played as silence, so what follows keeps its place
  on the timeline. A chunk that starts before that point overlaps what was delivered: the
  overlapping part is dropped (logged), so stream and timeline stay in step.
* **Turns.** The stream is cut into assistant items ("turns", ``live_out_N``) so the
  timeline reads as a conversation: a turn ends when the user speaks (an input transcript
  delta) or the app interrupts playback; the next output audio (or text ahead of it) opens
  the next turn where the stream has got to. A delta at timeline ``T`` belongs to the turn
  holding stream position ``T - origin``, at item offset ``T - origin - turn start``. Text
  ahead of its audio waits until the audio at its start is delivered (which turn holds it
  is not known before; it cannot play earlier anyway), or the session ends.
* **Input.** User speech is on the capture clock: timeline ``T`` is ``T`` ms into the input
  audio the app streamed from the session's start. Each user turn (``live_in_N``) gathers
  the input deltas between two assistant turns.
* **Interruption.** There is no truncate: the server owns turn-taking and stops speaking
  by itself. A local interrupt only stops playback (captions cut at the played position,
  queued audio dropped) and closes the turn; nothing is sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional

from captioner.core.estimators._base import Span

__all__ = ["LiveTimeline", "Turn"]

log = logging.getLogger(__name__)

_TOLERANCE_MS = 0.5  # timeline ms are integers: half a millisecond is "the same place"


@dataclass
class Turn:
    item_id: str
    stream_start_ms: float
    open: bool = True


@dataclass
class LiveTimeline:
    origin_ms: Optional[float] = None
    delivered_ms: float = 0.0  # output stream position reached (audio delivered + gaps filled)
    turns: list[Turn] = field(default_factory=list)
    user_turn: Optional[tuple[str, float]] = None  # open user item and its first start_ms
    ahead: list[tuple[str, float, float, float]] = field(default_factory=list)  # text, at, start, end
    _n_out: int = 0
    _n_in: int = 0

    @property
    def origin(self) -> float:
        return self.origin_ms if self.origin_ms is not None else 0.0

    def current(self) -> Turn:
        """The open output turn, opened where the stream has got to if there is none."""
        if not self.turns or not self.turns[-1].open:
            self._n_out += 1
            self.turns.append(Turn(f"live_out_{self._n_out}", self.delivered_ms))
            self.user_turn = None  # the assistant speaks: the user's turn is over
        return self.turns[-1]

    def gap_before(self, start_ms: Optional[float]) -> float:
        """ms of silence to play before a chunk said to start at ``start_ms`` (dropped
        frames); negative: it overlaps what was delivered (logged by the caller)."""
        if start_ms is None:
            return 0.0
        if self.origin_ms is None:
            self.origin_ms = start_ms - self.delivered_ms
            return 0.0
        return start_ms - (self.origin_ms + self.delivered_ms)

    def delivered(self, ms: float) -> None:
        self.delivered_ms += ms

    def is_ahead(self, start_ms: float) -> bool:
        """Is the audio at ``start_ms`` still to come?"""
        return start_ms - self.origin >= self.delivered_ms - _TOLERANCE_MS

    def due(self, final: bool = False) -> list[tuple[str, float, float, float]]:
        """Waiting text whose audio has now been delivered (all of it when ``final``)."""
        ready = [a for a in self.ahead if final or not self.is_ahead(a[2])]
        self.ahead = [a for a in self.ahead if a not in ready]
        return ready

    def place(self, start_ms: float, end_ms: float) -> Optional[tuple[str, Span]]:
        """An output delta's turn and item-relative span (None: before the stream began)."""
        p0, p1 = start_ms - self.origin, end_ms - self.origin
        if p0 < -_TOLERANCE_MS:
            return None
        turn = next((t for t in reversed(self.turns) if t.stream_start_ms <= p0 + _TOLERANCE_MS), None)
        if turn is None:
            turn = self.current()
        base = turn.stream_start_ms
        return turn.item_id, (max(0.0, p0 - base), max(0.0, p1 - base))

    def end_turn(self) -> Optional[str]:
        """Close the open output turn (the user spoke, or playback was interrupted)."""
        if self.turns and self.turns[-1].open:
            self.turns[-1].open = False
            return self.turns[-1].item_id
        return None

    def user(self, start_ms: float) -> tuple[str, float, bool]:
        """The user item for an input delta at ``start_ms``: (id, its first start, new?)."""
        if self.user_turn is None:
            self._n_in += 1
            self.user_turn = (f"live_in_{self._n_in}", start_ms)
            return self.user_turn[0], start_ms, True
        return self.user_turn[0], self.user_turn[1], False
