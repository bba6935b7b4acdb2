"""Wire events (GA and beta names, WebSocket and WebRTC) -> one internal vocabulary.

``parse_server_event`` and ``parse_client_event`` never raise: a malformed event comes
back as :class:`Malformed` and an unknown one as :class:`Unknown`, so a session keeps
going whatever a server or a log holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from captioner.core.wire._live import LIVE_SERVER, LiveAudio, LiveClosed, LiveTranscript


@dataclass(frozen=True)
class AudioDelta:
    item_id: str
    response_id: Optional[str]
    content_index: int
    delta: str  # base64, decoded by the engine with the session's output format


@dataclass(frozen=True)
class AudioDone:
    item_id: str
    response_id: Optional[str]
    content_index: int


@dataclass(frozen=True)
class TranscriptDelta:
    """Assistant transcript or text delta (``spoken`` False for text-only output)."""

    item_id: str
    response_id: Optional[str]
    content_index: int
    text: str
    duration_ms: Optional[float]
    spoken: bool
    start_ms: Optional[float] = None  # ``start_time`` (s, item audio; LiveKit reads it), in ms
    bad_timing: Optional[str] = None  # a timing field present but unusable, and why


@dataclass(frozen=True)
class WordTimestamp:
    """Azure Voice Live ``response.audio_timestamp.delta``: a word's place in the item's audio."""

    item_id: str
    response_id: Optional[str]
    content_index: int
    text: str
    start_ms: float
    duration_ms: float
    kind: str  # timestamp_type ("word")


@dataclass(frozen=True)
class TranscriptDone:
    item_id: str
    response_id: Optional[str]
    content_index: int
    transcript: str
    spoken: bool


@dataclass(frozen=True)
class ItemAdded:
    item_id: str
    role: Optional[str]
    item_type: Optional[str]
    previous_item_id: Optional[str]


@dataclass(frozen=True)
class ItemTruncated:
    """Server confirmation (or, from a client, the request) of a truncation."""

    item_id: str
    content_index: int
    audio_end_ms: float


@dataclass(frozen=True)
class SpeechStarted:
    item_id: Optional[str]
    audio_start_ms: float


@dataclass(frozen=True)
class SpeechStopped:
    item_id: Optional[str]
    audio_end_ms: float


@dataclass(frozen=True)
class InputTranscriptDelta:
    item_id: str
    content_index: int
    text: str
    duration_ms: Optional[float]
    bad_timing: Optional[str] = None


@dataclass(frozen=True)
class InputTranscriptCompleted:
    item_id: str
    content_index: int
    transcript: str


@dataclass(frozen=True)
class InputTranscriptFailed:
    item_id: str
    message: str


@dataclass(frozen=True)
class InputTranscriptSegment:
    item_id: str
    start_ms: float
    end_ms: float
    text: str
    speaker: Optional[str]


@dataclass(frozen=True)
class OutputBufferStarted:
    response_id: Optional[str]


@dataclass(frozen=True)
class OutputBufferStopped:
    response_id: Optional[str]


@dataclass(frozen=True)
class OutputBufferCleared:
    response_id: Optional[str]


@dataclass(frozen=True)
class ResponseCreated:
    response_id: str
    out_of_band: bool
    metadata: dict
    # True: the response joins a conversation (conversation_id set); False: out-of-band
    # (conversation_id null); None: the server did not say (older/other servers)
    in_conversation: Optional[bool] = None


@dataclass(frozen=True)
class ResponseDone:
    response_id: str
    status: Optional[str]
    reason: Optional[str]
    out_of_band: bool
    metadata: dict
    item_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class SessionFormats:
    """session.created / session.updated: audio formats in force."""

    output_format: Any
    input_format: Any
    turn_detection: Optional[dict] = None  # server VAD settings (prefix_padding_ms, silence_duration_ms)


@dataclass(frozen=True)
class ServerError:
    message: str
    code: Optional[str]
    event_id: Optional[str] = None  # the client event it answers, when the server says


@dataclass(frozen=True)
class TrackAudio:
    """WebRTC: audio received on the media track (a local event the client logs), base64
    pcm16 at the session's output rate."""

    delta: str


# client-side events the engine must see
@dataclass(frozen=True)
class ClientTruncate:
    item_id: str
    content_index: int
    audio_end_ms: float


@dataclass(frozen=True)
class ClientResponseCreate:
    out_of_band: bool
    metadata: dict


@dataclass(frozen=True)
class ClientAudioAppend:
    audio: str


@dataclass(frozen=True)
class ClientSessionUpdate:
    output_format: Any
    input_format: Any
    turn_detection: Optional[dict] = None


# the input audio buffer (user speech on the capture clock)
@dataclass(frozen=True)
class InputCommitted:
    """The server committed its input buffer as a user item (server event)."""

    item_id: Optional[str]


@dataclass(frozen=True)
class InputCleared:
    """The server emptied its input buffer (server event)."""


@dataclass(frozen=True)
class ClientInputCommit:
    """The client asked the server to commit its input buffer."""


@dataclass(frozen=True)
class ClientInputClear:
    """The client asked the server to empty its input buffer."""


@dataclass(frozen=True)
class SessionEnd:
    """The session ended (a local client event a live session logs as it ends): what had
    not been heard never will be."""


@dataclass(frozen=True)
class Unknown:
    type: str


@dataclass(frozen=True)
class Malformed:
    type: str
    reason: str


Event = Union[
    AudioDelta, AudioDone, TranscriptDelta, WordTimestamp, TranscriptDone, ItemAdded, ItemTruncated,
    SpeechStarted, SpeechStopped, InputTranscriptDelta, InputTranscriptCompleted,
    InputTranscriptFailed, InputTranscriptSegment, OutputBufferStarted, OutputBufferStopped,
    OutputBufferCleared, ResponseCreated, ResponseDone, SessionFormats, ServerError, TrackAudio,
    ClientTruncate, ClientResponseCreate, ClientAudioAppend, ClientSessionUpdate, SessionEnd, Unknown,
    Malformed, InputCommitted, InputCleared, ClientInputCommit, ClientInputClear, LiveAudio, LiveTranscript,
    LiveClosed,
]


TRACK_AUDIO_EVENT = "captioner.track_audio.delta"
SESSION_END_EVENT = "captioner.session_end"  # logged by a live session as it ends



class _Missing(Exception):
    pass


def _str(ev: dict, key: str) -> str:
    value = ev.get(key)
    if not isinstance(value, str) or not value:
        raise _Missing(f"{key} missing or not a string")
    return value


def _opt_str(ev: dict, key: str) -> Optional[str]:
    value = ev.get(key)
    return value if isinstance(value, str) else None


# Numbers are checked once, here: whatever JSON a peer sends (Python's json reads NaN,
# Infinity and 1e999), the engine only ever sees finite values in range.
MAX_MS = 1e10  # ~115 days: longer than any session
MAX_INDEX = 2**31 - 1


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _int(ev: dict, key: str, default: Optional[int] = None) -> int:
    value = ev.get(key, default)
    if type(value) is int and 0 <= value <= MAX_INDEX:  # the usual case, without the checks below
        return value
    value = _number(value)
    if value is None or value != int(value) or not 0 <= value <= MAX_INDEX:
        raise _Missing(f"{key} must be a whole number from 0 to {MAX_INDEX}, not {ev.get(key, default)!r:.40}")
    return int(value)


def _num(ev: dict, key: str, scale: float = 1.0) -> float:
    """A time or length in ms (``scale`` 1000 for seconds): finite, 0 .. MAX_MS."""
    value = _number(ev.get(key))
    if value is None or not 0 <= value * scale <= MAX_MS:
        raise _Missing(f"{key} must be a finite number from 0 to {MAX_MS / scale:g}, not {ev.get(key)!r:.40}")
    return value * scale


def _opt_num(ev: dict, key: str) -> Optional[float]:
    """Optional timing: a value that is not a usable ms length counts as absent."""
    value = _number(ev.get(key))
    if value is None or not 0 <= value <= MAX_MS:
        return None
    return value


def _timing(ev: dict, fields: tuple[tuple[str, float], ...]) -> tuple[dict[str, Optional[float]], Optional[str]]:
    """Optional timing fields (name, scale to ms): absent is fine; present but negative,
    non-finite or not a number is dropped, and said why (the engine logs it)."""
    out: dict[str, Optional[float]] = {}
    bad: list[str] = []
    if not any(ev.get(key) is not None for key, _ in fields):  # the usual case: no timing
        return {key: None for key, _ in fields}, None
    for key, scale in fields:
        out[key] = None
        if key not in ev or ev[key] is None:
            continue
        value = _opt_num(ev, key)
        if value is None:
            bad.append(f"{key}={ev[key]!r} ignored (not a finite number >= 0)")
        else:
            out[key] = value * scale
    return out, "; ".join(bad) or None


def _text(ev: dict, key: str) -> str:
    value = ev.get(key)
    if not isinstance(value, str):
        raise _Missing(f"{key} missing or not a string")
    return value


def _audio_delta(ev: dict) -> Event:
    return AudioDelta(_str(ev, "item_id"), _opt_str(ev, "response_id"),
                      _int(ev, "content_index", 0), _text(ev, "delta"))


def _audio_done(ev: dict) -> Event:
    return AudioDone(_str(ev, "item_id"), _opt_str(ev, "response_id"), _int(ev, "content_index", 0))


def _transcript_delta(spoken: bool) -> Callable[[dict], Event]:
    def parse(ev: dict) -> Event:
        duration = start = bad = None
        if ev.get("duration_ms") is not None or ev.get("start_time") is not None:  # (rare)
            given, bad = _timing(ev, (("duration_ms", 1.0), ("start_time", 1000.0)))
            duration, start = given["duration_ms"], given["start_time"]
        return TranscriptDelta(_str(ev, "item_id"), _opt_str(ev, "response_id"),
                               _int(ev, "content_index", 0), _text(ev, "delta"),
                               duration, spoken, start, bad)
    return parse


def _word_timestamp(ev: dict) -> Event:
    given, bad = _timing(ev, (("audio_offset_ms", 1.0), ("audio_duration_ms", 1.0)))
    if given["audio_offset_ms"] is None or given["audio_duration_ms"] is None:
        raise _Missing(bad or "audio_offset_ms / audio_duration_ms missing")
    return WordTimestamp(_str(ev, "item_id"), _opt_str(ev, "response_id"), _int(ev, "content_index", 0),
                         _text(ev, "text"), given["audio_offset_ms"], given["audio_duration_ms"],
                         str(ev.get("timestamp_type", "word")))


def _transcript_done(field_name: str, spoken: bool) -> Callable[[dict], Event]:
    def parse(ev: dict) -> Event:
        text = ev.get(field_name)
        return TranscriptDone(_str(ev, "item_id"), _opt_str(ev, "response_id"),
                              _int(ev, "content_index", 0), text if isinstance(text, str) else "",
                              spoken)
    return parse


def _item_added(ev: dict) -> Event:
    item = ev.get("item")
    if not isinstance(item, dict):
        raise _Missing("item missing")
    return ItemAdded(_str(item, "id"), _opt_str(item, "role"), _opt_str(item, "type"),
                     _opt_str(ev, "previous_item_id"))


def _truncated(ev: dict) -> Event:
    return ItemTruncated(_str(ev, "item_id"), _int(ev, "content_index", 0), _num(ev, "audio_end_ms"))


def _response_fields(ev: dict) -> dict:
    response = ev.get("response")
    if not isinstance(response, dict):
        raise _Missing("response missing")
    return response


def _is_out_of_band(response: dict) -> bool:
    """``conversation: "none"`` on request; the created response then has no conversation."""
    if response.get("conversation") == "none":
        return True
    return "conversation_id" in response and response.get("conversation_id") is None


def _metadata(response: dict) -> dict:
    meta = response.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _response_created(ev: dict) -> Event:
    r = _response_fields(ev)
    said = "conversation_id" in r or r.get("conversation") == "none"
    return ResponseCreated(_str(r, "id"), _is_out_of_band(r), _metadata(r),
                           (not _is_out_of_band(r)) if said else None)


def _response_done(ev: dict) -> Event:
    r = _response_fields(ev)
    details = r.get("status_details") if isinstance(r.get("status_details"), dict) else {}
    output = r.get("output") if isinstance(r.get("output"), list) else []
    ids = tuple(o["id"] for o in output if isinstance(o, dict) and isinstance(o.get("id"), str))
    return ResponseDone(_str(r, "id"), _opt_str(r, "status"), _opt_str(details, "reason"),
                        _is_out_of_band(r), _metadata(r), ids)


def _session_formats(ev: dict) -> Event:
    session = ev.get("session")
    if not isinstance(session, dict):
        raise _Missing("session missing")
    return SessionFormats(*_formats(session), _turn_detection(session))


def _formats(session: dict) -> tuple[Any, Any]:
    """GA nests formats under audio.output/input.format; beta uses flat *_audio_format."""
    out_fmt = session.get("output_audio_format")
    in_fmt = session.get("input_audio_format")
    audio = session.get("audio")
    if isinstance(audio, dict) and "format" in audio:  # GPT-Live: one format both ways
        out_fmt = in_fmt = audio["format"]
    if isinstance(audio, dict):
        out = audio.get("output")
        inp = audio.get("input")
        if isinstance(out, dict) and "format" in out:
            out_fmt = out["format"]
        if isinstance(inp, dict) and "format" in inp:
            in_fmt = inp["format"]
    return out_fmt, in_fmt


def _turn_detection(session: dict) -> Optional[dict]:
    """GA nests it under audio.input; beta has it at the top."""
    td = session.get("turn_detection")
    audio = session.get("audio")
    if isinstance(audio, dict) and isinstance(audio.get("input"), dict) and "turn_detection" in audio["input"]:
        td = audio["input"]["turn_detection"]
    return td if isinstance(td, dict) else None


def _speech_started(ev: dict) -> Event:
    return SpeechStarted(_opt_str(ev, "item_id"), _num(ev, "audio_start_ms"))


def _speech_stopped(ev: dict) -> Event:
    return SpeechStopped(_opt_str(ev, "item_id"), _num(ev, "audio_end_ms"))


def _input_delta(ev: dict) -> Event:
    given, bad = _timing(ev, (("duration_ms", 1.0),))
    return InputTranscriptDelta(_str(ev, "item_id"), _int(ev, "content_index", 0),
                                _text(ev, "delta"), given["duration_ms"], bad)


def _input_completed(ev: dict) -> Event:
    return InputTranscriptCompleted(_str(ev, "item_id"), _int(ev, "content_index", 0),
                                    _text(ev, "transcript"))


def _input_failed(ev: dict) -> Event:
    error = ev.get("error") if isinstance(ev.get("error"), dict) else {}
    return InputTranscriptFailed(_str(ev, "item_id"), str(error.get("message", "")))


def _input_segment(ev: dict) -> Event:
    start, end = _num(ev, "start", 1000.0), _num(ev, "end", 1000.0)
    if end < start:
        raise _Missing(f"segment ends ({end / 1000:g} s) before it starts ({start / 1000:g} s)")
    return InputTranscriptSegment(_str(ev, "item_id"), start, end, _text(ev, "text"), _opt_str(ev, "speaker"))


def _error(ev: dict) -> Event:
    error = ev.get("error") if isinstance(ev.get("error"), dict) else {}
    return ServerError(str(error.get("message", "")), _opt_str(error, "code"), _opt_str(error, "event_id"))


_SERVER: dict[str, Callable[[dict], Event]] = {
    "response.output_audio.delta": _audio_delta,
    "response.audio.delta": _audio_delta,
    "response.output_audio.done": _audio_done,
    "response.audio.done": _audio_done,
    "response.output_audio_transcript.delta": _transcript_delta(True),
    "response.audio_transcript.delta": _transcript_delta(True),
    "response.output_audio_transcript.done": _transcript_done("transcript", True),
    "response.audio_transcript.done": _transcript_done("transcript", True),
    "response.audio_timestamp.delta": _word_timestamp,  # Azure Voice Live word timing
    "response.output_text.delta": _transcript_delta(False),
    "response.text.delta": _transcript_delta(False),
    "response.output_text.done": _transcript_done("text", False),
    "response.text.done": _transcript_done("text", False),
    "conversation.item.added": _item_added,
    "conversation.item.created": _item_added,
    "conversation.item.done": _item_added,
    "conversation.item.truncated": _truncated,
    "input_audio_buffer.speech_started": _speech_started,
    "input_audio_buffer.speech_stopped": _speech_stopped,
    "conversation.item.input_audio_transcription.delta": _input_delta,
    "conversation.item.input_audio_transcription.completed": _input_completed,
    "conversation.item.input_audio_transcription.failed": _input_failed,
    "conversation.item.input_audio_transcription.segment": _input_segment,
    "output_audio_buffer.started": lambda ev: OutputBufferStarted(_opt_str(ev, "response_id")),
    "output_audio_buffer.stopped": lambda ev: OutputBufferStopped(_opt_str(ev, "response_id")),
    # seed 001: the WebRTC server has also been seen sending this undocumented name
    "output_audio_buffer.audio_stopped": lambda ev: OutputBufferStopped(_opt_str(ev, "response_id")),
    "output_audio_buffer.cleared": lambda ev: OutputBufferCleared(_opt_str(ev, "response_id")),
    "response.created": _response_created,
    "response.done": _response_done,
    "session.created": _session_formats,
    "session.started": _session_formats,  # GPT-Live
    "session.updated": _session_formats,
    "error": _error,
    TRACK_AUDIO_EVENT: lambda ev: TrackAudio(_text(ev, "delta")),
    # the input buffer and transcription-only sessions (seed 000)
    "input_audio_buffer.committed": lambda ev: InputCommitted(_opt_str(ev, "item_id")),
    "input_audio_buffer.cleared": lambda ev: InputCleared(),
    "transcription_session.created": _session_formats,
    "transcription_session.updated": _session_formats,
}


def _client_truncate(ev: dict) -> Event:
    return ClientTruncate(_str(ev, "item_id"), _int(ev, "content_index", 0), _num(ev, "audio_end_ms"))


def _client_response_create(ev: dict) -> Event:
    r = ev.get("response") if isinstance(ev.get("response"), dict) else {}
    return ClientResponseCreate(r.get("conversation") == "none", _metadata(r))


def _client_session_update(ev: dict) -> Event:
    session = ev.get("session")
    if not isinstance(session, dict):
        raise _Missing("session missing")
    return ClientSessionUpdate(*_formats(session), _turn_detection(session))


_CLIENT: dict[str, Callable[[dict], Event]] = {
    "conversation.item.truncate": _client_truncate,
    "response.create": _client_response_create,
    "input_audio_buffer.append": lambda ev: ClientAudioAppend(_text(ev, "audio")),
    "session.update": _client_session_update,
    SESSION_END_EVENT: lambda ev: SessionEnd(),
    "transcription_session.update": _client_session_update,
    "input_audio_buffer.commit": lambda ev: ClientInputCommit(),
    "input_audio_buffer.clear": lambda ev: ClientInputClear(),
    # GPT-Live client events the engine must see
    "session.start": _client_session_update,
    "session.input_audio.append": lambda ev: ClientAudioAppend(_text(ev, "audio")),
}
_SERVER.update(LIVE_SERVER)


def _parse(event: Any, table: dict[str, Callable[[dict], Event]]) -> Event:
    if not isinstance(event, dict):
        return Malformed("?", f"event is {type(event).__name__}, not an object")
    kind = event.get("type")
    if not isinstance(kind, str):
        return Malformed("?", "event has no type")
    parser = table.get(kind)
    if parser is None:
        return Unknown(kind)
    try:
        return parser(event)
    except (_Missing, ValueError) as exc:
        return Malformed(kind, str(exc))
    except (ValueError, TypeError, AttributeError, RecursionError, OverflowError) as exc:
        return Malformed(kind, f"{type(exc).__name__}: {str(exc)[:200]}")


def parse_server_event(event: Any) -> Event:
    return _parse(event, _SERVER)


def parse_client_event(event: Any) -> Event:
    return _parse(event, _CLIENT)


SERVER_EVENT_TYPES = frozenset(_SERVER)
CLIENT_EVENT_TYPES = frozenset(_CLIENT)
