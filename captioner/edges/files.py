"""The files a session reads and writes: session logs (the reading and appending side of
the core's log lines) and exports (subtitles, timeline JSON)."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Sequence, TextIO, Union

from captioner.core import Caption, Timeline
from captioner.core.render import FORMATS, export_captions
from captioner.core.wire import LogError, LogRecord, Source, format_record, parse_session_log

log = logging.getLogger(__name__)

KINDS = FORMATS + ("timeline",)


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


def write_export(kind: str, path: Path, timeline: Timeline, captions: Sequence[Caption]) -> None:
    """Write one export file (``kind`` from :data:`KINDS`); raises on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "timeline":
        path.write_text(json.dumps(timeline.to_json(), indent=1))
    else:
        path.write_text(export_captions(list(captions), kind), encoding="utf-8")


def write_exports(timeline: Timeline, captions: Sequence[Caption],
                  exports: dict[str, Path]) -> dict[str, Path]:
    """Write each requested file; one failure is logged and does not lose the others."""
    written: dict[str, Path] = {}
    for kind, path in exports.items():
        try:
            write_export(kind, path, timeline, captions)
            written[kind] = Path(path)
        except Exception:  # noqa: BLE001
            log.exception("could not write %s to %s", kind, path)
    return written
