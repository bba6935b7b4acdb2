"""Marks only: WebRTC items with output_audio_buffer marks and no samples at all."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from captioner.examples import example_log
from captioner.core import CaptionEngine, replay
from captioner.core.estimators import default_estimator
from captioner.edges.files import read_session_log

SCRIPTS = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = example_log().parent  # the bundled logs
RATE = 24000
COUNT = " one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen".split(" ")[1:]


def _spans(deltas: list[str], length_ms=None, complete: bool = False):
    est = default_estimator(RATE)
    for d in deltas:
        est.add_text(d)
    if length_ms is not None:
        est.set_audio_length(length_ms)
    est.complete(length_ms is not None, complete)
    est.step(None)
    return est.spans()


def test_a_sentence_end_takes_a_pause_a_comma_most_of_one():
    plain = _spans([" Yes", " then", " go"])
    comma = _spans([" Yes,", " then", " go"])
    stop = _spans([" Yes.", " Then", " go"])
    # speech-rate priors: a pause (and the lengthened word before it) at punctuation; between
    # the sentences of one answer a voice pauses ~200-350 ms (espeak-ng 310, Piper 205,
    # measured), plus the lengthened last word: not half a second
    assert 250.0 < stop[1][0] - plain[1][0] < 420.0
    # a comma pauses less, but most of that (espeak-ng 150 ms, Piper 280 ms)
    assert 0.6 < (comma[1][0] - plain[1][0]) / (stop[1][0] - plain[1][0]) < 0.9


def test_known_length_scales_the_text_and_keeps_it_inside():
    deltas = [" The", " light", "house", " keeper", " climbed", " the", " stairs", "."]
    short, long = _spans(deltas, 2000.0, True), _spans(deltas, 4000.0, True)
    for spans, length in ((short, 2000.0), (long, 4000.0)):
        assert all(0.0 < s <= e <= length for s, e in spans)
        assert all(a[1] <= b[0] + 1e-9 for a, b in zip(spans, spans[1:]))
        assert spans[-1][1] > 0.8 * length  # the text fills the span (less a trailing silence)
    # twice the time: every word later, "house" (a piece of a word) inside "lighthouse"
    assert all(b[0] > a[0] for a, b in zip(short[1:], long[1:]))
    assert short[1][0] < short[2][0] < short[3][0]


def _answer(engine: CaptionEngine, words: list[str]) -> None:
    engine.receive({"type": "response.created", "response": {"id": "r1"}}, 0)
    engine.receive({"type": "conversation.item.added",
                    "item": {"id": "i1", "type": "message", "role": "assistant"}}, 5)
    for k, w in enumerate(words):  # the text leads playback: all of it before the voice
        engine.receive({"type": "response.output_audio_transcript.delta", "item_id": "i1",
                        "response_id": "r1", "content_index": 0, "delta": w}, 10 + k)
    engine.receive({"type": "output_audio_buffer.started", "response_id": "r1"}, 1000)


def test_a_cleared_item_keeps_only_what_fits_before_the_clear():
    engine = CaptionEngine(transport="webrtc")
    _answer(engine, [" " + w for w in COUNT])
    engine.receive({"type": "output_audio_buffer.cleared", "response_id": "r1"}, 2500)
    engine.settle()
    caps = engine.captions()
    assert caps and caps[-1].truncated and caps[-1].end_ms == pytest.approx(2500.0)
    assert all(c.start_ms < 2500.0 for c in caps)
    # 1.5 s holds a few words at a speaking rate, not the whole count squeezed in
    assert 3 <= len(caps) <= 8
    assert all(c.end_ms - c.start_ms > 120.0 for c in caps[:-1])  # the last one is cut
    assert engine.transcript("i1").split() == COUNT[:len(caps)]


def test_text_arriving_after_the_clear_adds_no_caption_past_the_cut():
    engine = CaptionEngine(transport="webrtc")
    _answer(engine, [" " + w for w in COUNT[:4]])
    engine.receive({"type": "output_audio_buffer.cleared", "response_id": "r1"}, 2000)
    for k, w in enumerate(COUNT[4:]):  # the rest of the text was already on its way
        engine.receive({"type": "response.output_audio_transcript.delta", "item_id": "i1",
                        "response_id": "r1", "content_index": 0, "delta": " " + w}, 2010 + k)
    engine.receive({"type": "response.output_audio_transcript.done", "item_id": "i1", "response_id": "r1",
                    "content_index": 0, "transcript": " ".join(COUNT)}, 2100)
    engine.settle()
    caps = engine.captions()
    assert caps and all(c.start_ms < 2000.0 and c.end_ms <= 2000.0 for c in caps)
    assert caps[-1].truncated
    assert engine.transcript("i1").split() == COUNT[:len(caps)]


def test_a_server_truncate_cuts_a_marks_only_item_and_the_stop_mark_cannot_undo_it():
    engine = CaptionEngine(transport="webrtc")
    _answer(engine, [" " + w for w in COUNT])
    engine.receive({"type": "conversation.item.truncated", "item_id": "i1", "content_index": 0,
                    "audio_end_ms": 1500}, 2600)
    engine.receive({"type": "output_audio_buffer.stopped", "response_id": "r1"}, 2650)
    engine.settle()
    caps = engine.captions()
    assert caps and all(c.start_ms < 2500.0 and c.end_ms <= 2500.0 for c in caps)
    assert caps[-1].truncated and 3 <= len(caps) <= 8
    (item,) = engine.timeline().items
    assert item.truncated_at_ms == 1500


def test_the_first_word_is_placed_between_a_neural_and_a_recorded_voice_lead_in():
    engine = CaptionEngine(transport="webrtc")
    _answer(engine, [" " + w for w in COUNT])
    engine.receive({"type": "output_audio_buffer.stopped", "response_id": "r1"}, 6000)
    engine.settle()
    first = engine.captions()[0].start_ms - 1000.0
    # the started mark runs ~100 ms ahead of the voice (media path); then the voice's own
    # lead-in: a neural voice ~50 ms, studio-recorded speech ~140 ms - neither more than
    # 50 ms off
    assert abs(first - (100.0 + 50.0)) <= 50.0 and abs(first - (100.0 + 140.0)) <= 50.0


def test_live_marks_pace_the_text_from_the_start_mark():
    engine = CaptionEngine(transport="webrtc")
    _answer(engine, [" " + w for w in COUNT])
    caps = engine.captions()
    assert [c.text.strip() for c in caps] == COUNT
    starts = [c.start_ms for c in caps]
    assert 1000.0 < starts[0] < 1300.0 and starts == sorted(starts)
    # fifteen words (~25 syllables) take seconds to say, whenever their text arrived
    assert starts[-1] - starts[0] > 3000.0
    engine.receive({"type": "output_audio_buffer.stopped", "response_id": "r1"}, 5000)
    engine.settle()
    caps = engine.captions()
    assert caps[-1].end_ms <= 5000.0 and caps[-1].end_ms > 4500.0  # refitted to the marked span


def _load_script():
    spec = importlib.util.spec_from_file_location("make_marks", SCRIPTS / "make_seed001_webrtc_marks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seed001_marks_example_is_what_its_script_makes():
    script = _load_script()
    built = script.build((EXAMPLES / "seed001_story_truncated.jsonl").read_text().splitlines())
    assert (EXAMPLES / "seed001_webrtc_marks.jsonl").read_text().splitlines() == built


def test_seed001_as_marks_only_spreads_the_story_and_ends_at_the_cut():
    records, errors = read_session_log(EXAMPLES / "seed001_webrtc_marks.jsonl")
    assert not errors
    assert not any("audio.delta" in r.event["type"] for r in records)
    engine = replay(records)
    assert engine.transport == "webrtc"
    started = next(r.t_ms for r in records if r.event["type"] == "output_audio_buffer.started")
    caps = engine.captions()
    assert caps and all(c.final for c in caps)
    assert caps[-1].truncated and caps[-1].end_ms == pytest.approx(started + 2449.0)
    assert all(c.start_ms < started + 2449.0 for c in caps)
    assert all(c.end_ms - c.start_ms > 0 for c in caps if c.text.strip(" ,."))
    (item,) = engine.timeline().items
    assert item.truncated_at_ms == 2449
    # the same story over WebSocket, timed on its audio: about as many words were heard
    ws_records, _ = read_session_log(EXAMPLES / "seed001_story_truncated.jsonl")
    ws = replay(ws_records)
    heard = engine.transcript(item.item_id).split()
    heard_ws = ws.transcript(item.item_id).split()
    assert heard == heard_ws[:len(heard)] or heard_ws == heard[:len(heard_ws)]
    assert abs(len(heard) - len(heard_ws)) <= 2
    # and each heard word's onset near where the audio says it is
    ws_start = ws.timeline().items[0].start_ms
    ws_onsets = {c.index: c.start_ms - ws_start for c in ws.captions()}
    for c in caps:
        if c.index in ws_onsets and c.text.strip(" ,."):
            assert abs((c.start_ms - started) - ws_onsets[c.index]) < 400.0


def test_a_word_lasts_as_long_as_its_sounds():
    # "strengths" is one syllable of seven sounds, "idea" two syllables of three: said, the
    # first takes longer (a syllable count alone has it the other way round)
    long = _spans([" I", " strengths", " go"], 3000.0, True)
    short = _spans([" I", " idea", " go"], 3000.0, True)
    assert long[2][0] - long[1][0] > short[2][0] - short[1][0]
    # a written number lasts as long as it is read out
    money = _spans([" Pay", " $3,482.50", " now"])
    cash = _spans([" Pay", " cash", " now"])
    assert money[2][0] - money[1][0] > 4 * (cash[2][0] - cash[1][0])


def test_usual_reading_spells_an_acronym_and_counts_its_sounds():
    from captioner.core.estimators._text import reading_phones, spoken_words
    fbi, nasa = spoken_words("FBI NASA")
    assert fbi.syllables == 3 and fbi.phones == 5  # "eff bee eye"
    assert nasa.syllables == 2 and nasa.phones == 4  # said as a word
    assert reading_phones(("the",)) == 2 and reading_phones(("tone",)) == 3  # silent e
    assert reading_phones(("strengths",)) > reading_phones(("idea",))


def test_the_media_lag_moves_both_marks_alike():
    from captioner.core.estimators._marks import LEAD_SILENCE_MS, MEDIA_LAG_MS, TRAIL_SILENCE_MS, speech_edges
    start, end = speech_edges(4000.0)
    # both marks come ahead of the voice by the media path's lag: the speech starts that much
    # plus its leading silence after the started mark, and lasts the marked span less the
    # voice's own silences (the lag is no silence)
    assert start == pytest.approx(MEDIA_LAG_MS + LEAD_SILENCE_MS)
    assert end - start == pytest.approx(4000.0 - LEAD_SILENCE_MS - TRAIL_SILENCE_MS)
    spans = _spans([" The", " light", "house", " keeper", " climbed", " the", " stairs", "."], 4000.0, True)
    assert spans[0][0] == pytest.approx(start)
    assert spans[-1][0] <= end + 1e-6  # the final "." marks the end of the last word
    short_start, short_end = speech_edges(300.0)  # a blip: silences shrink, speech stays inside
    assert 0.0 < short_start < short_end <= 300.0
