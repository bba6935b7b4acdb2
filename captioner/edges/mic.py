"""Microphone capture: sounddevice.InputStream -> asyncio queue of int16 blocks.

The PortAudio callback only copies the block and hands it to the event loop
(``call_soon_threadsafe``); encoding to ``input_audio_buffer.append`` and local VAD
happen on the loop, so the audio thread never blocks.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator, Optional

import numpy as np

from captioner.core.wire import PCM16, AudioFormat, encode_base64

log = logging.getLogger(__name__)


def append_event(pcm: np.ndarray, fmt: AudioFormat = PCM16) -> dict:
    """The client event carrying one block of microphone audio."""
    return {"type": "input_audio_buffer.append", "audio": encode_base64(np.asarray(pcm, np.int16), fmt)}


class Microphone:
    def __init__(self, sample_rate: int = PCM16.sample_rate, block_ms: int = 20,
                 device: Any = None) -> None:
        import sounddevice as sd

        self.sample_rate = sample_rate
        self._queue: asyncio.Queue[Optional[np.ndarray]] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self.overflows = 0
        self.stream = sd.InputStream(
            samplerate=sample_rate, channels=1, dtype="int16", device=device,
            blocksize=sample_rate * block_ms // 1000, callback=self._callback,
        )

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status.input_overflow:
            self.overflows += 1
        self._loop.call_soon_threadsafe(self._queue.put_nowait, indata[:, 0].copy())

    def start(self) -> None:
        self.stream.start()

    async def blocks(self) -> AsyncIterator[np.ndarray]:
        while True:
            block = await self._queue.get()
            if block is None:
                return
            yield block

    def close(self) -> None:
        try:
            self.stream.abort()
            self.stream.close()
        finally:
            self._queue.put_nowait(None)
