"""Writing a session's results to files: the one place exports touch the disk."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Sequence

from captioner.core.export import FORMATS, export_captions
from captioner.core.model import Caption, Timeline

log = logging.getLogger(__name__)

KINDS = FORMATS + ("timeline",)


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeline", metavar="OUT.json", type=Path, help="write the timeline JSON")
    p.add_argument("--srt", metavar="FILE", type=Path, help="write SubRip subtitles")
    p.add_argument("--ass", metavar="FILE", type=Path, help="write ASS subtitles (karaoke timing)")
    p.add_argument("--vtt", metavar="FILE", type=Path, help="write WebVTT subtitles")


def exports_from_args(args: argparse.Namespace) -> dict[str, Path]:
    return {k: Path(getattr(args, k)) for k in KINDS if getattr(args, k, None)}


def write_exports(timeline: Timeline, captions: Sequence[Caption],
                  exports: dict[str, Path]) -> dict[str, Path]:
    """Write each requested file; one failure is logged and does not lose the others."""
    written: dict[str, Path] = {}
    for kind, path in exports.items():
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "timeline":
                path.write_text(json.dumps(timeline.to_json(), indent=1))
            else:
                path.write_text(export_captions(list(captions), kind), encoding="utf-8")
            written[kind] = path
        except Exception:  # noqa: BLE001
            log.exception("could not write %s to %s", kind, path)
    return written
