"""The embedded server over a real websocket on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from captioner.server import espeak as tts
from captioner.server import serve_embedded

pytestmark = pytest.mark.skipif(not tts.available(), reason="libespeak-ng not installed")


async def recv_until(ws, last_type: str, timeout: float = 10.0) -> list[dict]:
    events = []
    async with asyncio.timeout(timeout):
        while True:
            events.append(json.loads(await ws.recv()))
            if events[-1]["type"] == last_type:
                return events


def run(coro):
    return asyncio.run(coro)


def test_ga_round_trip_audio_matches_transcript_length():
    async def main():
        async with serve_embedded(voice="espeak:en-us", pace=0, duration_ms=True) as url:
            assert url.startswith("ws://127.0.0.1:") and url.endswith("/v1")
            async with connect(f"{url}/realtime?model=test-model") as ws:
                created = await recv_until(ws, "session.created")
                assert created[0]["session"]["model"] == "test-model"
                await ws.send(json.dumps({"type": "response.create"}))
                return await recv_until(ws, "response.done")

    events = run(main())
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
    durations = [e["duration_ms"] for e in events if e["type"] == "response.output_audio_transcript.delta"]
    assert sum(durations) == pytest.approx(len(audio) / 48.0, abs=0.01)  # pcm16 24 kHz: 48 bytes/ms
    transcript = next(e["transcript"] for e in events if e["type"] == "response.output_audio_transcript.done")
    assert transcript.startswith("Once upon a time")
    assert events[-1]["response"]["status"] == "completed"


def test_beta_header_switches_names_and_bad_input_keeps_connection():
    async def main():
        async with serve_embedded(voice="espeak:en-us", pace=0, script="echo") as url:
            async with connect(f"{url}/realtime?model=m",
                               additional_headers={"OpenAI-Beta": "realtime=v1"}) as ws:
                await recv_until(ws, "session.created")
                await ws.send("{broken")
                err = await recv_until(ws, "error")
                await ws.send(json.dumps({"type": "conversation.item.create", "item": {
                    "type": "message", "role": "user", "content": [{"type": "input_text", "text": "ping pong"}]}}))
                await ws.send(json.dumps({"type": "response.create"}))
                return err, await recv_until(ws, "response.done")

    err, events = run(main())
    assert err[-1]["error"]["code"] == "invalid_json"
    names = {e["type"] for e in events}
    assert "conversation.item.created" in names and "response.audio.delta" in names
    assert "response.output_audio.delta" not in names
    assert next(e for e in events if e["type"] == "response.audio_transcript.done")["transcript"] == "ping pong"


def test_unknown_path_is_refused():
    async def main():
        async with serve_embedded(voice="espeak:en-us") as url:
            with pytest.raises(InvalidStatus) as info:
                async with connect(url.replace("/v1", "/nope")):
                    pass
            return info.value.response.status_code

    assert run(main()) == 404


def test_truncate_and_cancel_over_the_wire():
    async def main():
        async with serve_embedded(voice="espeak:en-us", pace=4.0, chunk_ms=100) as url:
            async with connect(f"{url}/realtime") as ws:
                await recv_until(ws, "session.created")
                await ws.send(json.dumps({"type": "response.create"}))
                events, audio_ms = [], 0.0
                while audio_ms < 500:
                    events.append(json.loads(await ws.recv()))
                    if events[-1]["type"] == "response.output_audio.delta":
                        audio_ms += len(base64.b64decode(events[-1]["delta"])) / 48.0
                item_id = events[-1]["item_id"]
                await ws.send(json.dumps({"type": "conversation.item.truncate", "item_id": item_id,
                                          "content_index": 0, "audio_end_ms": 60_000}))
                rejected = await recv_until(ws, "error")
                await ws.send(json.dumps({"type": "conversation.item.truncate", "item_id": item_id,
                                          "content_index": 0, "audio_end_ms": 300}))
                truncated = await recv_until(ws, "conversation.item.truncated")
                await ws.send(json.dumps({"type": "response.cancel"}))
                return rejected, truncated, await recv_until(ws, "response.done")

    rejected, truncated, closing = run(main())
    assert rejected[-1]["error"]["param"] == "audio_end_ms"
    assert truncated[-1]["audio_end_ms"] == 300
    assert closing[-1]["response"]["status"] == "cancelled"
    assert closing[-1]["response"]["status_details"]["reason"] == "client_cancelled"
    assert closing[-1]["response"]["output"][0]["status"] == "incomplete"
