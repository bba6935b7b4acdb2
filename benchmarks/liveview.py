"""What a live viewer sees, measured the way a live session runs.

A live session (``captioner live``/``demo``) estimates in a worker process: each item's
:class:`DeferredEstimator` answers at once from the session's audio-only estimate plus the
worker's latest :class:`Answer`, and the worker's answers lag (it works through the
items' audio a step at a time, then the pipe and the pump's 10 ms poll). Replay's
``observe`` hook alone steps an in-process estimator before every observation, which
hides that lag. :class:`WorkerSim` puts it back, in virtual time: every observation the
"worker" takes the new inputs, steps :class:`EstimatorHost` only for as long as it has
had time since its last step (each step costing its measured CPU time), and an answer
reaches the session ``POLL_MS`` after the step that produced it.

:func:`watch` replays a session log with the live view observed every 10 ms and returns
the engine and, per caption, the first moment a viewer saw it (``Caption.shown_ms``,
which the view keeps shown once revealed).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal, Optional

from captioner.core import CaptionEngine, replay
from captioner.core.estimators import (
    DeferredEstimator,
    EstimatorFactory,
    EstimatorHost,
    ForcedAlignEstimator,
    Source,
    default_estimator,
)
from captioner.core.wire import LogRecord

LiveMode = Literal["worker", "in-process"]
POLL_MS = 10.0  # edges/worker.py: the pump waits this long for answers
OBSERVE_MS = 10.0


class WorkerSim:
    """The estimate worker's answers, delayed by the work and the pipe (see module doc)."""

    def __init__(self, factory: EstimatorFactory = default_estimator, step_cost_ms: Optional[float] = None) -> None:
        self.host = EstimatorHost(factory)
        self.step_cost_ms = step_cost_ms  # None: each step costs its measured time
        self.clock = 0.0  # when the worker is free again (session ms)
        self.pending: list[tuple[float, int, object]] = []  # (ready ms, key, answer)
        self.cpu_ms = 0.0
        self.taken_at: dict[tuple[int, int], float] = {}  # (key, Work seq) -> session ms taken

    def observe(self, engine: CaptionEngine, now: float) -> None:
        ests = {e.key: e for e in engine.estimators() if isinstance(e, DeferredEstimator)}
        for key, est in ests.items():
            work = est.take()
            if work is not None:
                self.host.feed(key, work)
                self.taken_at[(key, work.seq)] = now
        self.clock = max(self.clock, now)
        while self.clock <= now + OBSERVE_MS and self.host.busy():
            t0 = time.thread_time()  # the worker's own CPU: other load on the machine is not its lag
            answers = self.host.step()
            spent = (time.thread_time() - t0) * 1000.0
            self.cpu_ms += spent
            if self.step_cost_ms is not None:
                spent = self.step_cost_ms
            self.clock += spent
            self.pending += [(self.clock + POLL_MS, key, a) for key, a in answers]
        self._deliver(engine, ests, now)

    def _deliver(self, engine: CaptionEngine, ests: dict, now: float) -> None:
        ready = [p for p in self.pending if p[0] <= now]
        if not ready:
            return
        self.pending = [p for p in self.pending if p[0] > now]
        for _, key, answer in ready:
            if key in ests:
                ests[key].publish(answer)
        engine.refresh_estimates()

    def settle(self, engine: CaptionEngine) -> None:
        """The session is over: every answer delivered, every item final."""
        ests = {e.key: e for e in engine.estimators() if isinstance(e, DeferredEstimator)}
        for key, est in ests.items():
            work = est.take()
            if work is not None:
                self.host.feed(key, work)
        while self.host.busy():
            self.pending += [(0.0, key, a) for key, a in self.host.step()]
        self._deliver(engine, ests, float("inf"))


@dataclass(frozen=True)
class Why:
    """Why a caption was (not yet) on screen at one observation: where its start came from
    (``Source.kind``: "worker", "final", "local"; "none" while the item is not placed),
    how far the local estimate was moved later (after the worker's words), how long ago the
    worker took the inputs its latest answer covers, and how far off screen it still was."""

    source: str
    moved_ms: float
    worker_lag_ms: float
    due_in_ms: float


def watch(records: list[LogRecord], mode: LiveMode = "worker", factory: Optional[EstimatorFactory] = None,
          why: Optional[dict[tuple[str, int], list[tuple[float, Why]]]] = None,
          step_cost_ms: Optional[float] = None) -> tuple[CaptionEngine, dict[tuple[str, int], float]]:
    """Replay ``records`` with a live viewer every 10 ms; (engine, first shown per caption).
    With ``why``, every observation of a caption that has arrived, until and including the
    one that shows it, adds (now, :class:`Why`) to ``why[(item_id, index)]``.
    ``step_cost_ms``: a fixed cost per worker step instead of its measured CPU time
    (reproducible runs)."""
    first_shown: dict[tuple[str, int], float] = {}
    cache: dict[str, object] = {"rev": None, "caps": []}
    worker = WorkerSim(step_cost_ms=step_cost_ms) if mode == "worker" and factory is None else None

    def observe(engine: CaptionEngine, now: float) -> None:
        if worker is not None:
            worker.observe(engine, now)
        if cache["rev"] != engine.revision:
            cache["rev"], cache["caps"] = engine.revision, engine.captions()
        explained: dict[str, tuple] = {}
        for c in cache["caps"]:  # type: ignore[attr-defined]
            key = (c.item_id, c.index)
            if key in first_shown:
                continue
            if now >= c.shown_ms:
                first_shown[key] = now
            if why is not None and now >= c.arrived_ms:
                if c.item_id not in explained:
                    explained[c.item_id] = _explain(engine, c.item_id, worker, now)
                sources, lag = explained[c.item_id]
                src = sources[c.index] if c.index < len(sources) else Source("none", 0.0)
                why.setdefault(key, []).append((now, Why(src.kind, src.moved_ms, lag, c.shown_ms - now)))

    if factory is None:
        factory = DeferredEstimator if worker is not None else ForcedAlignEstimator
    engine = replay(records, estimator_factory=factory, observe=observe, observe_step_ms=OBSERVE_MS)
    if worker is not None:
        worker.settle(engine)
    return engine, first_shown


def _explain(engine: CaptionEngine, item_id: str, worker: Optional[WorkerSim], now: float) -> tuple[list, float]:
    """(per-delta Source, worker lag ms) of an item's live estimate."""
    est = engine.estimator(item_id)
    if not isinstance(est, DeferredEstimator):
        return [], math.nan
    _, sources = est.explain()
    seq = est.answered_seq
    lag = now - worker.taken_at[(est.key, seq)] if worker is not None and (est.key, seq) in worker.taken_at else math.inf
    return sources, lag
