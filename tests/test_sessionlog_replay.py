import io
import json
import subprocess
import sys

from captioner.examples import example_log
from captioner.cli import main
from captioner.core import Timeline
from captioner.core import replay
from captioner.core.wire import parse_session_log
from captioner.edges.files import SessionLogWriter
from tests.sessions import SessionBuilder

EXAMPLES = example_log().parent  # the bundled logs (captioner/examples)


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


def test_redaction_by_key_name_and_by_look():
    from captioner.core.wire._sessionlog import REDACTED, redact

    event = {
        "type": "session.update",
        "api_key": "abc", "Authorization": "Basic xyz", "client_secret": {"value": "opaque", "expires_at": 17},
        "secret": "s", "password": "p", "token": "t", "access_token": "a", "refresh_token": "r",
        "ephemeral_token": "e", "x-api-key": "k",
        "max_output_tokens": 4096, "max_tokens": "inf", "token_count": 12, "input_tokens": 5,
        "usage": {"input_token_details": {"cached_tokens": 3}, "total_tokens": 9},
        "instructions": "Bearer abc.def and sk-proj-ABCDEFGH1234 but task-force-members and ek_12345678xyz",
        "note": "a token of thanks",
    }
    out = redact(event)
    secret = ["api_key", "Authorization", "secret", "password", "token", "access_token", "refresh_token",
              "ephemeral_token", "x-api-key"]
    assert all(out[k] == REDACTED for k in secret)
    assert out["client_secret"] == {"value": REDACTED, "expires_at": 17}
    kept = ["type", "max_output_tokens", "max_tokens", "token_count", "input_tokens", "usage", "note"]
    assert all(out[k] == event[k] for k in kept)
    assert out["instructions"] == f"Bearer {REDACTED} and {REDACTED} but task-force-members and {REDACTED}"


def test_lines_too_deep_or_not_utf8_are_reported_not_raised(tmp_path):
    from captioner.edges.files import read_session_log

    good = '{"t": 0, "from": "server", "event": {"type": "x"}}'
    deep = '{"t": 0, "from": "server", "event": ' + "[" * 2000 + "]" * 2000 + "}"
    path = tmp_path / "s.jsonl"
    # a lone \r inside line 2 is not a line break: line numbers are what editors show
    path.write_bytes((good + "\n" + good[:-1] + ',\r"x": 1}\n' + deep + "\n").encode()
                     + b"\xff\xfe\x00garbage\n" + good.encode() + b"\n")
    records, errors = read_session_log(path)
    assert [r.line_no for r in records] == [1, 2, 5]
    assert [(e.line_no, e.message) for e in errors][:1] == [(3, "JSON nested too deep")]
    assert [e.line_no for e in errors] == [3, 4]


def test_a_file_that_is_not_a_session_log_or_is_empty_is_refused_early(tmp_path):
    import pytest

    from captioner.edges.files import SessionLogError, read_session_log

    wav = tmp_path / "a.wav"
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4000)
    with pytest.raises(SessionLogError, match="is not a session log"):
        read_session_log(wav)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(SessionLogError, match="holds no events"):
        read_session_log(empty)


def test_exports_are_replaced_atomically(tmp_path, monkeypatch):
    import os

    import pytest

    from captioner.edges import files

    engine = replay(files.read_session_log(EXAMPLES / "seed001_story_truncated.jsonl")[0])
    srt = tmp_path / "out.srt"
    srt.write_text("previous subtitles\n")
    real_replace = os.replace

    def crash(*args):  # the process dies between writing and renaming
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomic(srt, "new")
    assert srt.read_text() == "previous subtitles\n"  # never half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.srt"]  # no temporary left
    monkeypatch.setattr(files.os, "replace", real_replace)
    written = files.write_exports(engine.timeline(), engine.captions(), {"srt": srt})
    assert written == {"srt": srt} and srt.read_text().startswith("1\n")


def test_session_log_writer_keeps_an_existing_log(tmp_path):
    import pytest

    path = tmp_path / "s.jsonl"
    path.write_text("earlier session\n")
    with pytest.raises(FileExistsError, match="--force"):
        SessionLogWriter(path)
    assert path.read_text() == "earlier session\n"
    with SessionLogWriter(path, overwrite=True) as w:
        w.write("client", {"type": "x"}, 0.0)
    assert "earlier" not in path.read_text()
