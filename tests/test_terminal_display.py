"""Terminal subtitles: roll-up, pop-on, styles and truncation, through rich and a real tmux pane."""

from __future__ import annotations

import argparse
import base64
import io
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from captioner.core import CaptionEngine
from captioner.core import Caption
from captioner.core.render import CUT_MARK, INTERRUPTED, caption_view
from captioner.cli._args import add_display_arguments, display_options
from captioner.edges.displays import Displays, open_displays
from captioner.edges.terminal import (CURRENT_STYLE, MARK_STYLE, PROVISIONAL_STYLES, TEXT_STYLES, TerminalDisplay,
                                     render_view)

STORY = ["Once", " upon", " a", " time", " there", " lived", " a", " small", " dragon", " named", " Ember."]
WORD_MS = 300.0


def story_engine(truncate_at_ms: float | None = None) -> CaptionEngine:
    """A websocket session: 3.3 s of audio and one timed transcript delta per word."""
    eng = CaptionEngine()
    eng.receive({"type": "response.created", "response": {"id": "r1"}}, 0.0)
    audio = (np.sin(np.arange(int(24 * WORD_MS * len(STORY))) / 9.0) * 6000).astype(np.int16)
    for i in range(0, len(audio), 2400):
        eng.receive({"type": "response.output_audio.delta", "response_id": "r1", "item_id": "it1",
                     "output_index": 0, "content_index": 0,
                     "delta": base64.b64encode(audio[i:i + 2400].tobytes()).decode()}, 0.0)
    for w in STORY:
        eng.receive({"type": "response.output_audio_transcript.delta", "response_id": "r1", "item_id": "it1",
                     "output_index": 0, "content_index": 0, "delta": w, "duration_ms": WORD_MS}, 0.0)
    if truncate_at_ms is not None:
        eng.advance(truncate_at_ms)
        eng.sent({"type": "conversation.item.truncate", "item_id": "it1", "content_index": 0,
                  "audio_end_ms": int(truncate_at_ms)}, truncate_at_ms)
    return eng


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def recording_console(width: int = 70) -> Console:
    return Console(file=io.StringIO(), width=width, record=True, force_terminal=True, color_system="truecolor")


def styles_of(text, word: str) -> str:
    plain = text.plain
    at = plain.index(word)
    return " ".join(str(s.style) for s in text.spans if s.start <= at < s.end)


def test_render_styles_speakers_provisional_current_and_cut():
    caps = [
        Caption("a", "assistant", 0, "Sure", 0, 300, 0, True),
        Caption("a", "assistant", 1, " thing", 300, 600, 0, True, True),
        Caption("u", "user", 0, "wait", 700, 900, 700, False),
    ]
    view = caption_view(caps, 800, lines=3)
    text = render_view(view, 3)
    assert text.plain.splitlines()[0].strip().startswith("assistant: Sure thing")
    assert "user: wait" in text.plain
    assert MARK_STYLE in styles_of(text, INTERRUPTED)
    assert PROVISIONAL_STYLES["user"] in styles_of(text, "wait") and CURRENT_STYLE in styles_of(text, "wait")
    assert TEXT_STYLES["assistant"] in styles_of(text, "Sure")  # settled: the plain text colour
    assert "italic" not in " ".join(str(s.style) for s in text.spans)  # italics mean something in captions
    assert CURRENT_STYLE not in styles_of(text, "Sure")
    assert styles_of(text, "assistant:") != styles_of(text, "user:")


def test_rollup_in_terminal_scrolls_and_marks_truncation():
    clock = FakeClock()
    console = recording_console(width=45)  # 18 columns for text (gutter 11, room for the cut mark)
    display = TerminalDisplay("rollup", 2, console=console)
    engine = story_engine(truncate_at_ms=2500.0)  # cut in the middle of "dragon"
    frames = {}
    with Displays([display], clock) as displays:
        for t in range(0, 4001, 20):
            clock.now = float(t)
            engine.advance(clock.now)
            displays.update(engine)
            frames[t] = display.view.text if display.view else ""
        assert display.repaints < 40  # only at word boundaries, not every tick
    assert frames[0] == "Once"
    assert frames[1000] == "Once upon a time"
    assert frames[2000] == "Once upon a time\nthere lived a"
    assert frames[2480] == "there lived a\nsmall dragon"  # the first line scrolled off
    assert frames[2500] == f"there lived a\nsmall dragon{CUT_MARK} {INTERRUPTED}"
    assert frames[4000] == frames[2500]  # nothing after the cut
    out = console.export_text()
    assert INTERRUPTED in out and "assistant:" in out


def test_popon_in_terminal_replaces_cues():
    clock = FakeClock()
    console = recording_console()
    display = TerminalDisplay("popon", 2, console=console)
    caps = [Caption("a", "assistant", i, w, i * 300.0, i * 300.0 + 300, 0, True) for i, w in enumerate(
        ["First", " cue", " here."])] + [
        Caption("b", "assistant", i, w, 3000 + i * 300.0, 3300 + i * 300.0, 0, True) for i, w in enumerate(
        ["Second", " one."])]
    texts = {}
    for t in (0, 700, 3100):
        clock.now = t
        display.show(lambda: caps, 1, t)
        texts[t] = display.view.text
    display.close()
    assert texts[0].strip() == "First cue here."  # the whole cue when its first word plays
    assert texts[700].strip() == "First cue here."
    assert texts[3100].strip() == "Second one." and "First" not in texts[3100]


def test_cli_options_open_the_requested_displays():
    parser = argparse.ArgumentParser()
    add_display_arguments(parser)
    args = parser.parse_args(["--show", "--lines", "3"])
    assert (args.show, args.lines, args.overlay) == ("rollup", 3, None)
    assert parser.parse_args(["--show", "popon", "--overlay"]).overlay == 8766
    assert parser.parse_args([]).show is None
    opts = display_options(parser.parse_args([]))
    assert opts == {"show": None, "lines": 2, "overlay_port": None, "allow_origins": []}
    assert display_options(parser.parse_args([]), default_show=True)["show"] == "rollup"
    displays = open_displays(opts["show"], opts["lines"], opts["overlay_port"], lambda: 0.0)
    assert displays.displays == []
    displays.update(story_engine())  # no displays: a no-op, never an error
    displays.close()


def test_a_failing_display_does_not_break_the_session(caplog):
    class Broken:
        def show(self, *a):
            raise RuntimeError("boom")

        def close(self):
            pass

    clock = FakeClock()
    console = recording_console()
    good = TerminalDisplay("rollup", 2, console=console)
    engine = story_engine()
    engine.advance(0.0)
    with Displays([Broken(), good], clock) as d:
        d.update(engine)
    assert good.view.text == "Once"
    assert "failed to update" in caplog.text


TMUX_SCRIPT = textwrap.dedent("""
    import sys, time, pathlib
    from rich.console import Console
    sys.path.insert(0, {tests!r})
    from test_terminal_display import story_engine
    from captioner.edges.terminal import TerminalDisplay
    work = pathlib.Path({work!r})
    engine = story_engine(truncate_at_ms=2500.0)
    display = TerminalDisplay("rollup", 2, console=Console(force_terminal=True, width=45))
    for step, t in enumerate({times!r}):
        engine.advance(t)
        display.show(engine.captions, engine.revision, t)
        (work / f"shown-{{step}}").touch()
        while not (work / f"go-{{step}}").exists():
            time.sleep(0.01)
    display.close()
""")


def _panes_at_steps(tmp_path: Path, script_text: str, times: list[float], step_timeout: float) -> list[str]:
    """Runs a driver script in an 80x12 tmux pane; at each of its steps (it touches
    ``shown-N`` and waits for ``go-N``) captures what the pane shows."""
    script = tmp_path / "drive.py"
    script.write_text(script_text.format(tests=str(Path(__file__).parent), work=str(tmp_path), times=times))
    session = f"captioner-test-{time.monotonic_ns()}"
    tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]
    subprocess.run(tmux + ["new-session", "-d", "-s", session, "-x", "80", "-y", "12",
                           f"{sys.executable} {script}; sleep 30"], check=True)
    panes = []
    try:
        for step in range(len(times)):
            deadline = time.monotonic() + step_timeout
            while not (tmp_path / f"shown-{step}").exists():
                assert time.monotonic() < deadline, "driver script did not reach step %d" % step
                time.sleep(0.02)
            time.sleep(0.1)  # let tmux process the output
            panes.append(_pane(tmux, session))
            (tmp_path / f"go-{step}").touch()
    finally:
        subprocess.run(tmux + ["kill-server"], check=False)
    return panes


def test_tmux_pane_shows_rollup_and_truncation(tmp_path: Path):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (Makefile APT_PACKAGES installs it)")
    times = [1000.0, 2400.0, 2600.0]
    panes = _panes_at_steps(tmp_path, TMUX_SCRIPT, times, step_timeout=30)
    art = Path(__file__).resolve().parents[1] / "test-artifacts" / "terminal"
    art.mkdir(parents=True, exist_ok=True)
    for step, pane in enumerate(panes):
        (art / f"rollup-{int(times[step])}ms.txt").write_text(pane)
    rows = [[ln.strip() for ln in p.splitlines() if ln.strip()] for p in panes]
    assert rows[0] == ["assistant: Once upon a time"]
    assert rows[1] == ["there lived a", "small dragon"]  # rolled up: "Once upon a time" is gone
    assert rows[2] == ["there lived a", f"small dragon{CUT_MARK} {INTERRUPTED}"]


def _pane(tmux: list[str], session: str) -> str:
    return subprocess.run(tmux + ["capture-pane", "-p", "-t", session], check=True,
                          capture_output=True, text=True).stdout


def _wait_pane(tmux: list[str], session: str, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        pane = _pane(tmux, session)
        if text in pane:
            return pane
        assert time.monotonic() < deadline, f"{text!r} never showed up in the pane:\n{pane}"
        time.sleep(0.05)


def test_tmux_enter_interrupts_cleanly_and_ctrl_c_ends_quietly(tmp_path: Path):
    """`captioner live --show` in a real terminal: Enter cuts the answer without leaving a stale
    copy of the subtitles above them, Ctrl-C ends with the summary and the files written and
    no warning, and the terminal is given back as it was (echo, line editing)."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (Makefile APT_PACKAGES installs it)")
    server = subprocess.Popen([sys.executable, "-m", "captioner.cli", "serve", "--port", "0"],
                              stdout=subprocess.PIPE, text=True)
    session = f"captioner-live-{time.monotonic_ns()}"
    tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]
    srt = tmp_path / "out.srt"
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split(" on ", 1)[1].split()[0].removesuffix("/realtime")
        command = (f"{sys.executable} -m captioner.cli live --url {url} --say 'Tell me a story.' --mic off "
                   f"--output virtual --no-server-vad --show --srt {srt}; echo EXIT=$?; stty -a; sleep 60")
        subprocess.run(tmux + ["new-session", "-d", "-s", session, "-x", "100", "-y", "30", command], check=True)
        _wait_pane(tmux, session, "Once upon a time")
        subprocess.run(tmux + ["send-keys", "-t", session, "Enter"], check=True)
        _wait_pane(tmux, session, INTERRUPTED)
        time.sleep(0.5)  # a few more repaints
        interrupted = _pane(tmux, session)
        subprocess.run(tmux + ["send-keys", "-t", session, "C-c"], check=True)
        ended = _wait_pane(tmux, session, "EXIT=")
        time.sleep(0.3)
        ended = _pane(tmux, session)
    finally:
        subprocess.run(tmux + ["kill-server"], check=False, capture_output=True)
        server.terminate()
        server.wait(10)
    art = Path(__file__).resolve().parents[1] / "test-artifacts" / "terminal"
    art.mkdir(parents=True, exist_ok=True)
    (art / "live-enter-interrupt.txt").write_text(interrupted)
    (art / "live-ctrl-c.txt").write_text(ended)
    assert interrupted.count("Once upon a time") == 1, interrupted  # no stale copy above the live lines
    assert "EXIT=0" in ended
    assert "WARNING" not in ended and "Traceback" not in ended, ended
    assert f"srt: {srt}" in ended.replace("\n", "")
    assert srt.exists() and "Once upon a time" in srt.read_text()
    settings = ended.split("EXIT=0", 1)[1].split()
    assert "echo" in settings and "icanon" in settings  # not -echo / -icanon: the terminal is restored
TMUX_LIVE_SCRIPT = textwrap.dedent("""
    import sys, time, pathlib
    from rich.console import Console
    sys.path.insert(0, {tests!r})
    from test_live_view import example_records as example_log, walk
    from captioner.edges.terminal import TerminalDisplay
    work = pathlib.Path({work!r})
    display = TerminalDisplay("rollup", 3, console=Console(force_terminal=True, width=60))
    for step, (t, engine) in enumerate(walk(example_log(), {times!r}, worker=True)):
        display.show(engine.captions, engine.revision, t)
        (work / f"shown-{{step}}").touch()
        while not (work / f"go-{{step}}").exists():
            time.sleep(0.01)
    display.close()
""")


def test_tmux_pane_in_the_first_second_of_an_estimated_answer_shows_the_words_spoken(tmp_path: Path):
    """A live session with estimated timing (the example log, the estimate worker's
    answers lagging): 0.5 s and 1 s into the first answer the pane shows what was said."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (Makefile APT_PACKAGES installs it)")
    sys.path.insert(0, str(Path(__file__).parent))
    from test_live_view import example_records as example_log, spoken_by

    times = [900.0, 1400.0]  # the answer's audio starts at 400 ms
    panes = _panes_at_steps(tmp_path, TMUX_LIVE_SCRIPT, times, step_timeout=120)
    art = Path(__file__).resolve().parents[1] / "test-artifacts" / "terminal"
    art.mkdir(parents=True, exist_ok=True)
    for t, pane in zip(times, panes):
        (art / f"live-estimated-{int(t)}ms.txt").write_text(pane)
    records = example_log()
    for t, pane in zip(times, panes):
        said, ahead = spoken_by(records, t)
        said = [w.strip(",.") for w in said if w.strip(",.")]
        shown = [w.strip(",.") for w in pane.replace("assistant:", "").split() if w.strip(",.")]
        assert said and shown[: len(said)] == said, f"at {t} ms the pane shows {shown}, spoken: {said}"
        assert not any(w in shown[len(said):] for w in ahead[:1]), f"at {t} ms {ahead[0]!r} shown early"
