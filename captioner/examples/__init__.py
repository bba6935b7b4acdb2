"""Recorded session logs shipped with the package, so the examples and `captioner replay
example:NAME` work after a plain ``pip install``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["example_log", "example_names"]


def example_names() -> list[str]:
    return sorted(p.name[: -len(".jsonl")] for p in resources.files(__name__).iterdir() if p.name.endswith(".jsonl"))


def example_log(name: str = "seed001_story_truncated") -> Path:
    """The path of a bundled session log (``seed001_story_truncated``: a story interrupted
    at 2449 ms, the event sequence of a real user report)."""
    path = resources.files(__name__) / f"{name}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no bundled example {name!r} (there are: {', '.join(example_names())})")
    return Path(str(path))
