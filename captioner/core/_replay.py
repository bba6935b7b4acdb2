"""Replay a session log the way a live player would have played it (DESIGN.md contract).

Each item's first sample plays at max(arrival of its first audio chunk + P, the end of
the previous item's audio); audio then runs at real-time rate and a chunk that has not
arrived when the buffer runs dry makes an underrun. Pure: virtual time only.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

from captioner.core._engine import CaptionEngine, Transport
from captioner.core.estimators._base import EstimatorFactory
from captioner.core.wire._sessionlog import LogRecord

__all__ = ["Observer", "detect_transport", "replay"]

Observer = Callable[[CaptionEngine, float], None]

_DRAIN_STEP_MS = 1000.0
_MAX_DRAIN_MS = 24 * 3600 * 1000.0


def detect_transport(records: Iterable[LogRecord]) -> Transport:
    """WebRTC sessions carry output_audio_buffer marks and no audio deltas."""
    has_audio = has_marks = False
    for r in records:
        kind = r.event.get("type", "")
        if r.source == "server" and kind in ("response.output_audio.delta", "response.audio.delta"):
            has_audio = True
        if kind.startswith("output_audio_buffer.") and r.source == "server":
            has_marks = True
    return "webrtc" if has_marks and not has_audio else "websocket"


def replay(
    records: list[LogRecord],
    playout_delay_ms: float = 0.0,
    estimator_factory: Optional[EstimatorFactory] = None,
    observe: Optional[Observer] = None,
    observe_step_ms: Optional[float] = None,
    transport: Optional[Transport] = None,
) -> CaptionEngine:
    """Run a log through a fresh engine and play all its audio out; returns the engine.

    With ``observe`` (a live viewer), the engine's estimation pump runs a step before
    each call, as a live session would between events."""
    engine = CaptionEngine(
        transport=transport or detect_transport(records),
        estimator_factory=estimator_factory,
        playout_delay_ms=playout_delay_ms,
    )
    now = 0.0

    def step_to(target: float) -> None:
        nonlocal now
        if observe is not None and observe_step_ms:
            while now + observe_step_ms < target:
                now += observe_step_ms
                engine.advance(now)
                engine.step()
                observe(engine, now)
        now = max(now, target)
        engine.advance(now)

    for record in records:
        at = max(now, record.t_ms)  # out-of-order lines play at the time already reached
        step_to(at)
        if record.source == "server":
            engine.receive(record.event, at)
        else:
            engine.sent(record.event, at)
        if observe is not None:
            engine.step()
            observe(engine, now)
    engine.finish(now)  # the log is over: no item gets more audio or text
    end = now + _MAX_DRAIN_MS
    while not engine.idle() and now < end:
        step_to(now + max(engine.buffered_ms(), _DRAIN_STEP_MS / 10) + 1.0)
        if observe is not None:
            engine.step()
            observe(engine, now)
    step_to(now + 1.0)
    engine.settle()
    return engine
