"""What the scripted assistant says: a built-in story, an echo of the user, or lines from a file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

STORY = (
    "Once upon a time, in a small harbour town, there lived a lighthouse keeper named Ada.",
    "Every night she climbed one hundred and twelve steps to light the great lamp, "
    "and every morning she wrote down the ships that had passed.",
    "One stormy evening the lamp went dark. Ada found the wick soaked through, "
    "so she tore a strip from her own coat and lit it instead.",
    "The fishing boats came home safely, one by one, following the little flame.",
    "Nobody in the town ever learned who had saved them, and Ada never told. "
    "She simply wrote in her book: quiet night, twelve boats, all home.",
)


@dataclass
class Script:
    """Cycles through ``lines``; with ``echo`` it repeats the user's latest words instead."""

    lines: tuple[str, ...] = STORY
    echo: bool = False
    _next: int = field(default=0, repr=False)

    def next_line(self, last_user_text: Optional[str]) -> str:
        if self.echo and last_user_text:
            return last_user_text
        line = self.lines[self._next % len(self.lines)]
        self._next += 1
        return line


def load_script(spec: str) -> Script:
    """``"story"``, ``"echo"`` or a path to a text file (one response per non-empty line)."""
    if spec == "story":
        return Script()
    if spec == "echo":
        return Script(echo=True)
    lines = tuple(ln.strip() for ln in Path(spec).read_text(encoding="utf-8").splitlines())
    lines = tuple(ln for ln in lines if ln)
    if not lines:
        raise ValueError(f"script file {spec!r} has no lines")
    return Script(lines=lines)
