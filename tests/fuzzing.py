"""Random and hostile event streams for the engine, and the invariants every one must keep.

Used by tests/test_fuzz.py (hypothesis, a few hundred streams per run) and by
benchmarks/fuzz.py (a seeded run of a million events and more).
"""

from __future__ import annotations

import base64
import json
import math
import random
from typing import Any, Iterator

import numpy as np

from captioner.core import CaptionEngine
from captioner.core.render import export_captions

GA_NAMES = ("response.output_audio.delta", "response.output_audio.done",
            "response.output_audio_transcript.delta", "response.output_audio_transcript.done",
            "conversation.item.added")
BETA_NAMES = ("response.audio.delta", "response.audio.done", "response.audio_transcript.delta",
              "response.audio_transcript.done", "conversation.item.created")
BAD_NUMBERS: tuple[Any, ...] = (float("nan"), float("inf"), -float("inf"), 1e999, -1, -1e300, 1e300, 2**63,
                                True, "12", None, [], {}, 0.5, 1e-300)
WORDS = ["Once", " upon", " a", " time", ",", " $3,482.50", " 10:45", " NASA", " e.g.", " x" * 3, "",
         " supercalifragilistic" * 3, "\u00e9t\u00e9", " 🙂", " \u200b", "\n", " Dr.", " 1990s"]


class StreamMaker:
    """Makes one session's events (server and client) and playback calls, some of them hostile."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.t = 0.0
        self.items = [f"i{k}" for k in range(3)] + ["u0"]
        self.responses = ["r0", "r1"]

    def _num(self, good: float) -> Any:
        return self.rng.choice(BAD_NUMBERS) if self.rng.random() < 0.08 else good

    def _pcm(self) -> str:
        n = self.rng.choice([0, 1, 7, 240, 2400, 4801])
        pcm = (np.sin(np.arange(n) / self.rng.uniform(3, 30)) * self.rng.choice([0, 300, 8000])).astype("<i2")
        data = pcm.tobytes()
        if self.rng.random() < 0.05:
            data = data[:-1]  # an odd byte
        text = base64.b64encode(data).decode()
        return text + "%" if self.rng.random() < 0.03 else text

    def event(self) -> tuple[str, Any]:
        """("server" | "client" | "advance" | "play" | "interrupt", payload)"""
        r = self.rng.random()
        rng = self.rng
        self.t += rng.choice([0.0, 1.0, 5.0, 20.0, 150.0])
        names = rng.choice((GA_NAMES, BETA_NAMES))
        item, resp = rng.choice(self.items), rng.choice(self.responses)
        if r < 0.03:
            return "server", rng.choice([None, "x", 3, [], {"type": 5}, {"type": "something.new"},
                                         {"type": names[0]}, {"nested": [[[[]]]]}])
        if r < 0.25:
            return "server", {"type": names[0], "item_id": item, "response_id": resp,
                              "content_index": self._num(0), "delta": self._pcm()}
        if r < 0.45:
            event = {"type": names[2], "item_id": item, "response_id": resp, "content_index": 0,
                     "delta": rng.choice(WORDS)}
            if rng.random() < 0.3:
                event["duration_ms"] = self._num(rng.uniform(0, 600))
            return "server", event
        if r < 0.50:
            return "server", {"type": rng.choice([names[1], names[3]]), "item_id": item, "response_id": resp,
                              "transcript": "".join(rng.choices(WORDS, k=4))}
        if r < 0.53:
            return "server", {"type": names[4], "item": {"id": item, "role": rng.choice(["assistant", "user", 7])}}
        if r < 0.57:
            return "server", {"type": "response.created", "response": {
                "id": resp, "conversation_id": rng.choice([None, "c"]), "metadata": rng.choice([{}, {"item_id": "u0"}])}}
        if r < 0.60:
            return "server", {"type": "response.done", "response": {
                "id": resp, "status": rng.choice(["completed", "cancelled"]), "output": [{"id": item}]}}
        if r < 0.64:
            kind = rng.choice(["started", "stopped", "cleared", "audio_stopped"])
            return "server", {"type": f"output_audio_buffer.{kind}", "response_id": rng.choice([resp, None])}
        if r < 0.67:
            return "server", {"type": "captioner.track_audio.delta", "delta": self._pcm()}
        if r < 0.70:
            return "server", {"type": "conversation.item.truncated", "item_id": item,
                              "audio_end_ms": self._num(rng.uniform(0, 3000))}
        if r < 0.74:
            kind = rng.choice(["speech_started", "speech_stopped"])
            key = "audio_start_ms" if kind == "speech_started" else "audio_end_ms"
            return "server", {"type": f"input_audio_buffer.{kind}", "item_id": "u0", key: self._num(rng.uniform(0, 9000))}
        if r < 0.78:
            kind = rng.choice(["delta", "completed", "segment", "failed"])
            event = {"type": f"conversation.item.input_audio_transcription.{kind}", "item_id": "u0",
                     "delta": "hi there", "transcript": "hi there", "text": "hi", "error": {"message": "x"},
                     "start": self._num(rng.uniform(0, 3)), "end": self._num(rng.uniform(0, 6))}
            return "server", event
        if r < 0.80:
            return "server", {"type": rng.choice(["session.updated", "session.created"]), "session": {
                "audio": {"output": {"format": rng.choice([{"type": "audio/pcm", "rate": self._num(24000)},
                                                           {"type": "audio/pcmu"}, "pcm16", 7])}}}}
        if r < 0.82:
            return "server", {"type": "error", "error": {"message": "no", "event_id": rng.choice(["captioner_1", 5])}}
        if r < 0.87:
            return "client", {"type": "conversation.item.truncate", "item_id": item, "content_index": 0,
                              "audio_end_ms": self._num(rng.uniform(0, 3000))}
        if r < 0.89:
            return "client", {"type": "input_audio_buffer.append", "audio": self._pcm()}
        if r < 0.90:
            return "client", {"type": "response.create", "response": rng.choice([{}, {"conversation": "none"}])}
        if r < 0.95:
            return "advance", self.t
        if r < 0.99:
            return "play", (rng.choice([0, 1, 240, 480]), self.t)
        return "interrupt", self.t

    def stream(self, n: int) -> Iterator[tuple[str, Any]]:
        for _ in range(n):
            yield self.event()


def feed(engine: CaptionEngine, kind: str, payload: Any, now: float) -> None:
    """Apply one step; wire data must never raise."""
    if kind == "server":
        for out in engine.receive(payload, now):
            engine.sent(out, now)
    elif kind == "client":
        engine.sent(payload, now)
    elif kind == "advance":
        engine.advance(payload)
    elif kind == "play":
        engine.play(*payload)
    elif kind == "interrupt":
        for out in engine.interrupt(payload):
            engine.sent(out, payload)


def run_session(engine: CaptionEngine, maker: StreamMaker, n: int) -> list:
    """Feed ``n`` events, end the input, play everything out, settle; check the invariants
    and export every format. Returns the captions."""
    for kind, payload in maker.stream(n):
        feed(engine, kind, payload, maker.t)
    engine.finish(maker.t)
    engine.advance(maker.t + 60_000)
    engine.settle()
    check_invariants(engine)
    captions = engine.captions()
    for fmt in ("srt", "ass", "vtt"):
        export_captions(captions, fmt)
    return captions


def check_invariants(engine: CaptionEngine) -> None:
    """What must hold after any input: tracks ordered and non-overlapping, nothing before
    its item or past a cut, strict JSON."""
    timeline = engine.timeline()
    data = timeline.to_json()
    json.dumps(data, allow_nan=False)  # no NaN or Infinity: other parsers must read it
    roles = {i: engine.item_state(i).role for i in engine.item_ids()}
    playback = [p for p in timeline.periods if p.kind == "silence" or roles.get(p.item_id) == "assistant"]
    for a, b in zip(playback, playback[1:]):
        assert a.end_ms <= b.start_ms + 1e-6, (a, b)
    users = [p for p in timeline.periods if p.kind == "caption" and roles.get(p.item_id) == "user"]
    by_user: dict[str, list] = {}
    for p in users:
        by_user.setdefault(p.item_id, []).append(p)
    for periods in by_user.values():
        for a, b in zip(periods, periods[1:]):
            assert a.end_ms <= b.start_ms + 1e-6, (a, b)
    records = {r.item_id: r for r in timeline.items}
    for r in timeline.items:
        assert r.start_ms <= r.end_ms and r.audio_ms >= 0, r
    for p in timeline.periods:
        assert math.isfinite(p.start_ms) and p.duration_ms >= 0
        record = records.get(p.item_id)
        if record is None or record.role != "assistant":
            continue
        assert p.start_ms >= record.start_ms - 1e-6, (p, record)
        if record.truncated_at_ms is not None:
            cut_at = engine.item_time(p.item_id, record.truncated_at_ms)
            assert cut_at is None or p.end_ms <= cut_at + 1e-6, (p, record)
