"""The embedded server's GPT-Live session, sans-I/O: continuous output stream, transcript
times on the session timeline, barge-in withdraws what is not sent."""

from __future__ import annotations

import base64

import numpy as np

from captioner.server import LiveServerSession, Script, ServerOptions
from captioner.server import espeak as tts
from tests.test_server_protocol import MS_PER_WORD, SessionDriver, needs_espeak

START = {"type": "session.start", "event_id": "c1",
         "session": {"model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm", "rate": 24000}}}}


class LiveDriver(SessionDriver):
    def __init__(self, **opts) -> None:
        self.s = LiveServerSession(ServerOptions(**opts), Script(("Hello there, wonderful world.",)))
        self.now = 0.0


def _audio_ms(events) -> float:
    return sum(len(base64.b64decode(e["delta"])) / 48.0 for e in events if e["type"] == "session.output_audio.delta")


def test_start_first_then_started_with_the_format():
    d = LiveDriver()
    (err,) = d.send({"type": "response.create", "event_id": "x"})
    assert err["type"] == "error" and err["error"]["code"] == "session_not_started"
    (started,) = d.send(START)
    assert started["type"] == "session.started" and started["client_event_id"] == "c1"
    assert started["session"]["audio"]["format"] == {"type": "audio/pcm", "rate": 24000}
    (err,) = d.send({"type": "session.update", "session": {"audio": {"format": {"type": "audio/pcmu"}}}})
    assert err["error"]["code"] == "immutable_parameter"


def test_output_stream_is_continuous_so_stream_position_is_timeline_ms():
    d = LiveDriver(pace=0)
    d.send(START)
    d.now = 1000.0
    events = d.send({"type": "response.create"})
    audio = [e for e in events if e["type"] == "session.output_audio.delta"]
    texts = [e for e in events if e["type"] == "session.output_transcript.delta"]
    silence = len(base64.b64decode(audio[0]["delta"])) / 48.0
    assert silence == 1000.0 and not np.frombuffer(base64.b64decode(audio[0]["delta"]), "<i2").any()
    assert [t["delta"] for t in texts][:2] == ["Hello", " there"]
    assert texts[0]["start_ms"] == 1000 and texts[1]["start_ms"] == 1000 + MS_PER_WORD  # after the silence
    assert _audio_ms(events) == 1000.0 + 4 * MS_PER_WORD
    d.now = 5000.0  # the next utterance: the 2 s since the last one are sent as silence first
    more = d.send({"type": "response.create"})
    assert len(base64.b64decode(more[0]["delta"])) / 48.0 == 5000.0 - 2200.0
    assert next(e for e in more if e["type"] == "session.output_transcript.delta")["start_ms"] == 5000


@needs_espeak
def test_barge_in_withdraws_unsent_output_and_the_user_turn_is_transcribed():
    d = LiveDriver(pace=1.0, user_says="stop it", auto_response=False)
    d.send(START)
    first = d.send({"type": "response.create"}) + d.run(300)
    speech = tts.synthesize("Stop, stop, please stop now.").samples
    events = []
    for i in range(0, len(speech) + 24000, 2400):  # 100 ms appends, 100 ms apart, then silence
        block = np.concatenate([speech, np.zeros(24000, np.int16)])[i: i + 2400]
        events += d.send({"type": "session.input_audio.append",
                          "audio": base64.b64encode(block.astype("<i2").tobytes()).decode()})
        d.now += 100
        events += d.run(d.now)
    sent = first + events
    said = [e for e in sent if e["type"] == "session.output_transcript.delta"]
    assert 0 < _audio_ms(sent) < 4 * MS_PER_WORD  # the answer was not sent in full
    assert "".join(e["delta"] for e in said) != "Hello there, wonderful world."
    heard = [e for e in events if e["type"] == "session.input_transcript.delta"]
    assert "".join(e["delta"] for e in heard) == "stop it"
    assert heard[0]["start_ms"] < heard[-1]["end_ms"] <= d.s.input_ms
    assert said  # some of the first answer was sent before the user spoke


def test_close_answers_session_closed():
    d = LiveDriver()
    d.send(START)
    (closed,) = d.send({"type": "session.close", "event_id": "bye"})
    assert closed["type"] == "session.closed" and closed["reason"] == "close_requested"
