"""captioner: live captions in lock-step with realtime voice audio.

This package's face is the sans-I/O core: an engine fed wire events and playback times,
the caption data model, estimators, layout and export. The edges (websocket client,
player, displays, worker process), the embedded server and the CLI are imported from
their own packages: ``captioner.edges``, ``captioner.server``, ``captioner.cli``.
"""

from captioner.core import (
    CancelResponse, Caption, CaptionEngine, ClearOutputBuffer, ClientEvent, FrameStamp, ItemRecord, ItemState,
    Period, Phase, Problem, TimedText, Timeline, TruncateItem, replay,
)
from captioner.core.timing import cartesia, elevenlabs
from captioner.core.estimators import DeferredEstimator, ItemEstimator, default_estimator
from captioner.core.render import Cue, LayoutRules, export_captions, export_text, layout_cues, to_ssafile
from captioner.core.wire import PCM16, PCMA, PCMU, AudioFormat, LogRecord, parse_format, parse_session_log

__version__ = "0.1.0"

__all__ = [
    "AudioFormat", "CancelResponse", "Caption", "CaptionEngine", "ClearOutputBuffer", "ClientEvent",
    "Cue", "DeferredEstimator", "FrameStamp", "ItemEstimator", "ItemRecord", "ItemState", "LayoutRules",
    "LogRecord", "PCM16", "PCMA", "PCMU", "Period", "Phase", "Problem", "TimedText", "Timeline", "TruncateItem", "cartesia", "default_estimator", "elevenlabs", "export_captions", "export_text", "layout_cues",
    "parse_format", "parse_session_log", "replay", "to_ssafile",
]
