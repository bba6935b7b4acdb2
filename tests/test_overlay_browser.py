"""The browser overlay in real headless Chromium, driven over the DevTools protocol.

The session runs on a virtual clock: the overlay server pushes captions and a frozen clock
(rate 0) for each playback time; the page must then show exactly the words spoken by then.
Screenshots land in test-artifacts/overlay/.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Optional

import pytest
import websockets

from captioner.core import Caption
from captioner.core.render import CUT_MARK, INTERRUPTED, caption_view
from captioner.edges.overlay import OverlayServer, apply_message

try:  # tests/ may or may not be a package
    from tests.test_terminal_display import story_engine
except ImportError:
    from test_terminal_display import story_engine

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "overlay"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--mute-audio"]


def find_chromium() -> Optional[str]:
    """Debian's chromium; installed with apt-get when missing and we are root."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True, timeout=900)
        path = shutil.which("chromium")
    return path


@contextmanager
def headless_chromium(url: str = "about:blank", size: tuple[int, int] = (1280, 360)) -> Iterator[str]:
    """Start Chromium with a fresh profile; yields the DevTools websocket URL of its first page."""
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium is not installed and could not be installed with apt-get")
    profile = tempfile.mkdtemp(prefix="captioner-chromium-")
    proc = subprocess.Popen(
        [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
         f"--window-size={size[0]},{size[1]}", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    found: list[str] = []
    ready = threading.Event()

    def pump() -> None:  # keep reading stderr so chromium never blocks on a full pipe
        assert proc.stderr is not None
        for line in proc.stderr:
            if not found and "DevTools listening on " in line:
                found.append(line.split("DevTools listening on ", 1)[1].strip())
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not ready.wait(60):
            pytest.skip("chromium did not start its DevTools endpoint")
        port = found[0].split("://", 1)[1].split("/", 1)[0]
        page = None
        for _ in range(100):
            targets = json.load(urllib.request.urlopen(f"http://{port}/json/list"))
            page = next((t for t in targets if t.get("type") == "page"), None)
            if page:
                break
            time.sleep(0.1)
        assert page is not None, "no page target"
        yield page["webSocketDebuggerUrl"]
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


class DevTools:
    """Minimal Chrome DevTools Protocol client over websockets."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict:
        msg_id = next(self.ids)
        await self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def js(self, expression: str) -> Any:
        res = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            await asyncio.sleep(0.02)

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


# text shown, per line, without speaker labels
LINES_JS = """Array.from(document.querySelectorAll('#captions .line')).map(l =>
  Array.from(l.childNodes).filter(n => !(n.classList && n.classList.contains('label')))
    .map(n => n.textContent).join(''))"""


@asynccontextmanager
async def overlay_page(url: str) -> AsyncIterator[DevTools]:
    """A headless Chromium page on ``url``, once the overlay script has its first layout."""
    with headless_chromium(url) as page_ws:
        async with websockets.connect(page_ws, max_size=None) as ws:
            dt = DevTools(ws)
            await dt.call("Page.enable")
            await dt.wait_for("window.__overlay && __overlay.state.layout !== null")
            yield dt


class VirtualSession:
    """The story session of test_terminal_display, on a virtual clock, pushed to an overlay."""

    def __init__(self, server: OverlayServer, clock: list[float]) -> None:
        self.engine = story_engine()
        self.server, self.clock = server, clock
        self.truncated = False

    def at(self, t: float, cut_at: float = 2500.0) -> None:
        if not self.truncated and t >= cut_at:
            self.engine.advance(cut_at)
            self.engine.sent({"type": "conversation.item.truncate", "item_id": "it1", "content_index": 0,
                              "audio_end_ms": int(cut_at)}, cut_at)
            self.truncated = True
        self.engine.advance(t)
        self.clock[0] = t
        self.server.sync()  # before the layout (see test_overlay_in_the_first_second_...)
        self.server.show(self.engine.captions, self.engine.revision, t)


async def show_at(dt: DevTools, session: VirtualSession, t: float, mode: str, lines: int, width: int) -> list[str]:
    """Move the session to ``t``; returns the page's lines, checked against the Python view."""
    session.at(t)
    rev = session.server.sent_revision
    await dt.wait_for(f"window.__overlay && __overlay.state.revision === {rev} && __overlay.state.renderedAt === {t}")
    shown = await dt.js(LINES_JS)
    expected = [ln.text for ln in caption_view(session.engine.captions(), t, mode, lines, width).lines]
    assert shown == expected, f"page and captioner.core.view disagree at {t} ms"
    return shown


def run(coro) -> Any:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def overlay():
    clock = [0.0]
    server = OverlayServer(lambda: clock[0], port=0, clock_rate=0.0, sync_interval_s=60.0).start()
    yield server, clock
    server.close()


def test_overlay_shows_spoken_words_at_playback_times(overlay):
    server, clock = overlay
    session = VirtualSession(server, clock)
    session.at(0.0)
    url = server.url(mode="rollup", lines=2, fontSize=40)

    async def main() -> dict:
        shown: dict[float, list[str]] = {}
        async with overlay_page(url) as dt:
            await dt.call("Emulation.setDefaultBackgroundColorOverride", color={"r": 0, "g": 0, "b": 0, "a": 0})
            for t in (0.0, 500.0, 1000.0, 2400.0, 2600.0):
                shown[t] = await show_at(dt, session, t, "rollup", 2, 42)
                await dt.screenshot(ARTIFACTS / f"rollup-{int(t):04d}ms.png")
                if t == 1000.0:
                    shown["current"] = await dt.js(
                        "Array.from(document.querySelectorAll('.piece.current')).map(e => e.textContent)")
            shown["mark"] = await dt.js("Array.from(document.querySelectorAll('.piece.mark')).map(e => e.textContent)")
            shown["label"] = await dt.js("document.querySelector('.label').textContent")
            shown["style"] = await dt.js("""[getComputedStyle(document.body).backgroundColor,
                getComputedStyle(document.documentElement).backgroundColor,
                getComputedStyle(document.getElementById('captions')).fontSize,
                document.getElementById('captions').className]""")
            shown["paints"] = await dt.js("__overlay.paints")
        return shown

    shown = run(main())
    assert shown[0.0] == ["Once"]
    assert shown[500.0] == ["Once upon"]
    assert shown[1000.0] == ["Once upon a time"]
    assert shown["current"] == ["time"]  # karaoke: 900-1200 ms
    assert shown[2400.0] == ["Once upon a time there lived a small", "dragon"]  # 42 characters a line
    assert shown[2600.0] == ["Once upon a time there lived a small", f"dragon{CUT_MARK} {INTERRUPTED}"]
    assert shown["mark"] == [CUT_MARK, INTERRUPTED]
    assert shown["label"] == "assistant:"
    assert shown["style"] == ["rgba(0, 0, 0, 0)", "rgba(0, 0, 0, 0)", "40px", "captions bottom"]
    paints = shown["paints"]
    assert paints and all(p["painted_ms"] >= p["reveal_ms"] for p in paints)  # never before spoken
    assert any(r["type"] == "painted" for r in server.reports)  # reported back to the server


def test_overlay_popon_and_clock_interpolation(overlay):
    server, clock = overlay
    session = VirtualSession(server, clock)
    session.at(0.0)
    url = server.url(mode="popon", lines=2, position="top", width=20)

    async def main() -> dict:
        out: dict[Any, Any] = {}
        async with overlay_page(url) as dt:
            for t in (1300.0, 2600.0):
                out[t] = await show_at(dt, session, t, "popon", 2, 20)
                await dt.screenshot(ARTIFACTS / f"popon-{int(t):04d}ms.png")
            out["class"] = await dt.js("document.getElementById('captions').className")
            # the page runs the clock on its own between syncs: restart the story at 0, rate 1
            fresh = VirtualSession(server, clock).engine
            fresh.advance(0.0)
            clock[0] = 0.0
            server.clock_rate = 1.0
            server.publish(fresh.captions(), 10_000 + fresh.revision)
            server.sync()
            out["interpolated"] = await dt.wait_for(
                f"__overlay.now() > 1000 && {LINES_JS}.join(' ').includes('time') && {LINES_JS}", timeout=20)
            server.clock_rate = 0.0
        return out

    out = run(main())
    # the whole cue from its first word on (pop-on), not word by word
    assert out[1300.0] == ["Once upon a time", "there lived a small"]
    assert out[2600.0][-1].endswith(f"{CUT_MARK} {INTERRUPTED}")
    assert out["class"] == "captions top"
    assert "Once upon a time" in " ".join(out["interpolated"])


def test_a_late_page_and_a_page_that_missed_revisions_show_what_the_engine_says(overlay):
    """Pages get the whole layout once and then diffs: a page opened in the middle of the
    session, one that was disconnected while revisions went by, and one whose layout is not
    the one the next diff is based on (it lost track) must all show exactly the captions."""
    server, clock = overlay
    session = VirtualSession(server, clock)
    for t in (0.0, 500.0, 1000.0):  # revisions no page sees
        session.at(t)
    url = server.url(mode="rollup", lines=3)

    async def shows(dt: DevTools, captions: list, rev: int, t: float) -> list[str]:
        clock[0] = t
        server.publish(captions, rev)
        server.sync()
        await dt.wait_for(f"__overlay.state.revision === {rev} && __overlay.state.renderedAt === {t}")
        shown = await dt.js(LINES_JS)
        assert shown == [ln.text for ln in caption_view(captions, t, "rollup", 3, 42).lines]
        return shown

    def extra(captions: list, n: int) -> list:  # one more answer, heard from 2700 ms on
        return captions + [Caption(f"extra{n}", "assistant", 0, f"Another{n}", 2700.0 + n, 2710.0 + n, 0.0, True)]

    async def main() -> dict:
        out: dict[Any, Any] = {}
        async with overlay_page(url) as dt:
            out["late"] = await show_at(dt, session, 1000.0, "rollup", 3, 42)
            # disconnected (the page reconnects after 1 s) while the answer is cut
            await dt.js("__overlay.state.ws.close()")
            await dt.wait_for("__overlay.state.ws === null")
            out["missed"] = await show_at(dt, session, 2600.0, "rollup", 3, 42)
            captions = session.engine.captions()
            diffs = server.sent_counts["captions_diff"]
            out["diff"] = await shows(dt, extra(captions, 1), 10_001, 2800.0)
            out["diffs"] = server.sent_counts["captions_diff"] - diffs
            # the page loses track: what it has is not what the next diff is based on
            await dt.js("__overlay.state.revision = -1, __overlay.state.layout.pieces.length = 1")
            whole = server.sent_counts["captions"]
            out["lost"] = await shows(dt, extra(extra(captions, 1), 2), 10_002, 2800.0)
            out["resyncs"] = server.sent_counts["captions"] - whole
        return out

    out = run(main())
    assert out["late"] == ["Once upon a time"]
    assert out["missed"] == ["Once upon a time there lived a small", f"dragon{CUT_MARK} {INTERRUPTED}"]
    assert out["diff"][-1] == "Another1" and out["diffs"] == 1
    assert "Another2" in " ".join(out["lost"])
    assert out["resyncs"] == 1  # it asked for the whole layout once


def test_overlay_in_the_first_second_of_an_estimated_answer_shows_the_words_spoken(overlay):
    """A live session with estimated timing (the example log; the estimate worker's answers
    lagging as in `captioner live`): 0.5 s and 1 s into the first answer the page shows the
    words spoken by then; provisional text is upright and in another colour than settled."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_live_view import example_records as example_log, spoken_by, walk

    server, clock = overlay
    records = example_log()
    times = [900.0, 1400.0]  # the answer's audio starts at 400 ms
    url = server.url(mode="rollup", lines=3, fontSize=40)

    async def main() -> dict:
        out: dict[Any, Any] = {}
        async with overlay_page(url) as dt:
            for t, engine in walk(records, times, worker=True):
                # The clock first: the module's server (and so the page, on connecting)
                # still has the last test's clock, later than this session's; a layout
                # sent before the clock could be drawn at that time and its words kept.
                clock[0] = t
                server.sync()
                server.show(engine.captions, engine.revision, t)
                rev = server.sent_revision
                await dt.wait_for(f"__overlay.state.revision === {rev} && __overlay.state.renderedAt === {t}")
                out[t] = await dt.js(LINES_JS)
                await dt.screenshot(ARTIFACTS / f"live-estimated-{int(t):04d}ms.png")
                out[("style", t)] = await dt.js("""Array.from(document.querySelectorAll('.piece.word')).map(e =>
                    [e.classList.contains('provisional'), getComputedStyle(e).fontStyle, getComputedStyle(e).color])""")
        return out

    out = run(main())
    for t in times:
        said, ahead = spoken_by(records, t)
        said = [w.strip(",.") for w in said if w.strip(",.")]
        shown = [w.strip(",.") for w in " ".join(out[t]).split() if w.strip(",.")]
        assert said and shown[: len(said)] == said, f"at {t} ms the page shows {shown}, spoken: {said}"
        assert ahead[0] not in shown[len(said):], f"at {t} ms {ahead[0]!r} is shown before it is spoken"
        styles = out[("style", t)]
        assert styles and all(style == "normal" for _, style, _ in styles)  # never italic
        assert all(color != "rgb(255, 255, 255)" for prov, _, color in styles if prov)  # provisional: another colour


def test_overlay_command_replays_a_log_in_real_time(tmp_path: Path):
    """`captioner overlay LOG` waits for a page, then replays the log into it (no browser needed)."""
    import argparse
    import socket

    import numpy as np
    from websockets.sync.client import connect

    from captioner.cli import _overlay as overlay_cmd

    audio = (np.sin(np.arange(24 * 1200) / 7.0) * 5000).astype(np.int16)
    events = [(0.0, "server", {"type": "response.created", "response": {"id": "r1"}})]
    for i in range(0, len(audio), 4800):
        events.append((0.01, "server", {"type": "response.output_audio.delta", "response_id": "r1", "item_id": "i1",
                                        "output_index": 0, "content_index": 0,
                                        "delta": base64.b64encode(audio[i:i + 4800].tobytes()).decode()}))
    for w in ["Hello", " there,", " how", " are", " you?"]:
        events.append((0.02, "server", {"type": "response.output_audio_transcript.delta", "response_id": "r1",
                                        "item_id": "i1", "output_index": 0, "content_index": 0, "delta": w}))
    events.append((0.8, "client", {"type": "conversation.item.truncate", "item_id": "i1", "content_index": 0,
                                   "audio_end_ms": 800}))
    log_path = tmp_path / "session.jsonl"
    log_path.write_text("\n".join(json.dumps({"t": t, "from": src, "event": e}) for t, src, e in events)
                        + "\n{not json\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    parser = argparse.ArgumentParser()
    overlay_cmd.add_arguments(parser)
    args = parser.parse_args([str(log_path), "--port", str(port), "--speed", "4", "--hold", "0.5"])
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(overlay_cmd.run(args)), daemon=True)
    runner.start()
    texts: list[str] = []
    lay, rev = None, None
    deadline = time.monotonic() + 20
    while True:
        try:
            ws = connect(f"ws://127.0.0.1:{port}/ws?mode=rollup")
            break
        except OSError:
            assert time.monotonic() < deadline, "overlay command did not start its server"
            time.sleep(0.05)
    with ws:
        try:
            while time.monotonic() < deadline:
                msg = json.loads(ws.recv(timeout=5))
                if msg["type"] in ("captions", "captions_diff"):
                    lay, rev, applied = apply_message(lay, rev, msg)
                    assert applied  # an ordered connection never misses a revision
                    texts.append(" ".join(p["text"] for p in lay["pieces"]))
        except Exception:
            pass  # the command closed the server after its hold time
    runner.join(20)
    assert result == [0]
    assert texts and texts[-1].startswith("Hello there,") and texts[-1].endswith(INTERRUPTED)
