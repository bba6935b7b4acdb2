"""Session logs: JSON Lines of ``{"t": s, "from": "server"|"client", "event": {...}}``.

Pure: lines in, records and per-line errors out; records out as lines, with anything
that looks like a secret redacted. The same redaction rule masks secrets in log output
(:class:`RedactingFilter`). Files are read and written by :mod:`captioner.edges.files`.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Optional, Union

Source = Literal["server", "client"]

REDACTED = "[redacted]"
# A key is secret when, lower-cased with "-" read as "_", it is one of SECRET_KEYS or ends in
# one of SECRET_SUFFIXES: access_token, refresh_token, client_secret, x_api_key are;
# max_output_tokens, input_tokens, token_count, secret_santa are not. Every string under a
# secret key is redacted (the API's client_secret is an object {"value": "ek_...",
# "expires_at": ...}); numbers and booleans stay.
SECRET_KEYS = frozenset({"api_key", "apikey", "authorization", "proxy_authorization", "client_secret",
                         "secret", "password", "passwd", "token"})
SECRET_SUFFIXES = ("_token", "_secret", "_password", "_api_key")
# Values that look like credentials wherever they appear: OpenAI keys (sk-...), ephemeral
# keys (ek_...) that do not continue a word ("task-force..." is no key), the credential
# after "Bearer", and credential headers as websockets logs them ("> api-key: ..."; the
# header name is kept, the value goes). Every branch starts with a literal, so scanning a
# long base64 audio delta stays cheap.
_SECRET_VALUES = re.compile(r"sk-[\w-]{8,}|ek_[\w-]{8,}|(Bearer\s+|bearer\s+|BEARER\s+)\S+")
_SECRET_HEADERS = re.compile(
    r"(?im)^((?:[<>] )?(?:authorization|proxy-authorization|api-key|x-api-key|openai-api-key)[ \t]*:[ \t]*)\S.*$")


def _mask(match: re.Match) -> str:
    if match.group(1):
        return match.group(1) + REDACTED
    start = match.start()
    if start and (match.string[start - 1].isalnum() or match.string[start - 1] in "_-"):
        return match.group(0)  # inside a word
    return REDACTED


@dataclass(frozen=True)
class LogRecord:
    t: float  # seconds since session start
    source: Source
    event: dict
    line_no: int = 0

    @property
    def t_ms(self) -> float:
        return self.t * 1000.0


@dataclass(frozen=True, slots=True)
class LogError:
    line_no: int
    message: str  # interned: a file of a million bad lines holds a handful of distinct messages

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.message}"


class NotASessionLog(ValueError):
    """The first lines of the input are all malformed: it is some other file."""


def parse_line(line: str, line_no: int) -> Union[LogRecord, LogError, None]:
    text = line.strip()
    if not text:
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return LogError(line_no, sys.intern(f"not JSON ({exc.msg})"))
    except RecursionError:
        return LogError(line_no, "JSON nested too deep")
    if not isinstance(obj, dict):
        return LogError(line_no, "not a JSON object")
    t, source, event = obj.get("t"), obj.get("from"), obj.get("event")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
        return LogError(line_no, "missing or bad \"t\"")
    if source not in ("server", "client"):
        return LogError(line_no, "\"from\" must be \"server\" or \"client\"")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return LogError(line_no, "\"event\" must be an object with a \"type\"")
    return LogRecord(float(t), source, event, line_no)


def parse_session_log(lines: Iterable[str], give_up_after: Optional[int] = None
                      ) -> tuple[list[LogRecord], list[LogError]]:
    """Records and per-line errors (line numbers from 1).

    ``give_up_after``: raise :class:`NotASessionLog` once that many non-blank lines were
    malformed before any record, instead of reading the rest of some other file.
    """
    records: list[LogRecord] = []
    errors: list[LogError] = []
    for n, line in enumerate(lines, start=1):
        parsed = parse_line(line, n)
        if isinstance(parsed, LogRecord):
            records.append(parsed)
        elif isinstance(parsed, LogError):
            errors.append(parsed)
            if give_up_after is not None and not records and len(errors) >= give_up_after:
                raise NotASessionLog(f"its first {len(errors)} lines are not session-log records ({errors[0].message})")
    return records, errors


def is_secret_key(key: Any) -> bool:
    name = str(key).lower().replace("-", "_")
    return name in SECRET_KEYS or name.endswith(SECRET_SUFFIXES)


def redact_text(text: str) -> str:
    """``text`` with credentials (key-like values, bearer tokens, credential headers) masked."""
    text = _SECRET_HEADERS.sub(lambda m: m.group(1) + REDACTED, text)
    return _SECRET_VALUES.sub(_mask, text)


def redact(value: Any, secret: bool = False) -> Any:
    """A copy of an event with secrets replaced; events are otherwise logged as sent.

    ``secret``: the value sits under a secret key, so every string in it goes.
    """
    if isinstance(value, dict):
        return {k: redact(v, secret or is_secret_key(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secret) for v in value]
    if isinstance(value, str):
        return REDACTED if secret else redact_text(value)
    return value


class RedactingFilter(logging.Filter):
    """Masks credentials in every record a handler emits (websockets' debug log prints the
    request headers, ``Authorization: Bearer ...`` included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logging's to report
            return True
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def format_record(source: Source, event: dict, t: float) -> str:
    return json.dumps({"t": round(t, 6), "from": source, "event": redact(event)},
                      ensure_ascii=False, separators=(",", ":"))
