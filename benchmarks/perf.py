"""What re-timing costs, in one run, against the parse floor measured in the same run.

On a corpus from ``corpus.py``: CPU of replaying every log with an even-spread estimator
("engine without estimation"), the proportional, audio-only and default (forced
alignment) estimators, as multiples of the floor (json.loads + base64 decode of every
audio delta) and as % of a core per real-time session; the engine under a live display
(captions asked at every revision of one long session); memory growth over one long
session (the corpus chained, ids renamed); batch throughput with 1 vs 2 processes; and
whether a Ray batch writes the same bytes as a local one. Figures, not assertions::

    python benchmarks/perf.py [--sessions 24] [--seed 1] [--no-timit] [--repeats 3] [--hour] [--no-ray]
                              [--parts replay,live,memory,batch] [--estimators "even spread,forced (default)"]
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402

from captioner.core import replay  # noqa: E402
from captioner.core.estimators import (  # noqa: E402
    AudioAlignedEstimator, EstimatorFactory, ProportionalEstimator, Span, default_estimator,
)
from captioner.core.wire import parse_session_log  # noqa: E402
from captioner.edges.batch import RayCluster, plan, run_batch  # noqa: E402
from captioner.edges.files import KINDS  # noqa: E402

AUDIO_TYPES = ("response.output_audio.delta", "response.audio.delta")
PCM16_BYTES_PER_S = 48000  # 24 kHz mono int16


@dataclass
class EvenSpread:
    """Engine without estimation: each delta gets its share of the item's audio by its
    share of the item's characters. Costs next to nothing, so a replay with it is the
    engine's own overhead."""

    sample_rate: int
    texts: list[str] = field(default_factory=list)
    samples: int = 0
    audio_ms_known: Optional[float] = None

    def add_audio(self, pcm) -> None:
        self.samples += len(pcm)

    def add_text(self, text: str) -> None:
        self.texts.append(text)

    def set_audio_length(self, audio_ms: float) -> None:
        self.audio_ms_known = audio_ms

    def complete(self, audio: bool, text: bool) -> None:
        pass

    def step(self, budget_ms: Optional[float]) -> bool:
        return True  # nothing to work out

    def spans(self) -> list[Span]:
        total = self.audio_ms_known if self.audio_ms_known is not None else self.samples * 1000.0 / self.sample_rate
        weights = [max(len(t), 1) for t in self.texts]
        scale = total / max(sum(weights), 1)
        out, t = [], 0.0
        for w in weights:
            out.append((t, t + w * scale))
            t += w * scale
        return out


ESTIMATORS: dict[str, EstimatorFactory] = {
    "even spread": EvenSpread,
    "proportional": ProportionalEstimator,
    "audio-only": AudioAlignedEstimator,
    "forced (default)": default_estimator,
}


def parse_floor(texts: list[str]) -> int:
    """What any replay must do at least: every line through json.loads, every audio
    delta through base64. Returns the audio bytes decoded."""
    n = 0
    for text in texts:
        for line in text.splitlines():
            event = json.loads(line)["event"]
            if event.get("type") in AUDIO_TYPES:
                n += len(base64.b64decode(event["delta"]))
    return n


def replay_all(texts: list[str], factory: EstimatorFactory) -> int:
    """Parse, replay, caption and time every log, the work of ``captioner replay``
    short of writing files. Returns the captions made."""
    n = 0
    for text in texts:
        records, _ = parse_session_log(text.splitlines())
        engine = replay(records, estimator_factory=factory)
        n += len(engine.captions())
        engine.timeline()
    return n


def cpu_median(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


# ------------------------------------------------------------------------ long session

def chain(sessions: list[corpus.Session], audio_s: float, path: Path) -> float:
    """One session log of at least ``audio_s`` of assistant audio: the corpus sessions
    one after the other (repeated as needed, item and response ids renamed so they stay
    unique), each starting after the previous one's audio has played. Returns its audio s."""
    offset_ms, total_ms, k = 0.0, 0.0, 0
    with path.open("w") as f:
        while total_ms < audio_s * 1000:
            s = sessions[k % len(sessions)]
            lap = k // len(sessions)
            for line in s.log:
                event = json.dumps(line["event"], separators=(",", ":"))
                if lap:
                    event = event.replace(f"_{s.name}_", f"_{s.name}x{lap}_")
                f.write(f'{{"t":{round(offset_ms / 1000 + line["t"], 6)},"from":"{line["from"]}","event":{event}}}\n')
            played_end = max(i.start_ms + i.audio_ms for i in s.items)
            offset_ms += max(played_end, s.log[-1]["t"] * 1000) + 1000.0
            total_ms += sum(i.audio_ms for i in s.items)
            k += 1
    return total_ms / 1000


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def memory_run(log_path: str, estimator: str) -> tuple[float, float, float]:
    """In a fresh process: RSS before and after replaying the log (settled, captions
    made), and the replay's CPU s. The log is parsed before the first reading."""
    records, _ = parse_session_log(Path(log_path).read_text().splitlines())
    gc.collect()
    before = _rss_mb()
    t0 = time.process_time()
    engine = replay(records, estimator_factory=ESTIMATORS[estimator])
    engine.captions()
    cpu = time.process_time() - t0
    gc.collect()
    return before, _rss_mb(), cpu


def in_fresh_process(fn, *args):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


# ------------------------------------------------------------------------ report

def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=24, help="espeak sessions (default 24)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-timit", action="store_true", help="leave out the TIMIT sessions")
    p.add_argument("--repeats", type=int, default=3, help="repeats of the cheap measurements (median)")
    p.add_argument("--hour", action="store_true", help="long session of 60 min of audio (default 10)")
    p.add_argument("--no-ray", action="store_true", help="skip the Ray comparison")
    p.add_argument("--parts", default="replay,live,memory,batch",
                   help="what to measure, comma-separated: replay, live, memory, batch (batch includes the Ray check)")
    p.add_argument("--estimators", default=",".join(ESTIMATORS),
                   help=f"estimators for the replay and memory parts, comma-separated (default: all of {list(ESTIMATORS)})")
    args = p.parse_args(argv)
    parts = set(args.parts.split(","))
    names = [n.strip() for n in args.estimators.split(",") if n.strip()]
    if parts - {"replay", "live", "memory", "batch"} or set(names) - set(ESTIMATORS):
        p.error(f"unknown part or estimator in --parts {args.parts!r} / --estimators {args.estimators!r}")
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="captioner-perf-") as tmp:
        root = Path(tmp)
        t0 = time.monotonic()
        sessions = list(corpus.generate(args.seed, args.sessions, timit=not args.no_timit))
        logs = [corpus.write(s, root / "corpus") for s in sessions]
        texts = [path.read_text() for path in logs]
        n_timit = sum(s.kind == "timit" for s in sessions)
        audio_bytes = parse_floor(texts)
        audio_s = audio_bytes / PCM16_BYTES_PER_S
        print(f"corpus: {len(sessions)} sessions ({len(sessions) - n_timit} espeak, {n_timit} TIMIT; "
              f"seed {args.seed}), {audio_s / 60:.1f} min of assistant audio, "
              f"{sum(map(len, texts)) / 1e6:.1f} MB of logs {took(t0)}")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
              f"CPU = process time, medians of {args.repeats} repeats (forced: 1)")

        if "replay" in parts:
            replay_report(texts, names, args.repeats, audio_s)
        if "live" in parts:
            live_report(sessions, args.hour, root)
        if "memory" in parts:
            memory_report(sessions, names, args.hour, root)
        if "batch" in parts:
            batch_report(root, args.no_ray)
    print(f"\ntotal {time.monotonic() - t_start:.0f} s")
    return 0


def took(t0: float) -> str:
    return f"[{time.monotonic() - t0:.0f} s]"


def replay_report(texts: list[str], names: list[str], repeats: int, audio_s: float) -> None:
    """Replay CPU of each estimator against the parse floor, measured in this run."""
    t0 = time.monotonic()
    floor = cpu_median(lambda: parse_floor(texts), max(repeats, 5))
    print(f"\nparse floor (json.loads + base64 of every audio delta): {floor:.3f} s CPU {took(t0)}")

    print(f"\n{'replay CPU':<20}{'s':>8}{'x floor':>10}{'% core/live':>14}   target")
    targets = {"even spread": "<= 1.5x floor", "forced (default)": "<= 25x floor, <= 2 % core"}
    for name in names:
        factory = ESTIMATORS[name]
        t0 = time.monotonic()
        replay_all(texts[:1], factory)  # warm-up: imports, acoustic model
        n = 1 if factory is default_estimator else repeats
        cpu = cpu_median(lambda: replay_all(texts, factory), n)
        print(f"{name:<20}{cpu:8.2f}{cpu / floor:9.1f}x{100 * cpu / audio_s:13.2f}%   "
              f"{targets.get(name, ''):<28}{took(t0)}")


def live_report(sessions: list[corpus.Session], hour: bool, root: Path) -> None:
    """The engine under a live display: the chained session replayed with its captions asked
    at every revision (observed every 20 ms, as ``captioner live`` and ``overlay`` do)."""
    minutes = 60 if hour else 10
    t0 = time.monotonic()
    path = root / "live.jsonl"
    audio_s = chain(sessions, minutes * 60, path)
    records, _ = parse_session_log(path.read_text().splitlines())
    revisions = [0, None]

    def observe(engine, now_ms: float) -> None:
        if engine.revision != revisions[1]:
            revisions[0], revisions[1] = revisions[0] + 1, engine.revision
            engine.captions()

    gc.collect()
    cpu = time.process_time()
    engine = replay(records, estimator_factory=EvenSpread, observe=observe, observe_step_ms=20)
    cpu = time.process_time() - cpu
    print(f"\nlive display (even spread, captions at each of {revisions[0]} revisions, {len(engine.captions())} "
          f"captions, {audio_s / 60:.0f} min of audio): {cpu:.1f} s CPU = {100 * cpu / audio_s:.2f} % of a core "
          f"{took(t0)}")


def memory_report(sessions: list[corpus.Session], names: list[str], hour: bool, root: Path) -> None:
    """RSS growth from minute 1 to the end of one long chained session, per estimator."""
    minutes = 60 if hour else 10
    t0 = time.monotonic()
    short_log, long_log = root / "minute.jsonl", root / "long.jsonl"
    short_s, long_s = chain(sessions, 60, short_log), chain(sessions, minutes * 60, long_log)
    print(f"\nmemory (RSS growth over a replay, fresh process each): the corpus chained into one session of "
          f"{short_s / 60:.1f} min and one of {long_s / 60:.1f} min of audio ({long_log.stat().st_size / 1e6:.0f} MB); "
          f"target <= 5 MB from minute 1 to 60")
    for name in names:
        if name not in ("even spread", "forced (default)"):
            continue
        t1 = time.monotonic()
        b1, a1, _ = in_fresh_process(memory_run, str(short_log), name)
        bn, an, cpu = in_fresh_process(memory_run, str(long_log), name)
        print(f"  {name:<18} minute 1 -> {long_s / 60:.0f}: {(an - bn) - (a1 - b1):+7.1f} MB  "
              f"({a1 - b1:+.1f} MB over the {short_s / 60:.1f}-min log, {an - bn:+.1f} MB over the "
              f"{long_s / 60:.0f}-min one; its replay CPU {cpu:.1f} s) {took(t1)}")
    print(f"  {took(t0)}")


def batch_report(root: Path, no_ray: bool) -> None:
    """Batch wall time with 1 and 2 processes, and whether Ray writes the same bytes."""
    t0 = time.monotonic()
    jobs_1 = plan([root / "corpus"], root / "out1", KINDS)
    jobs_2 = plan([root / "corpus"], root / "out2", KINDS)
    walls, cpus = [], []
    for jobs, n in ((jobs_1, 1), (jobs_2, 2)):
        t1 = time.perf_counter()
        results = run_batch(jobs, processes=n)
        walls.append(time.perf_counter() - t1)
        cpus.append(sum(r.cpu_s for r in results))
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    print(f"\nbatch (default estimator, {len(jobs_1)} logs, all exports, wall): --jobs 1 {walls[0]:.1f} s, "
          f"--jobs 2 {walls[1]:.1f} s: {walls[0] / walls[1]:.2f}x (target >= 1.8x) {took(t0)}")
    print(f"  jobs' own CPU: {cpus[0]:.1f} s with 1 process, {cpus[1]:.1f} s with 2; "
          f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    same_1_2 = _same_outputs(root / "out1", root / "out2")

    t0 = time.monotonic()
    print(f"ray batch identical to local: {_ray_check(root, no_ray)} "
          f"(--jobs 1 and --jobs 2 identical: {'yes' if same_1_2 else 'NO'}) {took(t0)}")


def _same_outputs(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names)


def _ray_check(root: Path, skip: bool) -> str:
    if skip:
        return "not run (--no-ray)"
    try:
        import ray
    except ImportError:
        return "not run (Ray not installed: pip install 'captioner[ray]')"
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING",
                 _node_ip_address="127.0.0.1", log_to_driver=False)
    except Exception as exc:  # noqa: BLE001
        return f"not run (Ray cannot start: {exc})"
    try:
        results = run_batch(plan([root / "corpus"], root / "outray", KINDS), ray=RayCluster())
    finally:
        ray.shutdown()
    if not all(r.ok for r in results):
        return "NO (failed: " + "; ".join(str(r.error) for r in results if not r.ok) + ")"
    return "yes" if _same_outputs(root / "out2", root / "outray") else "NO (outputs differ)"


if __name__ == "__main__":
    raise SystemExit(main())
