"""Caption layout: property tests over random delta streams, plus worked examples."""

from __future__ import annotations

import textwrap
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from captioner.core.render import Cue, LayoutRules, break_lines, layout_cues
from captioner.core import Caption

RULES = LayoutRules()

# ----------------------------------------------------------------- random streams

_WORDS = ["time", "dr", "agons", "a", "I", "well", "extraordinarily", "café", "won't", "sing", "x"]
_PHRASES = [  # a whole phrase in one delta (whisper sends a user turn as one)
    " I would like to hear a story about dragons, please.",
    " so the dr agons sang and sang and sang all night long until the sun came up again",
    " ok",
]
# delta texts: words with their own leading space, continuations ("dr" + "agons"),
# punctuation, blank deltas, words longer than a line, multi-word deltas
_DELTAS = (
    [" " + w for w in _WORDS] * 3
    + _WORDS
    + [",", ".", "?", "!", "…", ";", '."']
    + ["", " ", "  ", "\n", "end ", " " + "w" * 43, " " + "W" * 60]
    + _PHRASES
)
_DURATIONS = [0.0, 5.0, 60.0, 150.0, 240.0, 400.0, 900.0]
_GAPS = [0.0, 0.0, 0.0, 30.7, 90.0, 700.0, 1300.0, 2500.0]


@st.composite
def caption_streams(draw) -> list[Caption]:
    """Captions of both roles; each role's track is non-overlapping (DESIGN.md), the two
    tracks overlap freely. Durations and gaps include zero."""
    captions: list[Caption] = []
    delta = st.tuples(st.sampled_from(_DELTAS), st.sampled_from(_DURATIONS), st.sampled_from(_GAPS))
    for role in ("assistant", "user"):
        t = draw(st.floats(0, 3000))
        items = draw(st.lists(st.tuples(st.lists(delta, min_size=1, max_size=40), st.booleans()), max_size=3))
        for item, (deltas, truncated) in enumerate(items):
            t += draw(st.sampled_from([0.0, 0.5, 40.0, 300.0, 2000.0]))
            for index, (text, dur, gap) in enumerate(deltas):
                last = truncated and index == len(deltas) - 1
                captions.append(Caption(f"{role[0]}{item}", role, index, text, t, t + dur, 0.0, truncated=last))
                t += dur + gap
    draw(st.randoms(use_true_random=False)).shuffle(captions)  # input order must not matter
    return captions


def by_role(cues: list[Cue]) -> dict[str, list[Cue]]:
    out: dict[str, list[Cue]] = defaultdict(list)
    for c in cues:
        out[c.role].append(c)
    for track in out.values():
        track.sort(key=lambda c: c.start_ms)
    return out


def check_track_timing(track: list, rules: LayoutRules) -> None:
    """Gap, overlap and duration limits for one speaker's (start, end) pairs, sorted."""
    for n, (start, end) in enumerate(track):
        assert end > start
        assert end - start <= rules.max_duration_ms
        nxt = track[n + 1][0] if n + 1 < len(track) else None
        if nxt is not None:
            assert nxt - end >= rules.min_gap_ms  # never overlapping, 83 ms apart
        # ≥ 5/6 s unless the next cue's start forces it to end as late as the gap allows
        assert end - start >= rules.min_duration_ms or (
            nxt is not None and nxt - end < rules.min_gap_ms + rules.time_step_ms
        )


def check_lines(lines: list[str], first_cap: int, rules: LayoutRules) -> None:
    assert 1 <= len(lines) <= rules.max_lines
    for n, line in enumerate(lines):
        assert line == line.strip() and line and "  " not in line
        cap = first_cap if n == 0 else rules.max_chars_per_line
        assert len(line) <= cap or " " not in line  # only a single over-long word may exceed


def _item_chars(captions: list[Caption]) -> tuple[str, list[str], list[Caption]]:
    """An item's text as concatenated (whitespace collapsed), and the caption owning each
    non-space character — computed independently of the layout."""
    full, owner = "", []
    for cap in sorted(captions, key=lambda c: c.index):
        full += cap.text
        owner += [cap] * len(cap.text)
    chars = [ch for ch in full if not ch.isspace()]
    owners = [o for ch, o in zip(full, owner) if not ch.isspace()]
    return " ".join(full.split()), chars, owners


# ----------------------------------------------------------------- properties


def check_rules(cues: list[Cue], rules: LayoutRules) -> None:
    for track in by_role(cues).values():
        check_track_timing([(c.start_ms, c.end_ms) for c in track], rules)
        for c in track:
            check_lines(c.lines, rules.max_chars_per_line - len(c.label), rules)
            assert c.start_ms % rules.time_step_ms == 0 and c.end_ms % rules.time_step_ms == 0
            # a cue stays up at least until its last word starts
            last_word = max(n for n, w in enumerate(c.words) if n == 0 or w.text.startswith(" "))
            assert c.end_ms >= c.words[last_word].start_ms


def check_text_and_start(cues: list[Cue], captions: list[Caption]) -> None:
    """Every item's text comes out whole, in order, each cue no earlier than its first word."""
    items = defaultdict(list)
    for cap in captions:
        items[cap.item_id].append(cap)
    cues_of = defaultdict(list)
    for c in sorted(cues, key=lambda c: c.start_ms):
        cues_of[c.item_id].append(c)
    assert set(cues_of) <= set(items)
    for item_id, caps in items.items():
        text, chars, owners = _item_chars(caps)
        cut = max(caps, key=lambda c: c.index).truncated and bool(text)
        # same text, same word boundaries (an interrupted item ends with the cut mark):
        # no word is split across lines or cues
        assert " ".join(c.text for c in cues_of[item_id]) == text + ("\u00a0" + RULES.cut_mark if cut else "")
        pos = 0
        for k, c in enumerate(cues_of[item_id]):
            assert c.start_ms >= owners[min(pos, len(owners) - 1)].start_ms  # never before its first word plays
            n = len(c.text.replace(" ", "")) - (1 + len(RULES.cut_mark) if cut and k == len(cues_of[item_id]) - 1 else 0)
            ends_cut = cut and k == len(cues_of[item_id]) - 1  # the cue with the cut mark
            assert c.truncated == (any(o.truncated for o in owners[pos : pos + n]) or ends_cut)
            pos += n
            # karaoke units rebuild the cue text exactly, each inside its delta's span
            assert "".join(w.text for w in c.words) == c.text
            assert all(w.end_ms >= w.start_ms for w in c.words)
        assert pos == len(chars)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(caption_streams())
def test_random_streams_lay_out_within_the_rules(captions):
    cues = layout_cues(captions)
    check_rules(cues, RULES)
    check_text_and_start(cues, captions)
    assert layout_cues(list(reversed(captions))) == cues  # input order does not matter


@settings(max_examples=60, deadline=None)
@given(caption_streams(), st.integers(20, 60), st.integers(1, 3), st.integers(500, 2000))
def test_other_rules_are_respected(captions, width, lines, min_ms):
    rules = LayoutRules(max_chars_per_line=width, max_lines=lines, min_duration_ms=min_ms, user_label="U: ")
    cues = layout_cues(captions, rules)
    check_rules(cues, rules)
    check_text_and_start(cues, captions)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(_WORDS + ["far,", "away.", "w" * 50]), min_size=1, max_size=20))
def test_line_breaks_keep_words_whole_in_fewest_lines(words):
    lines = break_lines(words, 42, 42, 99)
    assert " ".join(lines) == " ".join(words)
    check_lines(lines, 42, LayoutRules(max_lines=99))
    # as few lines as greedy wrapping needs (greedy filling is optimal for the count)
    greedy = textwrap.wrap(" ".join(words), 42, break_long_words=False, break_on_hyphens=False)
    assert len(lines) == len(greedy)


# ----------------------------------------------------------------- examples


def words_to_captions(text, start=1000.0, ms_per_char=60.0, item="i1", role="assistant", first_index=0):
    """Split text into realtime-style deltas (" word"), timed by length."""
    caps, t = [], start
    for n, tok in enumerate(text.split(" ")):
        piece = tok if n == 0 and first_index == 0 else " " + tok
        dur = ms_per_char * len(piece)
        caps.append(Caption(item, role, first_index + n, piece, t, t + dur, 0.0))
        t += dur
    return caps


def test_a_long_sentence_breaks_after_the_comma_into_balanced_lines():
    cues = layout_cues(words_to_captions("When the dragons finally woke up, they sang to the rising sun."))
    assert [c.lines for c in cues] == [["When the dragons finally woke up,", "they sang to the rising sun."]]


def test_a_sentence_too_long_for_one_cue_splits_at_a_clause_not_a_word():
    text = (
        "Once upon a time, in a land far away, there lived a family of dragons "
        "who loved to sing at the top of their voices every single morning."
    )
    cues = layout_cues(words_to_captions(text))
    assert len(cues) >= 2
    # the first cue ends after a clause ("away,") or just before one ("who loved ...")
    assert cues[0].text.endswith("away,") or cues[1].text.startswith("who")
    assert " ".join(c.text for c in cues) == text


def test_sentences_start_new_cues_and_short_ones_stay_together():
    cues = layout_cues(words_to_captions("Sure. I can tell you a story about the dragons of the north. It is long."))
    assert cues[0].text.startswith("Sure. I can")  # a short "Sure." is not a cue of its own
    assert any(c.text == "It is long." for c in cues)


def test_split_pieces_of_a_word_stay_together():
    toks = [" They", " were", " dr", "agons", ",", " real", " dr", "agons", "."]
    caps = [Caption("i", "assistant", n, t, 100.0 * n, 100.0 * n + 90, 0.0) for n, t in enumerate(toks)]
    cues = layout_cues(caps, LayoutRules(max_chars_per_line=8))
    assert all("dragons" in c.text or "dr" not in c.text for c in cues)
    assert " ".join(c.text for c in cues) == "They were dragons, real dragons."


def test_whitespace_only_captions_add_nothing_but_a_word_break():
    caps = [
        Caption("i", "assistant", 0, "  ", 0.0, 50.0, 0.0),
        Caption("i", "assistant", 1, "", 50.0, 80.0, 0.0),
        Caption("i", "assistant", 2, "dr", 100.0, 200.0, 0.0),
        Caption("i", "assistant", 3, " ", 200.0, 300.0, 0.0),
        Caption("i", "assistant", 4, "agons", 300.0, 400.0, 0.0),
    ]
    assert layout_cues(caps[:2]) == []
    (cue,) = layout_cues(caps)
    assert cue.lines == ["dr agons"]
    assert cue.start_ms == 100  # blank deltas do not pull the cue earlier
    assert [w.text for w in cue.words] == ["dr", " agons"]


def test_long_pause_and_item_change_split_cues():
    a = words_to_captions("Hello there.", start=0.0)
    b = words_to_captions("Still here", start=a[-1].end_ms + 3000, first_index=len(a))
    c2 = words_to_captions("Yes", start=b[-1].end_ms + 100, item="i2")
    cues = layout_cues(a + b + c2)
    assert [c.text for c in cues] == ["Hello there.", "Still here", "Yes"]
    assert [c.item_id for c in cues] == ["i1", "i1", "i2"]


def test_short_cue_lasts_five_sixths_of_a_second_unless_speech_follows():
    (alone,) = layout_cues([Caption("i", "assistant", 0, " Hi", 1000.0, 1200.0, 0.0)])
    assert (alone.start_ms, alone.end_ms) == (1000, 1000 + 840)  # 833 ms rounded up to 10 ms
    caps = [
        Caption("i", "assistant", 0, " Hi.", 1000.0, 1200.0, 0.0),
        Caption("j", "assistant", 0, " Next", 1400.0, 1900.0, 0.0),
    ]
    first, second = layout_cues(caps)
    assert second.start_ms == 1400
    assert first.end_ms == 1400 - 90  # carved from the earlier cue: 83 ms, on the 10 ms grid


def test_lingers_at_most_half_a_second_for_reading():
    text = "This sentence has a great many characters for its time."
    caps = words_to_captions(text, start=0.0, ms_per_char=20.0)  # spoken in ~1.1 s
    (cue,) = layout_cues(caps)
    speech_end = caps[-1].end_ms
    assert speech_end < cue.end_ms <= speech_end + 500 + 10


def test_words_too_close_to_split_cleanly_merge_instead():
    # "Hi." ends a sentence, but the next word starts 30 ms later: splitting would hide
    # "Hi." before it plays, so the two stay in one cue.
    caps = [
        Caption("i", "assistant", 0, " Well", 0.0, 900.0, 0.0),
        Caption("i", "assistant", 1, " hi.", 900.0, 930.0, 0.0),
        Caption("i", "assistant", 2, " Next", 930.0, 1500.0, 0.0),
    ]
    (cue,) = layout_cues(caps)
    assert cue.text == "Well hi. Next"


def test_one_delta_for_a_whole_user_turn_is_split_and_timed_within_its_span():
    turn = " ".join(["I would like to hear a longer story about the dragons please"] * 3)
    cap = Caption("u", "user", 0, " " + turn, 2000.0, 14000.0, 15000.0)
    cues = layout_cues([cap])
    assert len(cues) >= 2 and " ".join(c.text for c in cues) == turn
    assert all(c.label == "User: " for c in cues)
    starts = [c.start_ms for c in cues]
    assert starts == sorted(starts) and starts[0] == 2000 and starts[-1] < 14000
    assert all(2000 <= w.start_ms <= w.end_ms <= 14000 for c in cues for w in c.words)


def test_user_and_assistant_tracks_may_overlap():
    a = words_to_captions("I will tell you a story about dragons.", start=0.0)
    u = words_to_captions("Wait, stop.", start=500.0, item="u", role="user")
    cues = layout_cues(a + u)
    tracks = by_role(cues)
    (ua,) = tracks["user"]
    assert any(c.start_ms < ua.end_ms and ua.start_ms < c.end_ms for c in tracks["assistant"])
    assert ua.lines == ["Wait, stop."]


def test_an_overlong_word_stands_alone():
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis-like"
    cues = layout_cues(words_to_captions(f"It was {word} stuff", ms_per_char=10.0))
    lines = [line for c in cues for line in c.lines]
    assert word in lines


def test_truncated_flag_marks_only_the_cue_with_the_last_heard_caption():
    caps = words_to_captions("Once upon a time. There lived a family of dragons in a very big cave.")
    last = caps[-1]
    caps[-1] = Caption(last.item_id, last.role, last.index, last.text, last.start_ms, last.end_ms, 0.0, truncated=True)
    cues = layout_cues(caps)
    assert len(cues) >= 2 and cues[-1].truncated and not any(c.truncated for c in cues[:-1])


@pytest.mark.parametrize("gap", [0.0, 10.0, 82.0])
def test_overlapping_or_touching_items_never_overlap_as_cues(gap):
    # two items on one track back to back (a truncated item then the next response)
    a = words_to_captions("Let me think", start=0.0)
    b = words_to_captions("Okay then", start=a[-1].start_ms + gap, item="i2")
    track = by_role(layout_cues(a + b))["assistant"]
    assert [c.item_id for c in track] == ["i1", "i2"]
    check_track_timing([(c.start_ms, c.end_ms) for c in track], RULES)
