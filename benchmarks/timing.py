"""Caption onset accuracy against ground truth, captioner vs the peers' heuristics.

Generates the corpus of ``benchmarks/corpus.py`` (espeak-ng speech, plus TIMIT real
speech when present), replays every session through the engine and prints markdown
tables of onset error for:

* ``70 ms x chars``   — seed 004's duration guess, from the item's first sample;
* ``3.83 syl/s``      — LiveKit's pace;
* ``syl scaled``      — syllables stretched over the item's audio length;
* ``on arrival``      — show each delta when it arrives (openai-agents, console);
* ``captioner``       — the engine with the default estimator (and ``proportional``,
  the old estimator, for reference).

``given timing`` — the same sessions with provider timing generated from the truth
(``duration_ms``, ``start_time``, Azure word timestamps; GPT-Live session-timeline deltas)
in every arrival pattern plus ``after_audio_done`` (all text after the item's audio.done)
and ``after_response_done``: caption starts must match the given times (target: 2 ms).

"final" is the finished timeline (what replay/exports use); "live" is the moment a
viewer first sees each delta (never before it arrived), observed every 10 ms. The
captioner's live view is measured as a live session runs (``--live-mode worker``, the
default: :mod:`liveview` simulates the estimate worker's lagging answers) or with the
estimator stepped in-process before every observation (``--live-mode in-process``).
Then the captioner's live lateness in full (words whose text arrived >= 200 ms before
they were spoken: median, p95, p99, max, by position in the item and arrival pattern;
early share; stalls: a word shown > 250 ms late although its text was there), the same
on the bundled example log against its own final timeline, and the estimators' CPU
cost as a real-time factor. Run::

    .venv/bin/python benchmarks/timing.py [--sessions 24] [--seed 1] [--no-timit] [--live-mode worker] [--given-only]
                                          [--quick] [--only es012,tm003] [--list-late] [--step-cost-ms 20]

``--quick`` (only the captioner, no given-timing/GPT-Live/CPU tables), ``--only`` (a few
sessions by name) and ``--list-late`` (every word shown > 80 ms late with its text
>= 200 ms ahead, > 40 ms early, or stalled: item, delta, lateness, final error, cause) are for
iterating on the live view; ``--step-cost-ms`` makes the simulated worker's steps cost a
fixed time (the same worker timing for two versions compared; measured CPU, the default,
varies from run to run).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
import liveview  # noqa: E402

from captioner.examples import example_log  # noqa: E402
from captioner.core import replay  # noqa: E402
from captioner.core.estimators import (  # noqa: E402
    STEP_MS,
    AudioAlignedEstimator,
    EstimatorFactory,
    ForcedAlignEstimator,
    ProportionalEstimator,
)
from captioner.core.wire import parse_session_log  # noqa: E402

EARLY_MS = 40.0
LEAD_MS = 200.0  # "text arrived ahead": at least this long before the word was spoken
STALL_MS = 250.0  # a word shown this late although its text was there
FIRST_MS = 2000.0  # "first 2 s" of an item
EXAMPLES = example_log().parent  # the bundled session logs
_VOWELS = re.compile(r"[aeiouy]+", re.IGNORECASE)

ESTIMATORS: dict[str, EstimatorFactory] = {
    "captioner": ForcedAlignEstimator,
    "audio-only (energy dips)": AudioAlignedEstimator,
    "proportional (old)": ProportionalEstimator,
}


@dataclass
class Errors:
    """Signed onset errors (predicted - true, ms), and the subset where text led audio."""

    err: list[float] = field(default_factory=list)
    lead: list[float] = field(default_factory=list)

    def add(self, predicted: float, truth: float, text_led: bool) -> None:
        self.err.append(predicted - truth)
        if text_led:
            self.lead.append(predicted - truth)

    def row(self) -> str:
        e = np.asarray(self.err)
        if len(e) == 0:
            return "| – | – | – | – |"
        lead = f"{np.median(self.lead):.0f}" if self.lead else "–"
        return (f"| {np.median(np.abs(e)):.0f} | {np.percentile(np.abs(e), 95):.0f} "
                f"| {100 * np.mean(e < -EARLY_MS):.1f} % | {lead} |")


def _syllables(text: str) -> int:
    return sum(max(1, len(_VOWELS.findall(w))) for w in re.findall(r"[A-Za-z]+|\d+", text))


def baseline_onsets(item: corpus.TruthItem) -> dict[str, list[float]]:
    """Session-ms onset of every delta under each text-only heuristic."""
    chars = np.cumsum([0] + [len(d.text) for d in item.deltas])[:-1]
    syl = np.cumsum([0] + [_syllables(d.text) for d in item.deltas])
    total_syl = max(1, syl[-1])
    syl = syl[:-1]
    return {
        "70 ms x chars": [item.start_ms + 70.0 * c for c in chars],
        "3.83 syl/s": [item.start_ms + 1000.0 * s / 3.83 for s in syl],
        "syl scaled to audio": [item.start_ms + item.audio_ms * s / total_syl for s in syl],
        "on arrival": [d.arrived_ms for d in item.deltas],
    }


def run_engine(session: corpus.Session, factory: EstimatorFactory, live: bool,
               live_mode: liveview.LiveMode = "worker", step_cost_ms: Optional[float] = None):
    """Replay one session; returns ({(item, index): final onset}, {(item, index): first shown}).
    The default estimator's live view runs as ``live_mode`` says; others in-process."""
    lines = [json.dumps(x) for x in session.log]
    records, errors = parse_session_log(lines)
    assert not errors, errors
    why: dict[tuple[str, int], list[tuple[float, liveview.Why]]] = {}
    if not live:
        engine = replay(records, estimator_factory=factory)
        first_shown: dict[tuple[str, int], float] = {}
    elif factory is ForcedAlignEstimator:
        engine, first_shown = liveview.watch(records, live_mode, why=why, step_cost_ms=step_cost_ms)
    else:
        engine, first_shown = liveview.watch(records, factory=factory)
    final = {(c.item_id, c.index): c.start_ms for c in engine.captions()}
    return final, first_shown, why


GIVEN_SHAPES = ["duration_ms", "start_time", "azure words"]
GIVEN_PATTERNS = [*corpus.PATTERNS, "after_audio_done", "after_response_done"]


def _delta_starts(item: corpus.TruthItem) -> list[float]:
    """Every delta's true start: its word onset, else by characters between known onsets
    (word pieces, punctuation; before the first onset: from 0)."""
    known = [(0, 0.0)] if item.deltas[0].onset_item_ms is None else []
    known += [(k, d.onset_item_ms) for k, d in enumerate(item.deltas) if d.onset_item_ms is not None]
    chars = np.cumsum([0] + [len(d.text) for d in item.deltas])
    known.append((len(item.deltas), item.audio_ms))
    out = []
    for k in range(len(item.deltas)):
        (ka, ta), (kb, tb) = max((x for x in known if x[0] <= k), key=lambda x: x[0]), \
            min((x for x in known if x[0] > k), key=lambda x: x[0])
        out.append(ta + (tb - ta) * (chars[k] - chars[ka]) / max(1, chars[kb] - chars[ka]))
    return out


def given_starts(item: corpus.TruthItem, shape: str) -> list[float]:
    """Where each delta's given timing puts it: durations are laid end to end from the
    item's first sample (seed 004), so the first delta takes the leading silence."""
    starts = _delta_starts(item)
    return [0.0, *starts[1:]] if shape == "duration_ms" else starts


def with_given_timing(session: corpus.Session, shape: str, pattern: str) -> list[dict]:
    """The session's log with provider timing from the truth, text moved per ``pattern``."""
    log = [json.loads(json.dumps(line)) for line in session.log]
    extra: list[dict] = []
    for item in session.items:
        starts = given_starts(item, shape)
        ends = starts[1:] + [item.audio_ms]
        lines = [x for x in log if x["event"].get("item_id") == item.item_id]
        texts = [x for x in lines if x["event"]["type"].endswith("transcript.delta")]
        for k, (line, start, end) in enumerate(zip(texts, starts, ends)):
            e = line["event"]
            if shape == "duration_ms":
                e["duration_ms"] = end - start
            elif shape == "start_time":
                e["start_time"] = start / 1000.0
            elif e["delta"].strip():  # azure: one timed word per delta (spaces alone are not words)
                extra.append({"t": line["t"], "from": "server", "event": {
                    "type": "response.audio_timestamp.delta", "response_id": e["response_id"],
                    "item_id": item.item_id, "output_index": 0, "content_index": 0,
                    "text": e["delta"].strip(), "audio_offset_ms": start, "audio_duration_ms": end - start,
                    "timestamp_type": "word"}})
        if pattern in ("after_audio_done", "after_response_done"):
            last_audio = max(x["t"] for x in lines if x["event"]["type"].endswith("audio.delta"))
            closing = {x["event"]["type"]: x for x in log if x["event"].get("item_id") == item.item_id
                       or x["event"].get("response", {}).get("id") == texts[0]["event"]["response_id"]}
            for kind, line in closing.items():
                if kind.endswith("audio.done"):
                    line["t"] = last_audio + 0.001
                elif kind == "response.done" and pattern == "after_response_done":
                    line["t"] = last_audio + 0.002
            later = last_audio + 0.5  # well after the audio: it has played or is playing
            for k, line in enumerate(texts):
                line["t"] = later + 0.001 * k
            for kind, line in closing.items():
                if kind.endswith("transcript.done") or (kind == "response.done" and pattern == "after_audio_done"):
                    line["t"] = later + 0.001 * (len(texts) + 1)
    for x in extra:  # each word's timing with (just after) its delta
        x["t"] = next(line["t"] for line in log if line["event"].get("delta", "").strip() == x["event"]["text"]
                      and line["event"].get("item_id") == x["event"]["item_id"]) + 1e-6
    log += extra
    log.sort(key=lambda x: x["t"])
    return log


def live_log(session: corpus.Session) -> tuple[list[dict], list[tuple[str, float, float]]]:
    """The session as GPT-Live would send it: one continuous output stream (each item at its
    true play position on the session timeline, the silence before it sent with its first
    chunk), transcript deltas with whole-ms ``start_ms``/``end_ms`` sent when the corpus's
    text arrived, and a user reply between items. Returns the log and, per output delta,
    (kind, given start, stream start of its turn); input deltas have kind "input"."""
    log: list[dict] = []
    given: list[tuple[str, float, float]] = []
    stream_end = 0.0
    for n, item in enumerate(session.items):
        lines = [x for x in session.log if x["event"].get("item_id") == item.item_id]
        chunks = [x for x in lines if x["event"]["type"].endswith("audio.delta")]
        texts = [x for x in lines if x["event"]["type"].endswith("transcript.delta")]
        begin = max(item.start_ms, stream_end)
        turn_start = stream_end
        if n > 0:  # the user answered in the pause before this item
            at = chunks[0]["t"] - 0.002
            s0 = int(round(stream_end + 100))
            log.append({"t": at, "from": "server", "event": {"type": "session.input_transcript.delta",
                        "event_id": f"in{n}", "delta": "Okay.", "start_ms": s0, "end_ms": s0 + 300}})
            given.append(("input", float(s0), 0.0))
        silence = np.zeros(int(round((begin - stream_end) * corpus.SAMPLE_RATE / 1000)), "<i2")
        log.append({"t": chunks[0]["t"] - 0.001, "from": "server", "event": {
            "type": "session.output_audio.delta", "delta": base64.b64encode(silence.tobytes()).decode()}})
        begin = stream_end + len(silence) * 1000.0 / corpus.SAMPLE_RATE
        for x in chunks:
            log.append({"t": x["t"], "from": "server", "event": {"type": "session.output_audio.delta",
                                                                 "delta": x["event"]["delta"]}})
        stream_end = begin + item.audio_ms
        starts = _delta_starts(item)
        ends = starts[1:] + [item.audio_ms]
        for k, (x, a, b) in enumerate(zip(texts, starts, ends)):
            log.append({"t": x["t"], "from": "server", "event": {
                "type": "session.output_transcript.delta", "event_id": f"out{n}_{k}", "delta": x["event"]["delta"],
                "start_ms": int(round(begin + a)), "end_ms": int(round(begin + b))}})
            given.append(("output", float(int(round(begin + a))), turn_start))
    log.sort(key=lambda x: x["t"])
    return log, given


def live_table(sessions: list[corpus.Session]) -> None:
    errs: dict[tuple[str, str], list[float]] = {}
    for s in sessions:
        log, given = live_log(s)
        records, bad = parse_session_log([json.dumps(x) for x in log])
        assert not bad, bad
        engine = replay(records, estimator_factory=ProportionalEstimator)
        caps = {c.role: [] for c in engine.captions()}
        for c in engine.captions():
            caps[c.role].append(c)
        outs = sorted(caps.get("assistant", []), key=lambda c: (int(c.item_id.rsplit("_", 1)[1]), c.index))
        ins = caps.get("user", [])
        g_out = [g for g in given if g[0] == "output"]
        g_in = [g for g in given if g[0] == "input"]
        assert len(outs) == len(g_out) and len(ins) == len(g_in), (len(outs), len(g_out), len(ins), len(g_in))
        for c, (_, start, turn) in zip(outs, g_out):
            mapped = engine.item_time(c.item_id, start - turn)
            errs.setdefault((s.kind, "output"), []).append(c.start_ms - (mapped if mapped is not None else math.inf))
        for c, (_, start, _) in zip(ins, g_in):
            errs.setdefault((s.kind, "input"), []).append(c.start_ms - start)
    print("GPT-Live sessions (corpus audio as one output stream, whole-ms start_ms/end_ms), "
          "caption start vs the mapped playback position of start_ms:")
    print()
    print("| speech | transcript | deltas | median abs err ms | max abs err ms | within 2 ms |")
    print("|---|---|---|---|---|---|")
    for (kind, which), e in errs.items():
        a = np.abs(np.asarray(e))
        print(f"| {kind} | {which} | {len(a)} | {np.median(a):.2f} | {np.max(a):.2f} | {100 * np.mean(a <= 2.0):.1f} % |")
    print()


def given_timing_table(sessions: list[corpus.Session]) -> None:
    """Caption starts against the given times (the target) and against the true onsets
    (the same but for what a shape cannot say: durations start the first delta at 0)."""
    errors: dict[tuple[str, str, str], tuple[list[float], list[float]]] = {}
    for s in sessions:
        for shape in GIVEN_SHAPES:
            for pattern in GIVEN_PATTERNS:
                records, bad = parse_session_log([json.dumps(x) for x in with_given_timing(s, shape, pattern)])
                assert not bad, bad
                engine = replay(records, estimator_factory=ProportionalEstimator)
                fin = {(c.item_id, c.index): c.start_ms for c in engine.captions()}
                given, truth = errors.setdefault((s.kind, shape, pattern), ([], []))
                for item in s.items:
                    placed = engine.timeline().items
                    start = next(i.start_ms for i in placed if i.item_id == item.item_id)
                    for d, g in zip(item.deltas, given_starts(item, shape)):
                        got = fin.get((item.item_id, d.index), math.inf)
                        given.append(got - (start + g))
                        if d.onset_ms is not None:
                            truth.append(got - d.onset_ms)
    print("given timing (provider times generated from the truth), final caption start:")
    print()
    print("| speech | timing shape | arrival pattern | deltas | vs given: median / max abs ms | within 2 ms "
          "| vs true onset: median / p95 abs ms |")
    print("|---|---|---|---|---|---|---|")
    for (kind, shape, pattern), (given, truth) in errors.items():
        g, t = np.abs(np.asarray(given)), np.abs(np.asarray(truth))
        print(f"| {kind} | {shape} | {pattern} | {len(g)} | {np.median(g):.2f} / {np.max(g):.2f} "
              f"| {100 * np.mean(g <= 2.0):.1f} % | {np.median(t):.2f} / {np.percentile(t, 95):.2f} |")
    print()


TAIL_MS = 80.0  # the p95 target: words later than this make the tail
CAUSES = {
    "worker": "live alignment placed it late",
    "final": "final alignment placed it late",
    "local": "audio-only estimate late",
    "local, moved": "audio-only estimate moved later (after the words the live alignment placed)",
    "none": "item not placed on the clock yet",
    "?": "not observed (arrived and shown in one observation)",
}


def cause(history: list[tuple[float, liveview.Why]], onset_ms: float) -> tuple[str, Optional[liveview.Why]]:
    """Where a word's live start came from when it mattered: the live view's state at the
    first observation at or after its true onset (a late word: why it was not on screen),
    else at the observation that showed it (an early word: what put it there)."""
    at = next((w for t, w in history if t >= onset_ms), history[-1][1] if history else None)
    if at is None:
        return "?", None
    return (at.source + (", moved" if at.source == "local" and at.moved_ms > 1.0 else "")), at


@dataclass
class Lateness:
    """Live lateness (shown - spoken, ms) of scored words, with what they are scored by."""

    rows: list[tuple[str, str, float, float, float]] = field(default_factory=list)
    # (speech, pattern, lateness, text lead ms, onset in item ms)
    causes: list[tuple[str, float, float, str, Optional[liveview.Why]]] = field(default_factory=list)
    # late words: (speech, lateness, text lead, cause, state at onset)

    def add(self, kind: str, pattern: str, late: float, lead: float, onset_item: float,
            history: Optional[list[tuple[float, liveview.Why]]] = None, onset_ms: float = 0.0) -> None:
        self.rows.append((kind, pattern, late, lead, onset_item))
        if history is not None and lead >= 0 and late > TAIL_MS:
            self.causes.append((kind, late, lead, *cause(history, onset_ms)))

    def breakdown(self) -> list[str]:
        """The p95 tail and the stalls by cause (per speech kind)."""
        out = [f"| speech | cause | words > {TAIL_MS:.0f} ms late (text >= {LEAD_MS:.0f} ms ahead) "
               f"| stalls (> {STALL_MS:.0f} ms, text there) | median / max lateness ms "
               "| median moved ms | median worker lag ms |", "|---|---|---|---|---|---|---|"]
        for kind in sorted({r[0] for r in self.causes}):
            for name, label in CAUSES.items():
                sel = [r for r in self.causes if r[0] == kind and r[3] == name]
                if not sel:
                    continue
                late = np.array([r[1] for r in sel])
                tail = sum(1 for r in sel if r[2] >= LEAD_MS)
                stalls = int(np.sum(late > STALL_MS))
                moved = [r[4].moved_ms for r in sel if r[4] is not None]
                lag = [r[4].worker_lag_ms for r in sel if r[4] is not None and math.isfinite(r[4].worker_lag_ms)]
                out.append(f"| {kind} | {label} | {tail} | {stalls} | {np.median(late):.0f} / {late.max():.0f} "
                           f"| {np.median(moved) if moved else 0:.0f} | {np.median(lag) if lag else math.nan:.0f} |")
        return out

    def table(self) -> list[str]:
        out = [f"| speech | words (text >= {LEAD_MS:.0f} ms ahead) | n | median | p95 | p99 | max "
               f"| all words: shown > {EARLY_MS:.0f} ms early | stalls (> {STALL_MS:.0f} ms late, text there) |",
               "|---|---|---|---|---|---|---|---|---|"]
        for kind in sorted({r[0] for r in self.rows}) + ["all"]:
            rows = [r for r in self.rows if kind in ("all", r[0])]
            subsets = [("all", lambda r: True), (f"first {FIRST_MS / 1000:.0f} s of the item", lambda r: r[4] < FIRST_MS),
                       ("rest of the item", lambda r: r[4] >= FIRST_MS)]
            subsets += [(f"pattern {p}", lambda r, p=p: r[1] == p) for p in corpus.PATTERNS]
            for name, keep in subsets:
                sel = [r for r in rows if keep(r)]
                lead = np.array([r[2] for r in sel if r[3] >= LEAD_MS])
                every = np.array([r[2] for r in sel])
                stalls = sum(1 for r in sel if r[3] >= 0 and r[2] > STALL_MS)
                if len(lead) == 0:
                    continue
                out.append(f"| {kind} | {name} | {len(lead)} | {np.median(lead):.0f} | {np.percentile(lead, 95):.0f} "
                           f"| {np.percentile(lead, 99):.0f} | {lead.max():.0f} "
                           f"| {100 * np.mean(every < -EARLY_MS):.1f} % of {len(every)} | {stalls} |")
        return out


def example_stalls(live_mode: liveview.LiveMode) -> list[str]:
    """The bundled example logs: words shown > STALL_MS after their final start although
    their text was there (no ground truth: the final timeline is the reference)."""
    out = []
    for path in sorted(EXAMPLES.glob("*.jsonl")):
        records, _ = parse_session_log(path.read_text().splitlines())
        engine, shown = liveview.watch(records, live_mode)
        late = [shown[(c.item_id, c.index)] - c.start_ms for c in engine.captions()
                if c.role == "assistant" and c.text.strip() and (c.item_id, c.index) in shown
                and c.arrived_ms <= c.start_ms]
        x = np.array(late) if late else np.zeros(1)
        out.append(f"| {path.name} | {len(late)} | {np.median(x):.0f} | {x.max():.0f} "
                   f"| {int(np.sum(x > STALL_MS))} |")
    return out


def estimator_cost(sessions: list[corpus.Session], factory: EstimatorFactory) -> tuple[float, float]:
    """CPU seconds spent estimating per second of audio, under the engine's call pattern
    (a step after every audio chunk and every delta, then until settled), and the
    longest single call in ms (how long a live session's lock can be held)."""
    cpu, audio_s, longest = 0.0, 0.0, 0.0
    for s in sessions:
        by_item: dict[str, list[dict]] = {}
        for line in s.log:
            e = line["event"]
            if "item_id" in e and ("delta" in e):
                by_item.setdefault(e["item_id"], []).append(e)
        for item in s.items:
            events = by_item.get(item.item_id, [])
            pcms = [np.frombuffer(base64.b64decode(e["delta"]), "<i2")
                    for e in events if e["type"].endswith("audio.delta")]
            t0 = time.process_time()
            est = factory(corpus.SAMPLE_RATE)
            it = iter(pcms)
            for e in events:
                if e["type"].endswith("audio.delta"):
                    est.add_audio(next(it))
                else:
                    est.add_text(e["delta"])
                t1 = time.process_time()
                est.step(STEP_MS)
                est.spans()
                longest = max(longest, time.process_time() - t1)
            est.complete(True, True)
            for _ in range(1000):
                t1 = time.process_time()
                settled = est.step(STEP_MS)
                est.spans()
                longest = max(longest, time.process_time() - t1)
                if settled:
                    break
            cpu += time.process_time() - t0
            audio_s += item.audio_ms / 1000.0
    return cpu / max(audio_s, 1e-9), 1000.0 * longest


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="caption onset error vs ground truth")
    p.add_argument("--sessions", type=int, default=24, help="espeak sessions (default 24)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-timit", action="store_true")
    p.add_argument("--quick", action="store_true",
                   help="iterating: only the captioner, no given-timing, GPT-Live or CPU-cost tables")
    p.add_argument("--only", default="", help="comma-separated session names to keep (es012,tm003): iterate on a few")
    p.add_argument("--list-late", action="store_true",
                   help="print every word shown > 80 ms late, > 40 ms early, or stalled (item, text, lateness, cause)")
    p.add_argument("--no-live", action="store_true", help="skip the live view (faster)")
    p.add_argument("--given-only", action="store_true", help="only the given-timing table")
    p.add_argument("--live-mode", choices=["worker", "in-process"], default="worker",
                   help="the captioner's live view: with the worker's answer lag simulated (default), "
                        "or stepped in-process before every observation")
    p.add_argument("--step-cost-ms", type=float, default=None,
                   help="worker mode: every worker step costs this long instead of its measured CPU time "
                        "(reproducible runs for comparing two versions; the default is the honest figure)")
    p.add_argument("--snr-db", type=float, default=None,
                   help="noise this many dB under the speech in every item (a noisy channel)")
    p.add_argument("--noise", choices=corpus.NOISES, default="white", help="with --snr-db: the noise's colour")
    args = p.parse_args(argv)
    if args.snr_db is not None and not math.isfinite(args.snr_db):
        p.error(f"--snr-db must be a finite number of dB, not {args.snr_db}")

    sessions = list(corpus.generate(args.seed, args.sessions, timit=not args.no_timit, snr_db=args.snr_db,
                                    noise_color=args.noise))
    if args.only:
        keep = set(args.only.split(","))
        sessions = [s for s in sessions if s.name in keep]
    estimators = {"captioner": ESTIMATORS["captioner"]} if args.quick else ESTIMATORS
    if not args.quick:
        given_timing_table(sessions)
        live_table(sessions)
    if args.given_only:
        return 0
    kinds = sorted({s.kind for s in sessions})
    methods = ["70 ms x chars", "3.83 syl/s", "syl scaled to audio", "on arrival", *estimators]
    final = {(m, k): Errors() for m in methods for k in kinds}
    live = {(m, k): Errors() for m in methods for k in kinds}
    per_pattern = {(k, pat): Errors() for k in kinds for pat in corpus.PATTERNS}
    lateness = Lateness()
    listed: list[str] = []
    missing = 0
    for s in sessions:
        results = {name: run_engine(s, f, not args.no_live, args.live_mode, args.step_cost_ms)
                   for name, f in estimators.items()}
        why = results["captioner"][2]
        for item in s.items:
            base = baseline_onsets(item)
            for d in item.deltas:
                if d.onset_ms is None:
                    continue
                led = d.arrived_ms < d.onset_ms
                for m, onsets in base.items():
                    final[(m, s.kind)].add(onsets[d.index], d.onset_ms, led)
                    live[(m, s.kind)].add(max(onsets[d.index], d.arrived_ms), d.onset_ms, led)
                for name, (fin, shown, _) in results.items():
                    key = (item.item_id, d.index)
                    if key not in fin:
                        missing += 1
                        continue
                    final[(name, s.kind)].add(fin[key], d.onset_ms, led)
                    if name == "captioner":
                        per_pattern[(s.kind, s.pattern)].add(fin[key], d.onset_ms, led)
                    if key in shown:
                        live[(name, s.kind)].add(shown[key], d.onset_ms, led)
                        if name == "captioner":
                            lateness.add(s.kind, s.pattern, shown[key] - d.onset_ms,
                                         d.onset_ms - d.arrived_ms, d.onset_item_ms, why.get(key, []), d.onset_ms)
                            late, lead = shown[key] - d.onset_ms, d.onset_ms - d.arrived_ms
                            if args.list_late and ((late > TAIL_MS and lead >= LEAD_MS) or late < -EARLY_MS or (late > STALL_MS and lead >= 0)):
                                listed.append(f"| {item.item_id} | {d.index} {d.text!r} | {d.onset_item_ms:.0f} "
                                              f"| {late:+.0f} | {lead:.0f} | {fin[key] - d.onset_ms:+.0f} "
                                              f"| {cause(why.get(key, []), d.onset_ms)[0]} |")

    if listed:
        print("| item | delta | onset in item ms | live lateness ms | text lead ms | final error ms | cause |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(listed))
        print()
    n_words = {k: len(final[("on arrival", k)].err) for k in kinds}
    noise = "" if args.snr_db is None else f", {args.noise} noise {args.snr_db:g} dB under the speech"
    print(f"corpus: seed {args.seed}{noise}, " + ", ".join(
        f"{k}: {sum(s.kind == k for s in sessions)} sessions / {n_words[k]} scored deltas" for k in kinds))
    if missing:
        print(f"(captions missing from the engine's output: {missing})")
    header = ("| speech | method | view | median abs err ms | p95 abs err ms "
              f"| shown > {EARLY_MS:.0f} ms early | median lateness when text leads ms |")
    print()
    print(header)
    print("|---|---|---|---|---|---|---|")
    for k in kinds:
        for m in methods:
            print(f"| {k} | {m} | final {final[(m, k)].row()}")
            if not args.no_live:
                print(f"| {k} | {m} | live {live[(m, k)].row()}")
    if not args.no_live:
        print()
        print(f"captioner, live view ({args.live_mode}"
              + (": the estimate worker's answers lag by its work + a 10 ms poll" if args.live_mode == "worker"
                 else ": estimator stepped before every observation") + "), lateness = shown - spoken ms:")
        print()
        print("\n".join(lateness.table()))
        print()
        if args.live_mode == "worker":
            print(f"why words were late (> {TAIL_MS:.0f} ms; the live view's state when they were spoken: where "
                  "their start came from, how far the audio-only estimate was moved later, how long ago the "
                  "worker took the inputs of its latest answer):")
            print()
            print("\n".join(lateness.breakdown()))
            print()
        print(f"example logs, live view ({args.live_mode}) against their final timeline "
              "(words whose text arrived before their final start):")
        print()
        print("| log | words | median lateness ms | max ms | stalls |")
        print("|---|---|---|---|---|")
        print("\n".join(example_stalls(args.live_mode)))
    print()
    print("captioner, final timeline, by arrival pattern:")
    print()
    print("| speech | pattern | median abs err ms | p95 abs err ms | > 40 ms early | lead lateness |")
    print("|---|---|---|---|---|---|")
    for k in kinds:
        for pat in corpus.PATTERNS:
            print(f"| {k} | {pat} {per_pattern[(k, pat)].row()}")
    if args.quick:
        return 0
    print()
    print("| estimator | CPU s per audio s (real-time factor) | vs proportional | longest call ms |")
    print("|---|---|---|---|")
    costs = {name: [estimator_cost(sessions, f) for _ in range(3)] for name, f in ESTIMATORS.items()}
    base_cost = float(np.median([c for c, _ in costs["proportional (old)"]]))
    for name, runs in costs.items():
        med = float(np.median([c for c, _ in runs]))
        longest = float(np.median([m for _, m in runs]))
        print(f"| {name} | {med:.4f} ({100 * med:.2f} % CPU) | {med / base_cost:.1f}x | {longest:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
