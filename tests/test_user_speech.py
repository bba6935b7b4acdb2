"""User speech on the capture clock (issue 11): the microphone audio the client sent,
VAD marks located in it, each word of the user's transcript aligned to it, and
out-of-band transcripts kept off the assistant's track."""

from __future__ import annotations

import numpy as np
import pysubs2
import pytest

from captioner.core import CaptionEngine
from captioner.core.estimators import DeferredEstimator
from captioner.core.render import FORMATS, export_captions
from captioner.core.render import LayoutRules
from captioner.core.wire import PCM16, PCMA, PCMU, AudioFormat, encode_base64, resample
from captioner.server import espeak as tts
from tests.sessions import pcm_b64

pytestmark = pytest.mark.skipif(not tts.available(), reason="libespeak-ng not installed")

RATE = 24000
BLOCK = RATE // 50  # 20 ms appends
SAID = "Please book a table for four people tonight."
LEAD_MS, TAIL_MS = 900.0, 1200.0


def _speech(text: str = SAID, voice: str = "en-us"):
    speech = tts.synthesize(text, voice=voice, wpm=165, sample_rate=RATE)
    onsets = [w.sample * 1000.0 / RATE for w in speech.words]
    return speech.samples, onsets


def _mic(turns: list[np.ndarray]) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Utterances apart, over a microphone's quiet noise; each one's (start, end) ms."""
    rng = np.random.default_rng(3)
    parts, spans, pos = [], [], 0.0
    for samples in turns:
        parts += [np.zeros(int(RATE * LEAD_MS / 1000)), samples]
        start = pos + LEAD_MS
        spans.append((start, start + len(samples) * 1000.0 / RATE))
        pos = spans[-1][1]
    parts.append(np.zeros(int(RATE * TAIL_MS / 1000)))
    mic = np.concatenate(parts).astype(np.float64)
    return np.clip(mic + rng.normal(0, 30, len(mic)), -32768, 32767).astype(np.int16), spans


def _send_mic(engine: CaptionEngine, mic: np.ndarray, upto_ms: float, sent: int,
              fmt: AudioFormat = PCM16) -> int:
    """Append the microphone's 20 ms blocks captured by ``upto_ms`` (from block ``sent``)."""
    while (sent + 1) * BLOCK <= len(mic) and (sent + 1) * 20.0 <= upto_ms:
        block = mic[sent * BLOCK:(sent + 1) * BLOCK]
        if fmt.sample_rate != RATE:
            block = resample(block, RATE, fmt.sample_rate)
        engine.sent({"type": "input_audio_buffer.append", "audio": encode_base64(block, fmt)}, (sent + 1) * 20.0)
        sent += 1
    return sent


def _user_turn(engine: CaptionEngine, mic: np.ndarray, span: tuple[float, float], item: str,
               sent: int, fmt: AudioFormat = PCM16, offset_ms: float = 0.0) -> int:
    """Seed 000's order: marks while the person talks, every delta only after speech stopped.
    ``offset_ms`` is subtracted from the marks (a server counting from its buffer)."""
    start_mark, end_mark = span[0] - 300.0, span[1] + 500.0  # prefix padding, trailing silence
    sent = _send_mic(engine, mic, start_mark + 400, sent, fmt)
    engine.receive({"type": "input_audio_buffer.speech_started", "item_id": item,
                    "audio_start_ms": int(start_mark - offset_ms)}, start_mark + 420)
    sent = _send_mic(engine, mic, end_mark + 20, sent, fmt)
    engine.receive({"type": "input_audio_buffer.speech_stopped", "item_id": item,
                    "audio_end_ms": int(end_mark - offset_ms)}, end_mark + 40)
    engine.receive({"type": "input_audio_buffer.committed", "item_id": item}, end_mark + 45)
    sent = _send_mic(engine, mic, end_mark + 600, sent, fmt)
    return sent


def _whole_turn_transcript(engine: CaptionEngine, item: str, at_ms: float, text: str = SAID) -> None:
    engine.receive({"type": "conversation.item.input_audio_transcription.delta", "item_id": item,
                    "content_index": 0, "delta": text}, at_ms)
    engine.receive({"type": "conversation.item.input_audio_transcription.completed", "item_id": item,
                    "content_index": 0, "transcript": text}, at_ms + 1)


def test_a_whole_turn_delta_after_speech_stopped_is_aligned_word_by_word():
    samples, onsets = _speech()
    mic, (span,) = _mic([samples])
    engine = CaptionEngine()
    sent = _user_turn(engine, mic, span, "u1", 0)
    _whole_turn_transcript(engine, "u1", span[1] + 900)
    _send_mic(engine, mic, 1e9, sent)
    engine.finish(span[1] + 2000)
    engine.settle()
    caps = engine.captions()
    assert all(c.role == "user" and c.item_id == "u1" for c in caps)
    assert "".join(c.text for c in caps) == SAID  # shown as the server sent it
    assert [c.index for c in caps] == list(range(len(onsets)))  # one caption per word
    errors = [c.start_ms - (span[0] + t) for c, t in zip(caps, onsets)]
    assert max(abs(e) for e in errors) < 120, errors
    assert all(c.final and c.arrived_ms == span[1] + 900 for c in caps)
    (record,) = engine.timeline().items
    assert record.timing == "aligned" and record.role == "user"
    # the old spread over the marks would have put the first word 300 ms early
    assert caps[0].start_ms > span[0] - 60


def test_word_deltas_and_segments_are_aligned_too():
    samples, onsets = _speech()
    mic, (span,) = _mic([samples])
    engine = CaptionEngine()
    sent = _user_turn(engine, mic, span, "u1", 0)
    words = SAID.split(" ")
    for i, w in enumerate(words):  # a burst of word deltas, all after speech stopped
        engine.receive({"type": "conversation.item.input_audio_transcription.delta", "item_id": "u1",
                        "delta": ("" if i == 0 else " ") + w}, span[1] + 800 + i)
    engine.receive({"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1",
                    "transcript": SAID}, span[1] + 900)
    _send_mic(engine, mic, 1e9, sent)
    engine.finish(span[1] + 2000)
    engine.settle()
    caps = engine.captions()
    assert len(caps) == len(words)
    assert max(abs(c.start_ms - (span[0] + t)) for c, t in zip(caps, onsets)) < 120


def test_g711_microphone_audio_is_decoded_on_the_capture_clock():
    samples, onsets = _speech()
    mic, (span,) = _mic([samples])
    engine = CaptionEngine()
    engine.sent({"type": "session.update", "session": {"input_audio_format": "g711_ulaw"}}, 0.0)
    sent = _user_turn(engine, mic, span, "u1", 0, fmt=PCMU)
    _whole_turn_transcript(engine, "u1", span[1] + 900)
    _send_mic(engine, mic, 1e9, sent, fmt=PCMU)
    engine.finish(span[1] + 2000)
    engine.settle()
    caps = engine.captions()
    assert engine.timeline().items[0].timing == "aligned"
    assert max(abs(c.start_ms - (span[0] + t)) for c, t in zip(caps, onsets)) < 150


@pytest.mark.parametrize("origin", ["auto", "buffer"])
def test_marks_counted_from_the_input_buffer_are_found_in_the_session_audio(origin):
    """speaches counts audio_start_ms from the buffer after each commit."""
    first, _ = _speech("Hello there.")
    second, onsets = _speech(SAID)
    mic, spans = _mic([first, second])
    mic = np.concatenate([mic[: int(spans[0][1] * RATE / 1000)], np.zeros(RATE * 3, np.int16),
                          mic[int(spans[0][1] * RATE / 1000):]])  # a long pause between turns
    spans = [spans[0], (spans[1][0] + 3000, spans[1][1] + 3000)]
    engine = CaptionEngine(capture_origin=origin)
    sent = _user_turn(engine, mic, spans[0], "u1", 0)
    _whole_turn_transcript(engine, "u1", spans[0][1] + 900, "Hello there.")
    buffer_start = sent * 20.0  # the server's buffer restarted at its commit
    sent = _user_turn(engine, mic, spans[1], "u2", sent, offset_ms=buffer_start)
    _whole_turn_transcript(engine, "u2", spans[1][1] + 900)
    _send_mic(engine, mic, 1e9, sent)
    engine.finish(spans[1][1] + 2000)
    engine.settle()
    caps = [c for c in engine.captions() if c.item_id == "u2"]
    assert len(caps) == len(onsets)
    assert max(abs(c.start_ms - (spans[1][0] + t)) for c, t in zip(caps, onsets)) < 200  # not seconds off


def test_seed_003_out_of_band_transcript_is_the_users_and_never_the_assistants():
    """The app asks for an out-of-band transcription before the server's auto-reply is
    created: each response.created is matched to its own request, the reply stays on
    the assistant track, the transcription replaces the ASR text on the user item."""
    samples, onsets = _speech()
    mic, (span,) = _mic([samples])
    engine = CaptionEngine()
    sent = _user_turn(engine, mic, span, "u1", 0)
    t = span[1] + 600
    engine.receive({"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1",
                    "transcript": "Please book a table for for people tonight"}, t)
    engine.sent({"type": "response.create", "response": {
        "conversation": "none", "output_modalities": ["text"], "metadata": {"topic": "transcription"},
        "input": [{"type": "item_reference", "id": "u1"}]}}, t + 5)
    engine.receive({"type": "response.created", "response": {"id": "r_auto", "conversation_id": "conv_1",
                                                             "metadata": None}}, t + 10)
    engine.receive({"type": "response.created", "response": {"id": "r_oob", "conversation_id": None,
                                                             "metadata": {"topic": "transcription"}}}, t + 20)
    reply = ["Sure", ",", " four", " people", " tonight", "."]
    oob_words = ["Please", " book", " a", " table", " for", " four", " people", " tonight."]
    for i in range(max(len(reply), len(oob_words))):  # interleaved
        at = t + 30 + 10 * i
        if i < len(reply):
            engine.receive({"type": "response.output_audio.delta", "response_id": "r_auto", "item_id": "a1",
                            "delta": pcm_b64(2400)}, at)
            engine.receive({"type": "response.output_audio_transcript.delta", "response_id": "r_auto",
                            "item_id": "a1", "delta": reply[i]}, at)
        if i < len(oob_words):
            engine.receive({"type": "response.output_text.delta", "response_id": "r_oob", "item_id": "x1",
                            "delta": oob_words[i]}, at + 1)
    engine.receive({"type": "response.output_text.done", "response_id": "r_oob", "item_id": "x1",
                    "text": "".join(oob_words)}, t + 200)
    engine.receive({"type": "response.output_audio.done", "response_id": "r_auto", "item_id": "a1"}, t + 210)
    engine.receive({"type": "response.done", "response": {"id": "r_auto", "status": "completed",
                                                          "output": [{"id": "a1"}]}}, t + 220)
    _send_mic(engine, mic, 1e9, sent)
    engine.advance(t + 3000)
    engine.finish(t + 3000)
    engine.settle()
    caps = engine.captions()
    user = [c for c in caps if c.role == "user"]
    assistant = [c for c in caps if c.role == "assistant"]
    assert {c.item_id for c in user} == {"u1"} and {c.item_id for c in assistant} == {"a1"}
    assert "".join(c.text for c in user) == "".join(oob_words)  # replaced the ASR text
    assert "".join(c.text for c in assistant) == "".join(reply)
    assert "x1" not in engine.item_ids()
    assert max(abs(c.start_ms - (span[0] + o)) for c, o in zip(user, onsets)) < 150  # aligned too
    timings = {i.item_id: i.timing for i in engine.timeline().items}
    assert timings == {"u1": "aligned", "a1": "aligned"}
    _exports_carry_both_speakers(caps, "".join(reply), "".join(oob_words))


def _exports_carry_both_speakers(caps, reply: str, said: str) -> None:
    label = LayoutRules().user_label
    for fmt in FORMATS:
        subs = pysubs2.SSAFile.from_string(export_captions(caps, fmt))
        by_speaker: dict[str, list] = {"User": [], "Assistant": []}
        for event in subs:
            if fmt == "ass":
                speaker = event.style
            else:
                speaker = "User" if event.plaintext.startswith(label) else "Assistant"
            by_speaker[speaker].append(event)
        for speaker, events in by_speaker.items():
            assert events, (fmt, speaker)
            events.sort(key=lambda e: e.start)
            assert all(a.end <= b.start for a, b in zip(events, events[1:])), (fmt, speaker)
        heard = " ".join(e.plaintext.replace(label, "").replace("\n", " ") for e in by_speaker["Assistant"])
        assert "book" not in heard and "four" in heard  # the transcription never on the assistant
        user_text = " ".join(e.plaintext.replace(label, "").replace("\n", " ") for e in by_speaker["User"])
        assert user_text.split() == said.split()


def test_out_of_band_matched_by_metadata_when_the_server_does_not_say_its_conversation():
    engine = CaptionEngine()
    engine.receive({"type": "input_audio_buffer.speech_started", "item_id": "u1", "audio_start_ms": 0}, 500)
    engine.receive({"type": "input_audio_buffer.speech_stopped", "item_id": "u1", "audio_end_ms": 2000}, 2000)
    engine.sent({"type": "response.create", "response": {"conversation": "none",
                                                         "metadata": {"kind": "transcribe"}}}, 2010)
    engine.receive({"type": "response.created", "response": {"id": "auto"}}, 2020)  # the auto-reply
    engine.receive({"type": "response.created", "response": {"id": "oob", "metadata": {"kind": "transcribe"}}}, 2030)
    engine.receive({"type": "response.output_audio_transcript.delta", "response_id": "auto", "item_id": "a1",
                    "delta": "Hello."}, 2040)
    engine.receive({"type": "response.output_text.delta", "response_id": "oob", "item_id": "x",
                    "delta": "Hi there"}, 2050)
    assert "".join(c.text for c in engine.captions() if c.item_id == "u1") == "Hi there"
    a1 = engine.item_spans("a1")
    assert len(a1) == 1  # the reply's text is on its own item


def test_metadata_naming_a_user_item_routes_the_transcript_to_it():
    engine = CaptionEngine()
    for item, start in (("u1", 0), ("u2", 3000)):
        engine.receive({"type": "input_audio_buffer.speech_started", "item_id": item, "audio_start_ms": start}, start)
        engine.receive({"type": "input_audio_buffer.speech_stopped", "item_id": item,
                        "audio_end_ms": start + 2000}, start + 2000)
    engine.sent({"type": "response.create", "response": {"conversation": "none",
                                                         "metadata": {"user_item": "u1"}}}, 6000)
    engine.receive({"type": "response.created", "response": {"id": "oob", "conversation_id": None,
                                                             "metadata": {"user_item": "u1"}}}, 6010)
    engine.receive({"type": "response.output_text.done", "response_id": "oob", "item_id": "x",
                    "text": "first turn words"}, 6020)
    caps = engine.captions()
    assert [c.item_id for c in caps] == ["u1"] * 3
    assert caps[0].start_ms == 300.0  # marks: after the prefix padding


def test_bad_input_is_placed_or_skipped_never_fatal():
    engine = CaptionEngine()
    # an out-of-band response naming no item, before any user speech: skipped, logged
    engine.sent({"type": "response.create", "response": {"conversation": "none"}}, 0)
    engine.receive({"type": "response.created", "response": {"id": "oob", "conversation_id": None}}, 10)
    engine.receive({"type": "response.output_text.delta", "response_id": "oob", "item_id": "x",
                    "delta": "orphan"}, 20)
    assert any("orphan" in p.detail for p in engine.problems)
    # a transcript for an item never announced, with no marks and no audio: placed by pace
    engine.receive({"type": "conversation.item.input_audio_transcription.completed", "item_id": "ghost",
                    "transcript": "where am I"}, 5000)
    ghost = [c for c in engine.captions() if c.item_id == "ghost"]
    assert [c.text for c in ghost] == ["where", " am", " I"] and ghost[-1].end_ms == 5000
    # marks without any audio: spread over the span less padding and silence
    engine.receive({"type": "input_audio_buffer.speech_started", "item_id": "m", "audio_start_ms": 6000}, 6500)
    engine.receive({"type": "input_audio_buffer.speech_stopped", "item_id": "m", "audio_end_ms": 8000}, 8000)
    engine.receive({"type": "conversation.item.input_audio_transcription.delta", "item_id": "m",
                    "delta": "two words"}, 8500)
    m = [c for c in engine.captions() if c.item_id == "m"]
    assert m[0].start_ms == 6300 and m[-1].end_ms == 7500
    # malformed audio, marks with no item id, a segment for an unknown item: no crash
    engine.sent({"type": "input_audio_buffer.append", "audio": "!!!"}, 9000)
    engine.receive({"type": "input_audio_buffer.speech_started", "audio_start_ms": 1}, 9000)
    engine.receive({"type": "conversation.item.input_audio_transcription.segment", "item_id": "seg",
                    "id": "s", "start": 0.5, "end": 1.0, "text": "hi"}, 9100)
    # marks out of order: a stop, then a start after it - the item keeps a span, never a negative one
    engine.receive({"type": "input_audio_buffer.speech_stopped", "item_id": "late", "audio_end_ms": 9200}, 9300)
    engine.receive({"type": "input_audio_buffer.speech_started", "item_id": "late", "audio_start_ms": 9600}, 9650)
    engine.finish(10_000)
    engine.settle()
    records = {i.item_id: i for i in engine.timeline().items}
    assert records["ghost"].timing == "spread" and records["m"].timing == "marks"
    assert all(r.start_ms <= r.end_ms and r.audio_ms >= 0 for r in records.values())


def test_audio_without_marks_is_aligned_over_the_committed_buffer():
    samples, onsets = _speech()
    mic, (span,) = _mic([samples])
    engine = CaptionEngine()
    end = span[1] + 300
    _send_mic(engine, mic, end, 0)
    engine.sent({"type": "input_audio_buffer.commit"}, end)  # push-to-talk: no server VAD
    engine.receive({"type": "input_audio_buffer.committed", "item_id": "u1"}, end + 50)
    _whole_turn_transcript(engine, "u1", end + 700)
    engine.finish(end + 1000)
    engine.settle()
    caps = engine.captions()
    assert engine.timeline().items[0].timing == "aligned"
    assert max(abs(c.start_ms - (span[0] + t)) for c, t in zip(caps, onsets)) < 150


def test_live_user_alignment_goes_through_the_estimator_factory_and_audio_is_released():
    samples, _ = _speech("Hello there.")
    mic, spans = _mic([samples, samples, samples])
    engine = CaptionEngine(estimator_factory=DeferredEstimator)
    sent = 0
    for k, span in enumerate(spans):
        sent = _user_turn(engine, mic, span, f"u{k}", sent)
        if k == 0:  # the worker is handed the user turn like an assistant item
            assert any(isinstance(e, DeferredEstimator) for e in engine.estimators())
        _whole_turn_transcript(engine, f"u{k}", span[1] + 700, "Hello there.")
    engine.finish(spans[-1][1] + 2000)
    engine.settle()
    capture = engine._capture
    kept = sum(len(c) for _, c in capture.clock._chunks) * 1000.0 / RATE
    assert kept <= 5000 + 20  # the clock keeps a pre-roll, not the session
    assert [capture.turns[f"u{k}"].audio_dropped for k in range(3)] == [True, True, False]
    assert len([c for c in engine.captions() if c.role == "user"]) == 6


def test_released_turns_keep_the_times_their_words_were_aligned_to():
    """Once a turn is settled and a later one began, its audio goes; its words stay where
    the alignment put them (not spread over the window)."""
    samples, onsets = _speech()
    mic, spans = _mic([samples, samples, samples])
    engine = CaptionEngine()
    sent = 0
    for k, span in enumerate(spans):
        sent = _user_turn(engine, mic, span, f"u{k}", sent)
        _whole_turn_transcript(engine, f"u{k}", span[1] + 700)
        engine.step(None)
    _send_mic(engine, mic, 1e9, sent)
    engine.finish(spans[-1][1] + 2000)
    engine.settle()
    capture = engine._capture
    assert [capture.turns[f"u{k}"].audio_dropped for k in range(3)] == [True, True, False]
    for k, span in enumerate(spans):
        caps = [c for c in engine.captions() if c.item_id == f"u{k}"]
        assert len(caps) == len(onsets)
        errors = [c.start_ms - (span[0] + t) for c, t in zip(caps, onsets)]
        assert max(abs(e) for e in errors) < 120, (k, errors)
    assert {i.item_id: i.timing for i in engine.timeline().items} == {f"u{k}": "aligned" for k in range(3)}


def test_the_aligner_gets_the_speech_not_the_padding_and_trailing_silence():
    samples, onsets = _speech()
    mic, (span,) = _mic([samples])
    engine = CaptionEngine()
    sent = _user_turn(engine, mic, span, "u1", 0)
    turn = engine._capture.turns["u1"]
    start_mark, end_mark = span[0] - 300.0, span[1] + 500.0
    assert turn.audio_done and turn.window[0] > start_mark and turn.window[1] < end_mark  # trimmed ...
    assert turn.window[0] <= span[0] - 100 and turn.window[1] >= span[1] + 100  # ... with a margin
    assert turn.rate == 16000 and engine.item_spans("u1") == []
    assert _worst_onset_error(engine, mic, span, sent, onsets) < 120


def _worst_onset_error(engine, mic, span, sent: int, onsets) -> float:
    """The turn's whole transcript after speech stopped, the rest of the microphone, the
    session's end: the largest |caption start - true onset| of the turn's words (ms)."""
    _whole_turn_transcript(engine, "u1", span[1] + 900)
    _send_mic(engine, mic, 1e9, sent)
    engine.finish(span[1] + 2000)
    engine.settle()
    return max(abs(c.start_ms - (span[0] + t)) for c, t in zip(engine.captions(), onsets))


def test_speech_before_the_servers_onset_is_kept_for_the_aligner():
    """A server that reports the onset late (a soft start it missed, less padding than
    assumed): what sounds before its onset, joined to the speech, is still aligned."""
    samples, onsets = _speech()
    mic, (span,) = _mic([samples])
    engine = CaptionEngine()
    late = 250.0  # the server heard the first word 250 ms late; its marks still carry 300 ms of padding
    sent = _user_turn(engine, mic, (span[0] + late, span[1]), "u1", 0)
    turn = engine._capture.turns["u1"]
    assert turn.window[0] <= span[0] - 100
    assert _worst_onset_error(engine, mic, span, sent, onsets) < 120


def test_a_transcript_streaming_while_the_user_speaks_is_aligned_as_the_audio_comes():
    samples, onsets = _speech()
    mic, (span,) = _mic([samples])
    engine = CaptionEngine()
    start_mark, end_mark = span[0] - 300.0, span[1] + 500.0
    sent = _send_mic(engine, mic, start_mark + 400, 0)
    engine.receive({"type": "input_audio_buffer.speech_started", "item_id": "u1",
                    "audio_start_ms": int(start_mark)}, start_mark + 420)
    words = SAID.split(" ")
    middle = (span[0] + span[1]) / 2
    sent = _send_mic(engine, mic, middle, sent)
    for i, w in enumerate(words[:3]):  # a live ASR's first words, while the person talks
        engine.receive({"type": "conversation.item.input_audio_transcription.delta", "item_id": "u1",
                        "delta": ("" if i == 0 else " ") + w}, middle + i)
    turn = engine._capture.turns["u1"]
    held = engine._items["u1"].captions.audio_ms
    assert turn.streaming and held > 0  # the words' captions have the audio so far ...
    sent = _send_mic(engine, mic, middle + 200, sent)
    assert engine._items["u1"].captions.audio_ms > held  # ... and get the rest as it comes
    for i, w in enumerate(words[3:], start=3):
        engine.receive({"type": "conversation.item.input_audio_transcription.delta", "item_id": "u1",
                        "delta": " " + w}, middle + 200 + i)
    sent = _send_mic(engine, mic, end_mark + 20, sent)
    engine.receive({"type": "input_audio_buffer.speech_stopped", "item_id": "u1",
                    "audio_end_ms": int(end_mark)}, end_mark + 40)
    engine.receive({"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1",
                    "transcript": SAID}, end_mark + 300)
    _send_mic(engine, mic, 1e9, sent)
    engine.finish(span[1] + 2000)
    engine.settle()
    caps = engine.captions()
    assert "".join(c.text for c in caps) == SAID and engine.timeline().items[0].timing == "aligned"
    assert max(abs(c.start_ms - (span[0] + t)) for c, t in zip(caps, onsets)) < 120


def test_out_of_band_metadata_naming_no_item_goes_to_the_turn_it_was_asked_after():
    engine = CaptionEngine()
    engine.receive({"type": "input_audio_buffer.speech_started", "item_id": "u1", "audio_start_ms": 0}, 500)
    engine.receive({"type": "input_audio_buffer.speech_stopped", "item_id": "u1", "audio_end_ms": 2000}, 2000)
    engine.sent({"type": "response.create", "response": {
        "conversation": "none", "metadata": {"user_item": "no_such_item", "purpose": "transcribe"}}}, 2010)
    engine.receive({"type": "input_audio_buffer.speech_started", "item_id": "u2", "audio_start_ms": 3000}, 3100)
    engine.receive({"type": "response.created", "response": {
        "id": "oob", "conversation_id": None,
        "metadata": {"user_item": "no_such_item", "purpose": "transcribe"}}}, 3200)
    engine.receive({"type": "response.output_text.done", "response_id": "oob", "item_id": "x",
                    "text": "first turn words"}, 3300)
    assert "".join(c.text for c in engine.captions() if c.item_id == "u1") == "first turn words"
    assert not [c for c in engine.captions() if c.item_id in ("u2", "x", "no_such_item")]
    assert "no_such_item" not in engine.item_ids() and not engine.problems


@pytest.mark.parametrize("fmt", [PCMU, PCMA])
def test_g711_audio_is_put_back_in_its_cells_for_the_aligner(fmt):
    """Quiet microphone noise decodes to digital silence in G.711; the aligner hears each
    sample somewhere in its cell instead: the noise floor back, the same codes, fixed
    by the samples' place on the capture clock however the audio was cut."""
    from captioner.core._capture import heard
    from captioner.core.wire import decode_bytes, encode_samples

    rng = np.random.default_rng(5)
    sent = np.concatenate([rng.normal(0, 3, 4000), rng.normal(0, 3000, 4000)]).clip(-32768, 32767).astype(np.int16)
    codes = encode_samples(sent, fmt)
    decoded = decode_bytes(codes, fmt)
    back = heard(decoded, fmt, 1000)
    quiet = slice(0, 4000)
    if fmt == PCMU:
        assert np.mean(decoded[quiet] == 0) > 0.5  # mostly digital silence as decoded
    assert np.mean(back[quiet] == 0) < 0.2 and back[quiet].std() > 1.0
    same = decode_bytes(encode_samples(back, fmt), fmt) == decoded
    assert same.mean() > 0.95  # each sample stays in its cell (ties at a cell's edge aside)
    assert np.abs(back.astype(float) - sent).mean() < 2 * np.abs(decoded.astype(float) - sent).mean()
    pieces = np.concatenate([heard(decoded[:333], fmt, 1000), heard(decoded[333:], fmt, 1333)])
    assert np.array_equal(pieces, back)
    assert np.array_equal(heard(sent, PCM16, 0), sent)  # pcm16 is what was captured
