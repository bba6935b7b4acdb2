"""Server events scheduled for a moment of the session's timeline.

Both server dialects (Realtime and GPT-Live) decide at once what they will send and when:
an answer's audio chunks are paced at real time, transcripts lead them. What is not sent
yet can still be withdrawn (a cancel, a barge-in), so each event carries a tag the
session withdraws by.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

Make = Callable[[], Optional[dict]]  # builds the event when it is due (None: nothing to send after all)


@dataclass(order=True)
class _Scheduled:
    at_ms: float
    seq: int  # equal times leave in the order they were scheduled
    make: Make = field(compare=False)
    tag: Any = field(default=None, compare=False)


class Outbox:
    """A time-ordered queue of events to send, with withdrawal by tag."""

    def __init__(self) -> None:
        self._heap: list[_Scheduled] = []
        self._seq = itertools.count()

    def put(self, at_ms: float, make: Make, tag: Any = None) -> None:
        heapq.heappush(self._heap, _Scheduled(at_ms, next(self._seq), make, tag))

    def holds(self, wanted: Callable[[Any], bool]) -> bool:
        return any(wanted(s.tag) for s in self._heap)

    def withdraw(self, unwanted: Callable[[Any], bool]) -> None:
        self._heap = [s for s in self._heap if not unwanted(s.tag)]
        heapq.heapify(self._heap)

    def next_due_ms(self) -> Optional[float]:
        return self._heap[0].at_ms if self._heap else None

    def pop_due(self, now_ms: float) -> Iterator[dict]:
        """The events due at ``now_ms``, in order; an event is built only when it leaves."""
        while self._heap and self._heap[0].at_ms <= now_ms:
            event = heapq.heappop(self._heap).make()
            if event is not None:
                yield event
