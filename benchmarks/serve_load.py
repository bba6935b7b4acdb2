"""Load on ``captioner serve``: N sessions asking for an answer at the same moment.

Starts the server in its own process (``captioner serve --port 0 --duration-ms``), opens N
websocket sessions on 127.0.0.1, and once all are connected sends ``response.create`` on
every one at once. Each session must get its complete answer: no ``error`` event, events in
the protocol's order, the transcript deltas adding up to the final transcript, and the
audio as long as the transcript's speech (the sum of the deltas' true ``duration_ms``).
Prints wall time and time to first audio (median / p95) and whether every session was right.

    .venv/bin/python benchmarks/serve_load.py                      # 100 sessions, default voice
    .venv/bin/python benchmarks/serve_load.py --voice espeak:en-us --sessions 100
    .venv/bin/python benchmarks/serve_load.py --huge-append        # plus one client appending 15 MiB
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import connect

ORDER = ["response.created", "response.output_item.added", "conversation.item.added",
         "response.content_part.added", "response.output_audio.done",
         "response.output_audio_transcript.done", "response.content_part.done",
         "response.output_item.done", "conversation.item.done", "response.done"]


@dataclass
class Result:
    ttfa_ms: float = float("nan")
    audio_ms: float = 0.0
    problems: list[str] = field(default_factory=list)


def check(events: list[dict]) -> tuple[float, list[str]]:
    """Audio ms and whatever is wrong with one session's answer."""
    problems = [f"error: {e['error'].get('message')}" for e in events if e["type"] == "error"]
    kinds = [e["type"] for e in events if e["type"] in ORDER]
    if kinds != ORDER:
        problems.append(f"order {kinds}")
    first_delta = next((i for i, e in enumerate(events) if e["type"].endswith(".delta")), None)
    done_at = next((i for i, e in enumerate(events) if e["type"] == "response.output_audio.done"), None)
    if first_delta is None or done_at is None or any(
            e["type"].endswith(".delta") for e in events[done_at:]):
        problems.append("deltas outside the response")
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
    audio_ms = len(audio) / 48.0  # pcm16, 24 kHz
    texts = [e for e in events if e["type"] == "response.output_audio_transcript.delta"]
    transcript = next((e["transcript"] for e in events if e["type"] == "response.output_audio_transcript.done"), "")
    if "".join(e["delta"] for e in texts) != transcript or not transcript:
        problems.append("transcript deltas do not add up to the transcript")
    speech_ms = sum(e.get("duration_ms", 0.0) for e in texts)
    if not audio or abs(speech_ms - audio_ms) > 1.0:
        problems.append(f"audio {audio_ms:.0f} ms, speech {speech_ms:.0f} ms")
    status = events[-1].get("response", {}).get("status") if events else None
    if status != "completed":
        problems.append(f"status {status}")
    return audio_ms, problems


async def session(url: str, go: asyncio.Event, ready: list) -> Result:
    result = Result()
    async with connect(f"{url}/realtime?model=load", max_size=None, open_timeout=60) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        ready.append(1)
        await go.wait()
        t0 = time.perf_counter()
        await ws.send(json.dumps({"type": "response.create"}))
        events: list[dict] = []
        while not events or events[-1]["type"] != "response.done":
            events.append(json.loads(await ws.recv()))
            if events[-1]["type"] == "response.output_audio.delta" and result.ttfa_ms != result.ttfa_ms:
                result.ttfa_ms = (time.perf_counter() - t0) * 1000.0
        result.audio_ms, result.problems = check(events)
    return result


async def huge_append(url: str) -> None:
    """One client sending the largest append allowed (15 MiB of audio) when told to go.

    Runs in its own process (``--huge-client URL``) so that building and sending 20 MiB
    does not stall the measuring clients; the server's handling is what is measured.
    """
    audio = base64.b64encode(bytes(15 * 2**20)).decode()
    async with connect(f"{url}/realtime", max_size=None) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "session.update", "session": {"turn_detection": None}}))
        message = json.dumps({"type": "input_audio_buffer.append", "audio": audio})
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        t0 = time.perf_counter()
        await ws.send(message)
        await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
        while json.loads(await ws.recv())["type"] != "input_audio_buffer.cleared":
            pass
        print(f"{time.perf_counter() - t0:.3f}", flush=True)


async def run(url: str, n: int, huge: subprocess.Popen | None, timeout: float) -> tuple[list, float, float | None]:
    go, ready = asyncio.Event(), []
    tasks = [asyncio.create_task(session(url, go, ready)) for _ in range(n)]
    while len(ready) < n:
        await asyncio.sleep(0.05)
        if any(t.done() for t in tasks):
            break
    if huge is not None:
        assert (await asyncio.to_thread(huge.stdout.readline)).strip() == "ready"
    await asyncio.sleep(0.2)
    t0 = time.perf_counter()
    go.set()
    if huge is not None:
        huge.stdin.write("go\n")
        huge.stdin.flush()
    async with asyncio.timeout(timeout):
        results = await asyncio.gather(*tasks, return_exceptions=True)
        huge_s = float(await asyncio.to_thread(huge.stdout.readline)) if huge is not None else None
    return results, time.perf_counter() - t0, huge_s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100, help="concurrent sessions (default: %(default)s)")
    ap.add_argument("--voice", default="auto", help="server voice (default: %(default)s)")
    ap.add_argument("--pace", type=float, default=4.0, help="server --pace (default: %(default)s)")
    ap.add_argument("--huge-append", action="store_true", help="add one client appending 15 MiB of audio")
    ap.add_argument("--timeout", type=float, default=600.0, help="give up after this many s (default: %(default)s)")
    ap.add_argument("--huge-client", metavar="URL", help=argparse.SUPPRESS)  # the --huge-append process
    args = ap.parse_args()
    if args.huge_client:
        asyncio.run(huge_append(args.huge_client))
        return 0

    proc = subprocess.Popen([sys.executable, "-m", "captioner.cli", "serve", "--port", "0", "--duration-ms",
                             "--voice", args.voice, "--pace", str(args.pace)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        for line in proc.stdout:
            found = re.search(r"ws://127\.0\.0\.1:\d+/v1", line)
            if found:
                url = found.group()
                break
        if url is None:
            print(f"server did not start:\n{proc.stdout.read()}", file=sys.stderr)
            return 1
        huge = subprocess.Popen([sys.executable, __file__, "--huge-client", url], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) if args.huge_append else None
        try:
            results, wall_s, huge_s = asyncio.run(run(url, args.sessions, huge, args.timeout))
        finally:
            if huge is not None:
                huge.kill()
                huge.wait()
        alive = proc.poll() is None
    finally:
        proc.kill()
        proc.wait()

    failed = [r for r in results if isinstance(r, BaseException)]
    ok = [r for r in results if isinstance(r, Result)]
    wrong = [r for r in ok if r.problems]
    ttfa = sorted(r.ttfa_ms for r in ok)
    print(f"voice {args.voice}, pace {args.pace:g}, {args.sessions} sessions on {url}"
          + (", plus one 15 MiB append" if args.huge_append else ""))
    print(f"wall time            {wall_s:.2f} s (first answer of every session, from the shared go)")
    if ttfa:
        p95 = ttfa[min(len(ttfa) - 1, int(round(0.95 * (len(ttfa) - 1))))]
        print(f"time to first audio  median {statistics.median(ttfa):.0f} ms, p95 {p95:.0f} ms, "
              f"max {ttfa[-1]:.0f} ms")
        print(f"audio per answer     {statistics.median(r.audio_ms for r in ok) / 1000:.2f} s (median)")
    if huge_s is not None:
        print(f"15 MiB append        answered in {huge_s:.2f} s")
    for r in wrong[:5]:
        print("  wrong:", "; ".join(r.problems))
    for exc in failed[:5]:
        print("  failed:", repr(exc))
    correct = alive and not failed and not wrong and len(ok) == args.sessions
    print(f"all correct          {'yes' if correct else 'NO'} ({len(ok) - len(wrong)}/{args.sessions} sessions"
          f"{'' if alive else ', server died'})")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
