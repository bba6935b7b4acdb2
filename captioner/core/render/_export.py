"""Subtitle export: cues -> SRT / ASS / WebVTT text via pysubs2 (pure; the CLI writes files).

ASS keeps the speakers apart by style (colour and position) and ``event.name``, and
carries per-delta karaoke timing (``\\k``). SRT and WebVTT have no styles that all
players honour, so user cues get a plain-text label ("User: "), which the layout has
already reserved room for on the first line.
"""

from __future__ import annotations

from typing import Optional, Sequence

from pysubs2 import Alignment, Color, SSAEvent, SSAFile, SSAStyle

from captioner.core.render._layout import Cue, LayoutRules, layout_cues
from captioner.core._model import Caption

FORMATS = ("srt", "ass", "vtt")

SPEAKERS = {"assistant": "Assistant", "user": "User"}  # role -> ASS style and event name

_KARAOKE_UNIT_MS = 10  # \k counts centiseconds


def _styles() -> dict[str, SSAStyle]:
    """Assistant: white at the bottom. User: yellow at the top, since the two may overlap."""
    base = dict(fontname="Arial", fontsize=64, outline=3, shadow=1, marginl=60, marginr=60, marginv=50)
    return {
        "Assistant": SSAStyle(
            primarycolor=Color(255, 255, 255), secondarycolor=Color(160, 160, 160),
            alignment=Alignment.BOTTOM_CENTER, **base,
        ),
        "User": SSAStyle(
            primarycolor=Color(255, 220, 60), secondarycolor=Color(170, 150, 70),
            alignment=Alignment.TOP_CENTER, **base,
        ),
    }


def _plain(text: str) -> str:
    """Neutralise characters pysubs2 and ASS renderers read as markup ({tags}, \\N)."""
    return text.replace("{", "(").replace("}", ")").replace("\\", "\u2216")


def _vtt_escape(text: str) -> str:
    """WebVTT cue text treats &, < and > as markup ("-->" would end the cue)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def karaoke_text(cue: Cue) -> str:
    """ASS text with one ``{\\kN}`` per cue word and ``\\N`` at the line breaks.

    Each word is highlighted from its own start until the next word starts (a silence
    after a word stays on that word); the durations are rounded cumulatively so they
    sum exactly to the cue's span.
    """
    span = cue.end_ms - cue.start_ms
    total = round(span / _KARAOKE_UNIT_MS)

    def mark(t: float) -> int:
        return round(min(max(t - cue.start_ms, 0.0), span) / _KARAOKE_UNIT_MS)

    marks = [0] + [mark(w.start_ms) for w in cue.words[1:]] + [total]
    for n in range(1, len(marks)):  # monotone, whatever the input
        marks[n] = max(marks[n], marks[n - 1])
    breaks, pos = set(), 0
    for line in cue.lines[:-1]:  # character offsets of the spaces that become \N
        pos += len(line)
        breaks.add(pos)
        pos += 1
    parts, pos = [], 0
    for n, w in enumerate(cue.words):
        text = _plain(w.text)
        if pos in breaks and text.startswith(" "):
            text = "\\N" + text[1:]
        parts.append(f"{{\\k{marks[n + 1] - marks[n]}}}{text}")
        pos += len(w.text)
    return "".join(parts)


def _event_text(cue: Cue, fmt: str) -> str:
    if fmt == "ass":
        return karaoke_text(cue)
    text = _plain(cue.label + "\n".join(cue.lines))
    if fmt == "vtt":  # a voice span names the speaker for players and screen readers
        text = f"<v {SPEAKERS.get(cue.role, cue.role)}>" + _vtt_escape(text)
    return text.replace("\n", "\\N")


def to_ssafile(cues: Sequence[Cue], fmt: str = "ass") -> SSAFile:
    """Cues as a pysubs2 file: one event per cue, styled and named by speaker.

    ``fmt`` picks the event text: karaoke for "ass", labelled plain text for "srt"/"vtt".
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown subtitle format {fmt!r}; expected one of {FORMATS}")
    subs = SSAFile()
    subs.info.update({"PlayResX": "1920", "PlayResY": "1080", "WrapStyle": "2"})  # 2: only \N breaks
    subs.styles = _styles()
    for cue in cues:
        speaker = SPEAKERS.get(cue.role, cue.role.capitalize())
        subs.append(
            SSAEvent(start=cue.start_ms, end=cue.end_ms, text=_event_text(cue, fmt), style=speaker, name=speaker)
        )
    subs.sort()
    return subs


def export_text(cues: Sequence[Cue], fmt: str) -> str:
    """The cues as the text of an SRT, ASS or WebVTT file."""
    return to_ssafile(cues, fmt).to_string(fmt)


def export_captions(captions: Sequence[Caption], fmt: str, rules: Optional[LayoutRules] = None) -> str:
    """Lay captions out and export them: what ``captioner replay --srt/--ass/--vtt`` writes."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown subtitle format {fmt!r}; expected one of {FORMATS}")
    return export_text(layout_cues(captions, rules or export_rules(captions)), fmt)


def export_rules(captions: Sequence[Caption]) -> LayoutRules:
    """The default rules for exporting ``captions``: with both speakers there, both are named."""
    both = {c.role for c in captions} >= {"assistant", "user"}
    return LayoutRules(assistant_label="Assistant: " if both else "")


__all__ = ["FORMATS", "SPEAKERS", "export_captions", "export_rules", "export_text", "karaoke_text", "to_ssafile"]
