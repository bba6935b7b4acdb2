"""Random event streams: the timeline stays ordered, non-overlapping and never passes a cut."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from captioner.core import replay
from captioner.core.wire import LogRecord
from tests.sessions import GA, BETA, pcm_b64

WORDS = st.sampled_from([" once", " up", "on", " a", " time", ",", " 1999", ".", " Dr", "agons", ""])


@st.composite
def sessions(draw):
    names = draw(st.sampled_from([GA, BETA]))
    n_items = draw(st.integers(1, 3))
    records: list[LogRecord] = []
    cuts: dict[str, int] = {}
    t = 0.0
    n = 0
    for k in range(n_items):
        item = f"i{k}"
        chunks = draw(st.lists(st.integers(0, 9000), min_size=0, max_size=6))  # samples (odd ok)
        texts = draw(st.lists(WORDS, min_size=0, max_size=8))
        with_duration = draw(st.booleans())
        events = []
        for c in chunks:
            events.append({"type": names["audio"], "item_id": item, "delta": pcm_b64(c)})
        for w in texts:
            e = {"type": names["text"], "item_id": item, "delta": w}
            if with_duration:
                e["duration_ms"] = draw(st.integers(0, 800))
            events.append(e)
        order = draw(st.permutations(range(len(events)))) if events else []
        if draw(st.booleans()):
            events = [events[i] for i in order]  # deltas before/after/among audio
        if draw(st.booleans()):
            events.append({"type": names["audio_done"], "item_id": item})
        extra = draw(st.lists(st.sampled_from([
            {"type": "rate_limits.updated"}, {"type": names["audio"]}, {"nope": 1},
            {"type": "conversation.item.truncated", "item_id": item},
        ]), max_size=2))
        events.extend(extra)
        for e in events:
            t += draw(st.floats(0, 0.3))
            n += 1
            dup = draw(st.integers(0, 9)) == 0
            e = {"event_id": f"e{n}", **e}
            records.append(LogRecord(t, "server", e))
            if dup:
                records.append(LogRecord(t, "server", e))
        if draw(st.booleans()):
            cut = draw(st.integers(0, 4000))
            t += draw(st.floats(0, 1.0))
            cuts[item] = cut
            records.append(LogRecord(t, "client", {"type": "conversation.item.truncate",
                                                   "item_id": item, "content_index": 0,
                                                   "audio_end_ms": cut}))
    delay = draw(st.sampled_from([0.0, 0.0, 150.0]))
    return records, cuts, delay


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions())
def test_timeline_ordered_non_overlapping_and_within_cuts(session):
    records, cuts, delay = session
    engine = replay(records, playout_delay_ms=delay)
    timeline = engine.timeline()
    periods = timeline.periods
    assert [p.start_ms for p in periods] == sorted(p.start_ms for p in periods)
    playback = [p for p in periods if p.kind == "silence" or
                (p.item_id is not None and engine.item_state(p.item_id).role == "assistant")]
    for a, b in zip(playback, playback[1:]):
        assert a.end_ms <= b.start_ms + 1e-6, (a, b)
    for p in periods:
        assert p.duration_ms >= 0
    starts = {i.item_id: i for i in timeline.items}
    for item_id, cut in cuts.items():
        record = starts.get(item_id)
        if record is None:
            continue
        assert record.truncated_at_ms is not None and record.truncated_at_ms <= cut
        cut_at = engine.item_time(item_id, record.truncated_at_ms)  # session ms of the cut
        for p in periods:
            if p.item_id == item_id:
                assert p.end_ms <= cut_at + 1e-6
    # per item: captions in delta order, each item's captions after the previous item's audio ended
    last_end = -1.0
    for rec in sorted((i for i in timeline.items if i.role == "assistant"), key=lambda i: i.start_ms):
        assert rec.start_ms >= last_end - 1e-6
        last_end = rec.end_ms
        idx = [p.index for p in periods if p.item_id == rec.item_id]
        assert idx == sorted(idx)
