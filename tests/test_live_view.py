"""Issue 13: what a live viewer sees never stalls behind the speech.

A demo session (the embedded server's story, interrupted, then a second answer whose
text runs ahead of its audio) and the bundled example log are replayed through the live
view (:class:`ViewCache`, observed every 10 ms), with the estimate worker's answers
lagging as in a live session (``benchmarks/liveview.py``: a fixed, pessimistic cost per
worker step plus the pump's poll) and with the estimator stepped in-process. Every word
whose text was there before its final start must be on screen within 250 ms of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from captioner.core import SHOW_DELAY_MS
from captioner.examples import example_log as bundled_log
from captioner.core.render import ViewCache, layout
from captioner.core.wire import parse_session_log

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
liveview = pytest.importorskip("liveview")

STALL_MS = 250.0
LOST_MS = 400.0  # a word this late was held behind a lost decode path (fast speech)
WORKER_STEP_MS = 40.0  # each worker step (1 s of audio) costs this, then a 10 ms poll: slower than measured


def walk(records, times, worker: bool = True):
    """A live session replaying ``records`` (events at their log times, the pump and the
    simulated worker every 10 ms); yields (t, engine) at each of the sorted ``times``."""
    from captioner.core import CaptionEngine
    from captioner.core.estimators import DeferredEstimator, ForcedAlignEstimator

    sim = liveview.WorkerSim(step_cost_ms=WORKER_STEP_MS) if worker else None
    engine = CaptionEngine(estimator_factory=DeferredEstimator if worker else ForcedAlignEstimator)
    now, i = 0.0, 0

    def step_to(target: float) -> None:
        nonlocal now
        while now + 10.0 < target:
            now += 10.0
            engine.advance(now)
            engine.step()
            if sim is not None:
                sim.observe(engine, now)
        now = max(now, target)
        engine.advance(now)

    for t in times:
        while i < len(records) and records[i].t_ms <= t:
            step_to(records[i].t_ms)
            if records[i].source == "server":
                engine.receive(records[i].event, now)
            else:
                engine.sent(records[i].event, now)
            i += 1
        step_to(t)
        engine.step()
        if sim is not None:
            sim.observe(engine, now)
        yield t, engine


def spoken_by(records, t_ms: float) -> tuple[list[str], list[str]]:
    """(words of the first answer whose final start is <= t - 250 ms, words starting > t + 100 ms)."""
    from captioner.core import replay

    caps = [c for c in replay(records).captions() if c.role == "assistant" and c.text.strip()]
    first = caps[0].item_id
    mine = [c for c in caps if c.item_id == first]
    return ([c.text.strip() for c in mine if c.start_ms <= t_ms - STALL_MS],
            [c.text.strip() for c in mine if c.start_ms > t_ms + 100.0])


def view_lateness(records, mode: str) -> list[tuple[str, float]]:
    """(word, first seen on screen - final start) for every word whose text arrived
    before its final start, replaying ``records`` through a roll-up ViewCache."""
    cache = ViewCache("rollup", 3, 42)
    first_seen: dict[str, float] = {}
    last = [0.0]
    worker = liveview.WorkerSim(step_cost_ms=WORKER_STEP_MS) if mode == "worker" else None

    def observe(engine, now: float) -> None:
        if worker is not None:
            worker.observe(engine, now)
        cache.update(engine.captions, engine.revision, now)
        last[0] = now
        for w in cache.view.words if cache.view else ():
            if w.kind == "word" and w.key:
                first_seen.setdefault(w.key, now)

    from captioner.core import replay
    from captioner.core.estimators import DeferredEstimator, ForcedAlignEstimator

    factory = DeferredEstimator if worker is not None else ForcedAlignEstimator
    engine = replay(records, estimator_factory=factory, observe=observe, observe_step_ms=10.0)
    if worker is not None:
        worker.settle(engine)
    final = layout([c for c in engine.captions() if c.role == "assistant"], "rollup", 42, 3)
    out = []
    for p in final.pieces:
        if p.kind != "word" or p.reveal_ms > p.start_ms + SHOW_DELAY_MS + 1e-6:
            continue  # its text came after its audio: shown on arrival, not the point here
        if p.start_ms + STALL_MS > last[0]:
            continue  # the replay stopped watching before it was due
        assert p.key in first_seen, f"{p.text!r} was never shown"
        out.append((p.text, first_seen[p.key] - p.start_ms))
    return out


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory) -> list:
    out = tmp_path_factory.mktemp("demo")
    subprocess.run([sys.executable, "-c", "import sys; from captioner.cli import main; sys.exit(main())",
                    "demo", "--speed", "4", "--output", "virtual", "--out", str(out)],
                   check=True, capture_output=True, timeout=120)
    records, errors = parse_session_log((out / "session.jsonl").read_text().splitlines())
    assert not errors
    return records


def example_records() -> list:
    """The bundled seed001_story_truncated.jsonl: its first answer starts at 400 ms."""
    records, errors = parse_session_log(bundled_log().read_text().splitlines())
    assert not errors
    return records


@pytest.mark.parametrize("mode", ["worker", "in-process"])
def test_demo_session_live_view_never_stalls(demo_log, mode):
    late = view_lateness(demo_log, mode)
    assert len(late) >= 20
    stalls = [(w, round(x)) for w, x in late if x > STALL_MS]
    assert not stalls, f"words shown > {STALL_MS:.0f} ms after their final start: {stalls}"


@pytest.mark.parametrize("mode", ["worker", "in-process"])
def test_example_log_live_view_never_stalls(mode):
    late = view_lateness(example_records(), mode)
    assert late
    stalls = [(w, round(x)) for w, x in late if x > STALL_MS]
    assert not stalls, f"words shown > {STALL_MS:.0f} ms after their final start: {stalls}"


@pytest.mark.parametrize("step_cost_ms", [20.0, 30.0, 50.0])
def test_fast_speech_with_text_just_ahead_never_stalls(step_cost_ms):
    """The benchmark corpus's fast session (seed 1, es013: espeak up to ~300 words/min,
    speed changing inside items, each word's text arriving just before its audio). At
    that pace the usual 10 ms frames lose the live decode's path (a word "lasting"
    1.5 s, the words after it placed a second late); the live pass then follows at the
    shorter frame shift. Whatever the worker's speed, no word whose text was there is
    shown a second late: none more than 400 ms after it is spoken (a lost path put
    words 0.8-1.3 s late; the 250 ms stall count is the benchmark's, where one word of
    this session is at 260 ms in some runs of the whole suite)."""
    _, lateness = _corpus_session_live(13, step_cost_ms)
    late = [(d.text, round(x)) for d, x in lateness if d.arrived_ms <= d.onset_ms and x > LOST_MS]
    assert not late, late


@pytest.mark.parametrize("index, step_cost_ms", [(14, 40.0), (14, 60.0), (17, 20.0)])
def test_a_drawn_out_word_is_not_taken_for_a_lost_path(index, step_cost_ms):
    """es014: a slow "Yes." after "Moscow." lasts 500 ms of speech, and with words
    absorbing pauses it spans 680 ms. That is a drawn-out word, not fast speech the
    10 ms frames cannot follow: the live pass must not restart at the short frame shift
    there (it did, and put "Yes" and "The" 174 and 756 ms early). es017: the pause the
    live path holds after "Yes," while "NASA" is being decoded is no pause over speech
    yet (a partial path lags a long word): following again there, words absorbing
    pauses, put "the FBI" 131 ms early. No word the live alignment placed is shown more
    than 100 ms early (the audio-only estimate, a guess, is not judged here)."""
    why: dict = {}
    session, lateness = _corpus_session_live(index, step_cost_ms, why)
    early = [(d.text, round(x)) for d, x in lateness if x < -100.0
             and why[(_item_of(session, d), d.index)][-1][1].source == "worker"]
    assert not early, early


@pytest.mark.parametrize("step_cost_ms", [20.0, 40.0])
def test_a_pause_the_live_path_put_over_speech_is_followed_again(step_cost_ms):
    """Seed 3's es020, first answer (its whole text there before the audio): the live
    decode's silence model took the 1.2 s of "tomorrow morning" after "you", and the path
    went on from there, so "tomorrow morning at 7:30" was shown 1.0-1.3 s late. Past such
    a pause the live pass follows again from the word before it, words absorbing pauses,
    as the final pass does: no word of that answer is shown more than 250 ms late."""
    session, lateness = _corpus_session_live(20, step_cost_ms, seed=3)
    late = [(d.text, round(x)) for d, x in lateness
            if _item_of(session, d) == "item_es020_0" and d.arrived_ms <= d.onset_ms and x > STALL_MS]
    assert not late, late


@pytest.mark.parametrize("step_cost_ms", [20.0, 30.0])
def test_a_restart_keeps_what_the_previous_decode_settled(step_cost_ms):
    """Seed 1's es013, third answer ("In 1969, Apollo 11 ..."): the live decode had
    heard "1969" from 120 to 1170 ms. New words restarted it, and the new path, fed 1 s
    so far, ran "1969" only that far, its end not settled. The live view took "1969" back
    to its start alone, and the audio-only estimate put "Apollo" at 730 ms, while
    "nineteen sixty-nine" is still being said: shown 770 ms early. A restart keeps the
    previous decode's timing, settled as it was, until the new decode has had that
    audio: "Apollo" is not shown 400 ms early."""
    session, lateness = _corpus_session_live(13, step_cost_ms)
    apollo = [round(x) for d, x in lateness if _item_of(session, d) == "item_es013_2" and d.text == " Apollo"]
    assert len(apollo) == 1 and apollo[0] > -400.0, apollo


@pytest.mark.parametrize("step_cost_ms", [20.0, 40.0])
def test_a_grammar_shorter_than_the_speech_fed_stops_at_its_last_word(step_cost_ms):
    """Seed 3's es013, second answer, at 300 words a minute ("The population grew by
    7.5% ...", the text coming just ahead of its audio, "7.5%" not whole yet). The
    live decode had "The population grew by" right, and was fed on into the speech of
    "7.5%": its last word, "by", ran to the audio fed, and the whole path was stretched
    with it ("population" 60-970 ms), so "grew by 7.5%" was shown 450-630 ms late. The
    audio after a grammar's last word is another word's speech once that word has lasted
    three times this voice's pace: feeding stops there. No word of that answer whose text
    was there is shown more than 250 ms late."""
    session, lateness = _corpus_session_live(13, step_cost_ms, seed=3)
    late = [(d.text, round(x)) for d, x in lateness
            if _item_of(session, d) == "item_es013_1" and d.arrived_ms <= d.onset_ms and x > STALL_MS]
    assert not late, late


def _item_of(session, delta) -> str:
    return next(item.item_id for item in session.items if delta in item.deltas)


def _corpus_session_live(index: int, step_cost_ms: float, why: Optional[dict] = None, seed: int = 1):
    """The benchmark corpus's espeak session ``index`` (of ``seed``) through the live view
    with the worker's steps costing ``step_cost_ms``: (session, [(delta, shown - spoken
    ms)]); ``why`` as liveview.watch fills it."""
    corpus = pytest.importorskip("corpus")
    session = list(corpus.generate(seed, index + 1, timit=False))[-1]
    assert session.name == f"es{index:03d}"
    records, errors = parse_session_log([json.dumps(x) for x in session.log])
    assert not errors
    _, shown = liveview.watch(records, "worker", why=why, step_cost_ms=step_cost_ms)
    return session, [(d, shown[(item.item_id, d.index)] - d.onset_ms) for item in session.items
                     for d in item.deltas if d.onset_ms is not None]


@pytest.mark.parametrize("step_cost_ms", [20.0, 40.0])
def test_a_word_of_a_text_burst_waits_for_the_rest_of_it(step_cost_ms):
    """Seed 3's es015, third answer: its whole text came after its audio, 27 deltas 3 ms
    apart. The audio-only estimate of the text so far (7 of 27 deltas) put " no" in the
    past, and it was shown on arrival, 280 ms before it was spoken; three deltas later the
    estimate had moved it onto its speech. An estimated caption waits until its burst of
    text pauses: no word of that answer is shown more than 100 ms early."""
    session, lateness = _corpus_session_live(15, step_cost_ms, seed=3)
    early = [(d.text, round(x)) for d, x in lateness if _item_of(session, d) == "item_es015_2" and x < -100.0]
    assert not early, early
