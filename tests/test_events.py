import pytest

from captioner.core.wire import _events as ev
from tests.sessions import BETA, GA


@pytest.mark.parametrize("names", [GA, BETA])
def test_ga_and_beta_names_normalise_alike(names):
    audio = ev.parse_server_event({"type": names["audio"], "item_id": "i", "response_id": "r",
                                   "content_index": 0, "delta": "AAAA"})
    assert audio == ev.AudioDelta("i", "r", 0, "AAAA")
    text = ev.parse_server_event({"type": names["text"], "item_id": "i", "delta": " hi",
                                  "duration_ms": 120})
    assert text == ev.TranscriptDelta("i", None, 0, " hi", 120.0, True)
    item = ev.parse_server_event({"type": names["item"], "item": {"id": "i", "role": "assistant"}})
    assert isinstance(item, ev.ItemAdded) and item.role == "assistant"


def test_text_output_is_not_spoken():
    for name in ("response.output_text.delta", "response.text.delta"):
        e = ev.parse_server_event({"type": name, "item_id": "i", "delta": "x"})
        assert isinstance(e, ev.TranscriptDelta) and not e.spoken


def test_input_transcription_and_speech_events():
    assert ev.parse_server_event({"type": "input_audio_buffer.speech_started", "item_id": "u",
                                  "audio_start_ms": 1500}) == ev.SpeechStarted("u", 1500.0)
    seg = ev.parse_server_event({"type": "conversation.item.input_audio_transcription.segment",
                                 "item_id": "u", "id": "s", "start": 0.5, "end": 1.25,
                                 "text": "hi", "speaker": "A"})
    assert seg == ev.InputTranscriptSegment("u", 500.0, 1250.0, "hi", "A")
    done = ev.parse_server_event({"type": "conversation.item.input_audio_transcription.completed",
                                  "item_id": "u", "content_index": 0, "transcript": "hello"})
    assert isinstance(done, ev.InputTranscriptCompleted)


def test_response_status_and_out_of_band():
    done = ev.parse_server_event({"type": "response.done", "response": {
        "id": "r", "status": "cancelled", "conversation_id": "c",
        "status_details": {"type": "cancelled", "reason": "client_cancelled"},
        "output": [{"id": "i1"}, {"id": "i2"}]}})
    assert done.status == "cancelled" and done.reason == "client_cancelled"
    assert done.item_ids == ("i1", "i2") and not done.out_of_band
    oob = ev.parse_server_event({"type": "response.created", "response": {
        "id": "r2", "conversation_id": None, "metadata": {"purpose": "transcription"}}})
    assert oob.out_of_band and oob.metadata == {"purpose": "transcription"}
    req = ev.parse_client_event({"type": "response.create",
                                 "response": {"conversation": "none", "metadata": {"k": "v"}}})
    assert req == ev.ClientResponseCreate(True, {"k": "v"})


def test_webrtc_buffer_marks_including_undocumented_name():
    for name, cls in (("output_audio_buffer.started", ev.OutputBufferStarted),
                      ("output_audio_buffer.stopped", ev.OutputBufferStopped),
                      ("output_audio_buffer.audio_stopped", ev.OutputBufferStopped),
                      ("output_audio_buffer.cleared", ev.OutputBufferCleared)):
        assert isinstance(ev.parse_server_event({"type": name, "response_id": "r"}), cls)


def test_session_formats_ga_nested_and_beta_flat():
    ga = ev.parse_server_event({"type": "session.updated", "session": {
        "audio": {"output": {"format": {"type": "audio/pcmu"}}, "input": {"format": {"type": "audio/pcm", "rate": 24000}}}}})
    assert ga.output_format == {"type": "audio/pcmu"}
    beta = ev.parse_server_event({"type": "session.updated", "session": {
        "output_audio_format": "g711_alaw", "input_audio_format": "pcm16"}})
    assert beta.output_format == "g711_alaw"


@pytest.mark.parametrize("bad", [None, [], "x", {"no": "type"}, {"type": 3}])
def test_garbage_is_malformed_not_an_exception(bad):
    assert isinstance(ev.parse_server_event(bad), ev.Malformed)


def test_missing_fields_and_unknown_types():
    e = ev.parse_server_event({"type": "response.output_audio.delta", "delta": "AAAA"})
    assert isinstance(e, ev.Malformed) and "item_id" in e.reason
    assert ev.parse_server_event({"type": "rate_limits.updated"}) == ev.Unknown("rate_limits.updated")
    e = ev.parse_server_event({"type": "conversation.item.truncated", "item_id": "i",
                               "audio_end_ms": "12"})
    assert isinstance(e, ev.Malformed)
