import io
import json
import subprocess
import sys
from pathlib import Path

from captioner.cli import main
from captioner.core import Timeline
from captioner.core import replay
from captioner.core.wire import parse_session_log
from captioner.edges.files import SessionLogWriter
from tests.sessions import SessionBuilder

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_writer_redacts_secrets_and_reads_back():
    buf = io.StringIO()
    writer = SessionLogWriter(buf)
    writer.write("client", {"type": "session.update", "session": {"api_key": "sk-abcdefghijkl"}}, 0.5)
    writer.write("server", {"type": "error", "error": {"message": "bad key sk-proj-ABCDEFGH12345"}}, 1.0)
    text = buf.getvalue()
    assert "sk-abcdefghijkl" not in text and "sk-proj-ABCDEFGH12345" not in text
    records, errors = parse_session_log(text.splitlines())
    assert not errors and [r.source for r in records] == ["client", "server"]
    assert records[0].t == 0.5 and records[1].event["type"] == "error"


def test_malformed_lines_are_reported_with_line_numbers():
    lines = ['{"t": 0, "from": "server", "event": {"type": "x"}}', "not json", "",
             '{"t": -1, "from": "server", "event": {"type": "x"}}', "[1,2]",
             '{"t": 1, "from": "elsewhere", "event": {"type": "x"}}',
             '{"t": 1, "from": "client", "event": {"no": "type"}}']
    records, errors = parse_session_log(lines)
    assert len(records) == 1
    assert [e.line_no for e in errors] == [2, 4, 5, 6, 7]


def test_replay_cli_writes_timeline_and_survives_garbage(tmp_path, capsys):
    log = tmp_path / "s.jsonl"
    good = (EXAMPLES / "seed001_story_truncated.jsonl").read_text().splitlines()
    good.insert(5, "{{{ garbage")
    good.insert(9, json.dumps({"t": 0.4, "from": "server", "event": {"type": "who.knows"}}))
    log.write_text("\n".join(good))
    out = tmp_path / "t.json"
    assert main(["replay", str(log), "--timeline", str(out), "--playout-delay-ms", "120"]) == 0
    err = capsys.readouterr().err
    assert "line 6" in err
    timeline = Timeline.from_json(json.loads(out.read_text()))
    (item,) = timeline.items
    assert item.truncated_at_ms == 2449
    first_audio_t = min(json.loads(l)["t"] for l in good if "audio.delta" in l and l.startswith("{\"t\""))
    assert abs(item.start_ms - (first_audio_t * 1000 + 120)) < 1e-6
    assert set(timeline.to_json()) == {"items", "periods"}


def test_playout_delay_and_underrun_follow_the_contract():
    b = SessionBuilder()
    b.audio(1.0, "a", 300)            # first chunk of a at 1.0 s -> plays at 1.0 + P
    b.audio(1.1, "a", 300)
    b.audio(2.0, "a", 100)            # arrives after the buffer ran dry: underrun
    b.audio_done(2.0, "a")
    b.audio(1.2, "b", 200)            # b waits for a's audio to end
    b.audio_done(1.2, "b")
    records = b.sorted()
    engine = replay(records, playout_delay_ms=50)
    items = {i.item_id: i for i in engine.timeline().items}
    a, bb = items["a"], items["b"]
    assert a.start_ms == 1050.0
    assert engine.item_time("a", 600.0) == 2000.0  # dry from 1650 to 2000
    assert engine.underrun_ms == 350.0
    assert bb.start_ms == a.end_ms == 2100.0


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "captioner.cli", "replay", "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "--playout-delay-ms" in proc.stdout
