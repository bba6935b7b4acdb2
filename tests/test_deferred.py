"""Estimation handed to a worker: the deferred protocol in-process, then the real process."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from captioner.core.wire import PCM16, encode_base64
from captioner.core.estimators import Answer, DeferredEstimator, EstimatorHost
from captioner.core import CaptionEngine
from captioner.core.estimators import ForcedAlignEstimator
from captioner.server import espeak as tts
from tests.sessions import ask, settle
from captioner.edges.worker import EstimateWorker

RATE = 24000
pytestmark = pytest.mark.skipif(not tts.available(), reason="libespeak-ng not installed")

TEXT = "Sure, I can help with that. Your flight leaves at 10:45 from gate B12."
DELTAS = ["Sure", ",", " I", " can", " help", " with", " that", ".", " Your", " flight", " leaves",
          " at", " 10", ":45", " from", " gate", " B", "12", "."]


def _audio() -> np.ndarray:
    return tts.synthesize(TEXT, voice="en-us", wpm=190, sample_rate=RATE).samples


def _pump(deferred: DeferredEstimator, host: EstimatorHost) -> None:
    """What the worker does, in-process: take the inputs, work until done, publish."""
    work = deferred.take()
    if work is not None:
        host.feed(deferred.key, work)
    while host.busy():
        for _, answer in host.step():
            deferred.publish(answer)


def test_deferred_answers_at_once_and_matches_the_estimator_when_the_worker_has():
    audio = _audio()
    deferred, host = DeferredEstimator(RATE), EstimatorHost(ForcedAlignEstimator)
    direct = ForcedAlignEstimator(RATE)
    chunks = np.array_split(audio, 7)
    for i, d in enumerate(DELTAS):
        for est in (deferred, direct):
            est.add_text(d)
            if i < len(chunks):
                est.add_audio(chunks[i])
        # no worker yet: one span per delta anyway (the audio-only estimate), ordered
        spans = ask(deferred, False, False)
        assert len(spans) == i + 1
        assert all(a[1] <= b[0] + 1e-9 for a, b in zip(spans, spans[1:]))
        if i % 5 == 4:
            _pump(deferred, host)
            assert not deferred.pending
    for est in (deferred, direct):
        ask(est, True, True)  # the item is complete
    assert deferred.pending  # the worker has not been told yet
    _pump(deferred, host)
    assert not deferred.pending
    settle(direct)
    final = ask(deferred, True, True)
    assert final == ask(direct, True, True)  # the worker's answer, as the estimator gives it
    assert final != ask(deferred.local, True, True)  # (not the local stand-in's answer)


def test_later_deltas_use_the_local_estimate_and_stale_answers_are_ignored():
    deferred = DeferredEstimator(RATE)
    deferred.add_audio(_audio())
    for d in DELTAS[:3]:
        deferred.add_text(d)
    ask(deferred, True, False)
    first = deferred.take()
    assert first is not None and first.texts == DELTAS[:3] and first.audio_complete
    deferred.add_text(DELTAS[3])
    second = deferred.take()
    deferred.publish(Answer(second.seq, ((0.0, 100.0), (100.0, 200.0), (200.0, 300.0), (300.0, 400.0)), True))
    deferred.publish(Answer(first.seq, ((5.0, 6.0),) * 3, True))  # arrived late: older
    assert ask(deferred, True, False)[:4] == [(0.0, 100.0), (100.0, 200.0), (200.0, 300.0), (300.0, 400.0)]
    deferred.add_text(DELTAS[4])
    spans = ask(deferred, True, False)
    assert len(spans) == 5 and spans[:4] == [(0.0, 100.0), (100.0, 200.0), (200.0, 300.0), (300.0, 400.0)]
    assert deferred.pending  # the fifth delta is not taken yet
    partial = Answer(deferred.take().seq, spans[:5], False)  # answered, but work remains
    deferred.publish(partial)
    assert deferred.pending


def test_the_local_estimate_after_the_workers_words_moves_whole():
    """Where the audio-only estimate put the next word before the worker's words end, it
    is early there, and so are the words after it: all move as much later, keeping their
    spacing, not only the ones before that end ("no more, no less" had been piled onto the
    end of "day", 600 ms early)."""
    deferred = DeferredEstimator(RATE)
    deferred.add_audio(_audio())
    for d in DELTAS[:8]:
        deferred.add_text(d)
    ask(deferred, True, False)
    own = deferred.local.spans()
    heard_end = own[2][0] + 400.0  # the worker heard the first two deltas last this long
    deferred.publish(Answer(deferred.take().seq, ((0.0, 100.0), (100.0, heard_end)) + tuple(own[2:]), False, 2))
    spans, sources = deferred.explain()
    assert spans[:2] == [(0.0, 100.0), (100.0, heard_end)]
    assert [a for a, _ in spans[2:7]] == pytest.approx([a + 400.0 for a, _ in own[2:7]])
    assert [s.kind for s in sources[2:]] == ["local"] * 6 and sources[2].moved_ms == pytest.approx(400.0)
    assert spans[-1][1] <= deferred.local.audio_ms  # still within the item's audio


def test_an_estimator_that_raises_leaves_its_item_the_local_estimate():
    class Broken(ForcedAlignEstimator):
        def step(self, budget_ms):
            raise RuntimeError("broken")

    deferred, host = DeferredEstimator(RATE), EstimatorHost(Broken)
    deferred.add_audio(_audio())
    for d in DELTAS:
        deferred.add_text(d)
    ask(deferred, True, True)
    _pump(deferred, host)  # returns: the host is not left busy
    assert not deferred.pending  # nothing to wait for at the end of a session
    assert ask(deferred, True, True) == ask(deferred.local, True, True)  # every delta kept


def _feed_engine(engine: CaptionEngine, audio: np.ndarray) -> None:
    base = {"response_id": "r1", "item_id": "i1", "output_index": 0, "content_index": 0}
    engine.receive({"type": "response.created", "response": {"id": "r1"}}, 0.0)
    engine.receive({"type": "conversation.item.added",
                    "item": {"id": "i1", "type": "message", "role": "assistant"}}, 0.0)
    for i, chunk in enumerate(np.array_split(audio, 12)):
        if i < len(DELTAS):
            engine.receive({"type": "response.output_audio_transcript.delta", **base,
                            "delta": DELTAS[i]}, 10.0 * i)
        engine.receive({"type": "response.output_audio.delta", **base,
                        "delta": encode_base64(chunk, PCM16)}, 10.0 * i)
    for d in DELTAS[12:]:
        engine.receive({"type": "response.output_audio_transcript.delta", **base, "delta": d}, 200.0)
    engine.receive({"type": "response.output_audio.done", **base}, 200.0)
    engine.receive({"type": "response.output_audio_transcript.done", **base, "transcript": TEXT}, 200.0)
    engine.advance(20000.0)


def test_worker_process_gives_the_final_timing_an_engine_computes_itself():
    audio = _audio()
    here = CaptionEngine()
    _feed_engine(here, audio)
    here.settle()
    expected = [(c.text, c.start_ms, c.end_ms) for c in here.captions()]

    lock = threading.RLock()
    engine = CaptionEngine(estimator_factory=DeferredEstimator)
    worker = EstimateWorker(engine, lock)
    worker.start()
    try:
        with lock:
            _feed_engine(engine, audio)
            before = [(c.text, c.start_ms) for c in engine.captions()]
        assert [t for t, _ in before] == [t for t, *_ in expected]  # answered at once, locally
        assert worker.settle(timeout_s=60)
        with lock:
            got = [(c.text, c.start_ms, c.end_ms) for c in engine.captions()]
        assert got == expected  # an item's final timing depends on its data, not on who asked when
    finally:
        worker.close()


def test_a_dead_worker_leaves_the_audio_only_estimate(caplog):
    lock = threading.RLock()
    engine = CaptionEngine(estimator_factory=DeferredEstimator)
    worker = EstimateWorker(engine, lock)
    worker.start()
    try:
        worker._process.kill()
        worker._process.wait()
        with lock:
            _feed_engine(engine, _audio())
        deadline = time.monotonic() + 10
        while worker.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not worker.alive
        assert worker.settle(timeout_s=1)
        with lock:
            captions = engine.captions()
        assert [c.text for c in captions] == DELTAS  # nothing lost
        assert all(a.end_ms <= b.start_ms + 1e-6 for a, b in zip(captions, captions[1:]))
        (warning,) = [r.getMessage() for r in caplog.records if "estimate worker stopped" in r.getMessage()]
        assert "(its process exited" in warning  # says why, not "()"
    finally:
        worker.close()


def test_a_worker_closing_with_the_session_is_not_a_warning(caplog):
    """The worker has its own session: a Ctrl-C meant for the session does not reach it, and
    it ends without a warning when the session closes it."""
    import os

    lock = threading.RLock()
    engine = CaptionEngine(estimator_factory=DeferredEstimator)
    worker = EstimateWorker(engine, lock)
    worker.start()
    try:
        assert os.getsid(worker._process.pid) != os.getsid(0)  # the terminal's SIGINT stays with us
        # any voice-like audio will do (no espeak here: its output depends on earlier calls,
        # which would change later tests' audio)
        rng = np.random.default_rng(1)
        audio = (np.sin(np.arange(RATE * 4) / 6.0) * rng.uniform(0, 8000, RATE * 4)).astype(np.int16)
        with lock:
            _feed_engine(engine, audio)
        assert worker.settle(timeout_s=60)
    finally:
        worker.close()
    assert worker._process.returncode == 0
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_the_live_aligner_confirms_a_word_only_by_audio_it_has_heard():
    """All the audio is there but the live pass has been fed only its first 200 ms: a word
    it heard there is at the frontier of its path (the next block may move it), so no
    delta is placed by the alignment yet; they keep the audio-only estimate. Once it has
    heard everything, the alignment places them."""
    est = ForcedAlignEstimator(RATE)
    est.add_audio(_audio())
    for d in DELTAS[:8]:  # "Sure, I can help with that."
        est.add_text(d)
    est.step(200.0)
    assert est.confident() == 0
    assert est.spans() == est.fallback.spans()
    while not est.step(1000.0):
        pass
    assert est.confident() == 8


def test_a_cut_marks_only_item_without_a_worker_keeps_its_captions_apart():
    """A WebRTC item known only by its marks, interrupted (no stop mark: no length), its
    worker gone: the session's own estimate times it as the worker's estimator would,
    instead of piling every caption on the item's start."""
    from captioner.core import replay
    from captioner.core.wire import parse_session_log
    from captioner.examples import example_log

    records, errors = parse_session_log(
        (example_log().parent / "seed001_webrtc_marks.jsonl").read_text().splitlines())
    assert not errors
    alone = [(c.text, c.start_ms, c.end_ms) for c in replay(records, estimator_factory=DeferredEstimator).captions()]
    expected = [(c.text, c.start_ms, c.end_ms) for c in replay(records).captions()]
    assert alone == expected
    starts = [s for _, s, _ in alone]
    assert len(set(starts)) == len(starts) > 5


def test_an_answer_from_before_the_audio_is_not_trusted_once_the_audio_is_there():
    """The text came first: the worker's first answer could only pace it from the item's
    start. When the audio arrives the session's own estimate, which has heard it, times
    the words until the worker answers again (that stale guess put an answer's first
    word 200 ms late)."""
    deferred, host = DeferredEstimator(RATE), EstimatorHost(ForcedAlignEstimator)
    for d in DELTAS:
        deferred.add_text(d)
    _pump(deferred, host)  # answered with no audio
    deferred.add_audio(_audio()[: RATE // 2])
    spans, sources = deferred.explain()
    assert {s.kind for s in sources} == {"local"}
    assert spans == ask(deferred.local, False, False)
