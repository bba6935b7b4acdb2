"""The wire: Realtime API events (GA and beta names, WebSocket and WebRTC) parsed into one
typed vocabulary, audio formats, and session-log lines. Pure data in, data out."""

from captioner.core.wire._audio import (
    PCM16, PCMA, PCMU, AudioFormat, AudioFormatError, decode_base64, decode_bytes, encode_base64,
    encode_samples, ms_to_samples, parse_format, resample, Resampler, samples_to_ms,
)
from captioner.core.wire._events import (
    CLIENT_EVENT_TYPES, SERVER_EVENT_TYPES, SESSION_END_EVENT, TRACK_AUDIO_EVENT, Event, Malformed, Unknown,
    parse_client_event, parse_server_event,
)
from captioner.core.wire._outbound import CancelResponse, ClearOutputBuffer, ClientEvent, TruncateItem
from captioner.core.wire._sessionlog import (
    LogError, LogRecord, NotASessionLog, RedactingFilter, Source, format_record, parse_line, parse_session_log,
    redact, redact_text,
)

__all__ = [
    "AudioFormat", "AudioFormatError", "CLIENT_EVENT_TYPES", "CancelResponse", "ClearOutputBuffer",
    "ClientEvent", "Event", "LogError", "LogRecord", "Malformed", "NotASessionLog", "PCM16", "PCMA", "PCMU",
    "RedactingFilter", "Resampler", "SERVER_EVENT_TYPES", "SESSION_END_EVENT", "Source", "TRACK_AUDIO_EVENT", "TruncateItem",
    "Unknown", "decode_base64", "decode_bytes", "encode_base64", "encode_samples", "format_record",
    "ms_to_samples", "parse_client_event", "parse_format", "parse_line", "parse_server_event",
    "parse_session_log", "redact", "redact_text", "resample", "samples_to_ms",
]
