"""Pure view logic: what a viewer sees at playback time now_ms."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from captioner.core.render import LayoutRules, layout_cues
from captioner.core import Caption
from captioner.core.render import CUT_MARK, INTERRUPTED, ViewCache, caption_view, layout, view_at


def item(item_id, role, words, start=0.0, dur=300.0, arrived=None, final=True, truncated=False):
    """Consecutive captions of ``dur`` ms each; ``arrived`` defaults to the item start."""
    caps, t = [], start
    for i, w in enumerate(words):
        caps.append(Caption(item_id, role, i, w, t, t + dur, start if arrived is None else arrived,
                            final, truncated and i == len(words) - 1))
        t += dur
    return caps


STORY = ["Once", " upon", " a", " time", " there", " lived", " a", " small", " dragon", " named", " Ember."]


def nonspace(s: str) -> str:
    return "".join(s.split())


def test_nothing_before_first_word_plays():
    caps = item("a", "assistant", STORY, start=1000.0)
    assert caption_view(caps, 999.9).lines == ()
    v = caption_view(caps, 1000.0)
    assert v.text == "Once"
    assert v.lines[0].label == "assistant"


def test_late_text_waits_for_arrival_then_shows_what_was_spoken():
    caps = item("a", "assistant", STORY[:4], start=0.0, arrived=700.0)
    assert caption_view(caps, 650.0).lines == ()
    assert caption_view(caps, 700.0).text == "Once upon a"  # all three already played


def test_words_appear_one_by_one():
    caps = item("a", "assistant", STORY)
    texts = [caption_view(caps, t, lines=10).text for t in (0, 300, 600, 900)]
    assert texts == ["Once", "Once upon", "Once upon a", "Once upon a time"]


def test_multiword_delta_is_revealed_word_by_word():
    caps = [Caption("a", "assistant", 0, "alpha beta gamma", 0.0, 1600.0, 0.0, True)]
    # spread by characters (14, 1600/14 ms each): alpha [0,571), beta [571,1029), gamma [1029,1600)
    assert caption_view(caps, 570).text == "alpha"
    assert caption_view(caps, 572).text == "alpha beta"
    assert [w.text for w in caption_view(caps, 1100).words if w.current] == ["gamma"]


def test_word_split_across_deltas_glues():
    caps = item("a", "assistant", ["Hel", "lo", " there"])
    assert caption_view(caps, 0).text == "Hel"
    assert caption_view(caps, 300).text == "Hello"
    assert caption_view(caps, 600).text == "Hello there"


def test_rollup_scrolls_old_lines_off():
    caps = item("a", "assistant", STORY)
    early = caption_view(caps, 1000, lines=2, width=16)
    assert early.text == "Once upon a time"
    late = caption_view(caps, 3200, lines=2, width=16)
    assert len(late.lines) == 2
    assert "Once" not in late.text
    assert late.text.endswith("named Ember.")
    # lines never reflow: each visible line is a line of the full layout
    full = caption_view(caps, 10_000, lines=100, width=16)
    full_lines = [ln.text for ln in full.lines]
    assert [ln.text for ln in late.lines] == full_lines[-2:]
    assert all(len(t) <= 16 for t in full_lines)


def test_three_line_rollup_keeps_three():
    caps = item("a", "assistant", STORY)
    assert len(caption_view(caps, 3200, lines=3, width=16).lines) == 3


def test_karaoke_marks_the_word_being_spoken():
    caps = item("a", "assistant", STORY)
    v = caption_view(caps, 950, lines=5)
    assert [w.text for w in v.words if w.current] == ["time"]
    assert [w.state for w in v.words] == ["spoken"] * 3 + ["current"]
    gap = [Caption("a", "assistant", 0, "Hi.", 0, 300, 0, True), Caption("a", "assistant", 1, " Bye", 800, 1000, 0, True)]
    assert not any(w.current for w in caption_view(gap, 500).words)


def test_provisional_text_is_flagged():
    caps = item("u", "user", ["maybe", " later"], final=False)
    v = caption_view(caps, 1000)
    assert v.lines[0].label == "user"
    assert all(w.provisional and w.state == "provisional" for w in v.words)
    fin = caption_view(item("u", "user", ["maybe", " later"]), 1000)
    assert not any(w.provisional for w in fin.words)


def test_truncation_mark_appears_at_the_cut_not_before():
    caps = item("a", "assistant", STORY[:4], truncated=True)
    caps[-1] = Caption("a", "assistant", 3, " ti", 900.0, 1000.0, 0.0, True, True)
    assert CUT_MARK not in caption_view(caps, 950).text
    v = caption_view(caps, 1000)
    assert v.text == f"Once upon a ti{CUT_MARK} {INTERRUPTED}"
    assert [w.kind for w in v.words][-2:] == ["mark", "mark"]


def test_speaker_label_on_each_turn_change_only():
    caps = (item("a1", "assistant", ["Hi."], start=0) + item("u1", "user", ["Hello."], start=500)
            + item("a2", "assistant", ["How", " are", " you?"], start=1000))
    v = caption_view(caps, 2000, lines=3)
    assert [(ln.label, ln.text) for ln in v.lines] == [
        ("assistant", "Hi."), ("user", "Hello."), ("assistant", "How are you?")]
    same = item("a1", "assistant", ["Hi."]) + item("a2", "assistant", ["Again."], start=500)
    assert [ln.label for ln in caption_view(same, 1000, lines=3).lines] == ["assistant", None]


def test_popon_shows_each_export_cue_whole_when_its_first_word_plays():
    caps = item("a", "assistant", STORY * 2)
    cues = layout_cues(caps, LayoutRules(max_chars_per_line=42, max_lines=2, user_label="", assistant_label=""))
    assert len(cues) >= 2
    first = cues[0]
    assert caption_view(caps, first.words[0].start_ms - 1, mode="popon").lines == ()
    v = caption_view(caps, first.words[0].start_ms, mode="popon")
    assert [ln.text for ln in v.lines] == first.lines  # the whole cue at once, not word by word
    second = caption_view(caps, cues[1].start_ms + 1, mode="popon")
    assert second.text.split()[0] == cues[1].words[0].text.strip()  # first cue replaced, not scrolled
    assert nonspace(second.text) == nonspace(cues[1].text)


def test_popon_word_arriving_after_its_cue_opened_joins_it_on_arrival():
    caps = item("a", "assistant", ["Once", " upon", " a", " time."])
    late = caps[3]
    caps[3] = Caption(late.item_id, late.role, late.index, late.text, late.start_ms, late.end_ms, 1000.0, True)
    assert caption_view(caps, 100, mode="popon").text.strip() == "Once upon a"
    assert caption_view(caps, 1000, mode="popon").text.strip() == "Once upon a time."


def test_roll_up_still_reveals_word_by_word():
    caps = item("a", "assistant", STORY)
    assert caption_view(caps, 650, mode="rollup").text.strip() == "Once upon a"


def test_view_cache_never_takes_back_a_shown_word():
    caps = item("a", "assistant", STORY, final=False)
    for mode in ("rollup", "popon"):
        cache = ViewCache(mode, 2, 42)
        seen = cache.update(lambda: caps, 1, 650.0)
        assert "upon" in seen.text
        moved = [Caption(c.item_id, c.role, c.index, c.text, c.start_ms + 1000.0, c.end_ms + 1000.0,
                         c.arrived_ms, False) for c in caps]  # a later estimate puts the item after now
        got = cache.update(lambda: moved, 2, 660.0)
        assert got is None or "upon" in got.text
        assert "upon" in cache.view.text
        assert "upon" not in caption_view(moved, 660.0, mode=mode).text  # a fresh view would drop it


def test_popon_marks_interrupted_cue():
    caps = item("a", "assistant", STORY[:4], truncated=True)
    assert caption_view(caps, 1300, mode="popon").text.endswith(f"time{CUT_MARK} {INTERRUPTED}")
    assert caption_view(caps, 1200 + 1100, mode="popon").lines == ()


def test_unknown_mode_is_rejected():
    try:
        caption_view([], 0, mode="scroll")
    except ValueError:
        return
    raise AssertionError("unknown mode accepted")


def test_layout_json_is_serialisable():
    lay = layout(item("a", "assistant", STORY, truncated=True), "popon")
    data = json.loads(json.dumps(lay.to_json()))
    assert data["mode"] == "popon" and len(data["pieces"]) == len(lay.pieces) and data["cues"]


def test_view_cache_recomputes_only_when_needed():
    caps = item("a", "assistant", STORY)
    calls = []

    def captions():
        calls.append(1)
        return caps

    cache = ViewCache("rollup", 2, 42)
    assert cache.update(captions, 1, 0.0).text == "Once"
    assert cache.update(captions, 1, 100.0) is None  # no boundary crossed
    assert cache.update(captions, 1, 299.0) is None
    assert cache.update(captions, 1, 300.0).text == "Once upon"
    assert len(calls) == 1
    caps = caps[:1]
    v = cache.update(captions, 2, 300.0)  # new revision: captions re-read
    assert len(calls) == 2 and v.text == "Once"


# --- properties ---------------------------------------------------------------------------

word = st.text(alphabet="abcdefghij", min_size=1, max_size=9)


@st.composite
def sessions(draw):
    caps = []
    t = 0.0
    for n in range(draw(st.integers(1, 3))):
        role = draw(st.sampled_from(["assistant", "user"]))
        start = t + draw(st.floats(0, 2000))
        arrived = start + draw(st.floats(-3000, 3000))
        words = draw(st.lists(word, min_size=1, max_size=12))
        s, k = start, 0
        for i, w in enumerate(words):
            d = draw(st.floats(10, 800))
            arrived = arrived + draw(st.floats(0, 400))
            caps.append(Caption(f"i{n}", role, i, (" " if i and draw(st.booleans()) else "") + w,
                                s, s + d, arrived, draw(st.booleans()), False))
            s += d + draw(st.floats(0, 300))
            k += 1
        if draw(st.booleans()):
            caps[-1] = dataclasses.replace(caps[-1], truncated=True)
        t = s
    return caps


@settings(max_examples=150, deadline=None)
@given(sessions(), st.floats(-500, 40_000), st.sampled_from(["rollup", "popon"]), st.integers(1, 3))
def test_never_shows_text_before_it_is_spoken_and_arrived(caps, now, mode, lines):
    v = caption_view(caps, now, mode=mode, lines=lines, width=30)
    for item_id in {c.item_id for c in caps}:
        mine = [c for c in caps if c.item_id == item_id]
        shown = nonspace("".join(w.text for w in v.words if w.item_id == item_id and w.kind == "word"))
        if mode == "popon":  # a cue shows whole once its first word plays: its text, if arrived
            started = any(c.shown_ms <= now for c in mine)
            allowed = nonspace("".join(c.text for c in mine if c.arrived_ms <= now)) if started else ""
        else:
            allowed = nonspace("".join(c.text for c in mine if c.shown_ms <= now))
        assert len(shown) <= len(allowed)
        if CUT_MARK in "".join(w.text for w in v.words if w.item_id == item_id):
            assert now >= max(mine[-1].shown_ms, mine[-1].end_ms)
    if mode == "rollup":
        assert len(v.lines) <= lines
    assert sum(w.current for w in v.words) <= len({c.item_id for c in caps})


@settings(max_examples=100, deadline=None)
@given(sessions(), st.floats(0, 40_000))
def test_rollup_shows_everything_spoken_when_lines_allow(caps, now):
    v = caption_view(caps, now, lines=1000, width=30)
    for item_id in {c.item_id for c in caps}:
        mine = [c for c in caps if c.item_id == item_id]
        shown = nonspace("".join(w.text for w in v.words if w.item_id == item_id and w.kind == "word"))
        done = nonspace("".join(c.text for c in mine if c.end_ms <= now and c.arrived_ms <= now))
        full = nonspace("".join(c.text for c in mine))
        assert full.startswith(shown) and len(shown) >= len(done)


@settings(max_examples=60, deadline=None)
@given(sessions(), st.lists(st.floats(0, 30_000), min_size=2, max_size=8))
def test_view_cache_agrees_with_direct_view(caps, times):
    cache = ViewCache("rollup", 2, 30)
    last = None
    for t in sorted(times):
        got = cache.update(lambda: caps, 1, t)
        last = got or last
        assert last.lines == view_at(layout(caps, "rollup", 30, 2), t, 2).lines


def test_view_cache_ignores_revisions_that_change_nothing():
    caps = item("a", "assistant", STORY)
    cache = ViewCache("popon", 2, 42)
    first = cache.update(lambda: caps, 1, 400.0)
    assert first.text.strip().startswith("Once upon a time")
    assert cache.update(lambda: list(caps), 2, 400.0) is None  # audio arrived, captions identical
    assert cache.layout is not None and cache.update(lambda: caps[:1], 3, 400.0).text.strip() == "Once"


def test_unusable_times_are_skipped_and_json_stays_strict():
    inf, nan = float("inf"), float("nan")
    caps = item("a", "assistant", ["Hi", " there"]) + [
        Caption("b", "assistant", 0, "never", 0.0, 300.0, inf, True),  # arrival unknown: never shown
        Caption("c", "assistant", 0, "broken", nan, 300.0, 0.0, True),
    ]
    for mode in ("rollup", "popon"):
        v = caption_view(caps, 10_000, mode=mode, lines=5)
        assert "never" not in v.text and "broken" not in v.text
        json.dumps(layout(caps, mode).to_json(), allow_nan=False)
    assert caption_view(caps, 400, lines=5).text == "Hi there"
