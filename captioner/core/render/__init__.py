"""From timed captions to what people read: subtitle cues (broadcast layout rules), the
live view at one instant (roll-up / pop-on), and SRT / ASS / WebVTT text. Reads only the
caption data model."""

from captioner.core.render._export import (
    FORMATS, SPEAKERS, export_captions, export_rules, export_text, karaoke_text, to_ssafile,
)
from captioner.core.render._layout import Cue, CueWord, LayoutRules, break_lines, layout_cues
from captioner.core.render._view import (
    CUT_MARK, INTERRUPTED, MODES, Layout, Line, View, ViewCache, caption_view, finite_json, layout, view_at,
)

__all__ = [
    "CUT_MARK", "Cue", "CueWord", "FORMATS", "INTERRUPTED", "Layout", "LayoutRules", "Line", "MODES",
    "SPEAKERS", "View", "ViewCache", "break_lines", "caption_view", "export_captions", "export_rules", "export_text",
    "finite_json", "karaoke_text", "layout", "layout_cues", "to_ssafile", "view_at",
]
