"""Batch replay (``captioner replay`` on many logs): same bytes as single-log replays,
bad logs reported and skipped, local process pool and Ray tasks alike."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from captioner.cli import main
from captioner.core.wire import format_record
from captioner.examples import example_log
from tests.sessions import BETA, SessionBuilder

OUTPUTS = {"srt": ".srt", "ass": ".ass", "vtt": ".vtt", "timeline": ".timeline.json"}


def _write(path: Path, builder: SessionBuilder) -> Path:
    path.write_text("".join(format_record(r.source, r.event, r.t) + "\n" for r in builder.sorted()))
    return path


def _three_logs(folder: Path) -> list[Path]:
    """A real recorded session (speech, interruption), and two built ones: GA names with
    an underrun, beta names with a client truncate."""
    folder.mkdir(parents=True, exist_ok=True)
    story = folder / "story.jsonl"
    shutil.copy(example_log("seed001_story_truncated"), story)
    ga = SessionBuilder()
    ga.item(0.1, "a")
    ga.text(0.15, "a", "Hello")
    ga.text(0.16, "a", " there,")
    ga.audio(0.2, "a", 400)
    ga.text(0.3, "a", " how are you?")
    ga.audio(0.9, "a", 600)
    ga.audio_done(0.9, "a")
    beta = SessionBuilder(names=dict(BETA))
    beta.item(0.0, "b")
    beta.audio(0.1, "b", 800)
    beta.text(0.2, "b", "One two")
    beta.text(0.25, "b", " three four five.")
    beta.audio(0.3, "b", 800)
    beta.client(0.9, {"type": "conversation.item.truncate", "item_id": "b", "content_index": 0,
                      "audio_end_ms": 700})
    return [story, _write(folder / "ga.jsonl", ga), _write(folder / "beta.jsonl", beta)]


def _single(log: Path, out: Path) -> dict[str, bytes]:
    """Each log replayed alone, the way ``captioner replay LOG --srt F ...`` always has."""
    files = {k: out / (log.stem + suffix) for k, suffix in OUTPUTS.items()}
    argv = ["replay", str(log)] + [a for k, p in files.items() for a in (f"--{k}", str(p))]
    assert main(argv) == 0
    return {k: p.read_bytes() for k, p in files.items()}


def _outputs(folder: Path, stem: str) -> dict[str, bytes]:
    return {k: (folder / (stem + suffix)).read_bytes() for k, suffix in OUTPUTS.items()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[list[Path], dict[str, dict[str, bytes]]]:
    root = tmp_path_factory.mktemp("ref")
    logs = _three_logs(root / "logs")
    singles = root / "single"
    singles.mkdir()
    return logs, {log.stem: _single(log, singles) for log in logs}


def test_batch_writes_exactly_what_single_replays_write(reference, tmp_path, capsys):
    logs, expected = reference
    out = tmp_path / "out"
    assert main(["replay", str(logs[0].parent), "--out", str(out), "--jobs", "2"]) == 0
    assert "3 logs: 3 replayed, 0 failed" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted(
        log.stem + s for log in logs for s in OUTPUTS.values())
    for log in logs:
        assert _outputs(out, log.stem) == expected[log.stem], log.name
    assert b'"truncated_at_ms": 2449' in expected["story"]["timeline"]  # the example really replayed


def test_corrupt_log_is_reported_and_skipped(reference, tmp_path, capsys):
    _, expected = reference
    logs = _three_logs(tmp_path / "logs")
    bad = tmp_path / "logs" / "broken.jsonl"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)  # an image, not a log
    missing = tmp_path / "nowhere.jsonl"
    assert main(["replay", str(tmp_path / "logs"), str(missing), "--jobs", "2"]) == 1
    out, err = capsys.readouterr()
    assert "5 logs: 3 replayed, 2 failed" in out
    assert "FAILED logs/broken.jsonl is not a session log" in err.replace(str(tmp_path) + "/", "")
    assert "nowhere.jsonl: No such file or directory" in err
    for log in logs:  # written beside each log, as the single replays
        assert _outputs(log.parent, log.stem) == expected[log.stem]
    assert [p.name for p in tmp_path.glob("logs/broken*")] == ["broken.jsonl"]  # nothing written


def test_formats_choose_the_exports_and_collisions_are_refused(tmp_path, capsys):
    a, b = _three_logs(tmp_path / "a")[1], _three_logs(tmp_path / "b")[1]
    out = tmp_path / "out"
    assert main(["replay", str(a), "--out", str(out), "--formats", "vtt,timeline"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["ga.timeline.json", "ga.vtt"]
    assert main(["replay", str(a), str(b), "--out", str(tmp_path / "clash")]) == 2
    assert "would both write" in capsys.readouterr().err
    assert not (tmp_path / "clash").exists()
    assert main(["replay", str(a), str(b), "--srt", str(tmp_path / "x.srt")]) == 2
    assert "--formats" in capsys.readouterr().err
    bundled = tmp_path / "bundled"  # example:NAME in a batch too, named after the example
    assert main(["replay", "example:seed001_story_truncated", str(a), "--out", str(bundled), "--formats", "srt"]) == 0
    assert sorted(p.name for p in bundled.iterdir()) == ["ga.srt", "seed001_story_truncated.srt"]


def test_empty_folder_is_a_usage_error(tmp_path, capsys):
    assert main(["replay", str(tmp_path)]) == 2
    assert "no session logs" in capsys.readouterr().err


@pytest.fixture(scope="module")
def ray_head():
    """A local Ray head on 127.0.0.1 that this test module starts and stops."""
    ray = pytest.importorskip("ray", reason="Ray not installed (pip install 'captioner[ray]')")
    try:
        ctx = ray.init(address="local", num_cpus=2, include_dashboard=False,
                       _node_ip_address="127.0.0.1", log_to_driver=False)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Ray cannot start here: {exc}")
    try:
        yield ctx.address_info["gcs_address"]
    finally:
        ray.shutdown()


def test_ray_batch_writes_what_local_replays_write(reference, ray_head, tmp_path):
    """A second driver (the CLI, in its own process) sends the jobs to the head."""
    logs, expected = reference
    out = tmp_path / "ray"
    proc = subprocess.run(
        [sys.executable, "-m", "captioner.cli", "replay", f"--ray={ray_head}", "--out", str(out),
         *map(str, logs)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "3 logs: 3 replayed, 0 failed" in proc.stdout and "Ray" in proc.stdout
    for log in logs:
        assert _outputs(out, log.stem) == expected[log.stem], log.name


def test_a_replay_job_gives_the_garbage_collector_back_as_it_found_it(tmp_path):
    """Jobs run without automatic cyclic collection (bulk work); the caller's setting comes
    back after a job that worked and after one that failed."""
    import gc

    from captioner.edges.batch import ReplayJob, replay_log
    from captioner.edges.files import SessionLogError

    log = tmp_path / "story.jsonl"
    shutil.copy(example_log(), log)
    empty = tmp_path / "empty.jsonl"
    empty.write_text(format_record("server", {"type": "session.created", "session": {}}, 0.0) + "\n")
    assert gc.isenabled()
    result = replay_log(ReplayJob(log, {"srt": tmp_path / "story.srt"}))
    assert result.ok and (tmp_path / "story.srt").read_text().count(" --> ") > 0
    assert gc.isenabled()
    with pytest.raises(SessionLogError):
        replay_log(ReplayJob(empty, {"srt": tmp_path / "empty.srt"}))
    assert gc.isenabled()
    gc.disable()
    try:
        replay_log(ReplayJob(log, {"srt": tmp_path / "again.srt"}))
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()


def test_python_dash_m_captioner_is_the_command_line():
    done = subprocess.run([sys.executable, "-m", "captioner", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "replay" in done.stdout
