"""captioner: live captions in lock-step with realtime voice audio.

The public API is the sans-I/O core; edges (client, player, displays, server) live in
``captioner.edges`` and are imported on demand.
"""

from .core.audio import PCM16, PCMA, PCMU, AudioFormat, parse_format
from .core.clock import FrameStamp, PlaybackClock
from .core.deferred import DeferredEstimator
from .core.engine import CaptionEngine
from .core.estimate import ItemEstimator
from .core.forced import default_estimator
from .core.export import export_captions, export_text, to_ssafile
from .core.layout import Cue, LayoutRules, layout_cues
from .core.model import Caption, ItemRecord, Period, Timeline
from .core.replay import replay
from .core.sessionlog import LogRecord, parse_session_log
from .edges.logfile import SessionLogWriter, read_session_log

__version__ = "0.1.0"

__all__ = [
    "AudioFormat", "Caption", "CaptionEngine", "Cue", "DeferredEstimator", "FrameStamp",
    "ItemEstimator", "ItemRecord",
    "LayoutRules", "LogRecord", "PCM16", "PCMA", "PCMU", "Period", "PlaybackClock",
    "SessionLogWriter", "Timeline", "default_estimator", "export_captions", "export_text",
    "layout_cues", "parse_format", "parse_session_log", "read_session_log", "replay", "to_ssafile",
]
