"""The sans-I/O core: fed events and "these frames were played at time T", it returns
captions, the timeline and the client events to send. It never sleeps, reads a clock,
opens a device or a socket. See docs/architecture.md."""

from captioner.core._clock import FrameStamp
from captioner.core._engine import SHOW_DELAY_MS, CaptionEngine, Transport
from captioner.core._items import AudioSource, ItemState, Phase, Transition
from captioner.core._model import Caption, ItemRecord, Period, Problem, Role, Timeline
from captioner.core._replay import detect_transport, replay
from captioner.core._timing import TimedText
from captioner.core.wire._outbound import CancelResponse, ClearOutputBuffer, ClientEvent, TruncateItem

__all__ = [
    "SHOW_DELAY_MS", "AudioSource", "CancelResponse", "Caption", "CaptionEngine", "ClearOutputBuffer",
    "ClientEvent", "FrameStamp", "ItemRecord", "ItemState", "Period", "Phase", "Problem", "Role",
    "TimedText", "Timeline", "Transition", "Transport", "TruncateItem", "detect_transport", "replay",
]
