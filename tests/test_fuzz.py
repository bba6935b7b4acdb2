"""Hostile and random input never breaks a session (a longer seeded run: benchmarks/fuzz.py)."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from captioner.core import CaptionEngine
from captioner.core.estimators import ProportionalEstimator
from tests.fuzzing import StreamMaker, check_invariants, run_session


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), transport=st.sampled_from(["websocket", "webrtc"]),
       n=st.integers(1, 250))
@example(seed=751, transport="websocket", n=48)  # a cut item ending where the next began (found in CI)
def test_any_event_stream_keeps_the_invariants(seed, transport, n):
    engine = CaptionEngine(transport=transport, estimator_factory=ProportionalEstimator)
    run_session(engine, StreamMaker(random.Random(seed)), n)


def test_non_finite_and_huge_numbers_are_refused_where_they_are_read():
    engine = CaptionEngine()
    for value in (float("inf"), float("nan"), 1e999, -5, True, 2**70):
        engine.receive({"type": "response.output_audio.delta", "item_id": "i", "content_index": value,
                        "delta": "AAAA"}, 0)
        engine.receive({"type": "input_audio_buffer.speech_stopped", "item_id": "u", "audio_end_ms": value}, 0)
        engine.sent({"type": "conversation.item.truncate", "item_id": "i", "audio_end_ms": value}, 0)
    kinds = {(p.kind, p.event_type) for p in engine.problems}
    assert ("malformed", "response.output_audio.delta") in kinds
    assert ("malformed", "input_audio_buffer.speech_stopped") in kinds
    assert ("malformed", "conversation.item.truncate") in kinds  # a NaN cut is reported, not dropped silently
    check_invariants(engine)


def test_an_impossible_audio_format_is_refused():
    engine = CaptionEngine()
    for rate in (1, True, 10**9, "24000"):
        engine.receive({"type": "session.updated", "session": {"audio": {"output": {
            "format": {"type": "audio/pcm", "rate": rate}}}}}, 0)
        assert engine.sample_rate == 24000
    assert len(engine.problems) == 4


def test_one_long_word_costs_bounded_work():
    """A 20,000-letter 'word' (a base64 blob, a URL) is not pronounced letter by letter."""
    from captioner.core.estimators._sphinx import MAX_PIECED_LETTERS, Lexicon

    calls = []
    lexicon = Lexicon(lambda w: calls.append(w) or None)
    assert lexicon.phones("q" * 20_000) is None
    assert len(calls) == 1  # looked up whole, never cut into pieces
    assert lexicon.phones("q" * MAX_PIECED_LETTERS) is not None  # short enough: pieced from letters
