"""Rebuild captioner/examples/seed001_story_truncated.jsonl: the event sequence of shared seed 001.

"tell me a story" -> the assistant starts a story -> the client truncates at 2449 ms and
cancels -> the server confirms, closes the item as incomplete and the response as
cancelled. Beta event names, as in the report; audio from espeak-ng, sent faster than
real time in 200 ms chunks, transcript deltas well ahead of the audio.
Run: .venv/bin/python examples/make_seed001_fixture.py
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from captioner.core.wire import format_record
from captioner.server.espeak import synthesize

ITEM = "item_AxNzYCRoDo1vCDRPWmWWT"
RESPONSE = "resp_AxNzYuSUmeIn7UuMFAwz7"
STORY = ("Once upon a time, in a quiet village by the sea, there lived a curious girl named "
         "Mira. Every evening she walked along the shore with the old lighthouse keeper.")
CUT_MS = 2449
CHUNK_MS = 200


def tokens(text: str) -> list[str]:
    """Model-like pieces: leading spaces, punctuation split off."""
    return re.findall(r" ?[A-Za-z']+| ?[0-9]+|[^\sA-Za-z0-9]", text)


def build() -> list[str]:
    timed: list[tuple[float, int, str]] = []
    eid = iter(range(1, 10_000))

    def server(t: float, event: dict) -> None:
        n = next(eid)
        timed.append((t, n, format_record("server", {"event_id": f"event_{n}", **event}, t)))

    def client(t: float, event: dict) -> None:
        n = next(eid)
        timed.append((t, n, format_record("client", {"event_id": f"evt_{n}", **event}, t)))

    ids = {"response_id": RESPONSE, "item_id": ITEM, "output_index": 0, "content_index": 0}
    client(0.0, {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "tell me a story"}]}})
    client(0.001, {"type": "response.create"})
    server(0.05, {"type": "conversation.item.created", "previous_item_id": None, "item": {
        "id": "item_user1", "object": "realtime.item", "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "tell me a story"}]}})
    server(0.30, {"type": "response.created", "response": {
        "object": "realtime.response", "id": RESPONSE, "status": "in_progress", "output": []}})
    server(0.31, {"type": "response.output_item.added", "response_id": RESPONSE, "output_index": 0,
                  "item": {"id": ITEM, "object": "realtime.item", "type": "message",
                           "status": "in_progress", "role": "assistant", "content": []}})
    server(0.31, {"type": "conversation.item.created", "previous_item_id": "item_user1",
                  "item": {"id": ITEM, "object": "realtime.item", "type": "message",
                           "status": "in_progress", "role": "assistant", "content": []}})
    speech = synthesize(STORY, wpm=170)
    samples = speech.samples
    pieces = tokens(STORY)
    n_chunks = -(-len(samples) // (CHUNK_MS * 24))
    t = 0.35
    for i, piece in enumerate(pieces):  # text leads: all deltas in the first ~0.4 s
        server(t + i * 0.012, {"type": "response.audio_transcript.delta", **ids, "delta": piece})
    for k in range(n_chunks):
        chunk = samples[k * CHUNK_MS * 24:(k + 1) * CHUNK_MS * 24]
        server(0.40 + k * 0.05, {"type": "response.audio.delta", **ids,
                                 "delta": base64.b64encode(chunk.astype("<i2").tobytes()).decode()})
    t_cut = 0.40 + CUT_MS / 1000.0 + 0.02
    client(t_cut, {"type": "conversation.item.truncate", "item_id": ITEM, "content_index": 0,
                   "audio_end_ms": CUT_MS})
    client(t_cut + 0.001, {"type": "response.cancel"})
    heard = "Once upon a time, ... with the"
    server(t_cut + 0.08, {"type": "conversation.item.truncated", "item_id": ITEM,
                          "content_index": 0, "audio_end_ms": CUT_MS})
    server(t_cut + 0.09, {"type": "response.audio.done", **ids})
    server(t_cut + 0.09, {"type": "response.audio_transcript.done", **ids, "transcript": heard})
    server(t_cut + 0.10, {"type": "response.content_part.done", **ids,
                          "part": {"type": "audio", "transcript": heard}})
    incomplete = {"id": ITEM, "object": "realtime.item", "type": "message", "status": "incomplete",
                  "role": "assistant", "content": [{"type": "audio", "transcript": heard}]}
    server(t_cut + 0.10, {"type": "response.output_item.done", "response_id": RESPONSE,
                          "output_index": 0, "item": incomplete})
    server(t_cut + 0.11, {"type": "response.done", "response": {
        "object": "realtime.response", "id": RESPONSE, "status": "cancelled",
        "status_details": {"type": "cancelled", "reason": "client_cancelled"},
        "output": [incomplete], "conversation_id": "conv_AxNyZqBJYhtuLWtcSa2J9",
        "modalities": ["audio", "text"], "voice": "ash", "output_audio_format": "pcm16"}})
    server(t_cut + 8.0, {"type": "output_audio_buffer.audio_stopped", "response_id": RESPONSE})
    return [line for _, _, line in sorted(timed)]  # a log is in arrival order


if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "captioner" / "examples" / "seed001_story_truncated.jsonl"
    out.write_text("\n".join(build()) + "\n")
    print(f"wrote {out}")
