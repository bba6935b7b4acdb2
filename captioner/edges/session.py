"""``captioner live`` and ``captioner demo``: a realtime voice session with live captions.

Orchestration only — the engine does the timing, the client moves events, the player
pulls audio. One :class:`LiveSession` runs: connect, ``session.update``, optional
scripted user turns (``--say``, repeatable; each waits for the previous answer to be
heard), playback, interruption (server VAD ``speech_started``, local VAD on the
microphone, Enter, or a schedule), live display, and on exit (Enter/Ctrl-C, server
closing, ``--exit-when-done``) the exports. ``captioner demo`` is the same session
against the embedded server with a story that is interrupted part-way.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Optional

import numpy as np

from captioner.core.wire import PCM16, SESSION_END_EVENT, ClientEvent, TruncateItem
from captioner.core.wire import _events as ev
from captioner.core.estimators import DeferredEstimator
from captioner.core import CaptionEngine
from captioner.core import Caption, Timeline
from captioner.edges import live_dialect
from captioner.edges.files import write_exports
from captioner.edges.client import DEFAULT_MODEL, RealtimeClient, api_key_for, open_connection
from captioner.edges.mic import Microphone, append_event
from captioner.edges.terminal import EnterKey
from captioner.edges.player import Player, SessionClock, VirtualPlayer, device_problem, open_player
from captioner.edges.vad import SpeechDetector
from captioner.edges.webrtc import WebRTCError, open_webrtc
from captioner.edges.worker import EstimateWorker

log = logging.getLogger(__name__)

TICK_MS = 40.0  # display / bookkeeping period (session ms)
CONFIRM_WAIT_MS = 2000.0  # how long an ending session waits for conversation.item.truncated
LIVE_QUIET_MS = 1000.0  # GPT-Live has no response.done: a turn is over after this long without audio


@dataclass
class LiveOptions:
    url: Optional[str] = None  # None: the OpenAI API
    transport: str = "websocket"  # "websocket" | "webrtc" (captioner.edges.webrtc)
    open_timeout: float = 15.0  # webrtc: seconds for the answer, the data channel and the track
    model: str = DEFAULT_MODEL
    beta: bool = False
    say: list[str] = field(default_factory=list)  # scripted user turns, in order
    # spoken user turns (pcm16 24 kHz), sent as the microphone before the ``say`` turns;
    # the server's VAD and input transcription make them user items (needs server_vad)
    spoken: list[np.ndarray] = field(default_factory=list)
    instructions: Optional[str] = None
    output: str = "auto"  # "auto" | "virtual" | device name/index
    speed: float = 1.0  # virtual clock only (tests, CI)
    record: bool = False  # virtual player keeps what it played
    mic: str = "auto"  # "auto" | "on" | "off"
    mic_source: Optional[AsyncIterator[np.ndarray]] = None  # injected microphone (tests)
    local_vad: bool = False
    server_vad: bool = True
    interrupt_at_ms: Optional[float] = None  # session ms
    interrupt_fraction: Optional[float] = None  # of the first answer's audio
    interrupt_after_ms: Optional[float] = None  # after the first answer started playing (WebRTC marks)
    key_interrupt: bool = True
    exit_when_done: bool = False
    max_seconds: Optional[float] = None  # session seconds
    log_path: Optional[Path] = None
    overwrite_log: bool = False  # an existing log_path is replaced (else FileExistsError)
    exports: dict[str, Path] = field(default_factory=dict)  # "srt"/"ass"/"vtt"/"timeline" -> path
    show: Optional[str] = None  # terminal subtitles: "rollup" | "popon" | None
    lines: int = 2  # subtitle lines on screen
    overlay_port: Optional[int] = None  # browser overlay on 127.0.0.1
    allow_origins: list[str] = field(default_factory=list)  # other origins the overlay serves
    dialect: str = "realtime"  # "realtime" | "live" (GPT-Live, /v1/live: edges/live_dialect.py)


@dataclass
class Interruption:
    at_ms: float
    reason: str
    events: list[ClientEvent]

    @property
    def truncate(self) -> Optional[TruncateItem]:
        return next((e for e in self.events if isinstance(e, TruncateItem)), None)


@dataclass
class LiveResult:
    timeline: Timeline
    captions: list[Caption]
    interruptions: list[Interruption]
    underrun_ms: float
    player: str  # "device" | "virtual"
    ended_ms: float
    written: dict[str, Path]
    recording: Optional[np.ndarray] = None  # virtual player with record=True
    recording_start_ms: Optional[float] = None
    transcripts: dict[str, str] = field(default_factory=dict)  # item -> heard text
    engine: Optional[CaptionEngine] = None  # final state, for inspection
    error: Optional[str] = None  # why the connection failed (WebRTC), if it did


def session_update(opts: LiveOptions) -> dict:
    """pcm16 24 kHz both ways, input transcription, server VAD when the mic is live."""
    vad = {"type": "server_vad"} if opts.server_vad else None
    if opts.beta:
        session: dict[str, Any] = {
            "modalities": ["audio", "text"], "input_audio_format": "pcm16",
            "output_audio_format": "pcm16", "input_audio_transcription": {"model": "whisper-1"},
            "turn_detection": vad,
        }
    else:
        fmt = {"type": "audio/pcm", "rate": 24000}
        session = {
            "type": "realtime", "output_modalities": ["audio"],
            "audio": {"input": {"format": fmt, "turn_detection": vad,
                                "transcription": {"model": "whisper-1"}},
                      "output": {"format": fmt}},
        }
        if opts.transport == "webrtc":
            session["model"] = opts.model  # GA calls endpoint: the model is part of the session
    if opts.instructions:
        session["instructions"] = opts.instructions
    return {"type": "session.update", "session": session}


def user_text(text: str) -> dict:
    return {"type": "conversation.item.create",
            "item": {"type": "message", "role": "user",
                     "content": [{"type": "input_text", "text": text}]}}


class _Printer:
    """Fallback display: prints each caption once it is audible (shown_ms <= now)."""

    def __init__(self, now_ms_fn) -> None:
        self.now_ms_fn, self.seen, self.item = now_ms_fn, set(), None

    def update(self, engine: CaptionEngine) -> None:
        now = self.now_ms_fn()
        for c in engine.captions():
            if (c.item_id, c.index) in self.seen or c.shown_ms > now:
                continue
            self.seen.add((c.item_id, c.index))
            if c.item_id != self.item:
                sys.stdout.write(f"\n{c.role}: ")
                self.item = c.item_id
            sys.stdout.write(c.text + (" —" if c.truncated else ""))
            sys.stdout.flush()

    def close(self) -> None:
        sys.stdout.write("\n")
        sys.stdout.flush()


class LiveSession:
    def __init__(self, opts: LiveOptions) -> None:
        self.opts = opts
        # alignment runs in a worker process: it never holds this process's GIL or lock
        self.engine = CaptionEngine(transport=opts.transport, estimator_factory=DeferredEstimator)
        self.lock = threading.RLock()
        self.worker = EstimateWorker(self.engine, self.lock)
        self.clock = SessionClock(opts.speed)
        self.interruptions: list[Interruption] = []
        self.client: Optional[RealtimeClient] = None
        self.player: Optional[Player] = None
        self._stop = asyncio.Event()
        self._open_responses: set[str] = set()
        self._responses_seen = 0
        self._first_audio_item: Optional[str] = None
        self._first_playback_seen = False
        self._playing: set[Optional[str]] = set()  # WebRTC: responses the server is still playing out
        self.error: Optional[str] = None
        self._turns_done = asyncio.Event()
        self._said = asyncio.Event()  # the ``say`` turns were answered and heard
        self._spoken_done = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._live_waiting = False  # GPT-Live: a turn was asked for, no audio of it yet
        self._live_output_ms = -LIVE_QUIET_MS  # GPT-Live: last output audio (no response.done there)

    # --- events from the server -------------------------------------------------
    def _on_event(self, event: dict, now: float) -> None:
        parsed = ev.parse_server_event(event)
        if isinstance(parsed, ev.ResponseCreated) and not parsed.out_of_band:
            self._open_responses.add(parsed.response_id)
            self._responses_seen += 1
        elif isinstance(parsed, ev.ResponseDone):
            self._open_responses.discard(parsed.response_id)
        elif isinstance(parsed, ev.AudioDelta) and self._first_audio_item is None:
            self._first_audio_item = parsed.item_id
        elif isinstance(parsed, ev.AudioDone) and parsed.item_id == self._first_audio_item:
            self._schedule_fraction(parsed.item_id)
        elif isinstance(parsed, ev.OutputBufferStarted):
            self._playing.add(parsed.response_id)
            if self.opts.interrupt_after_ms is not None and not self._first_playback_seen:
                self._first_playback_seen = True
                self._spawn(self._interrupt_at(now + self.opts.interrupt_after_ms,
                                               f"scheduled {self.opts.interrupt_after_ms:.0f} ms into the answer"))
        elif isinstance(parsed, (ev.OutputBufferStopped, ev.OutputBufferCleared)):
            self._playing.discard(parsed.response_id)
            if parsed.response_id is None:
                self._playing.clear()
        elif isinstance(parsed, ev.SpeechStarted) and self.opts.server_vad:
            with self.lock:
                busy = self.engine.audible(now)
            if busy:
                self._spawn(self.interrupt("server VAD: user speech started"))
        elif isinstance(parsed, ev.ServerError):
            log.warning("server error: %s", parsed.message)
        elif isinstance(parsed, ev.LiveAudio):
            self._live_output_ms = now
            if self._live_waiting:  # the Live turn asked for began
                self._live_waiting = False
                self._responses_seen += 1

    def _schedule_fraction(self, item_id: str) -> None:
        if self.opts.interrupt_fraction is None:
            return
        with self.lock:
            audio_ms = self.engine.received_ms(item_id)
        self._spawn(self._interrupt_at_item(item_id, audio_ms * self.opts.interrupt_fraction,
                                            f"scheduled at {self.opts.interrupt_fraction:.0%} of the answer"))

    # --- interruption -------------------------------------------------------------
    async def _interrupt_at(self, at_ms: float, reason: str) -> None:
        await self.clock.sleep_until(at_ms)
        await self.interrupt(reason)

    async def _interrupt_at_item(self, item_id: str, item_ms: float, reason: str) -> None:
        """Interrupt when playback reaches ``item_ms`` into the item, however late it runs
        (device start-up stalls, underruns): the projection is re-read until it is reached."""
        while True:
            with self.lock:
                at = self.engine.item_time(item_id, item_ms)
                idle = self.engine.idle()
            now = self.clock.now_ms()
            if at is None and idle:
                return  # nothing of the item left to play
            if at is not None and at <= now:
                break
            await self.clock.sleep_until(now + (TICK_MS if at is None else min(at - now, 100.0)))
        await self.interrupt(reason)

    async def interrupt(self, reason: str) -> Optional[Interruption]:
        """Silence now, cut the captions where the voice stopped, tell the server."""
        if self.player is None or self.client is None:
            return None
        now = self.clock.now_ms()
        self.player.stop_now(now)  # outside the lock: a device abort waits for its callback
        with self.lock:
            events = self.engine.interrupt(now)
        self.player.resume()
        record = Interruption(now, reason, events)
        self.interruptions.append(record)
        cut = record.truncate
        log.info("interrupted at %.0f ms (%s): %s", now, reason,
                 f"{cut.item_id} audio_end_ms={cut.audio_end_ms}" if cut else "nothing playing")
        await self.client.send_all(events)
        return record

    # --- tasks ------------------------------------------------------------------------
    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)
        return task

    async def _wait_heard(self) -> None:
        """Until every open response is done, its audio played out and every truncation
        answered (a server that never confirms gets CONFIRM_WAIT_MS)."""
        quiet_since: Optional[float] = None
        while True:
            now = self.clock.now_ms()
            with self.lock:
                idle = self.engine.idle()
                unconfirmed = self.engine.unconfirmed_cuts()
            live_quiet = now - self._live_output_ms >= LIVE_QUIET_MS
            if not self._open_responses and not self._playing and idle and live_quiet:
                quiet_since = now if quiet_since is None else quiet_since
                if not unconfirmed or now - quiet_since >= CONFIRM_WAIT_MS:
                    return
            await asyncio.sleep(TICK_MS / 1000.0 / self.clock.speed)

    async def _spoken_mic(self) -> AsyncIterator[np.ndarray]:
        """The microphone for ``spoken`` turns, once the ``say`` turns were answered: each
        utterance between quiet, in 20 ms blocks at the session clock's pace (the quiet
        after it ends the server's VAD turn); the next one waits until the previous
        turn's answer was heard."""
        block = PCM16.sample_rate // 50
        await self._said.wait()
        t = self.clock.now_ms()
        for utterance in self.opts.spoken:
            seen = self._responses_seen
            lead = np.zeros(PCM16.sample_rate * 4 // 10, np.int16)
            pcm = np.concatenate([lead, utterance, np.zeros(PCM16.sample_rate, np.int16)])
            for i in range(0, len(pcm), block):
                t += 20.0
                await self.clock.sleep_until(t)
                yield pcm[i:i + block]
            while self._responses_seen == seen and not self._stop.is_set():  # the answer starts
                await asyncio.sleep(TICK_MS / 1000.0 / self.clock.speed)
            await self._wait_heard()
        self._spoken_done.set()

    async def _turns(self) -> None:
        assert self.client is not None
        for text in self.opts.say:
            seen = self._responses_seen
            if self.opts.dialect == "live":  # no items: ask for the assistant's next turn
                self._live_waiting = True
                await self.client.send({"type": "response.create"})
            else:
                await self.client.send_all([user_text(text), {"type": "response.create"}])
            while self._responses_seen == seen and not self._stop.is_set():
                await asyncio.sleep(TICK_MS / 1000.0 / self.clock.speed)
            await self._wait_heard()
        self._said.set()
        if self.opts.spoken:
            await self._spoken_done.wait()
        self._turns_done.set()
        if self.opts.exit_when_done:
            self._stop.set()

    async def _mic(self, blocks: AsyncIterator[np.ndarray]) -> None:
        assert self.client is not None
        detector = SpeechDetector() if self.opts.local_vad else None
        append = live_dialect.append_event if self.opts.dialect == "live" else append_event
        async for block in blocks:
            if self.opts.transport == "webrtc":
                self.client.ws.push_mic(block)  # the outgoing track, not events
            else:
                await self.client.send(append(block))
            if detector is None:
                continue
            for vad_event in detector.feed(block):
                if vad_event.kind != "started":
                    continue
                now = self.clock.now_ms()
                with self.lock:  # audible, not "a sample plays now": an underrun gap mid-answer
                    talking_over = self.engine.audible(now)  # is still the assistant's turn
                if talking_over:
                    await self.interrupt("local VAD: user speech started")

    async def _tick(self, display: Any) -> None:
        while not self._stop.is_set():
            with self.lock:
                display.update(self.engine)
            now = self.clock.now_ms()
            if self.opts.max_seconds is not None and now >= self.opts.max_seconds * 1000:
                self._stop.set()
            # wake at the next word boundary too: a fixed tick alone lags up to one tick
            wake = now + TICK_MS
            if getattr(display, "next_change_ms", None) is not None:
                wake = min(wake, max(now + 1.0, display.next_change_ms))
            await self.clock.sleep_until(wake)

    async def _receive(self) -> None:
        assert self.client is not None
        await self.client.run()
        log.info("server closed the connection")
        self._stop.set()

    # --- the session --------------------------------------------------------------
    async def run(self) -> LiveResult:
        self.worker.start()
        try:
            return await self._run()
        finally:
            self.worker.close()

    async def _run(self) -> LiveResult:
        opts = self.opts
        loop = asyncio.get_running_loop()
        log_writer = None
        if opts.log_path is not None:
            from captioner.edges.files import SessionLogWriter

            opts.log_path.parent.mkdir(parents=True, exist_ok=True)
            log_writer = SessionLogWriter(opts.log_path, overwrite=opts.overwrite_log)
        display: Any = None
        mic = None
        handlers: list[int] = []
        keys: Optional[EnterKey] = None
        try:
            key = api_key_for(opts.url)
            async with self._connect(key) as ws:
                self.clock = SessionClock(opts.speed)  # t=0: the connection is open
                display = _open_display(opts, self.clock.now_ms)
                self.client = RealtimeClient(ws, self.engine, self.lock, self.clock, log_writer,
                                             on_event=self._on_event)
                self._spawn(self._receive())
                await self.client.send(live_dialect.session_start(opts.model, opts.instructions)
                                       if opts.dialect == "live" else session_update(opts))
                self.player = open_player(self.engine, self.lock, self.clock, opts.output, opts.record)
                self.player.start()
                blocks = opts.mic_source
                if blocks is None and opts.spoken:
                    blocks = self._spoken_mic()
                if blocks is None and opts.mic != "off":
                    problem = device_problem("input") if self.player.kind == "device" else "virtual clock"
                    if problem is None:
                        mic = Microphone()
                        mic.start()
                        blocks = mic.blocks()
                    elif opts.mic == "on":
                        print(f"microphone: {problem}; continuing without it")
                if blocks is not None:
                    self._spawn(self._mic(blocks))
                if opts.say or opts.spoken:
                    self._spawn(self._turns())
                if opts.interrupt_at_ms is not None:
                    self._spawn(self._interrupt_at(opts.interrupt_at_ms, "scheduled (--interrupt-at-ms)"))
                self._spawn(self._tick(display))
                for sig in (signal.SIGINT, signal.SIGTERM):
                    try:
                        loop.add_signal_handler(sig, self._stop.set)
                        handlers.append(sig)
                    except (RuntimeError, ValueError, NotImplementedError):
                        pass  # not the main thread / platform without signals
                if opts.key_interrupt:
                    keys = EnterKey(lambda: self._spawn(self.interrupt("key (Enter)")))
                    if keys.start(loop):
                        print("press Enter to interrupt the assistant, Ctrl-C to end")
                await self._stop.wait()
        except WebRTCError as exc:  # one line for the user; log and exports are still written
            log.info("webrtc: %s", exc)  # the caller reports result.error
            self.error = str(exc)
        finally:
            for sig in handlers:
                loop.remove_signal_handler(sig)
            if keys is not None:
                keys.close()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if mic is not None:
                mic.close()
            if self.player is not None:
                self.player.close()
            # The end of a session, whatever ended it, is a cut at what was heard; logged,
            # so a replay of the log ends the same way.
            end, now = {"type": SESSION_END_EVENT}, self.clock.now_ms()
            with self.lock:
                self.engine.sent(end, now)
            if log_writer is not None and self.client is not None:
                log_writer.write("client", end, now / 1000.0)
            if display is not None:
                with self.lock:
                    display.update(self.engine)
                display.close()
            if log_writer is not None:
                log_writer.close()
        return self._result()

    def _connect(self, key: Optional[str]):
        if self.opts.transport == "webrtc":
            return open_webrtc(self.opts.url, self.opts.model, self.opts.beta, key,
                               out_rate=self.engine.sample_rate, open_timeout=self.opts.open_timeout)
        return open_connection(self.opts.url, self.opts.model, self.opts.beta, key, self.opts.dialect)

    def _result(self) -> LiveResult:
        if not self.worker.settle():  # the session is over: final timing for the exports
            log.warning("estimate worker did not finish in time; some captions keep a live estimate")
        with self.lock:
            self.engine.settle()
            timeline = self.engine.timeline()
            captions = self.engine.captions()
            underrun = self.engine.underrun_ms
            transcripts = {i.item_id: self.engine.transcript(i.item_id) for i in timeline.items}
        written = write_exports(timeline, captions, self.opts.exports)
        player = self.player
        recording = player.recording() if isinstance(player, VirtualPlayer) and player.record else None
        return LiveResult(timeline, captions, self.interruptions, underrun,
                          player.kind if player else "none", self.clock.now_ms(), written,
                          recording, getattr(player, "start_ms", None), transcripts, self.engine,
                          self.error)


def _open_display(opts: LiveOptions, now_ms_fn) -> Any:
    """The displays the options ask for; without any, captions are printed as heard."""
    if opts.show is None and opts.overlay_port is None:
        return _Printer(now_ms_fn)
    from captioner.edges.displays import open_displays

    return open_displays(opts.show, opts.lines, opts.overlay_port, now_ms_fn, opts.allow_origins)


def summary(result: LiveResult) -> str:
    """What was heard, where it was cut, audio_end_ms and underruns, in a few lines."""
    lines = []
    cuts = {i.truncate.item_id: i for i in result.interruptions if i.truncate}
    for item in result.timeline.items:
        heard = result.transcripts.get(item.item_id, "").strip()
        line = f"{item.role} {item.item_id}: {(item.end_ms - item.start_ms) / 1000:.2f} s heard"
        if item.truncated_at_ms is not None:
            cut = cuts.get(item.item_id)
            line += (f", cut at {item.truncated_at_ms:.0f} ms of {item.audio_ms:.0f} ms"
                     + (f" (truncate audio_end_ms={cut.truncate.audio_end_ms}, {cut.reason})" if cut else ""))
        lines.append(line)
        if heard:
            lines.append(f"  \"{heard}\"" + (" —" if item.truncated_at_ms is not None else ""))
    lines.append(f"player: {result.player}; underruns: {result.underrun_ms:.0f} ms; "
                 f"session {result.ended_ms / 1000:.1f} s")
    for kind, path in result.written.items():
        lines.append(f"{kind}: {path}")
    return "\n".join(lines)
