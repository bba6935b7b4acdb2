"""Timing from TTS services, for voice apps that make their own speech (pipecat, LiveKit,
a bare TTS): each adapter turns one service's timing payload into :class:`TimedText` for
:meth:`CaptionEngine.add_timing`. Times are ms into the audio the payload describes."""

from captioner.core._timing import TimedText
from captioner.core.timing._tts import cartesia, elevenlabs

__all__ = ["TimedText", "cartesia", "elevenlabs"]
