"""The examples run as written (the README's library section is copied from them)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from captioner.server import espeak

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name: str, *args: str, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_replay_log_prints_what_was_heard(tmp_path):
    out = run("replay_log.py", cwd=tmp_path)
    lines = out.strip().splitlines()
    assert lines[0].split()[2:4] == ["assistant", "'Once'"]
    assert lines[-1].endswith("[interrupted]")  # the bundled story was cut at 2449 ms
    assert "lighthouse" not in out


def test_export_subtitles_writes_all_formats(tmp_path):
    out = run("export_subtitles.py", cwd=tmp_path)
    folder = tmp_path / "out" / "export-example"
    assert "11 captions" in out
    for name in ("captions.srt", "captions.ass", "captions.vtt", "timeline.json"):
        assert (folder / name).stat().st_size > 0
    assert "Once upon a time" in (folder / "captions.srt").read_text()


@pytest.mark.skipif(not espeak.available(), reason="libespeak-ng not installed")
def test_live_embedded_captions_an_interrupted_story(tmp_path):
    out = run("live_embedded.py", cwd=tmp_path)
    assert "— cut" in out and "'conversation.item.truncate'" in out


def test_worker_callback_keeps_the_audio_path_free(tmp_path):
    out = run("worker_callback.py", cwd=tmp_path)
    assert out.strip().splitlines()[-1] == "Once upon a time, in a quiet village by the"
    assert re.search(r"11 captions; the callback was served at most [\d.]+ ms late", out)
