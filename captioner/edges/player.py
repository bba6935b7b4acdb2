"""Audio output for live sessions: a sounddevice stream, or a virtual real-time device.

Both pull frames from the engine exactly the way a sound card does —
``engine.play(n_frames, dac_ms)`` where ``dac_ms`` is the session time at which the
first frame reaches the DAC — so the playback clock is fed one way whatever the output.
The device callback runs on PortAudio's thread, so every engine call goes through the
session lock shared with the websocket client.

``SessionClock`` is the one place live code reads wall time (the core never does).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

import numpy as np

log = logging.getLogger(__name__)

_OFFSET_CREEP_MS = 0.01  # per callback (~1 ms/s): how fast a clock offset may grow back
_OFFSET_JUMP_MS = 250.0  # a callback this much later than the offset says: a clock was stepped


@dataclass
class SessionClock:
    """Session milliseconds since ``start``; ``speed`` > 1 only for virtual-clock tests/CI."""

    speed: float = 1.0
    t0: float = field(default_factory=time.monotonic)

    def now_ms(self) -> float:
        return (time.monotonic() - self.t0) * 1000.0 * self.speed

    async def sleep_until(self, ms: float) -> None:
        delay = (ms - self.now_ms()) / 1000.0 / self.speed
        await asyncio.sleep(max(0.0, delay))


class Player(Protocol):
    kind: str  # "device" | "virtual"

    def start(self) -> None: ...

    def stop_now(self, at_ms: float) -> None:
        """Silence at once: drop frames handed out but not yet heard (interruption)."""

    def resume(self) -> None:
        """Carry on pulling after ``stop_now`` (the engine has been told by then)."""

    def close(self) -> None: ...


class VirtualPlayer:
    """A device without hardware: pulls ``block_ms`` of frames at real-time pace.

    Blocks are stamped with their scheduled time (not the measured one), so the clock
    advances exactly as a zero-latency sound card would even if the event loop lags; a
    late loop catches up by pulling several blocks. With ``record=True`` it keeps what it
    "played" (sample i heard at ``start_ms + i / rate``) for tests and inspection.
    """

    kind = "virtual"

    def __init__(self, engine: Any, lock: threading.RLock, clock: SessionClock,
                 block_ms: float = 20.0, record: bool = False) -> None:
        self.engine, self.lock, self.clock = engine, lock, clock
        self.rate = int(engine.sample_rate)
        self.block = max(1, int(round(block_ms * self.rate / 1000.0)))
        self.record = record
        self.start_ms: Optional[float] = None
        self._blocks: list[np.ndarray] = []
        self._pulled = 0  # frames handed out since start
        self._task: Optional[asyncio.Task] = None

    def _frame_ms(self, frame: int) -> float:
        assert self.start_ms is not None
        return self.start_ms + frame * 1000.0 / self.rate

    def start(self) -> None:
        self.start_ms = self.clock.now_ms()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            at = self._frame_ms(self._pulled)
            await self.clock.sleep_until(at)
            with self.lock:
                while self._frame_ms(self._pulled) <= self.clock.now_ms():
                    self._pull_block()

    def _pull_block(self) -> None:
        pcm = np.asarray(self.engine.play(self.block, self._frame_ms(self._pulled)), np.int16)
        if self.record:
            self._blocks.append(pcm.copy())
        self._pulled += self.block

    def stop_now(self, at_ms: float) -> None:
        """Catch up to ``at_ms`` (the loop may be late), then never play what follows it."""
        if self.start_ms is None:
            return
        with self.lock:
            while self._frame_ms(self._pulled) <= at_ms:
                self._pull_block()
        if not self.record or not self._blocks:
            return
        heard = int(np.ceil((at_ms - self.start_ms) * self.rate / 1000.0 - 1e-6))
        first_of_last = self._pulled - len(self._blocks[-1])
        if first_of_last <= heard < self._pulled:
            self._blocks[-1][heard - first_of_last:] = 0

    def resume(self) -> None:
        pass  # the next block is pulled on schedule anyway

    def recording(self) -> np.ndarray:
        return np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.int16)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


class DevicePlayer:
    """sounddevice.OutputStream (int16 mono at the engine's rate) feeding the clock.

    ``dac_ms`` is the callback's ``outputBufferDacTime`` on PortAudio's stream clock, moved
    to the session clock by the offset between the two (see ``_callback``); host APIs
    that report no times fall back to the session time plus the stream's stated latency.
    The playback clock smooths what wobble remains (``PlaybackClock.pull``).
    """

    kind = "device"

    def __init__(self, engine: Any, lock: threading.RLock, clock: SessionClock,
                 device: Any = None, latency: Any = 0.05, block_ms: float = 10.0) -> None:
        import sounddevice as sd

        self.engine, self.lock, self.clock = engine, lock, clock
        self.rate = int(engine.sample_rate)
        self.underflows = 0
        self.frames = 0
        self._offset: Optional[float] = None  # session ms minus PortAudio stream ms
        self.stream = sd.OutputStream(
            samplerate=self.rate, channels=1, dtype="int16", device=device,
            latency=latency, blocksize=int(self.rate * block_ms / 1000), callback=self._callback,
        )

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = self.clock.now_ms()
        if status.output_underflow:
            self.underflows += 1
        dac, current = time_info.outputBufferDacTime, time_info.currentTime
        if dac <= 0 or current <= 0 or not 0 <= dac - current < 2:
            dac_ms = now + float(self.stream.latency) * 1000.0  # host API without times
        else:
            # PortAudio stamped ``current`` when it called back; ``now`` was read after the
            # callback got the GIL, later by anything up to tens of ms under load. The
            # smallest difference seen is the offset between the two clocks (creeping up
            # slowly in case one of them drifts).
            lag = now - current * 1000.0
            if self._offset is None or lag > self._offset + _OFFSET_JUMP_MS:  # a clock was set back
                self._offset = lag
            self._offset = min(self._offset + _OFFSET_CREEP_MS, lag)
            dac_ms = dac * 1000.0 + self._offset
        try:
            with self.lock:
                pcm = self.engine.play(frames, dac_ms)
            outdata[:, 0] = pcm[:frames] if len(pcm) >= frames else np.pad(pcm, (0, frames - len(pcm)))
        except Exception:  # noqa: BLE001 - never let an exception kill the audio thread
            log.exception("output callback failed; playing silence")
            outdata.fill(0)
        self.frames += frames

    def start(self) -> None:
        self.stream.start()

    def stop_now(self, at_ms: float) -> None:
        """abort() discards what PortAudio has buffered ahead of the DAC."""
        try:
            self.stream.abort()
        except Exception:  # noqa: BLE001
            log.exception("could not stop the output stream")

    def resume(self) -> None:
        try:
            self.stream.start()
        except Exception:  # noqa: BLE001
            log.exception("could not restart the output stream after an interruption")

    def close(self) -> None:
        try:
            self.stream.abort()
        finally:
            self.stream.close()


def device_problem(kind: str = "output", device: Any = None) -> Optional[str]:
    """Why no ``kind`` ("input"/"output") audio device can be used (None when one can)."""
    try:
        import sounddevice as sd
    except OSError as exc:
        return f"PortAudio is not available ({exc})"
    try:
        sd.query_devices(device, kind=kind)
    except (ValueError, sd.PortAudioError) as exc:
        return f"no audio {kind} device ({exc})"
    return None


def open_player(engine: Any, lock: threading.RLock, clock: SessionClock,
                output: str = "auto", record: bool = False) -> Player:
    """``output``: "auto" (device if any, else virtual), "virtual", or a device name/index."""
    if output != "virtual" and clock.speed == 1.0:
        device = None if output in ("auto", "default") else (int(output) if output.isdigit() else output)
        problem = device_problem("output", device)
        if problem is None:
            try:
                return DevicePlayer(engine, lock, clock, device=device)
            except Exception as exc:  # noqa: BLE001 - PortAudio errors are varied
                problem = f"cannot open the output device ({exc})"
        print(f"audio: {problem}; playing on a virtual real-time clock instead")
    return VirtualPlayer(engine, lock, clock, record=record)
