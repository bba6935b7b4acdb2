"""The files a session reads and writes: session logs (the reading and appending side of
the core's log lines) and exports (subtitles, timeline JSON)."""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import uuid
from pathlib import Path
from typing import Sequence, TextIO, Union

from captioner.core import Caption, Timeline
from captioner.examples import example_log
from captioner.core.render import FORMATS, export_captions
from captioner.core.wire import LogError, LogRecord, NotASessionLog, Source, format_record, parse_session_log

log = logging.getLogger(__name__)

EXAMPLE_PREFIX = "example:"

KINDS = FORMATS + ("timeline",)
SNIFF_LINES = 5  # this many malformed lines before any record: not a session log


class SessionLogError(ValueError):
    """A file that cannot be replayed at all: not a session log, or no events in it."""


def read_session_log(path: Union[str, Path]) -> tuple[list[LogRecord], list[LogError]]:
    """The records of a session log and its malformed lines (which are skipped).

    Lines end at ``\n`` only, so error line numbers match what editors and ``sed -n`` show
    (a stray ``\r`` inside a line is not a break); bytes that are not UTF-8 make that line
    malformed instead of failing the file. Raises :class:`SessionLogError` when the file
    is some other file (its first lines are all malformed; reading stops there) or holds
    no events, and ``OSError`` when it cannot be read. ``example:NAME`` names a log
    bundled with the package (``example:seed001_story_truncated``).
    """
    if isinstance(path, str) and path.startswith(EXAMPLE_PREFIX):
        path = example_log(path[len(EXAMPLE_PREFIX):] or "seed001_story_truncated")
    with open(path, encoding="utf-8", errors="replace", newline="\n") as fh:
        try:
            records, errors = parse_session_log(fh, give_up_after=SNIFF_LINES)
        except NotASessionLog as exc:
            raise SessionLogError(f"{path} is not a session log: {exc}") from None
    if not records:
        raise SessionLogError(f"{path} holds no events" + (f" ({len(errors)} malformed lines)" if errors else ""))
    return records, errors


class SessionLogWriter:
    """Appends records as they happen; safe to call from several threads.

    An existing file is an earlier session's record: it is kept (``FileExistsError``)
    unless ``overwrite``.
    """

    def __init__(self, path: Union[str, Path, TextIO], overwrite: bool = False) -> None:
        if hasattr(path, "write"):
            self._fh: TextIO = path  # type: ignore[assignment]
            self._owns = False
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            try:
                self._fh = open(path, "w" if overwrite else "x", encoding="utf-8")
            except FileExistsError:
                raise FileExistsError(errno.EEXIST, "exists already (--force overwrites it)", str(path)) from None
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


def write_atomic(path: Union[str, Path], text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, never
    a half-written one (a crash, a full disk): a temporary file in the same folder, then
    ``os.replace``. The new file gets the usual permissions (umask applies)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_export(kind: str, path: Union[str, Path], timeline: Timeline, captions: Sequence[Caption]) -> None:
    """Write one export file (``kind`` from :data:`KINDS`) atomically; raises on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "timeline":
        write_atomic(path, json.dumps(timeline.to_json(), indent=1))
    else:
        write_atomic(path, export_captions(list(captions), kind))


def write_exports(timeline: Timeline, captions: Sequence[Caption],
                  exports: dict[str, Path]) -> dict[str, Path]:
    """Write each requested file (atomically); one failure is logged and does not lose the others."""
    written: dict[str, Path] = {}
    for kind, path in exports.items():
        try:
            write_export(kind, path, timeline, captions)
            written[kind] = Path(path)
        except Exception as exc:  # noqa: BLE001
            log.error("could not write %s to %s: %s", kind, path, exc, exc_info=log.isEnabledFor(logging.DEBUG))
    return written
