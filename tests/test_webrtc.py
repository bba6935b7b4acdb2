"""WebRTC transport: units without a network, then real aiortc peers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import fractions
import json
import time

import av
import numpy as np
import pytest
from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from captioner.edges.files import read_session_log
from captioner.edges.session import LiveOptions, LiveSession
from captioner.edges.webrtc import (TRACK_EVENT, TrackAudio, WebRTCError, calls_url, frame_to_mono,
                                    is_loopback, loopback_ice, open_webrtc)
from captioner.server import espeak as tts
from captioner.server._webrtc import OutputBuffer, serve_webrtc

needs_voice = pytest.mark.skipif(not tts.available(), reason="libespeak-ng not installed")

LONG = ("The lighthouse keeper climbed the stairs every evening, counted the ships that passed the rocks, "
        "and wrote their names in a book that nobody else had ever read, until one winter night the lamp "
        "went dark and the whole harbour waited for her in the cold.")


def run(coro):
    return asyncio.run(coro)


# ---- units ---------------------------------------------------------------------------

def test_calls_url_ga_beta_and_bases():
    assert calls_url(None) == "https://api.openai.com/v1/realtime/calls"
    assert calls_url("http://127.0.0.1:9/v1") == "http://127.0.0.1:9/v1/realtime/calls"
    assert calls_url("ws://127.0.0.1:9/v1/realtime?model=x") == "http://127.0.0.1:9/v1/realtime/calls"
    assert calls_url("https://api.openai.com/v1", "m1", beta=True) == "https://api.openai.com/v1/realtime?model=m1"
    assert calls_url("http://h/v1/realtime/calls", "m1", beta=True) == "http://h/v1/realtime?model=m1"
    assert is_loopback("http://127.0.0.1:9/v1") and is_loopback("http://localhost/v1")
    assert not is_loopback("https://api.openai.com/v1/realtime/calls")


def _frame(samples: np.ndarray, layout: str = "stereo", rate: int = 48000, fmt: str = "s16") -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(samples, format=fmt, layout=layout)
    frame.sample_rate = rate
    frame.time_base = fractions.Fraction(1, rate)
    return frame


def test_track_audio_resamples_frames_once_to_the_engine_rate():
    audio = TrackAudio(24000)
    t = np.arange(960 * 50) / 48000.0
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    out = []
    for i in range(50):  # one second of 20 ms stereo frames, right channel silent
        block = tone[i * 960:(i + 1) * 960]
        interleaved = np.stack([block, np.zeros_like(block)], axis=1).reshape(1, -1)
        event = audio.event(_frame(interleaved))
        if event is not None:
            assert event["type"] == TRACK_EVENT
            out.append(np.frombuffer(base64.b64decode(event["delta"]), "<i2"))
    pcm = np.concatenate(out)
    # one second in, one second out less the resampler's filter delay (a few ms)
    assert 24000 - 24 * 40 <= len(pcm) <= 24000
    assert audio.samples_in == 48000 and audio.samples_out == len(pcm)
    # mono is the mean of both channels: half the tone's amplitude
    assert np.abs(pcm[2000:]).max() == pytest.approx(4000, rel=0.05)


def test_frame_to_mono_planar_float():
    planar = np.stack([np.full(480, 0.5, np.float32), np.full(480, -0.25, np.float32)])
    mono = frame_to_mono(_frame(planar, fmt="fltp"))
    assert mono.dtype == np.int16 and len(mono) == 480
    assert mono[0] == round(0.125 * 32768)


def test_output_buffer_marks_started_and_stopped_when_audio_has_gone_out():
    buf = OutputBuffer()
    buf.push("r1", np.full(1000, 7, np.int16))
    samples, marks = buf.pull(960)
    assert marks == [("started", "r1")] and np.all(samples == 7)
    samples, marks = buf.pull(960)  # still generating: the dry buffer is an underrun, not a stop
    assert marks == [] and np.all(samples[:40] == 7) and not samples[40:].any()
    buf.push("r1", np.full(100, 9, np.int16))
    buf.finish("r1")
    samples, marks = buf.pull(960)
    assert marks == [("stopped", "r1")] and np.all(samples[:100] == 9)
    buf.push("r1", np.full(100, 9, np.int16))  # a stopped response gets no more audio
    assert buf.queued_samples == 0


def test_output_buffer_clear_drops_queued_audio_of_a_cancelled_response():
    buf = OutputBuffer()
    buf.push("r1", np.full(5000, 3, np.int16))
    buf.finish("r1")  # cancelled: no more audio is generated, but what is queued still plays
    assert buf.pull(960)[1] == [("started", "r1")]
    assert buf.pull(960)[0].all()
    assert buf.clear() == ["r1"]
    samples, marks = buf.pull(960)
    assert marks == [] and not samples.any()
    buf.push("r1", np.full(10, 3, np.int16))
    assert buf.queued_samples == 0
    assert buf.clear() == []


def test_loopback_ice_offers_only_127_0_0_1():
    async def main():
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.createDataChannel("oai-events")
        with loopback_ice():
            await pc.setLocalDescription(await pc.createOffer())
        outside = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        outside.createDataChannel("x")
        await outside.setLocalDescription(await outside.createOffer())
        sdps = pc.localDescription.sdp, outside.localDescription.sdp
        await pc.close()
        await outside.close()
        return sdps

    inside, outside = run(main())
    candidates = [line for line in inside.splitlines() if line.startswith("a=candidate")]
    assert candidates and all(" 127.0.0.1 " in c for c in candidates)
    assert " 127.0.0.1 " not in outside  # aioice's own choice outside the block


# ---- bad peers -----------------------------------------------------------------------

async def _fake_endpoint(handler):
    app = web.Application()
    app.router.add_post("/v1/realtime/calls", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/v1"


def test_answer_that_is_not_sdp_is_a_one_line_error():
    async def handler(request):
        await request.text()
        return web.Response(status=201, text="<html>\nwelcome\n</html>")

    async def main():
        runner, url = await _fake_endpoint(handler)
        try:
            with pytest.raises(WebRTCError, match="not SDP") as err:
                async with open_webrtc(url, "m", False, None, open_timeout=5):
                    pass
            return str(err.value)
        finally:
            await runner.cleanup()

    message = run(main())
    assert "\n" not in message and "welcome" in message


def test_refused_offer_reports_the_servers_message():
    async def handler(request):
        return web.json_response({"error": {"message": "Invalid ephemeral key"}}, status=401)

    async def main():
        runner, url = await _fake_endpoint(handler)
        try:
            with pytest.raises(WebRTCError, match=r"HTTP 401\): Invalid ephemeral key"):
                async with open_webrtc(url, "m", False, "sk-secret", open_timeout=5):
                    pass
        finally:
            await runner.cleanup()

    run(main())


def _answering(add_track: bool, close_after_answer: bool):
    """A peer that answers properly, then misbehaves."""
    peers = []

    async def handler(request):
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        peers.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=await request.text(), type="offer"))
        if add_track:
            from captioner.edges.webrtc import PacedAudioTrack
            pc.addTrack(PacedAudioTrack(lambda n: np.zeros(n, np.int16)))
        with loopback_ice():
            await pc.setLocalDescription(await pc.createAnswer())
        answer = pc.localDescription.sdp
        if close_after_answer:
            await pc.close()  # nobody answers ICE checks: the channel never opens
        return web.Response(status=201, text=answer, content_type="application/sdp")

    return handler, peers


def test_data_channel_that_never_opens_times_out():
    async def main():
        handler, peers = _answering(add_track=True, close_after_answer=True)
        runner, url = await _fake_endpoint(handler)
        try:
            with pytest.raises(WebRTCError, match="data channel 'oai-events' did not open within 2 s"):
                async with open_webrtc(url, "m", False, None, open_timeout=2):
                    pass
        finally:
            for pc in peers:
                await pc.close()
            await runner.cleanup()

    run(main())


def test_missing_audio_track_is_an_error_and_the_session_still_writes_its_files(tmp_path):
    async def main():
        handler, peers = _answering(add_track=False, close_after_answer=False)
        runner, url = await _fake_endpoint(handler)
        try:
            opts = LiveOptions(url=url, transport="webrtc", model="m", output="virtual", mic="off",
                               key_interrupt=False, log_path=tmp_path / "session.jsonl", open_timeout=2.0,
                               exports={"srt": tmp_path / "c.srt", "timeline": tmp_path / "t.json"})
            return await LiveSession(opts).run()
        finally:
            for pc in peers:
                await pc.close()
            await runner.cleanup()

    result = run(main())
    assert result.error == "the server sent no audio track within 2 s"
    assert (tmp_path / "session.jsonl").exists()
    assert set(result.written) == {"srt", "timeline"}
    assert json.loads((tmp_path / "t.json").read_text())["items"] == []


# ---- the embedded server over real WebRTC --------------------------------------------

class Peer:
    """Reads a connection's messages; splits track audio from data channel events."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.t0 = time.monotonic()
        self.events: list[tuple[float, dict]] = []  # data channel events, with arrival time
        self.audio: list[tuple[float, np.ndarray]] = []  # forwarded track audio (24 kHz)
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for message in self.conn:
            event = json.loads(message)
            now = time.monotonic()
            if event["type"] == TRACK_EVENT:
                self.audio.append((now, np.frombuffer(base64.b64decode(event["delta"]), "<i2")))
            else:
                self.events.append((now, event))

    async def send(self, event: dict) -> None:
        await self.conn.send(json.dumps(event))

    async def wait_for(self, kind: str, timeout: float = 20.0, after: int = 0) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                for _, event in self.events[after:]:
                    if event["type"] == kind:
                        return event
                await asyncio.sleep(0.01)

    def types(self) -> list[str]:
        return [e["type"] for _, e in self.events]

    def time_of(self, kind: str) -> float:
        return next(t for t, e in self.events if e["type"] == kind)

    def speech_times(self, threshold: float = 300.0) -> list[float]:
        """Arrival times of forwarded chunks with speech in them (Opus leaves no exact zeros)."""
        return [t for t, pcm in self.audio
                if len(pcm) and np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) > threshold]


def _say(text: str) -> list[dict]:
    return [{"type": "conversation.item.create", "item": {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": text}]}}, {"type": "response.create"}]


@needs_voice
def test_answer_arrives_as_track_audio_with_marks_in_webrtc_order(tmp_path):
    script = tmp_path / "script.txt"
    script.write_text("Once upon a time there was a lighthouse keeper named Ada.\n")
    calls = []

    async def main():
        async with serve_webrtc(voice="espeak:en-us", on_call=calls.append, script=str(script)) as url:
            async with open_webrtc(url, "m", False, None) as conn:
                peer = Peer(conn)
                for event in _say("tell me a story"):
                    await peer.send(event)
                await peer.wait_for("output_audio_buffer.stopped")
                await asyncio.sleep(0.3)  # the jitter buffer's tail
                return peer

    peer = run(main())
    types = peer.types()
    assert types[0] == "session.created"
    assert not any("audio.delta" in t for t in types)  # WebRTC: audio is never an event
    assert types.index("output_audio_buffer.started") < types.index("response.output_audio.done") \
        < types.index("output_audio_buffer.stopped")
    started = next(e for _, e in peer.events if e["type"] == "output_audio_buffer.started")
    created = next(e for _, e in peer.events if e["type"] == "response.created")
    assert started["response_id"] == created["response"]["id"]
    # the voice went out as speech frames on the server and came back as forwarded audio
    call = calls[0]
    server_span = call.stats.speech_frame_times[-1] - call.stats.speech_frame_times[0] + 0.02
    spoken = peer.speech_times()
    client_span = spoken[-1] - spoken[0]
    assert server_span > 2.0
    assert client_span == pytest.approx(server_span, abs=0.15)
    # forwarded samples run at real time: the whole call's audio at 24 kHz
    total = sum(len(pcm) for _, pcm in peer.audio)
    elapsed = peer.audio[-1][0] - peer.audio[0][0]
    assert total / 24000 == pytest.approx(elapsed, abs=0.15)
    assert peer.time_of("output_audio_buffer.started") <= spoken[0] + 0.05
    assert peer.time_of("output_audio_buffer.stopped") >= spoken[-1] - 0.5


@needs_voice
def test_after_truncate_and_cancel_audio_keeps_coming_until_clear(tmp_path):
    script = tmp_path / "script.txt"
    script.write_text(LONG + "\n")
    calls = []

    async def main():
        async with serve_webrtc(voice="espeak:en-us", on_call=calls.append, script=str(script), pace=4.0) as url:
            async with open_webrtc(url, "m", False, None) as conn:
                peer = Peer(conn)
                for event in _say("tell me a story"):
                    await peer.send(event)
                started = await peer.wait_for("output_audio_buffer.started")
                item = next(e for _, e in peer.events if e["type"] == "response.output_item.added")["item"]
                await asyncio.sleep(1.5)
                await peer.send({"type": "conversation.item.truncate", "item_id": item["id"],
                                 "content_index": 0, "audio_end_ms": 1400})
                await peer.send({"type": "response.cancel"})
                cancelled_at = time.monotonic()
                done = await peer.wait_for("response.done")
                await asyncio.sleep(1.0)
                n = len(peer.events)
                await peer.send({"type": "output_audio_buffer.clear"})
                cleared_at = time.monotonic()
                cleared = await peer.wait_for("output_audio_buffer.cleared", after=n)
                await asyncio.sleep(1.0)
                return peer, started, done, cleared, cancelled_at, cleared_at

    peer, started, done, cleared, cancelled_at, cleared_at = run(main())
    call = calls[0]
    assert done["response"]["status"] == "cancelled"
    assert cleared["response_id"] == started["response_id"]
    assert "conversation.item.truncated" in peer.types()
    assert "output_audio_buffer.stopped" not in peer.types()  # cut by the clear, not played out
    assert [e["type"] for e in call.stats.received][-1] == "output_audio_buffer.clear"
    # speech kept going out and arriving between the cancel and the clear ...
    server_between = [t for t in call.stats.speech_frame_times if cancelled_at + 0.1 < t < cleared_at]
    client_between = [t for t in peer.speech_times() if cancelled_at + 0.2 < t < cleared_at]
    assert len(server_between) >= 40  # >= 0.8 s of 20 ms speech frames
    assert len(client_between) >= 10
    # ... and stopped once the server had the clear
    assert not [t for t in call.stats.speech_frame_times if t > cleared_at + 0.1]
    assert not [t for t in peer.speech_times() if t > cleared_at + 0.6]


@needs_voice
def test_live_session_over_webrtc_logs_track_audio_and_interrupts_with_clear(tmp_path):
    calls = []

    async def main():
        async with serve_webrtc(voice="espeak:en-us", on_call=calls.append, script="story") as url:
            opts = LiveOptions(url=url, transport="webrtc", model="embedded", say=["Tell me a story."],
                               output="virtual", mic="off", server_vad=False, interrupt_after_ms=1500,
                               exit_when_done=True, max_seconds=30, key_interrupt=False,
                               log_path=tmp_path / "session.jsonl",
                               exports={"srt": tmp_path / "c.srt"})
            return await LiveSession(opts).run()

    result = run(main())
    assert result.error is None
    records, errors = read_session_log(tmp_path / "session.jsonl")
    assert not errors
    track = [r for r in records if r.event["type"] == TRACK_EVENT]
    assert track and all(r.source == "server" for r in track)
    samples = sum(len(base64.b64decode(r.event["delta"])) // 2 for r in track)
    span = track[-1].t - track[0].t
    assert samples / 24000 == pytest.approx(span, abs=0.2)  # real-time audio, 24 kHz
    client = [r.event["type"] for r in records if r.source == "client"]
    assert client[0] == "session.update"
    assert "conversation.item.truncate" in client and "output_audio_buffer.clear" in client
    server = [r.event["type"] for r in records if r.source == "server" and r.event["type"] != TRACK_EVENT]
    assert "output_audio_buffer.started" in server and "output_audio_buffer.cleared" in server
    assert result.interruptions and result.interruptions[0].truncate is not None
    assert any(e["type"] == "output_audio_buffer.clear" for e in calls[0].stats.received)
    assert "sk-" not in (tmp_path / "session.jsonl").read_text()
