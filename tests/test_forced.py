"""Forced alignment (pocketsphinx): word onsets on real synthesised speech, live and final."""

from __future__ import annotations

import math

import numpy as np
import pytest

from captioner.core import SHOW_DELAY_MS, CaptionEngine
from captioner.core._engine import BURST_GAP_MS, BURST_HOLD_MS
from captioner.core.estimators import ForcedAlignEstimator
from captioner.core.estimators._base import STEP_MS
from captioner.core.estimators._sphinx import ALIGNERS, Aligner
from captioner.core.estimators._text import spoken_words
from captioner.core.wire import resample
from captioner.server import espeak as tts
from tests.sessions import ask, settle

RATE = 24000
pytestmark = pytest.mark.skipif(not tts.available(), reason="libespeak-ng not installed")

TEXT = "Your flight leaves at 10:45 from gate B12, so you have about 2 hours. Sure, I can help with that."


def _speech(text: str = TEXT, wpm: int = 190):
    """Audio (with a pause after each sentence) and the true onset (ms) of each word by char."""
    parts, truth, offset, base = [], {}, 0, 0
    for sentence in text.split(". "):
        sentence = sentence if sentence.endswith(".") else sentence + "."
        speech = tts.synthesize(sentence, voice="en-us", wpm=wpm, sample_rate=RATE)
        truth.update({base + w.text_start: (offset + w.sample) * 1000 / RATE for w in speech.words})
        pause = np.zeros(RATE * 3 // 10, np.int16)
        parts += [speech.samples, pause]
        offset += len(speech.samples) + len(pause)
        base += len(sentence) + 1
    return np.concatenate(parts), truth


def _deltas(text: str) -> list[str]:
    """Model-like deltas: one word with its leading space, punctuation split off."""
    out, word = [], ""
    for ch in text:
        if ch == " " or (ch in ",." and word):
            if word:
                out.append(word)
            word = ch if ch == " " else ""
            if ch in ",.":
                out.append(ch)
        else:
            word += ch
    return out + ([word] if word else [])


def _errors(spans, deltas, truth) -> list[float]:
    errs, pos = [], 0
    for (start, _), d in zip(spans, deltas):
        c = pos + len(d) - len(d.lstrip(" "))
        if c in truth and d.strip() not in ",.":
            errs.append(start - truth[c])
        pos += len(d)
    return errs


def test_aligner_hears_every_word_where_it_is_spoken():
    audio, truth = _speech()
    words = spoken_words(TEXT)
    timings = Aligner().align(words, resample(audio, RATE, 16000))
    assert timings is not None and all(t is not None for t in timings)
    errs = [timings[i].start_ms - truth[w.start] for i, w in enumerate(words) if w.start in truth]
    assert len(errs) == len(words)
    assert np.median(np.abs(errs)) <= 30.0
    assert max(np.abs(errs)) <= 150.0


def test_unknown_words_are_pronounced_from_pieces():
    lexicon = Aligner().lexicon
    assert lexicon.phones("hello") == "HH AH L OW"
    assert lexicon.phones("interoperabilityx")  # not in the dictionary: built from pieces
    assert lexicon.phones("zzxq")  # letters as a last resort
    assert lexicon.phones("---") is None


def test_streaming_text_ahead_final_and_live():
    audio, truth = _speech()
    deltas = _deltas(TEXT)
    est = ForcedAlignEstimator(RATE)
    for d in deltas:
        est.add_text(d)
    chunk = RATE * 3 // 10
    for pos in range(0, len(audio), chunk):
        est.add_audio(audio[pos : pos + chunk])
        received = min(len(audio), pos + chunk) * 1000 / RATE
        spans = ask(est, False, False)
        assert len(spans) == len(deltas)
        # Words already in the received audio are never held back (a word is shown as it
        # plays, not when the aligner gets to it), and what the alignment placed
        # (the confident prefix) is where the word is spoken.
        confident = est.confident()
        pos_c = 0
        for k, ((start, _), d) in enumerate(zip(spans, deltas)):
            c = pos_c + len(d) - len(d.lstrip(" "))
            if c in truth and truth[c] < received - 300.0:
                assert start <= truth[c] + 150.0
            if c in truth and k < confident:
                assert abs(start - truth[c]) <= 100.0
            pos_c += len(d)
    ask(est, True, True)  # sets off the final pass
    settle(est)
    final = ask(est, True, True)
    errs = _errors(final, deltas, truth)
    assert np.median(np.abs(errs)) <= 30.0
    assert np.percentile(np.abs(errs), 95) <= 120.0
    assert final[-1][1] <= len(audio) * 1000 / RATE + 1e-6
    assert est._aligner is None  # the decoder went back to the pool once final


def test_interrupted_item_text_runs_past_audio():
    audio, truth = _speech()
    deltas = _deltas(TEXT)
    cut = len(audio) // 2
    est = ForcedAlignEstimator(RATE)
    for d in deltas:
        est.add_text(d)
    est.add_audio(audio[:cut])
    ask(est, True, True)
    settle(est)
    spans = ask(est, True, True)
    cut_ms = cut * 1000 / RATE
    heard = [(s, d, t) for s, d, t in zip(spans, deltas, _errors_pairs(deltas, truth)) if t is not None and t < cut_ms - 300]
    assert heard
    errs = [s[0] - t for s, _, t in heard]
    assert np.median(np.abs(errs)) <= 40.0
    assert all(end <= cut_ms + 1e-6 for _, end in spans)


def _errors_pairs(deltas, truth):
    pos = 0
    for d in deltas:
        c = pos + len(d) - len(d.lstrip(" "))
        yield truth.get(c) if d.strip() not in ",." else None
        pos += len(d)


def test_noise_and_mismatched_text_never_break_spans():
    rng = np.random.default_rng(3)
    noise = (rng.standard_normal(RATE * 2) * 3000).astype(np.int16)
    for audio in (noise, np.zeros(RATE, np.int16), noise[:7]):
        est = ForcedAlignEstimator(RATE)
        for d in [" The", " quick", " 42", ",", " zzyzx", "."]:
            est.add_text(d)
        est.add_audio(audio)
        for complete in (False, True):
            spans = ask(est, complete, complete)
            assert len(spans) == 6
            prev = 0.0
            for s, e in spans:
                assert prev - 1e-9 <= s <= e
                prev = e
        assert spans[-1][1] <= len(audio) * 1000 / RATE + 1e-6


def test_final_pass_runs_in_bounded_steps():
    """The engine's pump works in bounded steps: the final alignment is done a step per
    call (answers meanwhile come from the live pass) and gives what one go gives."""
    audio, truth = _speech()
    deltas = _deltas(TEXT)
    stepped, at_once = ForcedAlignEstimator(RATE), ForcedAlignEstimator(RATE)
    for est in (stepped, at_once):
        est.add_audio(audio)  # text after the audio: the final pass must decode it all
        for d in deltas:
            est.add_text(d)
    calls = 0
    while True:
        spans = ask(stepped, True, True, budget_ms=500.0)
        calls += 1
        assert len(spans) == len(deltas)
        if stepped.settled:
            break
        assert calls < 100
    assert calls >= len(audio) / RATE / 0.5 - 1  # about one call per 500 ms of audio
    whole = ask(at_once, True, True, budget_ms=None)
    assert at_once.settled
    assert spans == whole  # the same data, the same timing, however the work was split


def test_aligners_are_reused():
    before = len(ALIGNERS._idle)
    est = ForcedAlignEstimator(RATE)
    audio, _ = _speech("Sure, I can help with that.")
    est.add_text(" Sure")
    est.add_audio(audio)
    ask(est, True, True)
    settle(est)
    assert est.settled
    assert len(ALIGNERS._idle) == max(before, 1)


def test_show_delay_only_for_estimated_timing():
    def run(duration: bool, gap_ms: float = 1.0) -> list:
        engine = CaptionEngine()
        engine.receive({"type": "response.created", "response": {"id": "r", "status": "in_progress"}}, 0.0)
        engine.receive({"type": "conversation.item.added", "item": {"id": "i", "type": "message",
                        "role": "assistant", "content": []}}, 0.0)
        import base64

        audio, _ = _speech("Sure, I can help.")
        engine.receive({"type": "response.output_audio.delta", "item_id": "i", "response_id": "r",
                        "delta": base64.b64encode(audio.tobytes()).decode()}, 10.0)
        for k, d in enumerate([" Sure", ",", " I", " can", " help", "."]):
            event = {"type": "response.output_audio_transcript.delta", "item_id": "i", "response_id": "r", "delta": d}
            if duration:
                event["duration_ms"] = 100
            engine.receive(event, 20.0 + gap_ms * k)
        engine.advance(5000.0)
        return engine.captions()

    # The six deltas came 1 ms apart, one burst: an estimate waits until it paused (the
    # next delta might have moved it); given timing does not.
    for c in run(False):
        assert c.ready_ms == 25.0 + BURST_GAP_MS
        assert c.shown_ms == max(c.start_ms + SHOW_DELAY_MS, c.ready_ms)
    for c in run(True):
        assert c.shown_ms == max(c.start_ms, c.arrived_ms)
    # Further apart than a burst's gap: each waits only the gap after its own arrival.
    assert [c.ready_ms - c.arrived_ms for c in run(False, BURST_GAP_MS + 10.0)] == [BURST_GAP_MS] * 6
    # A burst that goes on (a delta every 19 ms, 95 ms in all): no caption waits longer
    # than BURST_HOLD_MS after its own arrival.
    waits = [c.ready_ms - c.arrived_ms for c in run(False, BURST_GAP_MS - 1.0)]
    last = 20.0 + 5 * (BURST_GAP_MS - 1.0)
    assert waits == [min(last + BURST_GAP_MS - (20.0 + k * (BURST_GAP_MS - 1.0)), BURST_HOLD_MS) for k in range(6)]
    assert waits[0] == BURST_HOLD_MS and waits[-1] == BURST_GAP_MS


def test_live_pass_taken_as_final_only_when_it_is_that_decode():
    """An item's final timing is its data's, however it streamed: the live utterance is
    finished as the final decode only when it is exactly that decode (found by
    hypothesis: tone bursts, " e.g." before most of the audio, "," after it)."""
    from tests.test_estimate import _speechlike

    audio = _speechlike(np.random.default_rng(0), 750)
    streamed = ForcedAlignEstimator(RATE)
    for kind, value in [("a", audio[:1]), ("t", " e.g."), ("a", audio[1:]), ("t", ",")]:
        streamed.add_audio(value) if kind == "a" else streamed.add_text(value)
        ask(streamed, False, False)
    ask(streamed, True, True)
    settle(streamed)
    at_once = ForcedAlignEstimator(RATE)
    at_once.add_audio(audio)
    for d in (" e.g.", ","):
        at_once.add_text(d)
    ask(at_once, True, True)
    settle(at_once)
    assert ask(streamed, True, True) == ask(at_once, True, True)


def test_means_measured_from_the_front_end_alone_match_the_aligners():
    """The cheap mean-measuring decoder reads the same front end as the aligner's own: a
    decode started from its mean is the decode started from one the aligner measured."""
    audio, _ = _speech("Sure, I can help with that.")
    pcm = resample(audio, RATE, 16000)
    aligner = Aligner()
    words = spoken_words("Sure, I can help with that.")
    for n in (800, 16000, len(pcm)):
        aligner.start(words, cmn=aligner._cmn_start)  # a fresh front end from the model's mean
        aligner.feed(pcm[:n])
        own = aligner._decoder.get_cmn(True)
        aligner.abandon()
        assert aligner.measure_cmn(pcm[:n]) == own


def test_final_pass_finishes_the_live_decode_when_it_is_that_decode(monkeypatch):
    """Text ahead of 16 kHz audio: the live utterance already aligns every word from the
    item's own mean (its first 2 s), so the final pass feeds it the rest instead of
    decoding again, and gives what a fresh one-go alignment gives."""
    text = "Sure, I can help with that."
    audio = resample(_speech(text)[0], RATE, 16000)
    live, at_once = ForcedAlignEstimator(16000), ForcedAlignEstimator(16000)
    for d in _deltas(text):
        live.add_text(d)
    live.add_audio(audio)
    ask(live, False, False)  # the live pass: all but the last partial block, from the item's mean
    starts = []
    original = Aligner.start
    monkeypatch.setattr(Aligner, "start", lambda self, *a, **k: starts.append(k) or original(self, *a, **k))
    ask(live, True, True)
    settle(live)
    assert starts == []  # the live decode was the final one
    monkeypatch.undo()
    at_once.add_audio(audio)
    for d in _deltas(text):
        at_once.add_text(d)
    ask(at_once, True, True)
    settle(at_once)
    assert ask(live, True, True) == ask(at_once, True, True)


def _noise_bursts(bursts_ms: tuple[tuple[int, int], ...], seconds: int, text: str = "") -> ForcedAlignEstimator:
    """An estimator holding ``seconds`` of audio, loud (speech-like noise) in the bursts
    given (start, end ms) and silent between them, its audio complete (and ``text``)."""
    rng = np.random.default_rng(0)
    audio = np.zeros(RATE * seconds, np.int16)
    for a, b in bursts_ms:
        audio[a * RATE // 1000 : b * RATE // 1000] = rng.normal(0, 3000, (b - a) * RATE // 1000).astype(np.int16)
    est = ForcedAlignEstimator(RATE)
    est.add_audio(audio)
    if text:
        est.add_text(text)
    est.complete(True, False)
    return est


def _final_errors(text: str, deltas: list[str], voice: str, wpm: int) -> dict[str, float]:
    """Final onset error (ms) of each delta espeak starts a word in, by delta text."""
    speech = tts.synthesize(text, voice=voice, wpm=wpm, sample_rate=RATE)
    truth = {w.text_start: w.sample * 1000 / RATE for w in speech.words}
    est = ForcedAlignEstimator(RATE)
    est.add_audio(speech.samples)
    for d in deltas:
        est.add_text(d)
    est.complete(True, True)
    settle(est)
    out, pos = {}, 0
    for (start, _), d in zip(est.spans(), deltas):
        c = pos + len(d) - len(d.lstrip(" "))
        if c in truth:
            out[d] = start - truth[c]
        pos += len(d)
    return out


def test_pieces_of_one_written_word_are_placed_where_they_are_said():
    # "support@example.com" is one written word the voice says as five; its deltas are
    # placed on the words the aligner heard ("at", "example", "dot", "com"), not by characters.
    deltas = ["Call", " me", " at", " five", ",", " or", " email", " support", "@", "example", ".", "com", "."]
    errs = _final_errors("".join(deltas), deltas, "en-us", 150)
    assert {"@", "example", ".", "com"} <= set(errs)
    assert max(abs(e) for e in errs.values()) <= 100.0, errs


def test_a_pause_inside_a_long_number_is_no_lead_in():
    # "forty-eight thousand | two hundred and thirteen": a quiet run inside the number
    # (its first half) must not move the number's start to after it.
    deltas = ["Your", " order", ",", " number", " 48213", ",", " ships", " on", " Friday", "."]
    errs = _final_errors("".join(deltas), deltas, "en-us", 150)
    assert abs(errs[" 48213"]) <= 100.0, errs


def test_speech_faster_than_the_models_shortest_phone_is_aligned():
    # At this rate some phones last under 30 ms, the model's shortest at its usual frame
    # shift: no grammar gets through until it is decoded with a shorter one.
    text = "That's a great question, and the answer is surprisingly simple."
    words = spoken_words(text)
    speech = tts.synthesize(text, voice="en", wpm=320, sample_rate=RATE)
    assert Aligner().align(words, resample(speech.samples, RATE, 16000)) is None  # the premise
    errs = list(_final_errors(text, _deltas(text), "en", 320).values())
    assert len(errs) >= 9
    assert np.median(np.abs(errs)) <= 30.0 and max(np.abs(errs)) <= 120.0, errs


def test_silence_over_loud_audio_where_words_went_unheard_is_swallowed_speech():
    # A path may skip a word that is not read literally (an e-mail address) and hold the
    # silence model over it; over loud audio that is speech the path lost, not a pause.
    # A pause inside a heard word (the voice's, "five five five | dash") is not.
    est = _noise_bursts(((0, 500), (1000, 2000), (2100, 2500)), 3)  # the words; the unheard one at 1-2 s
    from captioner.core.estimators._sphinx import WordTiming

    said, unheard = WordTiming(0.0, 500.0), None
    after = WordTiming(2100.0, 2500.0)
    assert est._swallowed_at([said, unheard, after], [(500.0, 2100.0)]) == 0
    assert est._swallowed_at([said, unheard, after], []) is None  # the speech-noise filler took it
    inside = WordTiming(0.0, 2100.0)
    assert est._swallowed_at([inside, after], [(550.0, 1900.0)]) is None
    assert est._swallowed_at([said, WordTiming(500.0, 950.0), after], []) == 0  # a word heard in silence


def test_a_pause_over_the_tail_of_the_word_before_is_the_voices_pause():
    # "weather, | the": the silence model took the last 270 ms of "weather" and the 210 ms
    # comma pause; the next word starts where the speech resumes, so the path is on the
    # speech. Not so when the quiet is at the pause's head, or when the loud stretch is
    # longer than the word before could be (words went unheard: "preheat | ... | then").
    from captioner.core.estimators._sphinx import WordTiming

    weather, the = WordTiming(200.0, 420.0), WordTiming(900.0, 1000.0)
    est = _noise_bursts(((200, 690), (900, 1400)), 2, "weather the")
    assert est._swallowed_at([weather, the], [(420.0, 900.0)]) is None
    lost = _noise_bursts(((200, 500), (690, 1400)), 2, "weather the")
    assert lost._swallowed_at([weather, the], [(420.0, 900.0)]) == 0
    then = WordTiming(2500.0, 2700.0)
    lost = _noise_bursts(((200, 2300), (2500, 2900)), 3, "weather then")
    assert lost._swallowed_at([weather, then], [(420.0, 2500.0)]) == 0
    # "JSON, | not": the pause took the first 40 ms of "not" too (the path starts it 40 ms
    # into its speech); still the voice's pause. A loud stretch after the quiet longer
    # than a word's head is speech the path lost.
    est = _noise_bursts(((200, 690), (860, 1400)), 2, "weather the")
    assert est._swallowed_at([weather, the], [(420.0, 900.0)]) is None
    lost = _noise_bursts(((200, 600), (670, 1400)), 2, "weather the")
    assert lost._swallowed_at([weather, the], [(420.0, 900.0)]) == 0


def test_a_word_heard_in_a_pause_is_lost_though_its_edges_touch_speech():
    # Without the silence model, "First" was put in the 180 ms pause after "Okay!" (its
    # first frame on the end of "Okay") and "preheat" over "First,": speech the path lost.
    from captioner.core.estimators._sphinx import WordTiming

    est = _noise_bursts(((0, 500), (680, 1400)), 2)
    okay, first, preheat = WordTiming(0.0, 490.0), WordTiming(490.0, 690.0), WordTiming(690.0, 1400.0)
    assert est._swallowed_at([okay, first, preheat], []) == 0
    assert est._swallowed_at([okay, WordTiming(490.0, 800.0), preheat], []) is None  # it reaches the speech


def test_the_live_view_settles_nothing_from_a_word_heard_where_there_is_only_silence():
    # Seed 2's es022_0 in a fixed-cost run: the live path, without the silence model, put
    # "First" in the pause after "Okay!" and "preheat" over "First,", and the words heard
    # after them confirmed both: "preheat" was shown 413 ms before it was said. The path
    # is lost at the word in the pause; the words from it on get the audio-only estimate.
    from captioner.core.estimators._sphinx import WordTiming

    est = _noise_bursts(((0, 440), (880, 1300), (1510, 2200)), 3)  # Okay! | First, | preheat the
    deltas = ["Okay!", " First", ",", " preheat", " the", " oven"]
    for d in deltas:
        est.add_text(d)
    heard = [WordTiming(a, b, (w,), ((a, b),)) for a, b, w in
             ((0.0, 430.0, "okay"), (430.0, 550.0, "first"), (550.0, 1510.0, "preheat"), (1510.0, 1700.0, "the"))]
    spans, placed = est._placed(heard + [None], live=True, audio_complete=True)
    assert placed == 1  # "Okay!" only
    assert spans[deltas.index(" First")][0] >= 880.0 - 40.0
    assert spans[deltas.index(" preheat")][0] >= 1510.0 - 40.0


def test_a_number_read_otherwise_in_a_pause_is_not_speech_the_path_lost():
    # "March 3rd. Unfortunately": "3rd" went unheard (a number the voice may read some
    # other way) and the silence model took its 430 ms of speech and the pause after it.
    # "March" and "Unfortunately" are where they are: a re-decode (without pauses it put
    # "Unfortunately" on "3rd", 680 ms early) is taken only if it hears more. Lost speech
    # it is if a plain word went unheard there too, or if the speech is longer than any
    # voice reads the number.
    from captioner.core.estimators._sphinx import WordTiming

    march, unfortunately = WordTiming(200.0, 450.0), WordTiming(1200.0, 1900.0)
    est = _noise_bursts(((200, 450), (470, 900), (1200, 1900)), 2, "March 3rd. Unfortunately")
    assert est._swallowed_at([march, None, unfortunately], [(450.0, 1200.0)], read_otherwise=True) is None
    assert est._swallowed_at([march, None, unfortunately], [(450.0, 1200.0)]) == 0  # strictly: lost
    est = _noise_bursts(((200, 450), (470, 900), (1200, 1900)), 2, "March then. Unfortunately")
    assert est._swallowed_at([march, None, unfortunately], [(450.0, 1200.0)], read_otherwise=True) == 0
    est = _noise_bursts(((200, 450), (470, 1700), (1800, 2500)), 3, "March 3rd. Unfortunately")
    late = WordTiming(1800.0, 2500.0)
    assert est._swallowed_at([march, None, late], [(450.0, 1800.0)], read_otherwise=True) == 0


@pytest.mark.parametrize("hears_more", [False, True])
def test_a_re_decode_replaces_one_that_lost_only_a_number_only_if_it_hears_more(monkeypatch, hears_more):
    # The first decode lost only "3rd" to the silence model; the re-decode without pauses
    # gets through with no pause over speech but puts "Unfortunately" on the speech of
    # "3rd". It hears no more words, so the first decode stands; one that hears "3rd"
    # too is better.
    from captioner.core.estimators._sphinx import Aligner, WordTiming

    march, unfortunately = WordTiming(200.0, 450.0), WordTiming(1200.0, 1900.0)
    third = WordTiming(600.0, 900.0) if hears_more else None
    decodes = [([march, None, unfortunately], [(450.0, 1200.0)]),
               ([march, third, WordTiming(1200.0 if hears_more else 470.0, 1900.0)], [])]
    answers: list = []
    monkeypatch.setattr(Aligner, "finish", lambda self: answers.append(decodes[len(answers)]) or answers[-1][0])
    monkeypatch.setattr(Aligner, "silences", lambda self: answers[-1][1] if answers else [])
    est = _noise_bursts(((200, 450), (470, 900), (1200, 1900)), 2)
    for d in ["March", " 3rd.", " Unfortunately"]:
        est.add_text(d)
    est.complete(True, True)
    settle(est)
    assert len(answers) == 2
    spans = est.spans()
    if hears_more:
        assert spans[1][0] == pytest.approx(600.0)  # where only the re-decode heard "3rd"
    else:
        assert spans[2][0] == pytest.approx(1200.0, abs=10.0)


def test_loud_audio_before_the_first_word_heard_is_speech_the_path_lost():
    # Speech at 300 wpm: the path heard "The" only after 560 ms of it (speech-noise filler
    # or silence over the first words). Quiet before the first word is a lead-in.
    from captioner.core.estimators._sphinx import WordTiming

    the, un = WordTiming(560.0, 800.0), WordTiming(800.0, 1100.0)
    assert _noise_bursts(((0, 1200),), 2, "The UN")._swallowed_at([the, un], []) == 0
    assert _noise_bursts(((560, 1200),), 2, "The UN")._swallowed_at([the, un], []) is None


def test_speech_before_the_items_first_pause_is_loud():
    # The first 0.9 s of an answer at 300 wpm has no pause: the quietest frames (the noise
    # floor's estimate) are speech, 28 dB under its vowels, and nothing was "loud" - the
    # path's silence over the first words went unnoticed. Once a pause sets the floor,
    # a soft noise 20 dB over it (a breath before "the") is no speech.
    rng = np.random.default_rng(1)
    n = RATE * 9 // 10
    envelope = 10 ** (np.interp(np.arange(n), [0, n // 4, n // 2, 3 * n // 4, n - 1], [40, 79, 50, 78, 45]) / 20)
    est = ForcedAlignEstimator(RATE)
    est.add_audio((rng.normal(0, 1, n) * envelope).astype(np.int16))
    assert est._loud(0.0, 560.0)
    noise, breath, speech = (rng.normal(0, level, RATE * ms // 1000) for level, ms in ((2.5, 200), (30, 400), (2400, 1000)))
    est = ForcedAlignEstimator(RATE)
    est.add_audio(np.concatenate([noise[:2400], breath, noise[2400:], speech]).astype(np.int16))
    assert not est._loud(100.0, 500.0)  # 21 dB over the floor: voiced by the track's own measure
    assert est._loud(600.0, 1600.0)


def test_only_a_path_stuck_in_its_first_word_is_speech_too_fast():
    # A word heard over 1.5 s of speech with words of its grammar after it unheard: as
    # the item's first word heard, the path could not follow the voice at this frame
    # shift; after words it followed ("not XML, | e.g."), the voice read the next word
    # some other way, and the shorter shift put "for the v2 endpoints" 0.6-2.2 s early.
    from types import SimpleNamespace

    from captioner.core.estimators._forced import _Utterance
    from captioner.core.estimators._sphinx import WordTiming

    est = _noise_bursts(((0, 2500),), 3, "not XML, e.g. for the")
    est._utt = _Utterance(first=0, count=5, start=0, fed=3 * 16000)
    stuck = [WordTiming(0.0, 1500.0), None, None, None, None]
    est._aligner = SimpleNamespace(timings=lambda: stuck)
    assert est._stretched() == 0
    followed = [WordTiming(0.0, 300.0), WordTiming(300.0, 1800.0), None, None, None]
    est._aligner = SimpleNamespace(timings=lambda: followed)
    assert est._stretched() is None
    est._aligner = None


def test_words_on_a_noisy_channel_start_where_they_are_said():
    # White noise 20 dB under the speech: its soft sounds are a few dB over the floor, and
    # at the clean-audio offsets (a pause is under floor + 10 dB, a word starts 15 dB over
    # it) they passed for pauses - words were moved to their first loud syllable, 36 ms
    # late at the median and 8 words in 20 > 80 ms. The levels scale with the range.
    audio, truth = _speech()
    speech = audio[np.abs(audio) > 0.05 * np.abs(audio).max()].astype(np.float64)
    noise = np.random.default_rng(3).normal(0, np.sqrt(np.mean(speech ** 2)) / 10, len(audio))
    est = ForcedAlignEstimator(RATE)
    est.add_audio(np.clip(audio + noise, -32768, 32767).astype(np.int16))
    deltas = _deltas(TEXT)
    for d in deltas:
        est.add_text(d)
    est.complete(True, True)
    settle(est)
    errs = np.array(_errors(est.spans(), deltas, truth))
    assert len(errs) >= 20
    assert np.median(np.abs(errs)) <= 25.0 and np.mean(errs > 80.0) <= 0.2, errs.round()


def test_the_live_pass_follows_speech_too_fast_for_its_frame_shift_within_a_second():
    # 300 wpm: at the usual frame shift the live path put "The" 530 ms late and stayed in
    # it (the last word heard was never judged), so the words after it waited for the
    # final pass. A last heard word with words of its grammar after it that runs past any
    # voice's length is a lost path too: the live pass goes on at the shorter shift.
    text = "The UN was founded in 1945 by 51 countries."
    speech = tts.synthesize(text, voice="en-029", wpm=300, sample_rate=RATE)
    truth = {w.text_start: w.sample * 1000 / RATE for w in speech.words}
    deltas = _deltas(text)
    est = ForcedAlignEstimator(RATE)
    for d in deltas:
        est.add_text(d)
    chunk = RATE // 10
    for k in range(0, 17 * chunk, chunk):
        est.add_audio(speech.samples[k : k + chunk])
        settle(est)
    placed = est.confident()
    errs = _errors(est.spans()[:placed], deltas[:placed], truth)
    assert len(errs) >= 5 and max(abs(e) for e in errs) <= 100.0, errs


def test_a_word_unheard_between_touching_neighbours_is_in_the_drawn_out_one():
    # "API" went unheard and "The" took its sounds (6760-7170 for "The": three times its
    # length): "API" starts a spoken-length share into that time, not where "returns" does.
    from captioner.core.estimators._forced import _fill
    from captioner.core.estimators._text import spoken_words

    words = spoken_words("It is The API returns JSON")
    nan = float("nan")
    starts = [6000.0, 6300.0, 6760.0, nan, 7170.0, 7560.0]
    ends = [6300.0, 6530.0, 7170.0, nan, 7560.0, 7760.0]
    s, _ = _fill(words, starts, ends, None)
    the, api = words[2].units, words[3].units
    assert s[3] == pytest.approx(6760.0 + 410.0 * the / (the + api))
    ends[2], starts[4] = 6900.0, 6900.0  # now "returns" is the drawn-out one: "API" is in it
    s, _ = _fill(words, starts, ends, None)
    assert s[3] == pytest.approx(6900.0)


def test_a_word_unheard_after_a_pause_is_in_the_head_of_the_word_after_that_took_it():
    # "7:30. | Hmm, | that": words absorbing pauses, "Hmm" unheard, and "that" took the
    # pause, the speech of "Hmm" and the pause after it (snapped to where "Hmm" begins,
    # 630 ms early). Only a pause lies between the neighbours: "Hmm" is in the head of
    # "that", and "that" starts where the speech resumes after it.
    from captioner.core.estimators._forced import _fill

    est = _noise_bursts(((0, 500), (900, 1300), (1500, 1800)), 2)
    assert est._resumes(500.0, 850.0) == 850.0  # quiet all the way: no speech before 850
    words = spoken_words("seven hmm that")
    s, e = _fill(words, [0.0, np.nan, 900.0], [500.0, np.nan, 1800.0], None, est._resumes)
    assert s[1] == pytest.approx(900.0) and s[2] == pytest.approx(1500.0, abs=10.0)


def test_a_words_head_in_the_pause_before_it_is_the_word():
    # "guarantee. | Dr.": the silence model took "Doc" (loud after the pause's quiet run,
    # a 40 ms closure before "tor"), the path started "Dr." at "tor". A short soft noise
    # after the quiet (a breath, a click) is not a word's head.
    est = _noise_bursts(((0, 1000), (1250, 1350), (1390, 1800)), 2)
    assert est._head_in_pause(1000.0, 1390.0) == pytest.approx(1250.0, abs=10.0)
    assert est._head_in_pause(1000.0, 1250.0) == 1250.0  # the pause ends where the word starts
    rng = np.random.default_rng(1)
    audio = np.zeros(RATE * 2, np.int16)
    audio[: RATE] = rng.normal(0, 3000, RATE).astype(np.int16)
    audio[int(1.25 * RATE) : int(1.35 * RATE)] = rng.normal(0, 60, RATE // 10).astype(np.int16)  # a breath
    audio[int(1.39 * RATE) : int(1.8 * RATE)] = rng.normal(0, 3000, int(0.41 * RATE)).astype(np.int16)
    breath = ForcedAlignEstimator(RATE)
    breath.add_audio(audio)
    breath.complete(True, False)
    assert breath._head_in_pause(1000.0, 1390.0) == 1390.0


def test_a_stop_closure_inside_a_long_word_is_no_lead_in():
    # Loud, an 80 ms closure a third of the way in, loud again: the word started at its
    # aligned start. A quiet run at its head is a lead-in pause the word absorbed.
    from captioner.core.estimators._sphinx import WordTiming

    est = _noise_bursts(((200, 500), (580, 1200)), 2)
    assert est._snap(WordTiming(200.0, 1200.0)) == 200.0
    assert est._snap(WordTiming(100.0, 1200.0)) == pytest.approx(200.0, abs=10.0)  # absorbed a pause
    sculpture = WordTiming(200.0, 1200.0, ("sculpture",), ((200.0, 1200.0),))
    assert est._snap(sculpture) == 200.0


def test_a_pause_inside_a_word_with_no_stop_comes_before_it():
    # "...uniqueness | the circle": the aligner started "the" on the end of "uniqueness",
    # then a 70 ms pause, then "the" itself (a TIMIT speaker, 131 ms early). "the" has no
    # stop to close: a quiet run anywhere in it is the pause before it.
    from captioner.core.estimators._sphinx import WordTiming

    est = _noise_bursts(((0, 350), (420, 1200)), 2)
    the = WordTiming(100.0, 480.0, ("the",), ((100.0, 480.0),))
    assert est._snap(the) == pytest.approx(420.0, abs=10.0)
    circle = WordTiming(100.0, 900.0, ("circle",), ((100.0, 900.0),))
    assert est._snap(circle) == 100.0  # 250 ms in: past where a lead-in pause could be


def test_a_pause_between_the_spoken_words_of_a_number_is_inside_it():
    # "at 7:30" with noise 20 dB under the speech: the aligner heard "seven" on time, then
    # the gap before "thirty" (quiet in the noise) was taken for a lead-in pause, as if
    # "seven" (no stop) could hold one anywhere in it: "7:30" was put on "thirty", 620 ms
    # late. Only its first spoken word can hold the pause before it.
    from captioner.core.estimators._sphinx import WordTiming

    est = _noise_bursts(((200, 650), (750, 1300)), 2)
    seven_thirty = WordTiming(200.0, 1300.0, ("seven", "thirty"), ((200.0, 650.0), (720.0, 1300.0)))
    assert est._snap(seven_thirty) == 200.0
    lead_in = WordTiming(100.0, 1300.0, ("seven", "thirty"), ((100.0, 650.0), (720.0, 1300.0)))
    assert est._snap(lead_in) == pytest.approx(200.0, abs=10.0)  # a pause at its head is still its lead-in


def test_a_stop_after_s_is_a_stop():
    # "Tuesday, March": words absorbing pauses, "Tuesday" ran over the comma pause after it
    # to where "March" begins. Its "d" (after "s", as in "first", "ask") is a stop: only a
    # quiet run at its head is a lead-in, and "Tuesday" was said before the pause, not
    # after it (it was put at the pause's end, 894 ms late).
    from captioner.core.estimators._sphinx import WordTiming

    est = _noise_bursts(((100, 700), (950, 1500)), 2)
    tuesday = WordTiming(100.0, 1000.0, ("tuesday",), ((100.0, 1000.0),))
    assert est._snap(tuesday) == 100.0
    first = WordTiming(100.0, 1000.0, ("first",), ((100.0, 1000.0),))
    assert est._snap(first) == 100.0


def test_a_word_the_aligner_did_not_hear_is_placed_after_a_pause_not_in_it():
    # "... March 3rd. Hmm, that": "Hmm" unheard (the voice said it some other way) between
    # heard neighbours with the sentence pause between them: it starts where speech resumes.
    from captioner.core.estimators._forced import _fill

    est = _noise_bursts(((0, 500), (900, 1500)), 2)
    assert est._resumes(500.0, 1200.0) == pytest.approx(900.0, abs=10.0)
    # the word before aligned to end a frame or two before its audio does (es007: "3rd"
    # ended 20 ms early and "Hmm" sat 409 ms early, at the start of the pause)
    assert est._resumes(480.0, 1200.0) == pytest.approx(900.0, abs=10.0)
    assert est._resumes(300.0, 450.0) == 300.0  # no pause there
    words = spoken_words("third hmm that")
    starts, _ = _fill(words, [0.0, np.nan, 1200.0], [500.0, np.nan, 1500.0], None, est._resumes)
    assert 890.0 <= starts[1] < 1200.0


def test_the_live_pass_stops_feeding_where_the_last_word_received_must_have_ended():
    """Text trails fast speech: the grammar so far ends with "Apollo", and the decoder
    stretches that last word over the speech of words not received yet. No voice says
    "Apollo" for seconds, so the live pass stops there instead of decoding the rest of
    the item - audio it would decode again when the next words arrive and it restarts."""
    text = "In 1969, Apollo 11 landed on the Moon with 3 astronauts aboard. Sure, I can help with that."
    audio, truth = _speech(text, wpm=250)
    est = ForcedAlignEstimator(RATE)
    est.add_audio(audio)
    for d in ["In", " 1969", ",", " Apollo", " 11"]:  # " 11" may still grow: not in the grammar yet
        est.add_text(d)
    settle(est)
    fed_ms = est._utt.fed * 1000 / 16000
    eleven = truth[text.index("11")]
    assert fed_ms <= eleven + 2000.0 < len(audio) * 1000 / RATE - 1000.0
    assert est.confident() >= 1  # what it heard before is placed


def test_words_the_final_pass_has_decoded_are_placed_before_it_finishes():
    """The text came with the end of the audio (no live pass ran) and the item is already
    playing: the words the final pass has decoded so far are placed by the alignment,
    one step in, not by the audio-only estimate until the whole item is done."""
    audio, truth = _speech()
    deltas = _deltas(TEXT)
    est = ForcedAlignEstimator(RATE)
    est.add_audio(audio)
    for d in deltas:
        est.add_text(d)
    est.complete(True, True)
    assert not est.step(1500.0)  # a first step of the final pass: not done
    placed = est.confident()
    assert 3 <= placed < len(deltas)
    spans = est.spans()
    errs = _errors(spans[:placed], deltas[:placed], truth)
    assert errs and max(abs(e) for e in errs) <= 100.0  # as the live pass (test_streaming_text_ahead_final_and_live)
    settle(est)
    assert est.confident() == len(deltas)


def test_a_live_feed_stops_within_a_block_of_its_grammar_being_used_up(monkeypatch):
    # Audio fed past the grammar's last word once it is confirmed goes to that word: the
    # path stretches it over speech whose text has not come, and a short word ("then the
    # | choreographer") is pulled 300 ms late. The feed asks after every block.
    from captioner.core.estimators._forced import _BLOCK
    from captioner.core.estimators._sphinx import ALIGN_RATE

    rng = np.random.default_rng(2)
    est = ForcedAlignEstimator(RATE)
    est.add_audio(rng.normal(0, 3000, RATE * 3).astype(np.int16))
    est.add_text("then the chore")
    used_up_at = int(0.83 * ALIGN_RATE)  # where the grammar is confirmed (not on a block edge)
    monkeypatch.setattr(ForcedAlignEstimator, "_used_up", lambda self, utt: utt.fed >= used_up_at)
    ask(est, False, False, budget_ms=5000.0)
    assert used_up_at <= est._utt.fed < used_up_at + _BLOCK


def test_a_restart_from_a_word_not_heard_yet_begins_where_its_utterance_did():
    # The live pass restarted from "by" (its path had not heard it again yet) and the
    # swallowing check restarted from it once more: the restart began at the item's
    # start, and "between 1990" was put there, 1.3 s early, and shown.
    from captioner.core.estimators._forced import _Utterance
    from captioner.core.estimators._sphinx import ALIGN_RATE, WordTiming

    est = _noise_bursts(((0, 2000),), 3, "The population grew by 7.5% between 1990")
    grew = WordTiming(500.0, 660.0)
    est._utt = _Utterance(first=3, count=3, start=int(0.63 * ALIGN_RATE), fed=int(0.63 * ALIGN_RATE))
    timings = [WordTiming(0.0, 90.0), WordTiming(90.0, 500.0), grew, None, None, None]
    assert est._anchor_sample(timings, 3) == int(0.63 * ALIGN_RATE)
    est._utt = None  # no utterance under way: after the last word heard before it
    assert est._anchor_sample(timings, 4) == int((660.0 - 30.0) * ALIGN_RATE / 1000)
    assert est._anchor_sample([None, None, None], 2) == 0  # nothing heard yet: from the start


def test_a_word_after_silence_starts_where_it_rises_out_of_the_noise():
    # TIMIT: the path began "have" at the end of the leading silence, on 70 ms of noise
    # 5 dB over the floor, before its "h" (truth 162 ms, placed at 90): the first words of
    # items were 28 ms early at the median. Sound that stays that soft for longer than
    # a word's head is the word's (a soft syllable), not noise before it.
    from captioner.core.estimators._sphinx import WordTiming

    rng = np.random.default_rng(0)
    audio = np.zeros(RATE, np.int16)
    audio[RATE // 8 : RATE // 5] = rng.normal(0, 3, RATE // 5 - RATE // 8).astype(np.int16)  # ~10 dB: noise
    audio[RATE // 5 : RATE * 9 // 10] = rng.normal(0, 3000, RATE * 7 // 10).astype(np.int16)
    est = ForcedAlignEstimator(RATE)
    est.add_audio(audio)
    est.add_text("have")
    est.complete(True, True)
    assert est._rise(120.0) == pytest.approx(200.0, abs=10.0)
    assert est._rise(200.0) == 200.0  # already on the word
    assert est._rise(50.0) == 50.0  # soft for longer than a word's head: keep it
    spans, _ = est._placed([WordTiming(120.0, 900.0)], live=False, audio_complete=True)
    assert spans[0][0] == pytest.approx(200.0, abs=10.0)


def _envelope(frames_db: list[float]) -> ForcedAlignEstimator:
    """An estimator holding audio whose 10 ms frames are noise at the levels given (dB
    under full scale, -inf: silent), its audio complete."""
    rng = np.random.default_rng(0)
    hop = RATE // 100
    audio = np.concatenate([rng.normal(0, 32767 * 10 ** (db / 20), hop) if db > -math.inf else np.zeros(hop)
                            for db in frames_db]).astype(np.int16)
    est = ForcedAlignEstimator(RATE)
    est.add_audio(audio)
    est.complete(True, False)
    return est


def test_a_vowel_initial_word_starts_where_its_voice_rises_out_of_the_fade_before_it():
    # "suit | in", "both high | and": nothing closes before a vowel for the aligner to
    # anchor on, and it started the word where the word before fades, 60-140 ms early.
    from captioner.core.estimators._sphinx import WordTiming

    quiet, loud = [-math.inf] * 10, [-20.0] * 50
    fade, dip = [-26.0, -32.0, -38.0, -44.0], [-50.0] * 6
    est = _envelope(quiet + loud + fade + dip + loud + quiet * 5)  # the dip ends at 700 ms
    in_ = WordTiming(610.0, 1200.0, ("in",), ((610.0, 1200.0),))  # aligned 20 ms into the fade
    assert est._voicing_onset(in_) == pytest.approx(700.0, abs=10.0)
    # On its vowel (the frames before it no louder), the dip after it is its own consonant
    # ("af|ter", "up|on"): it had begun.
    est = _envelope(quiet + dip + loud[:10] + dip + loud + quiet * 5)
    after = WordTiming(160.0, 1000.0, ("after",), ((160.0, 1000.0),))
    assert est._voicing_onset(after) == 160.0
    # Level with the word before (a glide from its vowel: "carry | an"): no fade to start on.
    est = _envelope(quiet + loud + dip + loud + quiet * 5)
    an = WordTiming(400.0, 600.0, ("an",), ((400.0, 600.0),))
    assert est._voicing_onset(an) == 400.0


def test_a_word_heard_across_a_long_pause_starts_where_its_speech_does():
    # The live path put "I'll" from the end of "Absolutely;" (espeak's 370 ms pause after
    # the semicolon taken into it), not settled yet: its start was looked for only in its
    # first 200 ms, all pause, and it was shown 340 ms early. A lead-in pause may last as
    # long as the word has been heard.
    from captioner.core.estimators._sphinx import WordTiming

    est = _envelope([-20.0] * 50 + [-math.inf] * 37 + [-20.0] * 50)  # the pause: 500-870 ms
    for d in ["Absolutely;", " I'll", " remind"]:
        est.add_text(d)
    timings = [WordTiming(0.0, 500.0, ("absolutely",), ((0.0, 500.0),)),
               WordTiming(500.0, 1360.0, ("i'll",), ((500.0, 1360.0),)), None]
    spans, placed = est._placed(timings, live=True, audio_complete=False)
    assert placed == 2 and spans[1][0] == pytest.approx(870.0, abs=20.0), (placed, spans)


def test_a_restart_after_a_lost_path_keeps_nothing_that_path_placed_after_its_anchor():
    # Seed 1's es013 in a measured run: the live path was lost (a word stretched over
    # others), and the restart at the shorter frame shift kept the lost path's "landed" at
    # 3270 ms (spoken at 2058) until it heard it again: shown 1.2 s late, and "Moon with 3
    # astronauts" 1.6-1.8 s late after it. A restart for new words keeps what the decode
    # before placed; one because that decode lost its path keeps only up to its anchor.
    speech = tts.synthesize("In 1969, Apollo 11 landed on the Moon with three astronauts aboard.",
                            voice="en-us", wpm=190, sample_rate=RATE)
    for carry in (None, 2):  # a restart for new words; one from word 1 after a lost path
        est = ForcedAlignEstimator(RATE)
        est.add_audio(speech.samples)
        for d in ["In", " 1969", ",", " Apollo", " 11", " landed", " on", " the", " Moon"]:
            est.add_text(d)
        est.complete(True, False)
        settle(est)
        words, before = est._live_words(), est._combined()
        assert all(t is not None for t in before[:5]), before
        est._restart(words, 1, before, carry=carry)
        after = est._combined()
        assert after[:2] == before[:2]  # up to the anchor: kept until heard again
        assert after[2:5] == (before[2:5] if carry is None else [None] * 3)


@pytest.mark.parametrize("wpm", [150, 210])
def test_text_arriving_as_it_is_spoken_has_its_last_word_aligned(wpm):
    # Text that arrives as its audio plays ends in the word being said now, and the next
    # delta may be a word away: "notoriety" (text 96 ms ahead) and "lively" waited for
    # the next delta to be aligned, and were shown 330-460 ms late. Once the words
    # before it are heard, the last word is aligned too, as far as it has been written:
    # its start is the start of whatever it grows into ("choreo" + "grapher"). And a
    # last word the path heard stays heard when the path lets it go for the speech after
    # it ("must" over "arbitrate"), which the grammar does not have yet.
    from tests.test_estimate import _utterance

    audio, text, truth = _utterance([("Then the choreographer must arbitrate.", wpm)])
    onsets = dict(truth)
    deltas = ["Then", " the", " choreo", "grapher", " must", " arbitrate."]
    arrive = [max(0.0, onsets[text.index(d.strip())] - 100.0) if d[0] in " T" else 0.0 for d in deltas]
    arrive[3] = arrive[2] + 150.0  # the rest of the word a little later, still ahead of its audio's end
    checked = {2: onsets[text.index("choreo")], 4: onsets[text.index("must")]}
    est = ForcedAlignEstimator(RATE)
    sent, had, seen = 0, 0, {}
    for now in np.arange(0.0, len(audio) * 1000 / RATE, 20.0):  # the audio 1 s ahead of playback
        upto = min(len(audio), int((now + 1000.0) * RATE / 1000))
        est.add_audio(audio[had:upto])
        had = upto
        while sent < len(deltas) and arrive[sent] <= now:
            est.add_text(deltas[sent])
            sent += 1
        est.step(STEP_MS)
        for k, onset in checked.items():
            if now >= onset and k not in seen:  # what the live view has as the word is said
                seen[k] = (est.confident() > k, round(est.spans()[k][0]), round(onset))
    for k, (aligned, start, onset) in seen.items():
        assert aligned and abs(start - onset) <= 60, (deltas[k], aligned, start, onset)


def test_a_restart_short_of_budget_starts_from_the_last_word_heard():
    # A restart from the usual anchor (the heard word before the last) may not fit what
    # is left of the re-decoding budget after a burst of restarts; the live decode then
    # waited, and the audio-only estimate of "3 eggs, and" was shown 120-290 ms early.
    # Restarting from the last word heard decodes less again: it does that instead.
    from captioner.core.estimators._sphinx import ALIGN_RATE
    from tests.test_estimate import _utterance

    audio, _, _ = _utterance([("Then the choreographer must arbitrate.", 180)])
    est = ForcedAlignEstimator(RATE)
    est.add_audio(audio)
    for d in ["Then", " the", " choreographer", " "]:
        est.add_text(d)
    settle(est)
    timings = est._combined()
    assert est._utt.first == 0 and all(t is not None for t in timings), timings
    usual = est._anchor_sample(timings, 1)
    last = est._anchor_sample(timings, 2)
    # what is left of the budget: enough to decode again from the last word heard only
    est._refed = int(est.restart_budget * est._pcm.n + ALIGN_RATE) - (est._utt.fed - (usual + last) // 2)
    est.add_text("must ")
    est.step(None)
    assert not est._waiting and est._utt.first == 2, (est._waiting, est._utt)
    assert est._combined()[3] is not None  # "must" heard


def test_words_after_a_heard_word_not_yet_settled_start_where_the_path_still_holds_it():
    # Seed 1's tm010_3 in a fixed-cost run: the live path had heard "also" from 1100 ms,
    # still being said at 1470, with "were" in its grammar; "also" was not settled yet,
    # so the words after it took the audio-only estimate after its start only, and "were"
    # was shown 300 ms early, inside "also". The decode could have taken the next word
    # anywhere in the audio it had: it starts after where the path still holds the word.
    from captioner.core.estimators._forced import _CONFIRM_AFTER_MS
    from captioner.core.estimators._sphinx import ALIGN_RATE
    from tests.test_estimate import _utterance

    audio, text, truth = _utterance([("Two other cases also were under advisement.", 160)])
    onsets = dict(truth)
    deltas = _deltas(text)  # a word each: delta i is word i
    est = ForcedAlignEstimator(RATE)
    est.add_audio(audio)  # all of it received, the decode behind it
    for d in deltas:
        est.add_text(d)
    checked = []
    while not est.step(STEP_MS):
        timings, fed_ms = est._live_timings, est._utt.fed * 1000.0 / ALIGN_RATE
        last = max(i for i, t in enumerate(timings) if t is not None)
        held = timings[last]
        if last + 1 < len(timings) and fed_ms - held.end_ms < _CONFIRM_AFTER_MS:  # heard, not settled
            start = est.spans()[last + 1][0]
            said = onsets[text.index(deltas[last + 1].strip())]
            checked.append((deltas[last + 1], round(start), round(held.end_ms), round(said)))
    assert checked, "the decode never stopped just after a word"
    for word, start, held_end, said in checked:  # not inside the word heard, nor shown early
        assert start >= held_end and start >= said - 40, (word, start, held_end, said)
