"""Session logs: JSON Lines of ``{"t": s, "from": "server"|"client", "event": {...}}``.

Pure: lines in, records and per-line errors out; records out as lines, with anything
that looks like a secret redacted. Files are read and written by
:mod:`captioner.edges.files`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Union

Source = Literal["server", "client"]

_SECRET_KEYS = re.compile(r"(api[_-]?key|authorization|secret|token|password|client_secret)", re.I)
_SECRET_VALUES = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|ek_[A-Za-z0-9_\-]{8,}|Bearer\s+\S+)")


@dataclass(frozen=True)
class LogRecord:
    t: float  # seconds since session start
    source: Source
    event: dict
    line_no: int = 0

    @property
    def t_ms(self) -> float:
        return self.t * 1000.0


@dataclass(frozen=True)
class LogError:
    line_no: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.message}"


def parse_line(line: str, line_no: int) -> Union[LogRecord, LogError, None]:
    text = line.strip()
    if not text:
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return LogError(line_no, f"not JSON ({exc.msg})")
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


def parse_session_log(lines: Iterable[str]) -> tuple[list[LogRecord], list[LogError]]:
    records: list[LogRecord] = []
    errors: list[LogError] = []
    for n, line in enumerate(lines, start=1):
        parsed = parse_line(line, n)
        if isinstance(parsed, LogRecord):
            records.append(parsed)
        elif isinstance(parsed, LogError):
            errors.append(parsed)
    return records, errors


def redact(value: Any) -> Any:
    """A copy of an event with secrets replaced; events are otherwise logged as sent."""
    if isinstance(value, dict):
        return {k: ("[redacted]" if _SECRET_KEYS.search(str(k)) and isinstance(v, str) else redact(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _SECRET_VALUES.sub("[redacted]", value)
    return value


def format_record(source: Source, event: dict, t: float) -> str:
    return json.dumps({"t": round(t, 6), "from": source, "event": redact(event)},
                      ensure_ascii=False, separators=(",", ":"))
