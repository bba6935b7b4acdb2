"""Re-time many session logs at once: in a local process pool or as Ray tasks.

One job = read a log, replay it, write its exports, answer a small picklable summary.
:func:`replay_log` is that job, for a single log too (``captioner replay LOG --srt F``),
so a batch writes byte for byte what single-log replays write. :func:`run_job` is its
entry point for pool workers and Ray tasks: it never raises, a log that cannot be read
or replayed comes back as a failed result and the others go on.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence, Union

from captioner.core import replay
from captioner.edges.files import EXAMPLE_PREFIX, KINDS, SessionLogError, read_session_log, write_export

log = logging.getLogger(__name__)

# Export kind -> file name suffix added to the log's stem.
SUFFIXES = {"srt": ".srt", "ass": ".ass", "vtt": ".vtt", "timeline": ".timeline.json"}
assert set(SUFFIXES) == set(KINDS)
KEPT = 10  # skipped lines / engine problems kept word for word per log; the rest are counted


class BatchError(ValueError):
    """The batch cannot start (nothing to do, outputs that would collide, no Ray)."""


@dataclass(frozen=True)
class ReplayJob:
    log: Union[str, Path]  # a path, or ``example:NAME``
    exports: dict[str, Path]  # kind -> output file
    playout_delay_ms: float = 0.0


@dataclass(frozen=True)
class Skipped:
    """What a replay skipped: the first few, word for word, and how many in all."""

    first: tuple[str, ...] = ()
    count: int = 0

    @classmethod
    def of(cls, problems: Sequence[object]) -> "Skipped":
        return cls(tuple(str(p) for p in problems[:KEPT]), len(problems))


@dataclass(frozen=True)
class ReplayResult:
    log: Union[str, Path]
    error: Optional[str] = None  # None: replayed and every export written
    events: int = 0
    captions: int = 0
    items: int = 0
    underrun_ms: float = 0.0
    written: dict[str, Path] = field(default_factory=dict)
    malformed: Skipped = Skipped()  # lines of the log
    problems: Skipped = Skipped()  # input the engine skipped
    cpu_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        return (f"{self.events} events, {self.captions} captions, {self.items} items, "
                f"underrun {self.underrun_ms:.0f} ms")


def replay_log(job: ReplayJob) -> ReplayResult:
    """Read, replay and export one log. Raises ``OSError`` or :class:`SessionLogError`
    for a log that cannot be replayed (not a session log, no events, no captions for the
    exports asked) and lets a bug through; a file that cannot be written is the result's
    error, the other files are still written."""
    t0 = time.process_time()
    with _bulk():
        records, errors = read_session_log(job.log)
        engine = replay(records, playout_delay_ms=job.playout_delay_ms)
        captions, timeline = engine.captions(), engine.timeline()
        if not captions and job.exports:
            raise SessionLogError(f"{job.log}: no captions in {len(records)} events; nothing written")
        written: dict[str, Path] = {}
        failures: list[str] = []
        for kind, path in job.exports.items():
            try:
                write_export(kind, path, timeline, captions)
                written[kind] = Path(path)
            except OSError as exc:
                failures.append(f"cannot write {kind} to {path}: {exc.strerror or exc}")
    return ReplayResult(
        job.log, "; ".join(failures) or None, events=len(records), captions=len(captions),
        items=len(timeline.items), underrun_ms=engine.underrun_ms, written=written,
        malformed=Skipped.of(errors), problems=Skipped.of(engine.problems),
        cpu_s=time.process_time() - t0,
    )


@contextmanager
def _bulk() -> Iterator[None]:
    """No automatic cyclic collection while one job runs (Mercurial's ``nogc`` does the
    same for its bulk loads): a job builds hundreds of thousands of objects that live
    until its exports are written and makes next to no cycles, yet every few thousand
    allocations the collector would walk them all again (a quarter of the CPU of a log
    of 100,000 tiny deltas). The previous setting comes back at the end, whatever
    happened; anything cyclic the job left is collected as usual after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_job(job: ReplayJob) -> ReplayResult:
    """:func:`replay_log` that never raises: the entry point of pool workers
    (spawn/forkserver, so module-level and picklable) and Ray tasks."""
    try:
        return replay_log(job)
    except SessionLogError as exc:
        return ReplayResult(job.log, str(exc))
    except OSError as exc:
        return ReplayResult(job.log, f"{exc.filename or job.log}: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 - one bad log must not stop a batch
        log.debug("replay of %s failed", job.log, exc_info=True)
        return ReplayResult(job.log, f"internal error: {type(exc).__name__}: {exc}")


# ------------------------------------------------------------------------ planning

LogName = Union[str, Path]  # a path, or ``example:NAME`` (a log bundled with the package)


def _is_example(log_name: LogName) -> bool:
    return isinstance(log_name, str) and log_name.startswith(EXAMPLE_PREFIX)


def find_logs(inputs: Iterable[LogName]) -> list[LogName]:
    """Files as given, folders as every ``*.jsonl`` directly inside (sorted), bundled
    examples by name; each once. A path that does not exist stays in, so its job reports it."""
    logs: list[LogName] = []
    seen: set[object] = set()
    for name in inputs:
        if _is_example(name):
            found: list[LogName] = [name]
        else:
            path = Path(name)
            found = sorted(p for p in path.glob("*.jsonl") if p.is_file()) if path.is_dir() else [path]
            if path.is_dir() and not found:
                log.warning("%s: no *.jsonl session logs in this folder", path)
        for p in found:
            key = p if _is_example(p) else Path(p).resolve()
            if key not in seen:
                seen.add(key)
                logs.append(key)
    return logs


def output_paths(log_name: LogName, out_dir: Optional[Path], kinds: Sequence[str]) -> dict[str, Path]:
    """``NAME.srt``, ``NAME.ass``, ``NAME.vtt``, ``NAME.timeline.json`` for ``NAME.jsonl``,
    in ``out_dir`` or beside the log (a bundled example: in the working folder)."""
    if _is_example(log_name):
        stem = str(log_name)[len(EXAMPLE_PREFIX):] or "seed001_story_truncated"
        folder = out_dir if out_dir is not None else Path.cwd()
    else:
        stem, folder = Path(log_name).stem, out_dir if out_dir is not None else Path(log_name).parent
    return {k: folder / (stem + SUFFIXES[k]) for k in kinds}


def plan(inputs: Iterable[LogName], out_dir: Optional[Path], kinds: Sequence[str],
         playout_delay_ms: float = 0.0) -> list[ReplayJob]:
    """One job per log, with absolute paths (workers may run elsewhere, from another
    folder). Raises :class:`BatchError` when there is no log or two jobs would write the
    same file (or over a log)."""
    logs = find_logs(inputs)
    if not logs:
        raise BatchError("no session logs to replay")
    out = out_dir.resolve() if out_dir is not None else None
    jobs = [ReplayJob(p, output_paths(p, out, kinds), playout_delay_ms) for p in logs]
    owner: dict[object, LogName] = {job.log: job.log for job in jobs}
    for job in jobs:
        for path in job.exports.values():
            other = owner.setdefault(path, job.log)
            if other != job.log:
                raise BatchError(f"{job.log} and {other} would both write {path}; "
                                 "give them different --out folders")
    return jobs


# ------------------------------------------------------------------------ running

@dataclass(frozen=True)
class RayCluster:
    """Where Ray tasks run: ``address`` None = the cluster in RAY_ADDRESS or one running
    on this machine, else a new local one; or ``host:port`` / ``ray://host:10001``."""

    address: Optional[str] = None


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_batch(jobs: Sequence[ReplayJob], processes: int = 1, ray: Optional[RayCluster] = None,
              progress: bool = False) -> list[ReplayResult]:
    """Run every job; results in job order. ``processes`` > 1: a local process pool;
    ``ray``: Ray tasks instead. ``progress``: a rich progress bar on stderr."""
    results: dict[int, ReplayResult] = {}
    with _Progress(len(jobs), progress) as bar:
        def done(i: int, result: ReplayResult) -> None:
            results[i] = result
            bar.advance(result)

        if ray is not None:
            _run_ray(jobs, ray, done)
        elif processes <= 1 or len(jobs) <= 1:
            for i, job in enumerate(jobs):
                done(i, run_job(job))
        else:
            _run_pool(jobs, min(processes, len(jobs)), done)
    return [results[i] for i in range(len(jobs))]


def _largest_first(jobs: Sequence[ReplayJob]) -> list[int]:
    """Job indices, longest logs first: the last job to start is a short one, so the
    processes finish together instead of one replaying a long log while the rest idle."""
    def size(job: ReplayJob) -> int:
        try:
            return 0 if _is_example(job.log) else os.path.getsize(job.log)
        except OSError:
            return 0  # replaying it reports the problem
    return sorted(range(len(jobs)), key=lambda i: -size(jobs[i]))


def _pool_context() -> multiprocessing.context.BaseContext:
    """forkserver where there is one (no fork of a process with threads, cheap starts),
    else spawn; both import the job's module fresh in each worker."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])  # imported once in the server, not in every worker
    return ctx


def _init_worker(level: int) -> None:
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _run_pool(jobs: Sequence[ReplayJob], processes: int,
              done: Callable[[int, ReplayResult], None]) -> None:
    pool = ProcessPoolExecutor(processes, mp_context=_pool_context(), initializer=_init_worker,
                               initargs=(logging.getLogger().getEffectiveLevel(),))
    try:
        pending = {pool.submit(run_job, jobs[i]): i for i in _largest_first(jobs)}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                i = pending.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker died (killed, out of memory)
                    result = ReplayResult(jobs[i].log, f"worker failed: {type(exc).__name__}: {exc}")
                done(i, result)
    finally:  # Ctrl-C: the logs being replayed finish, the queued ones never start
        pool.shutdown(wait=True, cancel_futures=True)


def _run_ray(jobs: Sequence[ReplayJob], cluster: RayCluster,
             done: Callable[[int, ReplayResult], None]) -> None:
    """One Ray task per log; workers read and write the same paths, so they must share
    the file system (and have captioner installed)."""
    try:
        import ray
    except ImportError as exc:
        raise BatchError(f"--ray needs Ray ({exc}); install it with: pip install 'captioner[ray]'") from exc
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=cluster.address, include_dashboard=False,
                     logging_level=logging.WARNING, log_to_driver=False)
        except Exception as exc:  # noqa: BLE001 - ConnectionError, bad address, ...
            raise BatchError(f"cannot start or reach Ray at {cluster.address or 'default'}: {exc}") from exc
    try:
        task = ray.remote(num_cpus=1)(run_job)
        pending = {task.remote(jobs[i]): i for i in _largest_first(jobs)}
        while pending:
            finished, _ = ray.wait(list(pending), num_returns=1)
            for ref in finished:
                i = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - the task's worker died
                    result = ReplayResult(jobs[i].log, f"Ray task failed: {type(exc).__name__}: {exc}")
                done(i, result)
    finally:
        if started:
            ray.shutdown()


class _Progress:
    """rich progress bar on stderr, or nothing."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)
            self._bar = Progress(TextColumn("replay"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[failed]}"), TimeElapsedColumn(),
                                 TimeRemainingColumn(), console=Console(stderr=True))
            self._task = self._bar.add_task("replay", total=total, failed="")
        self._failed = 0

    def __enter__(self) -> "_Progress":
        if self._bar is not None:
            self._bar.start()
        return self

    def advance(self, result: ReplayResult) -> None:
        self._failed += not result.ok
        if self._bar is not None:
            self._bar.update(self._task, advance=1,
                             failed=f"{self._failed} failed" if self._failed else "")

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
