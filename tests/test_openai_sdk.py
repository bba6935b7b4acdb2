"""The official ``openai`` SDK as a client of the embedded server, GA and beta."""

from __future__ import annotations

import asyncio
import base64

import pytest

from captioner.server import espeak as tts
from captioner.server import serve_embedded

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.skipif(not tts.available(), reason="libespeak-ng not installed")


async def events_until(conn, last_type: str, timeout: float = 10.0) -> list:
    out = []
    async with asyncio.timeout(timeout):
        async for event in conn:
            out.append(event)
            if event.type == last_type:
                return out
    raise AssertionError(f"connection closed before {last_type}")


def _user_item(text: str) -> dict:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def _ga_session() -> tuple[list, list, list]:
    async with serve_embedded(voice="espeak:en-us", pace=8.0, chunk_ms=100, script="echo") as url:
        client = openai.AsyncOpenAI(api_key="x", websocket_base_url=url)
        async with client.realtime.connect(model="gpt-realtime") as conn:
            await events_until(conn, "session.created")
            await conn.session.update(session={"type": "realtime", "output_modalities": ["audio"]})
            await events_until(conn, "session.updated")
            await conn.conversation.item.create(item=_user_item("The quick brown fox jumps over the lazy dog."))
            await conn.response.create()
            full = await events_until(conn, "response.done")
            item_id = next(e.item_id for e in full if e.type == "response.output_audio.delta")
            await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=500)
            truncated = await events_until(conn, "conversation.item.truncated")
            await conn.response.create()
            first = await events_until(conn, "response.output_audio.delta")
            await conn.response.cancel()
            cancelled = await events_until(conn, "response.done")
            return full, truncated, first + cancelled


def test_ga_sdk_full_sequence_truncate_cancel():
    full, truncated, cancelled = asyncio.run(_ga_session())
    kinds = [e.type for e in full]
    for name in ("conversation.item.added", "response.created", "response.output_item.added",
                 "response.content_part.added", "response.output_audio_transcript.delta",
                 "response.output_audio.delta", "response.output_audio.done",
                 "response.output_audio_transcript.done", "response.content_part.done",
                 "response.output_item.done", "conversation.item.done", "response.done"):
        assert name in kinds, name
    text = "".join(e.delta for e in full if e.type == "response.output_audio_transcript.delta")
    assert text == "The quick brown fox jumps over the lazy dog."
    audio = b"".join(base64.b64decode(e.delta) for e in full if e.type == "response.output_audio.delta")
    assert len(audio) > 48 * 1000  # more than a second of pcm16
    assert full[-1].response.status == "completed"
    assert truncated[-1].audio_end_ms == 500
    done = cancelled[-1].response
    assert done.status == "cancelled" and done.status_details.reason == "client_cancelled"


async def _beta_session() -> list:
    async with serve_embedded(voice="espeak:en-us", pace=0) as url:
        client = openai.AsyncOpenAI(api_key="x", websocket_base_url=url)
        async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
            created = await events_until(conn, "session.created")
            await conn.session.update(session={"output_audio_format": "g711_ulaw"})
            await events_until(conn, "session.updated")
            await conn.conversation.item.create(item=_user_item("hello"))
            await conn.response.create()
            return created + await events_until(conn, "response.done")


def test_beta_sdk_sequence_with_g711():
    events = asyncio.run(_beta_session())
    assert events[0].session.output_audio_format == "pcm16"
    kinds = [e.type for e in events]
    for name in ("conversation.item.created", "response.audio.delta", "response.audio_transcript.delta",
                 "response.audio.done", "response.audio_transcript.done", "response.done"):
        assert name in kinds, name
    audio = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.audio.delta")
    transcript = next(e.transcript for e in events if e.type == "response.audio_transcript.done")
    assert transcript.startswith("Once upon a time")
    assert 1500 < len(audio) / 8 < 20000  # µ-law: 8 bytes per ms, a sentence lasts seconds
