"""The command line as a user meets it: help with defaults, one-line errors, no tracebacks,
no secrets in the output, files never clobbered."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from typing import Iterator

import pytest

from captioner.examples import example_log
from captioner.cli import build_parser, main

EXAMPLES = example_log().parent  # the bundled logs (captioner/examples)
SEED = EXAMPLES / "seed001_story_truncated.jsonl"
KEY = "sk-proj-testKEY0123456789abcdef"


def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "captioner.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def one_line_error(proc: subprocess.CompletedProcess, *expected: str) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("captioner ")]
    assert len(errors) == 1, proc.stderr
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.fixture
def http_404() -> Iterator[int]:
    """An HTTP server that is not a realtime endpoint; it records the headers it was sent."""
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # websockets reads only HTTP/1.1 answers

        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_every_option_says_what_it_does_and_its_default():
    parser = build_parser()
    assert "``" not in parser.format_help()
    subparsers = next(a for a in parser._actions if a.choices and "replay" in a.choices).choices
    for name in ("replay", "live", "demo", "overlay"):
        sub = subparsers[name]
        text = sub.format_help()
        assert "``" not in text
        for action in sub._actions:
            if not action.option_strings or action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings[0]} has no help"
            if action.nargs != 0:  # takes a value: its default is stated
                helptext = sub.formatter_class(prog="x")._get_help_string(action)
                assert "default" in helptext, f"{name} {action.option_strings[0]}: {helptext!r}"


def test_port_in_use_is_one_line_for_every_command_that_listens(busy_port, tmp_path):
    one_line_error(run_cli("overlay", str(SEED), "--port", str(busy_port)), f"127.0.0.1:{busy_port}",
                   "port is in use")
    one_line_error(run_cli("demo", "--out", str(tmp_path / "d"), "--overlay", str(busy_port), "--speed", "20"),
                   f"127.0.0.1:{busy_port}", "port is in use")


def test_wrong_url_scheme_and_an_endpoint_that_is_not_realtime(http_404, tmp_path):
    base = ["live", "--mic", "off", "--output", "virtual", "--no-server-vad"]
    one_line_error(run_cli(*base, "--url", f"http://127.0.0.1:{http_404}/v1"), "ws:// or wss://")
    one_line_error(run_cli(*base, "--url", f"ws://127.0.0.1:{http_404}/v1"),
                   f"HTTP 404 from ws://127.0.0.1:{http_404}/v1/realtime", "not a realtime endpoint")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    one_line_error(run_cli(*base, "--url", f"ws://127.0.0.1:{closed}/v1"), "cannot connect")


def test_the_api_key_never_travels_in_clear_nor_shows_in_verbose_logs(http_404):
    base = ["live", "--mic", "off", "--output", "virtual", "--no-server-vad"]
    env = {"OPENAI_API_KEY": KEY, "CAPTIONER_API_KEY": ""}
    # refused before any connection is attempted (no network is reached in this test)
    one_line_error(run_cli(*base, "--url", "ws://api.openai.com/v1", env=env), "in clear", "wss://")
    one_line_error(run_cli(*base, "--url", "ws://192.0.2.7:9/v1", env={"CAPTIONER_API_KEY": KEY}), "in clear")
    # to this machine plain ws:// is fine, and -v logs the handshake with the key masked
    proc = run_cli("-v", *base, "--url", f"ws://127.0.0.1:{http_404}/v1", env={"CAPTIONER_API_KEY": KEY})
    assert "> Authorization: [redacted]" in proc.stderr  # the debug log did print the header
    assert KEY not in proc.stderr and KEY not in proc.stdout
    one_line_error(proc, "HTTP 404")


def test_a_file_that_is_not_a_session_log(tmp_path):
    wav = tmp_path / "voice.wav"
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + os.urandom(200_000))
    srt = tmp_path / "out.srt"
    proc = run_cli("replay", str(wav), "--srt", str(srt))
    one_line_error(proc, f"{wav} is not a session log")
    assert len(proc.stderr.splitlines()) == 1 and not srt.exists()
    one_line_error(run_cli("overlay", str(wav), "--port", "0"), "is not a session log")


def test_an_empty_log_writes_no_empty_subtitles(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    srt = tmp_path / "out.srt"
    assert main(["replay", str(empty), "--srt", str(srt)]) != 0
    err = capsys.readouterr().err
    assert "holds no events" in err and len(err.splitlines()) == 1 and not srt.exists()
    no_speech = tmp_path / "no_speech.jsonl"
    no_speech.write_text(json.dumps({"t": 0, "from": "server", "event": {"type": "session.created"}}) + "\n")
    assert main(["replay", str(no_speech), "--srt", str(srt)]) != 0
    assert "no captions" in capsys.readouterr().err and not srt.exists()


def test_a_million_malformed_lines_print_a_few_lines_and_a_count(tmp_path, capsys):
    log = tmp_path / "big.jsonl"
    with open(log, "w") as fh:
        fh.writelines(SEED.read_text())
        fh.write("{oops\n" * 1_000_000)
    assert main(["replay", str(log)]) == 0  # the good lines still replay
    err = capsys.readouterr().err.splitlines()
    assert len(err) <= 12
    assert "999990 more malformed lines skipped (1000000 in all)" in err[-1]


def test_an_existing_log_is_kept_without_force(tmp_path, http_404):
    log = tmp_path / "session.jsonl"
    log.write_text("yesterday's session\n")
    base = ["live", "--mic", "off", "--output", "virtual", "--url", f"ws://127.0.0.1:{http_404}/v1"]
    one_line_error(run_cli(*base, "--log", str(log)), str(log), "--force")
    assert log.read_text() == "yesterday's session\n"
    proc = run_cli(*base, "--log", str(log), "--force")
    one_line_error(proc, "HTTP 404")  # it got as far as connecting, the log was replaced
    assert log.read_text() == ""


def test_a_bug_is_one_line_and_debug_shows_its_traceback(tmp_path, capsys, monkeypatch):
    from captioner.edges import batch  # the one job function single and batch replays share

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(batch, "replay", broken)
    assert main(["replay", str(SEED)]) == 1
    assert capsys.readouterr().err.strip() == "captioner replay: internal error: ZeroDivisionError: a bug " \
                                              "(--debug shows where)"
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "replay", str(SEED)])
