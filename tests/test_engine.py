import pytest

from captioner.examples import example_log
from captioner.core import CaptionEngine, replay
from captioner.edges.files import read_session_log
from tests.sessions import BETA, GA, SessionBuilder, pcm_b64

EXAMPLES = example_log().parent  # the bundled logs (captioner/examples)


@pytest.mark.parametrize("names", [GA, BETA])
def test_duration_ms_gives_exact_starts(names):
    b = SessionBuilder(dict(names))
    b.item(0.0, "i1")
    durations = [310, 120, 455, 90, 700]
    for k, d in enumerate(durations):
        b.text(0.01 + k * 0.001, "i1", f" w{k}", duration_ms=d)
    for k in range(10):
        b.audio(0.2 + k * 0.03, "i1", 200)
    b.audio_done(0.6, "i1")
    b.server(0.6, {"type": names["text_done"], "item_id": "i1", "content_index": 0,
                   "transcript": "".join(f" w{k}" for k in range(5))})
    engine = replay(b.sorted())
    caps = engine.captions()
    item_start = engine.timeline().items[0].start_ms
    assert item_start == pytest.approx(200.0)
    expected = item_start
    for cap, d in zip(caps, durations):
        assert abs(cap.start_ms - expected) <= 1.0
        expected += d
    assert all(c.final for c in caps)


def test_an_items_estimator_is_found_by_its_id():
    """Edges and benchmarks ask the engine for an item's estimator instead of reading
    its item table."""
    b = SessionBuilder(dict(GA))
    b.item(0.0, "i1")
    for k in range(3):
        b.text(0.01 + k * 0.001, "i1", f" w{k}")
    for k in range(5):
        b.audio(0.2 + k * 0.03, "i1", 200)
    engine = replay(b.sorted())
    est = engine.estimator("i1")
    assert est is not None and est in engine.estimators()
    assert len(est.spans()) == 3
    assert engine.estimator("nope") is None


def test_seed001_fixture_last_caption_ends_at_the_cut():
    records, errors = read_session_log(EXAMPLES / "seed001_story_truncated.jsonl")
    assert not errors
    engine = replay(records)
    timeline = engine.timeline()
    (item,) = timeline.items
    assert item.truncated_at_ms == 2449
    captions = [p for p in timeline.periods if p.kind == "caption"]
    assert captions[-1].end_ms == pytest.approx(item.start_ms + 2449, abs=1e-6)
    assert all(p.end_ms <= item.start_ms + 2449 + 1e-6 for p in timeline.periods)
    heard = engine.transcript(item.item_id)
    assert heard.startswith("Once upon a time") and "lighthouse" not in heard
    assert engine.captions()[-1].truncated


def test_interrupt_reports_played_ms_and_cuts_captions():
    engine = CaptionEngine()
    engine.receive({"type": "response.created", "response": {"id": "r1", "conversation_id": "c"}}, 0)
    for k, word in enumerate(["One", " two", " three", " four"]):
        engine.receive({"type": "response.output_audio_transcript.delta", "item_id": "i1",
                        "response_id": "r1", "delta": word, "duration_ms": 250}, 1)
    engine.receive({"type": "response.output_audio.delta", "item_id": "i1", "response_id": "r1",
                    "delta": pcm_b64(24 * 1000)}, 2)
    frames = engine.play(480, at_ms=10.0)  # device: 20 ms per callback
    assert len(frames) == 480
    at = 10.0
    while at < 600.0:
        at += 20.0
        engine.play(480, at_ms=at)
    events = engine.interrupt(at_ms=533.0)
    truncate, cancel = (e.to_wire() for e in events)
    assert truncate == {"type": "conversation.item.truncate", "item_id": "i1", "event_id": truncate["event_id"],
                        "content_index": 0, "audio_end_ms": 523}
    assert cancel == {"type": "response.cancel", "response_id": "r1", "event_id": cancel["event_id"]}
    assert truncate["event_id"] != cancel["event_id"]
    caps = engine.captions()
    assert [c.text for c in caps] == ["One", " two", " three"]
    assert caps[-1].end_ms == pytest.approx(10.0 + 523) and caps[-1].truncated
    # the device keeps pulling: silence now, and no underrun counted
    assert not engine.play(480, at_ms=at + 20).any()
    assert engine.underrun_ms == 0.0


def test_interrupt_clamps_to_received_audio_and_webrtc_clears():
    engine = CaptionEngine(transport="webrtc")
    engine.receive({"type": "response.created", "response": {"id": "r1"}}, 0)
    engine.receive({"type": "response.output_audio_transcript.delta", "item_id": "i1",
                    "response_id": "r1", "delta": "Hello there"}, 5)
    engine.receive({"type": "output_audio_buffer.started", "response_id": "r1"}, 100)
    events = engine.interrupt(at_ms=900)
    types = [e.to_wire()["type"] for e in events]
    assert types == ["conversation.item.truncate", "response.cancel", "output_audio_buffer.clear"]
    assert events[0].audio_end_ms == 800

    ws = CaptionEngine()
    ws.receive({"type": "response.output_audio.delta", "item_id": "i2", "delta": pcm_b64(2400)}, 0)
    ws.advance(0.0)
    ws.advance(5000.0)  # 100 ms of audio played long ago; underrun while awaiting more
    (truncate,) = ws.interrupt(at_ms=5000.0)  # no response in progress: nothing to cancel
    assert truncate.audio_end_ms == 100



def test_an_underrun_mid_answer_is_still_the_assistants_turn():
    """Barge-in asks ``audible``: in a gap while the answer waits for more audio no sample
    plays, yet the user talking now talks over the assistant."""
    engine = CaptionEngine()
    engine.receive({"type": "response.created", "response": {"id": "r1"}}, 0)
    engine.receive({"type": "response.output_audio.delta", "item_id": "i1", "response_id": "r1",
                    "delta": pcm_b64(2400)}, 0)
    engine.advance(0.0)
    engine.advance(300.0)  # 100 ms played, 200 ms of underrun: the response is still open
    assert engine.now_playing(300.0) is None
    assert engine.audible(300.0)
    engine.receive({"type": "response.output_audio.done", "item_id": "i1", "response_id": "r1"}, 310)
    engine.receive({"type": "response.done", "response": {"id": "r1", "status": "completed"}}, 310)
    engine.advance(400.0)
    assert not engine.audible(400.0)  # answered and played out: the user's turn

def test_webrtc_captions_follow_buffer_marks():
    engine = CaptionEngine(transport="webrtc")
    engine.receive({"type": "response.created", "response": {"id": "r1"}}, 0)
    for word in ["Hi", " there", ",", " friend", "."]:
        engine.receive({"type": "response.output_audio_transcript.delta", "item_id": "i1",
                        "response_id": "r1", "delta": word}, 10)
    assert engine.captions() == []  # nothing plays yet: nothing to place
    engine.receive({"type": "output_audio_buffer.started", "response_id": "r1"}, 1000)
    engine.receive({"type": "response.output_audio_transcript.done", "item_id": "i1",
                    "response_id": "r1", "transcript": "Hi there, friend."}, 1100)
    engine.receive({"type": "output_audio_buffer.stopped", "response_id": "r1"}, 2600)
    caps = engine.captions()
    assert caps[0].start_ms >= 1000 and caps[-1].end_ms <= 2600 + 1e-6
    assert all(c.final for c in caps)


def test_user_speech_without_its_audio_is_spread_over_the_marks_less_padding():
    engine = CaptionEngine()
    engine.sent({"type": "input_audio_buffer.append", "audio": pcm_b64(2400)}, 1100.0)  # origin 1000
    engine.receive({"type": "input_audio_buffer.speech_started", "item_id": "u1",
                    "audio_start_ms": 500}, 1600)
    engine.receive({"type": "input_audio_buffer.speech_stopped", "item_id": "u1",
                    "audio_end_ms": 2500}, 3600)
    engine.receive({"type": "conversation.item.input_audio_transcription.completed",
                    "item_id": "u1", "content_index": 0, "transcript": "What time is it?"}, 4200)
    caps = engine.captions()
    assert [c.text for c in caps] == ["What", " time", " is", " it?"]  # a caption per word
    assert all(c.role == "user" and c.arrived_ms == 4200 and c.shown_ms == 4200 for c in caps)
    # the marks hold 300 ms of prefix padding and 500 ms of trailing silence
    assert caps[0].start_ms == 1500 + 300 and caps[-1].end_ms == 3500 - 500
    (item,) = engine.timeline().items
    assert item.role == "user" and item.timing == "marks" and (item.start_ms, item.end_ms) == (1500, 3500)


def test_out_of_band_response_text_belongs_to_the_user_item():
    engine = CaptionEngine()
    engine.receive({"type": "input_audio_buffer.speech_started", "item_id": "u1",
                    "audio_start_ms": 0}, 0)
    engine.receive({"type": "input_audio_buffer.speech_stopped", "item_id": "u1",
                    "audio_end_ms": 1000}, 1000)
    engine.receive({"type": "conversation.item.input_audio_transcription.completed",
                    "item_id": "u1", "transcript": "I had otoo accident"}, 1500)
    engine.sent({"type": "response.create", "response": {"conversation": "none",
                                                         "metadata": {"purpose": "transcribe"}}}, 1510)
    engine.receive({"type": "response.created", "response": {"id": "oob", "metadata": {"purpose": "transcribe"}}}, 1600)
    for piece in ["I", " had", " an", " auto", " accident"]:
        engine.receive({"type": "response.output_text.delta", "item_id": "x", "response_id": "oob",
                        "delta": piece}, 1700)
    caps = engine.captions()
    assert all(c.role == "user" and c.item_id == "u1" for c in caps)
    assert "".join(c.text for c in caps) == "I had an auto accident"
    assert "x" not in engine.item_ids()


def test_late_audio_after_truncation_is_dropped():
    engine = CaptionEngine()
    engine.receive({"type": "response.output_audio.delta", "item_id": "i1", "delta": pcm_b64(24000)}, 0)
    engine.advance(0)
    engine.advance(300)
    engine.interrupt(300)
    engine.receive({"type": "response.output_audio.delta", "item_id": "i1", "delta": pcm_b64(24000)}, 310)
    engine.advance(2000)
    assert engine.played_ms("i1", 10_000) == 300.0


def test_bad_events_never_raise_and_are_reported():
    engine = CaptionEngine()
    for bad in [None, "x", {"type": "response.output_audio.delta"},
                {"type": "response.output_audio.delta", "item_id": "i", "delta": "%%%"},
                {"type": "conversation.item.truncated", "item_id": "i", "audio_end_ms": None},
                {"type": "something.new"}]:
        assert engine.receive(bad, 0) == []
    assert len(engine.problems) >= 3
    engine.receive({"type": "response.output_audio.delta", "item_id": "i", "delta": pcm_b64(10) + "A"}, 1)


def test_duplicate_event_ids_are_ignored():
    engine = CaptionEngine()
    event = {"event_id": "e1", "type": "response.output_audio_transcript.delta", "item_id": "i",
             "delta": " once"}
    engine.receive(event, 0)
    engine.receive(event, 1)
    assert len(engine.item_spans("i")) == 1
    assert engine.problem_counts[("duplicate", "response.output_audio_transcript.delta")] == 1


def test_g711_session_runs_at_8khz():
    engine = CaptionEngine()
    engine.receive({"type": "session.updated", "session": {"output_audio_format": "g711_ulaw"}}, 0)
    assert engine.sample_rate == 8000
    import base64
    engine.receive({"type": "response.audio.delta", "item_id": "i", "delta":
                    base64.b64encode(bytes([0xFF]) * 8000).decode()}, 0)
    engine.advance(0)
    engine.advance(2000)
    assert engine.received_ms("i") == 1000.0
    assert engine.played_ms("i", 2000) == 1000.0
