"""Subtitle export: what pysubs2 reads back from our SRT / ASS / WebVTT text."""

from __future__ import annotations

import re
from collections import defaultdict

import pysubs2
import pytest
from hypothesis import HealthCheck, given, settings

from captioner.core.render import FORMATS, export_captions, export_rules, export_text, karaoke_text, to_ssafile
from captioner.core.render import Cue, CueWord, LayoutRules, layout_cues
from captioner.core import Caption

from tests.test_layout import caption_streams, check_lines, check_track_timing, words_to_captions

RULES = LayoutRules()
_K = re.compile(r"\{\\k(\d+)\}")


def speaker_of(event: pysubs2.SSAEvent, fmt: str) -> str:
    if fmt == "ass":
        assert event.name == event.style
        return event.name
    return "User" if event.plaintext.startswith(RULES.user_label) else "Assistant"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(caption_streams())
def test_exports_load_back_within_the_layout_limits(captions):
    rules = export_rules(captions)
    assert rules.assistant_label == ("Assistant: " if {c.role for c in captions} == {"assistant", "user"} else "")
    cues = layout_cues(captions, rules)
    for fmt in FORMATS:
        expected = sorted(
            (c.start_ms, c.end_ms, "User" if c.role == "user" else "Assistant",
             ("" if fmt == "ass" else c.label) + "\n".join(c.lines))
            for c in cues
        )
        text = export_captions(captions, fmt)
        if cues:  # an empty SRT is an empty string, which no format detection can name
            assert pysubs2.SSAFile.from_string(text).format == fmt
        subs = pysubs2.SSAFile.from_string(text, format_=fmt)
        got = sorted((e.start, e.end, speaker_of(e, fmt), e.plaintext) for e in subs)
        assert got == expected  # every cue, its text, exact times (on ASS's 10 ms grid)
        tracks = defaultdict(list)
        for e in subs:
            speaker = speaker_of(e, fmt)
            tracks[speaker].append((e.start, e.end))
            lines = e.plaintext.split("\n")
            label = rules.label(speaker.lower()) if fmt != "ass" else ""
            assert lines[0].startswith(label)
            lines[0] = lines[0][len(label) :]
            check_lines(lines, RULES.max_chars_per_line - len(label), RULES)
            if fmt == "ass":  # karaoke: one \k per delta piece, summing to the event's span
                ks = [int(k) for k in _K.findall(e.text)]
                assert ks and sum(ks) * 10 == e.end - e.start
            else:
                assert "{" not in e.text and "\\k" not in text
        for track in tracks.values():
            check_track_timing(sorted(track), RULES)


def test_srt_and_vtt_are_valid_for_players():
    caps = words_to_captions("Once upon a time, in a land far away, there lived a dragon.")
    caps += words_to_captions("Stop please.", start=1500.0, item="u", role="user")
    srt = export_captions(caps, "srt")
    blocks = srt.strip().split("\n\n")
    stamp = r"\d\d:\d\d:\d\d,\d\d\d --> \d\d:\d\d:\d\d,\d\d\d"
    for n, block in enumerate(blocks, 1):
        number, times, *lines = block.split("\n")
        assert number == str(n) and re.fullmatch(stamp, times) and 1 <= len(lines) <= 2
    vtt = export_captions(caps, "vtt")
    assert vtt.startswith("WEBVTT\n\n")
    assert re.search(r"\d\d:\d\d:\d\d\.\d\d\d --> \d\d:\d\d:\d\d\.\d\d\d", vtt)
    # with both speakers in the file, both are named (overlapping cues stack in players)
    for text in (srt, vtt):
        assert "User: Stop please." in text and "Assistant: Once upon a time" in text
        assert "{" not in text and "\\" not in text
    assert "<v User>User: Stop please." in vtt and "<v Assistant>Assistant: Once" in vtt  # WebVTT voice spans
    alone = export_captions(words_to_captions("Once upon a time."), "srt")
    assert "Assistant" not in alone  # one speaker: no labels


def test_an_interrupted_answer_ends_with_a_visible_mark():
    caps = words_to_captions("Once upon a time, in a land far away")
    last = caps[-1]
    caps[-1] = Caption(last.item_id, last.role, last.index, last.text, last.start_ms, last.end_ms, 0.0, truncated=True)
    for fmt in FORMATS:
        text = export_captions(caps, fmt)
        assert "\u00a0\u2014" in text and text.rstrip().endswith("\u2014"), fmt
    plain = export_captions(caps, "srt", LayoutRules(cut_mark=""))
    assert "\u2014" not in plain


def test_ass_styles_tell_the_speakers_apart():
    caps = words_to_captions("Hello there.") + words_to_captions("Hi.", start=1100.0, item="u", role="user")
    subs = to_ssafile(layout_cues(caps))
    a, u = subs.styles["Assistant"], subs.styles["User"]
    assert a.primarycolor != u.primarycolor and a.alignment != u.alignment
    assert {(e.style, e.name) for e in subs} == {("Assistant", "Assistant"), ("User", "User")}
    ass = pysubs2.SSAFile.from_string(export_text(layout_cues(caps), "ass"))
    assert set(ass.styles) == {"Assistant", "User"}
    assert {e.plaintext for e in ass} == {"Hello there.", "Hi."}


def test_karaoke_follows_each_word_and_gives_silence_to_the_word_before():
    cue = Cue(
        start_ms=1000,
        end_ms=2000,
        role="assistant",
        item_id="i",
        lines=["Hello dr agons,", "friends"],
        words=[
            CueWord("Hello", 1000.0, 1200.0),
            CueWord(" dr", 1250.0, 1400.0),  # 50 ms of silence before it stays on "Hello"
            CueWord(" agons", 1400.0, 1500.0),
            CueWord(",", 1500.0, 1510.0),
            CueWord(" friends", 1600.0, 1800.0),
        ],
    )
    assert karaoke_text(cue) == r"{\k25}Hello{\k15} dr{\k10} agons{\k10},{\k40}\Nfriends"


def test_karaoke_sums_exactly_despite_rounding():
    words = [CueWord(("" if n == 0 else " ") + "w", 1000 + n * 33.3, 1000 + n * 33.3 + 20) for n in range(7)]
    cue = Cue(1000, 1230, "assistant", "i", ["w w w w w w w"], words)
    ks = [int(k) for k in _K.findall(karaoke_text(cue))]
    assert len(ks) == 7 and sum(ks) == 23


def test_markup_in_transcripts_cannot_inject_tags():
    caps = [
        Caption("i", "assistant", 0, "Use {\\b1} and a < b & c", 0.0, 900.0, 0.0),
        Caption("i", "assistant", 1, " C:\\New", 900.0, 1800.0, 0.0),
    ]
    ass = pysubs2.SSAFile.from_string(export_captions(caps, "ass"))
    (event,) = ass
    assert "\\b1" not in event.text and "\n" not in event.plaintext.replace("\n", "", 1)
    vtt = export_captions(caps, "vtt")
    body = vtt.split("\n", 1)[1].replace("<v Assistant>", "")  # the one tag is ours
    assert "a &lt; b &amp; c" in vtt and "<" not in body
    srt = pysubs2.SSAFile.from_string(export_captions(caps, "srt"))
    assert "(\u2216b1)" in srt[0].plaintext and "\u2216New" in srt[0].plaintext


def test_nothing_to_say_is_an_empty_but_valid_file():
    for fmt in FORMATS:
        text = export_captions([Caption("i", "assistant", 0, "  ", 0.0, 10.0, 0.0)], fmt)
        assert len(pysubs2.SSAFile.from_string(text, format_=fmt)) == 0


def test_unknown_format_is_refused():
    with pytest.raises(ValueError):
        export_captions([], "sub")
