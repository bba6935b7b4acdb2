"""What a viewer sees at playback time ``now_ms``: live subtitles driven by the playback clock.

Two steps, so that every display (terminal, browser overlay) shares one layout algorithm:

1. :func:`layout` turns ``engine.captions()`` into a time-independent :class:`Layout`: every
   word fragment placed on a line (and, in pop-on mode, in a cue) with the moment it may be
   revealed and the span in which it is being spoken. Greedy wrapping is prefix-stable, so
   lines never reflow as later words appear. It is recomputed only when captions change.
2. :func:`view_at` filters a layout at one instant; it is cheap, and the browser overlay runs
   the same filter in JavaScript against its interpolated clock (``Layout.to_json``).

Rules: nothing is shown before ``Caption.shown_ms`` (its audio has started playing and its
text is there, ``Caption.ready_ms``); within a delta holding several words, the words are
spread over the delta's span by character count (as :mod:`captioner.core.layout` does),
so roll-up reveals them word by word. Pop-on uses the export cues of
:mod:`captioner.core.layout`, so what is seen live is what SRT/ASS/WebVTT will say, and
shows a whole cue at once when its first word plays (text arriving later joins it once
it is ready). An interrupted item ends with a cut
mark ("—" + "[interrupted]") revealed at the cut. :func:`caption_view` does both steps at once.

A live estimate may move a word later after it was shown; the final timeline may re-time
it, the screen must not take it back. :class:`ViewCache` (and the overlay's script) keep
every piece revealed once it was seen (pieces have a stable ``key``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Iterable, Literal, Optional, Sequence

from captioner.core.render._layout import LayoutRules, item_words, layout_cues
from captioner.core._model import Caption, Role

log = logging.getLogger(__name__)

Mode = Literal["rollup", "popon"]
MODES: tuple[str, ...] = ("rollup", "popon")
CUT_MARK = "—"
INTERRUPTED = "[interrupted]"
CUT_HOLD_MS = 1000.0  # a pop-on cue ending in a cut stays this long after it


@dataclass(frozen=True)
class Piece:
    """A word fragment (or cut mark) placed on a layout line.

    A word split across transcript deltas ("Hel" + "lo") is several pieces; ``glue`` means
    no space before this piece, so partially revealed words read naturally.
    """

    text: str
    role: Role
    item_id: str
    line: int
    reveal_ms: float  # first instant it may be shown
    start_ms: float  # karaoke span: it is being spoken in [start_ms, end_ms)
    end_ms: float
    glue: bool = False
    provisional: bool = False
    kind: Literal["word", "mark"] = "word"
    key: str = ""  # stable across layouts of the same item as its text grows


@dataclass(frozen=True)
class LaidLine:
    label: Optional[str]  # speaker label at the start of a speaker turn
    role: Role
    cue: int  # pop-on cue index (roll-up: -1)


@dataclass(frozen=True)
class CueSpan:
    """When a pop-on cue is on screen: ``[start_ms, until_ms)``."""

    start_ms: float
    until_ms: float


@dataclass(frozen=True)
class Layout:
    mode: Mode
    width: int
    lines_per_cue: int
    lines: list[LaidLine] = field(default_factory=list)
    pieces: list[Piece] = field(default_factory=list)  # in reading order
    cues: list[CueSpan] = field(default_factory=list)

    def to_json(self) -> dict:
        """Compact form for the browser overlay (same filter, same rules); strict JSON:
        "never" (an infinite time) becomes 1e300."""
        return {
            "mode": self.mode,
            "width": self.width,
            "lines_per_cue": self.lines_per_cue,
            "lines": [asdict(line) for line in self.lines],
            "pieces": [finite_json(asdict(p)) for p in self.pieces],
            "cues": [finite_json(asdict(c)) for c in self.cues],
        }


def finite_json(d: dict) -> dict:
    """A flat dict with infinite floats replaced by +-1e300, for strict JSON (browsers)."""
    return {k: (math.copysign(1e300, v) if isinstance(v, float) and math.isinf(v) else v) for k, v in d.items()}


@dataclass(frozen=True)
class ShownWord:
    """A piece as seen at one instant."""

    text: str
    role: Role
    item_id: str
    glue: bool = False
    current: bool = False  # being spoken now (karaoke highlight)
    provisional: bool = False  # timing/text may still change
    kind: Literal["word", "mark"] = "word"
    reveal_ms: float = 0.0  # when it first became visible (lag measurements)
    key: str = ""  # the piece's stable key (Piece.key)

    @property
    def state(self) -> str:
        """"current", "provisional" or "spoken" (current wins: it is what the ear hears)."""
        if self.current:
            return "current"
        return "provisional" if self.provisional else "spoken"


@dataclass(frozen=True)
class Line:
    label: Optional[str]
    role: Role
    words: tuple[ShownWord, ...]

    @property
    def text(self) -> str:
        out = ""
        for w in self.words:
            out += w.text if (w.glue or not out) else " " + w.text
        return out


@dataclass(frozen=True)
class View:
    now_ms: float
    mode: Mode
    lines: tuple[Line, ...]
    next_change_ms: Optional[float]  # the view cannot change before this unless captions do

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def words(self) -> list[ShownWord]:
        return [w for line in self.lines for w in line.words]


@dataclass
class _Frag:
    text: str
    reveal_ms: float
    start_ms: float
    end_ms: float
    provisional: bool
    kind: str = "word"
    key: str = ""
    ready_ms: float = 0.0  # Caption.ready_ms


def _item_fragments(caps: Sequence[Caption]) -> list[list[_Frag]]:
    """One item's captions (index order) -> words, each a list of fragments.

    Words are split exactly as the subtitle layout splits them, so live views and
    exported cues agree on where multi-word deltas break.
    """
    item_id = caps[0].item_id if caps else ""
    words: list[list[_Frag]] = [
        [_Frag(f.text, max(f.start + f.caption.show_delay_ms, f.caption.ready_ms), f.start, f.end,
               not f.caption.final, ready_ms=f.caption.ready_ms) for f in word.frags]
        for word in item_words(item_id, caps)
    ]
    n = 0
    for word in words:  # fragments in reading order: appending text never renumbers them
        for f in word:
            f.key = f"{item_id}/{n}"
            n += 1
    if caps and caps[-1].truncated and words:
        last = caps[-1]
        cut = max(last.shown_ms, last.end_ms)
        prov = not last.final
        words[-1].append(_Frag(CUT_MARK, cut, cut, cut, prov, "mark", f"{item_id}/cut", cut))
        words.append([_Frag(INTERRUPTED, cut, cut, cut, prov, "mark", f"{item_id}/interrupted", cut)])
    return words


def _word_len(word: list[_Frag]) -> int:
    return sum(len(f.text) for f in word)


def layout(captions: Iterable[Caption], mode: str = "rollup", width: int = 42, lines: int = 2) -> Layout:
    """Place every caption's words on lines (pop-on: in the cues of :mod:`captioner.core.layout`)."""
    if mode not in MODES:
        raise ValueError(f"unknown caption mode {mode!r} (expected one of {MODES})")
    by_item: dict[str, list[Caption]] = {}
    for cap in captions:
        if not (math.isfinite(cap.start_ms) and math.isfinite(cap.end_ms)) or math.isnan(cap.arrived_ms):
            log.info("view: skipped caption %s/%s with unusable times", cap.item_id, cap.index)
            continue
        if cap.text:
            by_item.setdefault(cap.item_id, []).append(cap)
    for caps in by_item.values():
        caps.sort(key=lambda c: c.index)
    if mode == "popon":
        return _popon(by_item, width, lines)
    return _rollup(by_item, width, lines)


def _rollup(by_item: dict[str, list[Caption]], width: int, lines: int) -> Layout:
    """Items in order of their first revealed word, each from a new line, greedily wrapped."""
    items = []
    for item_id, caps in by_item.items():
        words = _item_fragments(caps)
        if words:
            items.append((min(f.reveal_ms for f in words[0]), caps[0].start_ms, item_id, caps[0].role, words))
    items.sort(key=lambda it: it[:3])
    laid_lines: list[LaidLine] = []
    pieces: list[Piece] = []
    prev_role: Optional[str] = None
    for _, _, item_id, role, words in items:
        label = role if role != prev_role else None
        prev_role = role
        item_lines: list[list[list[_Frag]]] = [[]]
        used = 0
        for word in words:
            n = _word_len(word)
            fits = used + 1 + n <= width or word[0].kind == "mark"  # the cut mark stays with its words
            if item_lines[-1] and not fits:
                item_lines.append([])
                used = 0
            used += n + (1 if item_lines[-1] else 0)
            item_lines[-1].append(word)
        for k, line_words in enumerate(item_lines):
            line_no = len(laid_lines)
            laid_lines.append(LaidLine(label if k == 0 else None, role, -1))
            for word in line_words:
                for f_i, f in enumerate(word):
                    pieces.append(Piece(f.text, role, item_id, line_no, f.reveal_ms, f.start_ms, f.end_ms,
                                        glue=f_i > 0, provisional=f.provisional, kind=f.kind,  # type: ignore[arg-type]
                                        key=f.key))
    return Layout("rollup", width, lines, laid_lines, pieces, [])


def _popon(by_item: dict[str, list[Caption]], width: int, lines: int) -> Layout:
    """The export cues (same line breaks and timing as SRT/ASS/WebVTT), each shown whole
    when its first word plays; a word whose text arrives later joins it on arrival.

    Cue words carry speech times only; arrival times and finality come from the captions,
    whose fragments follow the same split (``\\S+`` per delta, index order).
    """

    frags = {item_id: iter([f for w in _item_fragments(caps) for f in w if f.kind == "word"])
             for item_id, caps in by_item.items()}
    cut = {item_id: max(caps[-1].shown_ms, caps[-1].end_ms) for item_id, caps in by_item.items()
           if caps[-1].truncated}
    rules = LayoutRules(max_chars_per_line=width, max_lines=lines, user_label="", assistant_label="", cut_mark="")
    cues = layout_cues([c for caps in by_item.values() for c in caps], rules)
    last_cue = {cue.item_id: n for n, cue in enumerate(cues)}
    laid_lines: list[LaidLine] = []
    pieces: list[Piece] = []
    spans: list[CueSpan] = []
    for n, cue in enumerate(cues):
        base = len(laid_lines)
        for k in range(len(cue.lines)):
            laid_lines.append(LaidLine(cue.role if k == 0 else None, cue.role, n))
        li, used, first = 0, 0, len(pieces)
        opens: Optional[float] = None  # when the cue's first word plays (and its text is there)
        for j, cw in enumerate(cue.words):
            text = cw.text.lstrip()
            glue = j > 0 and not cw.text[:1].isspace()
            if not glue and j > 0:
                if used + 1 + len(text) > len(cue.lines[li]) and li + 1 < len(cue.lines):
                    li, used = li + 1, 0
                else:
                    used += 1
            used += len(text)
            f = next(frags[cue.item_id], None)
            own = max(cw.start_ms, f.reveal_ms if f else cw.start_ms)  # as roll-up would reveal it
            if opens is None:
                opens = own
            reveal = max(opens, f.ready_ms) if f else opens
            pieces.append(Piece(text, cue.role, cue.item_id, base + li, reveal, cw.start_ms,
                                cw.end_ms, glue=glue, provisional=f.provisional if f else False,
                                key=f.key if f else ""))
        if cue.item_id in cut and last_cue[cue.item_id] == n and len(pieces) > first:
            t, line, prov = cut[cue.item_id], pieces[-1].line, pieces[-1].provisional
            pieces.append(Piece(CUT_MARK, cue.role, cue.item_id, line, t, t, t, True, prov, "mark",
                                f"{cue.item_id}/cut"))
            pieces.append(Piece(INTERRUPTED, cue.role, cue.item_id, line, t, t, t, False, prov, "mark",
                                f"{cue.item_id}/interrupted"))
        shown = [p.reveal_ms for p in pieces[first:]]
        start = max(float(cue.start_ms), min(shown)) if shown else float(cue.start_ms)
        # text that arrived late still gets the cue's full duration; a cut stays readable
        until = max(float(cue.end_ms), start + cue.end_ms - cue.start_ms)
        if pieces[first:] and pieces[-1].kind == "mark":
            until = max(until, pieces[-1].reveal_ms + CUT_HOLD_MS)
        later = [c.start_ms for c in cues[n + 1:] if c.role == cue.role]
        spans.append(CueSpan(start, max(start, min([until] + later))))
    return Layout("popon", width, lines, laid_lines, pieces, spans)


def view_at(lay: Layout, now_ms: float, lines: int = 2) -> View:
    """The view of ``lay`` at ``now_ms``: roll-up keeps the last ``lines`` lines; pop-on shows the cue on screen."""
    shown = [p for p in lay.pieces if p.reveal_ms <= now_ms]
    if lay.mode == "popon":
        on_screen = {i for i, c in enumerate(lay.cues) if c.start_ms <= now_ms < c.until_ms}
        line_nos = [i for i, ln in enumerate(lay.lines) if ln.cue in on_screen]
    else:
        line_nos = sorted({p.line for p in shown})[-lines:] if lines > 0 else []
    wanted = set(line_nos)
    by_line: dict[int, list[ShownWord]] = {n: [] for n in line_nos}
    for p in shown:
        if p.line in wanted:
            current = p.kind == "word" and p.start_ms <= now_ms < p.end_ms
            by_line[p.line].append(ShownWord(p.text, p.role, p.item_id, p.glue, current, p.provisional, p.kind,
                                            p.reveal_ms, p.key))
    out = tuple(Line(lay.lines[n].label, lay.lines[n].role, tuple(by_line[n])) for n in line_nos)
    return View(now_ms, lay.mode, out, _next_change(lay, now_ms))


def _next_change(lay: Layout, now_ms: float) -> Optional[float]:
    times = [t for p in lay.pieces for t in (p.reveal_ms, p.start_ms, p.end_ms) if t > now_ms]
    times += [t for c in lay.cues for t in (c.start_ms, c.until_ms) if t > now_ms]
    return min(times) if times else None


def keep_revealed(lay: Layout, revealed: dict[str, float]) -> Layout:
    """``lay`` with every piece already seen (``revealed``: key -> when) revealed no later
    than it was, and a pop-on cue on screen from its first seen piece: a later estimate may
    move a word, not take it off the screen."""
    if not revealed:
        return lay
    pieces, cue_seen = [], {}
    for p in lay.pieces:
        seen = revealed.get(p.key) if p.key else None
        if seen is not None and seen < p.reveal_ms:
            p = replace(p, reveal_ms=seen)
        if seen is not None and lay.mode == "popon":
            cue = lay.lines[p.line].cue
            cue_seen[cue] = min(cue_seen.get(cue, math.inf), p.reveal_ms)
        pieces.append(p)
    cues = [CueSpan(min(c.start_ms, cue_seen.get(i, math.inf)), c.until_ms) for i, c in enumerate(lay.cues)]
    return replace(lay, pieces=pieces, cues=cues)


def caption_view(
    captions: Iterable[Caption], now_ms: float, mode: str = "rollup", lines: int = 2, width: int = 42
) -> View:
    """What a viewer sees at ``now_ms`` (layout + filter in one call)."""
    return view_at(layout(captions, mode, width, lines), now_ms, lines)


class ViewCache:
    """Recompute a view only when captions changed or a word boundary was crossed.

    ``update`` returns the new view, or None when the previous one is still exact: displays
    call it every frame and repaint only on a non-None answer. A piece once shown stays
    revealed (:func:`keep_revealed`) when later captions move it.
    """

    def __init__(self, mode: str = "rollup", lines: int = 2, width: int = 42) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown caption mode {mode!r}")
        self.mode, self.lines, self.width = mode, lines, width
        self.layout: Optional[Layout] = None
        self.view: Optional[View] = None
        self._revision: Optional[int] = None
        self._captions: Optional[list[Caption]] = None
        self.revealed: dict[str, float] = {}  # piece key -> when it was first revealed

    def set_captions(self, captions: Iterable[Caption], revision: int) -> None:
        self._revision = revision
        captions = list(captions)
        if captions == self._captions and self.layout is not None:
            return  # the engine bumps revisions on audio too: same captions, same view
        self._captions = captions
        self.layout = keep_revealed(layout(captions, self.mode, self.width, self.lines), self.revealed)
        self.view = None

    def update(self, captions_fn, revision: int, now_ms: float) -> Optional[View]:
        """``captions_fn`` is called only when ``revision`` moved (engine.captions may be costly)."""
        if revision != self._revision or self.layout is None:
            self.set_captions(captions_fn(), revision)
        assert self.layout is not None
        v = self.view
        if v is not None and (v.next_change_ms is None or now_ms < v.next_change_ms) and now_ms >= v.now_ms:
            return None
        self.view = view_at(self.layout, now_ms, self.lines)
        for p in self.layout.pieces:
            if p.key and p.reveal_ms <= now_ms and p.key not in self.revealed:
                self.revealed[p.key] = p.reveal_ms
        if v is not None and v.lines == self.view.lines:
            return None
        return self.view
