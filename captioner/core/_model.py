"""Plain data shared by the core and the edges: integer samples, float milliseconds.

All times are milliseconds on the *session clock* (0 = session start) unless a
name says ``item`` (relative to the item's first audio sample).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, Optional

__all__ = ["Caption", "ItemRecord", "Period", "Problem", "Role", "Timeline"]

Role = Literal["assistant", "user"]


@dataclass(frozen=True, slots=True)
class Problem:
    """Input the engine skipped, and why (kept in a bounded list; counts are kept whole)."""

    kind: str  # "malformed", "duplicate", "skipped", "failed"
    event_type: str  # the wire event type concerned ("?" when it had none)
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} {self.event_type}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Caption:
    """One transcript delta placed on the session clock.

    A caption may be revised (estimates refined as audio arrives); ``final`` says its
    timing will not change any more. A viewer must not see it before
    :attr:`shown_ms`.
    """

    item_id: str
    role: Role
    index: int  # 0-based delta position within its item, arrival order
    text: str
    start_ms: float
    end_ms: float
    arrived_ms: float
    final: bool = False
    truncated: bool = False  # the item was interrupted and this is its last heard caption
    show_delay_ms: float = 0.0  # an estimated start is shown this much later (live views)
    hold_ms: float = 0.0  # an estimate of text still arriving in a burst waits this long after arrival

    @property
    def ready_ms(self) -> float:
        """When the caption's text may be shown: on arrival, or once the burst of text that
        brought it paused (an estimate of a partial text may move with the next delta)."""
        return self.arrived_ms + self.hold_ms

    @property
    def shown_ms(self) -> float:
        """Earliest moment a live viewer can see this caption."""
        return max(self.start_ms + self.show_delay_ms, self.ready_ms)


@dataclass(slots=True)
class ItemRecord:
    """What the timeline knows about one conversation item (timeline JSON ``items[]``)."""

    item_id: str
    role: Role
    start_ms: float  # session ms of the first played sample (user: speech start)
    end_ms: float  # session ms after the last played sample (user: speech end)
    audio_ms: float  # item audio received (assistant) / speech length (user)
    truncated_at_ms: Optional[float] = None  # item-relative
    # how its captions were timed: "aligned" (to its audio), "provider" (the server's or a
    # TTS's times), "mixed" (some deltas given, the rest estimated), "marks"
    # (spread over a marked span), "spread" (by spoken weight) - see core/_capture.py, _timing.py
    timing: Optional[str] = None


@dataclass(slots=True)
class Period:
    """Timeline JSON ``periods[]`` entry."""

    kind: Literal["caption", "silence"]
    item_id: Optional[str]
    index: Optional[int]
    start_ms: float
    duration_ms: float
    text: str = ""

    @property
    def end_ms(self) -> float:
        return self.start_ms + self.duration_ms


@dataclass
class Timeline:
    """The contract of DESIGN.md's timeline JSON."""

    items: list[ItemRecord] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "items": [asdict(i) for i in self.items],
            "periods": [
                {
                    "kind": p.kind,
                    "item_id": p.item_id,
                    "index": p.index,
                    "start_ms": p.start_ms,
                    "duration_ms": p.duration_ms,
                    "text": p.text,
                }
                for p in self.periods
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> "Timeline":
        return cls(
            items=[ItemRecord(**i) for i in data.get("items", [])],
            periods=[Period(**p) for p in data.get("periods", [])],
        )
