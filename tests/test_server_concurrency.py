"""Many connections asking for their first answer at once, against a fresh server process.

The voice is created on first use, so the race only shows in a fresh process: each round
starts its own ``captioner serve`` and its clients all send ``response.create`` together.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
import sys

import pytest
from websockets.asyncio.client import connect

from captioner.server import espeak as tts
from tests.test_server_voice import needs_piper

pytestmark = pytest.mark.skipif(not tts.available(), reason="libespeak-ng not installed")

CLIENTS = 4
ROUNDS = 3


def start_server(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "captioner.cli", "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # the server prints its URL once it listens
        found = re.search(r"ws://127\.0\.0\.1:\d+", line)
        if found:
            return proc, found.group() + "/v1"
    proc.wait(timeout=10)
    raise AssertionError(f"server exited ({proc.returncode}) without printing its URL")


async def first_answer(url: str, barrier: asyncio.Event) -> list[dict]:
    async with connect(f"{url}/realtime?model=m") as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await barrier.wait()
        await ws.send(json.dumps({"type": "response.create"}))
        events = []
        while not events or events[-1]["type"] != "response.done":
            events.append(json.loads(await ws.recv()))
        return events


async def clients_at_once(url: str) -> list[list[dict] | BaseException]:
    barrier = asyncio.Event()
    tasks = [asyncio.create_task(first_answer(url, barrier)) for _ in range(CLIENTS)]
    await asyncio.sleep(0.5)  # every client connected and waiting
    barrier.set()
    async with asyncio.timeout(60):
        return await asyncio.gather(*tasks, return_exceptions=True)


VOICES = [pytest.param("espeak:en-us", r, id=f"espeak-round{r}") for r in range(ROUNDS)] + [
    pytest.param("piper:joe", 0, id="piper", marks=needs_piper)]


@pytest.mark.parametrize(("voice", "round_"), VOICES)
def test_first_answers_at_once_in_a_fresh_process(voice, round_):
    proc, url = start_server("--pace", "0", "--voice", voice)
    try:
        results = asyncio.run(clients_at_once(url))
        alive = proc.poll() is None
    finally:
        proc.kill()
        output = proc.communicate()[0]
    assert alive, f"server died (exit {proc.returncode}):\n{output[-2000:]}"
    for events in results:
        assert not isinstance(events, BaseException), f"{events!r}\nserver output:\n{output[-2000:]}"
        assert [e for e in events if e["type"] == "error"] == []
        assert events[-1]["response"]["status"] == "completed"
        audio = b"".join(base64.b64decode(e["delta"]) for e in events
                         if e["type"] == "response.output_audio.delta")
        assert len(audio) > 48_000  # more than a second of pcm16 24 kHz


THREADS_AT_ONCE = """
import threading
from captioner.server import espeak
barrier = threading.Barrier(4)
lengths = []
def speak():
    barrier.wait()
    lengths.append(len(espeak.synthesize("Four voices at once, all on first use.").samples))
threads = [threading.Thread(target=speak) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(sorted(lengths))
"""


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_espeak_first_use_from_four_threads(round_):
    """The library-level root cause: the process-wide espeak handle is created once."""
    proc = subprocess.run([sys.executable, "-c", THREADS_AT_ONCE], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lengths = eval(proc.stdout)  # noqa: S307 (our own child's print of a list of ints)
    assert len(lengths) == 4 and min(lengths) > 24_000
