"""The embedded server's sans-I/O session: event sequences, formats, truncate, cancel, VAD."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from captioner.core.wire import PCMA, PCMU, decode_bytes, encode_samples
from captioner.server import espeak as tts
from captioner.server._protocol import RealtimeSession, ServerOptions
from captioner.server._script import Script, load_script
from captioner.server._speech import normalise, time_tokens, tokenize
from captioner.server.espeak import Speech, WordMark

needs_espeak = pytest.mark.skipif(not tts.available(), reason="libespeak-ng not installed")

MS_PER_WORD = 300


def fake_speech(text: str, sample_rate: int) -> Speech:
    """Each word lasts MS_PER_WORD; samples are a constant so G.711 round trips are checkable."""
    text = normalise(text)
    starts = [i for i, ch in enumerate(text) if ch.isalnum() and (i == 0 or not text[i - 1].isalnum())]
    per = sample_rate * MS_PER_WORD // 1000
    marks = [WordMark(s, 1, i * per) for i, s in enumerate(starts)]
    return Speech(np.full(per * max(1, len(starts)), 1000, np.int16), sample_rate, marks)


class SessionDriver:
    """Runs a server session (``self.s``) on a virtual clock, synthesising with ``fake_speech``."""

    s: RealtimeSession
    now = 0.0

    def send(self, event) -> list[dict]:
        self.s.receive(json.dumps(event) if not isinstance(event, (str, bytes)) else event, self.now)
        return self.run(self.now)

    def run(self, until: float) -> list[dict]:
        """Deliver everything due up to ``until``, fulfilling speech requests as they appear."""
        out: list[dict] = []
        while True:
            for req in self.s.take_speech_requests():
                self.s.speech_ready(req.response_id, fake_speech(req.text, req.sample_rate), self.now)
            due = self.s.next_due_ms()
            if due is None or due > until:
                break
            self.now = max(self.now, due)
            out += self.s.pop_due(self.now)
        self.now = max(self.now, until)
        return out

    def run_all(self) -> list[dict]:
        return self.run(float("inf"))


class Driver(SessionDriver):
    def __init__(self, beta: bool = False, lines=("Hello there, wonderful world.",), **opts) -> None:
        self.s = RealtimeSession(ServerOptions(**opts), Script(tuple(lines)), beta=beta)
        self.now = 0.0
        self.s.start(0.0)


def types(events) -> list[str]:
    """Event types, with runs of the same delta type collapsed to one."""
    out: list[str] = []
    for e in events:
        if not (e["type"].endswith(".delta") and out and out[-1] == e["type"]):
            out.append(e["type"])
    return out


def user_text(text="hi") -> dict:
    return {"type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}


def test_ga_response_sequence_and_payload():
    d = Driver(pace=0)
    assert [e["type"] for e in d.run(0)] == ["session.created"]
    d.send(user_text())
    events = d.send({"type": "response.create"}) + d.run_all()
    seq = [t for t in types(events) if not t.endswith(".delta")]
    assert seq == ["response.created", "response.output_item.added", "conversation.item.added",
                   "response.content_part.added", "response.output_audio.done",
                   "response.output_audio_transcript.done", "response.content_part.done",
                   "response.output_item.done", "conversation.item.done", "response.done"]
    deltas = [e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"]
    assert deltas == ["Hello", " there", ",", " wonde", "rful", " world", "."]
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
    assert len(audio) == 2 * 4 * 24000 * MS_PER_WORD // 1000  # four words of pcm16
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["conversation_id"] is not None
    assert done["output"][0]["content"][0] == {"type": "output_audio",
                                               "transcript": "Hello there, wonderful world."}
    assert len({e["event_id"] for e in events}) == len(events)


def test_deltas_paced_and_text_ahead_of_its_audio():
    d = Driver(pace=4.0, chunk_ms=100, text_lead_ms=200)
    d.send(user_text())
    d.send({"type": "response.create"})
    timed = []
    while d.s.next_due_ms() is not None:
        t = d.s.next_due_ms()
        timed += [(t, e) for e in d.run(t)]
    audio_times = [t for t, e in timed if e["type"] == "response.output_audio.delta"]
    assert np.allclose(np.diff(audio_times), 100 / 4.0)  # 100 ms of audio every 25 ms
    audio_seen = 0.0
    for t, e in timed:  # each word's text arrives before the audio chunk where it starts
        if e["type"] == "response.output_audio.delta":
            audio_seen += len(base64.b64decode(e["delta"])) / 48.0
        elif e["type"] == "response.output_audio_transcript.delta" and e["delta"].strip() in ("there", "world"):
            word_start = MS_PER_WORD * (1 if "there" in e["delta"] else 2)
            assert audio_seen <= word_start


def test_beta_names_and_shapes():
    d = Driver(beta=True, pace=0)
    created = d.run(0)[0]
    assert created["session"]["output_audio_format"] == "pcm16"
    d.send(user_text())
    events = d.send({"type": "response.create"}) + d.run_all()
    names = set(types(events))
    assert {"conversation.item.created", "response.audio.delta", "response.audio_transcript.delta",
            "response.audio.done", "response.audio_transcript.done"} <= names
    assert not any(n.startswith("response.output_audio") or n.startswith("conversation.item.added")
                   or n == "conversation.item.done" for n in names)
    assert events[-1]["response"]["output"][0]["content"][0]["type"] == "audio"


@pytest.mark.parametrize("beta,descriptor,fmt", [
    (False, {"type": "audio/pcmu"}, PCMU), (False, {"type": "audio/pcma"}, PCMA),
    (True, "g711_ulaw", PCMU), (True, "g711_alaw", PCMA)])
def test_g711_output(beta, descriptor, fmt):
    d = Driver(beta=beta, pace=0)
    d.run(0)
    session = {"output_audio_format": descriptor} if beta else {"audio": {"output": {"format": descriptor}}}
    updated = d.send({"type": "session.update", "session": session})
    assert [e["type"] for e in updated] == ["session.updated"]
    events = d.send({"type": "response.create"}) + d.run_all()
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"].endswith("audio.delta"))
    samples = decode_bytes(audio, fmt)
    assert len(audio) == 4 * 8000 * MS_PER_WORD // 1000  # one byte per 8 kHz sample
    assert np.all(np.abs(samples.astype(int) - 1000) < 40)  # G.711 step near 1000 is 32


def test_bad_format_rejected_and_session_unchanged():
    d = Driver(pace=0)
    d.run(0)
    events = d.send({"type": "session.update", "session": {"audio": {"output": {"format": {"type": "audio/ogg"}}}}})
    assert [e["type"] for e in events] == ["error"]
    assert d.s.output_format.encoding == "pcm16"


def _play_half(d: Driver) -> tuple[str, list[dict]]:
    sent = d.send({"type": "response.create"})
    while True:  # stop once 400 ms of audio has gone out
        t = d.s.next_due_ms()
        sent += d.run(t)
        item = next(e["item_id"] for e in sent if e["type"] == "response.output_audio.delta") \
            if any(e["type"] == "response.output_audio.delta" for e in sent) else None
        if item and d.s.items[item].audio_sent_ms >= 400:
            return item, sent


def test_truncate_beyond_sent_audio_is_rejected_within_is_applied():
    d = Driver(pace=4.0, chunk_ms=200)
    item, sent = _play_half(d)
    sent_ms = d.s.items[item].audio_sent_ms
    assert sent_ms < 900  # not everything yet
    err = d.send({"type": "conversation.item.truncate", "item_id": item, "content_index": 0,
                  "audio_end_ms": int(sent_ms) + 50, "event_id": "c1"})
    assert [e["type"] for e in err] == ["error"] and err[0]["error"]["event_id"] == "c1"
    assert d.s.items[item].truncated is False
    ok = d.send({"type": "conversation.item.truncate", "item_id": item, "content_index": 0, "audio_end_ms": 250})
    assert ok[0] == {**ok[0], "type": "conversation.item.truncated", "item_id": item, "audio_end_ms": 250}
    rest = d.run_all()
    assert not any(e["type"].endswith(".delta") for e in rest)  # nothing beyond the cut is sent
    done = rest[-1]["response"]
    assert done["output"][0]["content"][0]["transcript"] == ""  # server-side transcript dropped
    again = d.send({"type": "conversation.item.truncate", "item_id": item, "audio_end_ms": 300})
    assert again[0]["type"] == "error"  # the item is now only 250 ms long


@pytest.mark.parametrize("event", [
    {"type": "conversation.item.truncate", "item_id": "nope", "audio_end_ms": 0},
    {"type": "conversation.item.truncate", "audio_end_ms": 0},
    {"type": "conversation.item.truncate", "item_id": "x", "audio_end_ms": -5},
])
def test_truncate_bad_input(event):
    d = Driver(pace=0)
    d.run(0)
    assert [e["type"] for e in d.send(event)] == ["error"]


def test_cancel_mid_stream():
    d = Driver(pace=4.0)
    item, sent = _play_half(d)
    resp_id = next(e["response"]["id"] for e in sent if e["type"] == "response.created")
    events = d.send({"type": "response.cancel"}) + d.run_all()
    assert types(events) == ["response.output_audio.done", "response.output_audio_transcript.done",
                             "response.content_part.done", "response.output_item.done",
                             "conversation.item.done", "response.done"]
    done = events[-1]["response"]
    assert done["id"] == resp_id and done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert done["output"][0]["status"] == "incomplete"
    heard = "".join(e["delta"] for e in sent if e["type"] == "response.output_audio_transcript.delta")
    assert events[1]["transcript"] == heard != "Hello there, wonderful world."
    again = d.send({"type": "response.cancel"})
    assert again[0]["type"] == "error" and again[0]["error"]["code"] == "response_cancel_not_active"
    # the conversation is free again
    assert "response.created" in types(d.send({"type": "response.create"}))


def test_cancel_before_speech_is_ready():
    d = Driver(pace=0)
    d.run(0)
    d.s.receive(json.dumps({"type": "response.create"}), 0)
    (req,) = d.s.take_speech_requests()
    d.s.receive(json.dumps({"type": "response.cancel"}), 1)
    d.s.speech_ready(req.response_id, fake_speech(req.text, 24000), 2)  # too late: ignored
    events = d.run_all()
    assert not any(e["type"].endswith(".delta") for e in events)
    assert events[-1]["response"]["status"] == "cancelled"


def test_second_response_while_active_is_an_error():
    d = Driver(pace=1.0)
    d.send({"type": "response.create"})
    events = d.send({"type": "response.create"})
    assert events[-1]["error"]["code"] == "conversation_already_has_active_response"


def test_out_of_band_text_response():
    d = Driver(pace=0)
    d.run(0)
    d.send(user_text("the cat sat"))
    events = d.send({"type": "response.create", "response": {"conversation": "none",
                                                             "metadata": {"purpose": "transcribe"}}}) + d.run_all()
    assert "conversation.item.added" not in types(events)
    assert "conversation.item.done" not in types(events)
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "the cat sat"
    assert not any("audio" in e["type"] for e in events)
    done = events[-1]["response"]
    assert done["conversation_id"] is None and done["metadata"] == {"purpose": "transcribe"}
    assert len(d.s.conversation) == 1  # only the user item


def test_echo_script_repeats_user_text():
    d = RealtimeSession(ServerOptions(pace=0), Script(echo=True))
    d.receive(json.dumps(user_text("say this back")), 0)
    d.receive(json.dumps({"type": "response.create"}), 0)
    assert d.take_speech_requests()[0].text == "say this back"


@pytest.mark.parametrize("message", [
    "{not json", b"\xff\xfe", "[1, 2]", '{"no": "type"}', '{"type": "made.up.event"}',
    '{"type": "conversation.item.create"}', '{"type": "conversation.item.create", "item": {"role": "robot"}}',
    '{"type": "input_audio_buffer.append", "audio": "@@@"}', '{"type": "input_audio_buffer.append"}',
    '{"type": "session.update", "session": 5}', '{"type": "response.cancel", "response_id": "zz"}',
])
def test_bad_client_input_yields_error_and_session_survives(message):
    d = Driver(pace=0)
    d.run(0)
    events = d.send(message)
    assert [e["type"] for e in events] == ["error"]
    assert "response.done" in types(d.send({"type": "response.create"}) + d.run_all())


def test_odd_sized_pcm16_append_is_accepted():
    d = Driver(pace=0)
    d.run(0)
    d.send({"type": "session.update", "session": {"audio": {"input": {"turn_detection": None}}}})
    d.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\x00" * 4801).decode()})
    assert d.s.buffer_ms == pytest.approx(100.0)
    assert [e["type"] for e in d.send({"type": "input_audio_buffer.commit"})][:1] == ["input_audio_buffer.committed"]


def test_manual_commit_and_clear():
    d = Driver(pace=0, user_says="okay then")
    d.run(0)
    d.send({"type": "session.update", "session": {"audio": {"input": {"turn_detection": None}}}})
    pcm = base64.b64encode(np.zeros(2400, "<i2").tobytes()).decode()  # 100 ms
    d.send({"type": "input_audio_buffer.append", "audio": pcm[: len(pcm) // 2]})
    assert d.send({"type": "input_audio_buffer.commit"})[0]["error"]["code"] == "input_audio_buffer_commit_empty"
    assert [e["type"] for e in d.send({"type": "input_audio_buffer.clear"})] == ["input_audio_buffer.cleared"]
    d.send({"type": "input_audio_buffer.append", "audio": pcm})
    events = d.send({"type": "input_audio_buffer.commit"}) + d.run_all()
    assert types(events) == ["input_audio_buffer.committed", "conversation.item.added", "conversation.item.done",
                             "conversation.item.input_audio_transcription.delta",
                             "conversation.item.input_audio_transcription.completed"]
    assert events[-1]["transcript"] == "okay then"
    assert "response.created" not in types(events)  # manual turns do not auto-respond


def _append_audio(d: Driver, samples: np.ndarray, step: int = 2400) -> list[dict]:
    out = []
    for i in range(0, len(samples), step):  # 100 ms appends, 100 ms apart
        out += d.send({"type": "input_audio_buffer.append",
                       "audio": base64.b64encode(samples[i : i + step].astype("<i2").tobytes()).decode()})
        d.now += 100
    return out


@needs_espeak
def test_server_vad_turn():
    d = Driver(pace=0, user_says="what a story")
    d.run(0)
    d.send({"type": "session.update", "session": {"audio": {"input": {"turn_detection": {
        "type": "server_vad", "prefix_padding_ms": 0, "silence_duration_ms": 400}}}}})
    speech = tts.synthesize("Tell me a story about a lighthouse, please.")
    voiced = np.flatnonzero(np.abs(speech.samples) > 300)
    on_ms, off_ms = voiced[0] / 24, voiced[-1] / 24
    silence = np.zeros(24000, np.int16)
    events = _append_audio(d, np.concatenate([silence, speech.samples, silence])) + d.run_all()
    seq = types(events)
    i = seq.index("input_audio_buffer.speech_started")
    assert seq[i:i + 3] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                            "input_audio_buffer.committed"]
    started = next(e for e in events if e["type"] == "input_audio_buffer.speech_started")
    stopped = next(e for e in events if e["type"] == "input_audio_buffer.speech_stopped")
    assert abs(started["audio_start_ms"] - (1000 + on_ms)) <= 80
    assert 1000 + off_ms + 400 - 80 <= stopped["audio_end_ms"] <= 1000 + off_ms + 400 + 120
    assert started["item_id"] == stopped["item_id"]
    completed = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert completed["transcript"] == "what a story" and completed["item_id"] == started["item_id"]
    assert events.index(completed) > events.index(stopped)
    assert "response.created" in seq  # auto response after the turn


@needs_espeak
def test_speech_during_response_interrupts_it():
    d = Driver(pace=1.0)
    d.run(0)
    d.send({"type": "response.create"})
    d.run(200)
    events = _append_audio(d, tts.synthesize("Stop, stop!").samples)
    done = next(e for e in events if e["type"] == "response.done")
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert events.index(done) > next(i for i, e in enumerate(events)
                                     if e["type"] == "input_audio_buffer.speech_started")


# ---- tokens and their timing -------------------------------------------------------

@given(st.text(alphabet=st.sampled_from(list("abcdefghij XYZ,.!?'-\"1234\n")), max_size=120))
def test_tokens_concatenate_to_the_normalised_text(text):
    tokens = tokenize(text)
    assert "".join(t.text for t in tokens) == normalise(text)
    assert all(t.text for t in tokens)
    for t in tokens:  # punctuation never rides on a word; long words come in pieces
        body = t.text.strip()
        assert body.replace("'", "").isalnum() or not any(c.isalnum() for c in body)
        assert len(body) <= 8 or not any(c.isalnum() for c in body)


def test_long_words_split_and_punctuation_separate():
    assert [t.text for t in tokenize("Extraordinarily, yes!")] == ["Extra", "ordin", "arily", ",", " yes", "!"]


@settings(max_examples=40)
@given(st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=12), st.integers(0, 3000))
def test_token_timing_partitions_the_audio(gaps, tail):
    words = [f"w{'o' * (i % 11)}rd" for i in range(len(gaps))]
    text = " ".join(words) + "."
    pos, sample, marks = 0, 0, []
    for w, g in zip(words, gaps):
        sample += g
        marks.append(WordMark(pos, len(w), sample))
        pos += len(w) + 1
    speech = Speech(np.zeros(sample + tail, np.int16), 24000, marks)
    timed = time_tokens(tokenize(text), speech)
    assert sum(t.n_samples for t in timed) == len(speech.samples)
    assert all(t.n_samples >= 0 for t in timed)
    assert [t.start_sample for t in timed] == list(np.cumsum([0] + [t.n_samples for t in timed[:-1]]))
    word_starts = [t.start_sample for t in timed if t.text.strip().startswith("w")]
    assert word_starts[1:] == [m.sample for m in marks][1:]  # first word also takes the lead-in


@needs_espeak
def test_duration_ms_adds_up_to_the_audio():
    d = Driver(pace=0, duration_ms=True)
    d.s.receive(json.dumps({"type": "response.create"}), 0)
    (req,) = d.s.take_speech_requests()
    speech = tts.synthesize(req.text)
    d.s.speech_ready(req.response_id, speech, 0)
    events = d.run_all()
    durations = [e["duration_ms"] for e in events if e["type"] == "response.output_audio_transcript.delta"]
    assert sum(durations) == pytest.approx(speech.duration_ms, abs=0.01)
    assert all(x >= 0 for x in durations)


@needs_espeak
def test_server_vad_on_g711_input():
    d = Driver(pace=0)
    d.run(0)
    d.send({"type": "session.update", "session": {"audio": {"input": {
        "format": {"type": "audio/pcmu"}, "turn_detection": {"type": "server_vad", "prefix_padding_ms": 0}}}}})
    speech = tts.synthesize("Hello, can you hear me?", sample_rate=8000)
    pcm = np.concatenate([np.zeros(4000, np.int16), speech.samples, np.zeros(8000, np.int16)])
    events = []
    for i in range(0, len(pcm), 800):
        events += d.send({"type": "input_audio_buffer.append",
                          "audio": base64.b64encode(encode_samples(pcm[i : i + 800], PCMU)).decode()})
    started = next(e for e in events if e["type"] == "input_audio_buffer.speech_started")
    onset = np.flatnonzero(np.abs(speech.samples) > 300)[0] / 8
    assert abs(started["audio_start_ms"] - (500 + onset)) <= 80
    assert any(e["type"] == "input_audio_buffer.speech_stopped" for e in events)


_CLIENT_EVENTS = st.sampled_from([
    {"type": "response.create"}, {"type": "response.cancel"},
    {"type": "response.create", "response": {"conversation": "none"}},
    {"type": "conversation.item.truncate", "item_id": "item_000004", "content_index": 0, "audio_end_ms": 100},
    {"type": "conversation.item.truncate", "item_id": "item_000004", "content_index": 0, "audio_end_ms": 5000},
    {"type": "input_audio_buffer.commit"}, {"type": "input_audio_buffer.clear"},
    {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\x10\x20" * 1201).decode()},
    {"type": "session.update", "session": {"output_audio_format": "g711_alaw"}},
    user_text("more please"), "garbage", {"type": "bogus"},
])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_CLIENT_EVENTS, st.floats(0, 400)), max_size=15), st.booleans())
def test_any_client_sequence_keeps_the_session_consistent(steps, beta):
    """Whatever arrives, nothing raises and every response ends with exactly one response.done."""
    d = Driver(beta=beta, pace=4.0)
    events = d.run(0)
    for event, wait in steps:
        events += d.send(event)
        events += d.run(d.now + wait)
    events += d.run_all()
    created = [e["response"]["id"] for e in events if e["type"] == "response.created"]
    done = [e["response"]["id"] for e in events if e["type"] == "response.done"]
    assert sorted(created) == sorted(done)
    finished: set[str] = set()
    for e in events:  # nothing of a response is sent after its response.done
        if e["type"] == "response.done":
            finished.add(e["response"]["id"])
        assert e.get("response_id") not in finished
    for resp in d.s.responses.values():  # the server never counts more audio than it sent
        sent = sum(len(base64.b64decode(e["delta"])) for e in events
                   if e["type"].endswith("audio.delta") and e["item_id"] == resp.item.id)
        bytes_per_ms = resp.fmt.bytes_per_sample * resp.fmt.sample_rate / 1000
        assert resp.item.audio_sent_ms <= sent / bytes_per_ms + 1e-6


def test_script_file_lines_cycle(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("First line.\n\n  Second line.  \n")
    script = load_script(str(path))
    assert [script.next_line(None) for _ in range(3)] == ["First line.", "Second line.", "First line."]
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValueError):
        load_script(str(tmp_path / "empty.txt"))
