"""Session log files: the reading and appending side of :mod:`captioner.core.sessionlog`."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TextIO, Union

from captioner.core.sessionlog import LogError, LogRecord, Source, format_record, parse_session_log


def read_session_log(path: Union[str, Path]) -> tuple[list[LogRecord], list[LogError]]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return parse_session_log(fh)


class SessionLogWriter:
    """Appends records as they happen; safe to call from several threads."""

    def __init__(self, path: Union[str, Path, TextIO]) -> None:
        if hasattr(path, "write"):
            self._fh: TextIO = path  # type: ignore[assignment]
            self._owns = False
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(path, "w", encoding="utf-8")
            self._owns = True
        self._lock = threading.Lock()

    def write(self, source: Source, event: dict, t: float) -> None:
        line = format_record(source, event, t)
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._owns and not self._fh.closed:
                self._fh.close()

    def __enter__(self) -> "SessionLogWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
