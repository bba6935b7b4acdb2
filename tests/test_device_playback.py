"""Real device path: player.py through PulseAudio's null sink, checked against its monitor.

The engine is fed one assistant item of known audio (noise bursts separated by
silences), a DevicePlayer plays it through PortAudio -> ALSA -> PulseAudio null sink,
and ``parec`` records the sink's monitor. The recording is what the "speakers" actually
consumed: its burst spacing must match the item's audio (real-time pace, nothing
dropped or repeated), the engine's timeline must span the item's audio, and after an
interruption the truncate's ``audio_end_ms`` must match how much of the item the sink
played (up to the output latency the device had already been handed).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from captioner.core.wire import PCM16, encode_base64
from captioner.core import CaptionEngine
from captioner.edges.player import DevicePlayer, SessionClock
from tests.pulse import PulseUnavailable, null_sink

RATE = 24000
BURST_MS, GAP_MS, BURSTS = 300, 200, 5  # 2.5 s of audio, onsets every 500 ms


def item_audio() -> np.ndarray:
    rng = np.random.default_rng(7)
    parts = []
    for _ in range(BURSTS):
        parts.append(rng.integers(-9000, 9000, RATE * BURST_MS // 1000).astype(np.int16))
        parts.append(np.zeros(RATE * GAP_MS // 1000, np.int16))
    return np.concatenate(parts)


WORDS = ["One ", "two ", "three ", "four ", "five."]


def feed_item(engine: CaptionEngine, pcm: np.ndarray, words: list[str], at_ms: float) -> None:
    base = {"response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0}
    engine.receive({"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}, at_ms)
    engine.receive({"type": "conversation.item.added",
                    "item": {"id": "item_1", "type": "message", "role": "assistant", "content": []}}, at_ms)
    for word in words:
        engine.receive({"type": "response.output_audio_transcript.delta", **base, "delta": word}, at_ms)
    for chunk in np.array_split(pcm, 10):
        engine.receive({"type": "response.output_audio.delta", **base,
                        "delta": encode_base64(chunk, PCM16)}, at_ms)
    engine.receive({"type": "response.output_audio.done", **base}, at_ms)
    engine.receive({"type": "response.output_audio_transcript.done", **base,
                    "transcript": "".join(words)}, at_ms)


def bursts(recording: np.ndarray) -> list[tuple[int, int]]:
    """(onset, end) sample of each burst in a recording, from a 5 ms energy envelope."""
    hop = RATE // 200
    n = len(recording) // hop
    env = np.sqrt(np.mean(recording[: n * hop].astype(np.float64).reshape(n, hop) ** 2, axis=1))
    loud = env > 1000
    edges = np.flatnonzero(np.diff(loud.astype(int)))
    out, start = [], None
    for e in edges:
        if not loud[e] and loud[e + 1]:
            start = e + 1
        elif loud[e] and not loud[e + 1] and start is not None:
            out.append((start * hop, (e + 1) * hop))
            start = None
    return out


def monitor_ok(heard: list[tuple[int, int]], expect: int) -> bool:
    """The monitor is a measuring instrument that occasionally drops a block under load;
    a recording is usable when every burst but a cut last one is whole."""
    whole = all(abs((e - s) * 1000 / RATE - BURST_MS) <= 10 for s, e in heard[:-1])
    return len(heard) == expect and whole


def play_measured(sink, pcm: np.ndarray, expect: int, interrupt_after_ms: float | None = None):
    """play() on a fresh engine, once more if the monitor recording glitched."""
    for attempt in range(3):
        engine, lock, clock = CaptionEngine(), threading.RLock(), SessionClock()
        recording, started, events = play(sink, engine, clock, lock, pcm, interrupt_after_ms)
        heard = bursts(recording)
        if monitor_ok(heard, expect):
            break
        print(f"monitor recording glitched (attempt {attempt + 1}): {heard}")
    return engine, heard, started, events


@pytest.fixture(scope="module")
def sink():
    try:
        with null_sink() as s:
            yield s
    except PulseUnavailable as exc:
        pytest.skip(f"PulseAudio null sink unavailable: {exc}")


def play(sink, engine: CaptionEngine, clock: SessionClock, lock: threading.RLock,
         pcm: np.ndarray, interrupt_after_ms: float | None = None):
    """Play ``pcm`` as an assistant item on the device while recording the monitor.

    The stream is warmed up on silence first: PortAudio's ALSA->pulse path stalls for
    1-2 s after it starts on this machine (a start-up underrun, see the report), and the
    test is about the steady-state clock, not that.
    """
    player = DevicePlayer(engine, lock, clock, device=sink.device)
    player.start()
    warm = time.monotonic() + 8
    while player.frames < RATE * 1.0 and time.monotonic() < warm:
        time.sleep(0.05)
    rec = sink.record(RATE)
    rec_start = time.monotonic()
    with lock:
        started = clock.now_ms()
        feed_item(engine, pcm, WORDS, started)
    events: list[dict] = []
    cut_at = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.01)
        now = clock.now_ms()
        with lock:
            stamp = engine.now_playing(now)
            idle = engine.idle()
        if interrupt_after_ms is not None and cut_at is None and stamp is not None \
                and stamp.item_sample >= interrupt_after_ms * RATE / 1000:
            cut_at = clock.now_ms()
            player.stop_now(cut_at)  # the live session's interruption sequence
            with lock:
                events = engine.interrupt(cut_at)
            player.resume()
        if idle and stamp is None and now > started + 100:
            break
    time.sleep(0.2)
    player.close()
    # everything the sink consumed until now, however late the monitor delivers it
    return rec.stop(min_samples=int((time.monotonic() - rec_start) * RATE)), started, events


def test_full_item_plays_at_real_time_and_timeline_spans_it(sink):
    pcm = item_audio()
    engine, heard, started, _ = play_measured(sink, pcm, BURSTS)
    assert len(heard) == BURSTS, f"expected {BURSTS} bursts in the monitor, got {heard}"
    onsets = np.array([b[0] for b in heard]) * 1000.0 / RATE
    spacing = np.diff(onsets)
    assert np.all(np.abs(spacing - (BURST_MS + GAP_MS)) <= 10), spacing  # real-time pace

    timeline = engine.timeline()
    (item,) = [i for i in timeline.items if i.item_id == "item_1"]
    audio_ms = len(pcm) * 1000.0 / RATE
    assert item.audio_ms == pytest.approx(audio_ms)
    assert engine.played_ms("item_1", float("inf")) == pytest.approx(audio_ms)  # every sample, once
    assert engine.underrun_ms == 0  # the queue never ran dry
    # Stamps follow the DAC: contiguous unless the device itself stalled under load; a
    # device clock running a little fast against the session's is followed too (the
    # clock leans each block's stamp towards the reported DAC time): 0.1 % allowed, 530
    # ppm seen on the null sink once in about ten runs.
    assert audio_ms * (1 - 1e-3) - 1 <= item.end_ms - item.start_ms <= audio_ms + 300
    # DAC time: the first sample is heard after the stream starts, within the device latency.
    assert 0 <= item.start_ms - started < 300
    captions = engine.captions()
    assert [c.text for c in captions] == WORDS
    assert all(item.start_ms - 1 <= c.start_ms <= c.end_ms <= item.end_ms + 1 for c in captions)


def test_interruption_audio_end_matches_what_the_sink_played(sink):
    pcm = item_audio()
    engine, heard, _, events = play_measured(sink, pcm, 3, interrupt_after_ms=1100)
    truncate = next(e.to_wire() for e in events if e.to_wire()["type"] == "conversation.item.truncate")
    audio_end_ms = truncate["audio_end_ms"]
    assert 1100 <= audio_end_ms < 1400
    assert heard, "nothing reached the sink"
    first_onset = heard[0][0]
    # The cut falls inside the third burst (1000..1300 ms): its end in the monitor is the cut.
    assert len(heard) == 3, heard
    played_ms = (heard[-1][1] - first_onset) * 1000.0 / RATE
    latency_ms = 80  # PulseAudio keeps ~35-45 ms queued server-side; abort cannot recall it
    print(f"device cut: audio_end_ms={audio_end_ms} sink played {played_ms:.1f} ms of the item")
    assert -10 <= played_ms - audio_end_ms <= latency_ms
    (item,) = [i for i in engine.timeline().items if i.item_id == "item_1"]
    assert item.truncated_at_ms == pytest.approx(audio_end_ms)
    # stamps are DAC-time estimates (callbacks run late under load): within a few ms
    assert item.end_ms - item.start_ms == pytest.approx(audio_end_ms, abs=5)
    assert all(c.end_ms <= item.end_ms + 1 for c in engine.captions())
