"""Caption layout: timed transcript deltas -> readable subtitle cues (pure, sans-I/O).

Captions are transcript *deltas* ("Once", " upon", " dr", "agons"). Their text is joined
exactly as concatenated (a piece without leading whitespace continues the previous word),
split into words that are never broken across lines or cues, and packed into cues that
follow broadcast practice (Netflix English by default, see DESIGN.md "Caption layout").

Each role is its own track: a person may talk over the assistant, so user and assistant
cues may overlap each other, but never themselves.

Every cue time is an integer multiple of ``LayoutRules.time_step_ms`` (10 ms by default,
ASS's centisecond resolution), so SRT, WebVTT and ASS exports carry identical timing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from .model import Caption, Role

_SENTENCE_END = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*$")
_CLAUSE_END = re.compile(r"[,;:\u2013\u2014][\"'\u201d\u2019)\]]*$")
_WORDLIKE = re.compile(r"\S+")


@dataclass(frozen=True)
class LayoutRules:
    """Limits a cue must respect; defaults are Netflix's English timed-text style guide."""

    max_chars_per_line: int = 42
    max_lines: int = 2
    min_duration_ms: int = 833  # 5/6 s, unless the next speech forces it shorter
    max_duration_ms: int = 7000
    min_gap_ms: int = 83  # 2 frames at 24 fps, carved from the earlier cue's end
    max_linger_ms: int = 500  # how long a cue may stay after its speech ended
    max_chars_per_s: float = 20.0  # soft: linger (within max_linger_ms) to reach it
    pause_split_ms: int = 1200  # a silence at least this long starts a new cue
    time_step_ms: int = 10  # ASS has centisecond resolution; quantise for all formats
    user_label: str = "User: "  # prefixed to user cues in SRT/VTT; reserved on line 1
    assistant_label: str = ""

    def label(self, role: str) -> str:
        return self.user_label if role == "user" else self.assistant_label


@dataclass(frozen=True)
class CueWord:
    """One karaoke unit: a delta's text within a cue (a multi-word delta gives one per word).

    ``text`` is exactly as it appears in the cue's text, with its leading space when it
    starts a new word (except at the start of the cue).
    """

    text: str
    start_ms: float
    end_ms: float


@dataclass
class Cue:
    """One subtitle event: at most ``max_lines`` lines shown from ``start_ms`` to ``end_ms``."""

    start_ms: int
    end_ms: int
    role: Role
    item_id: str
    lines: list[str]
    words: list[CueWord] = field(default_factory=list)
    truncated: bool = False  # contains the last heard caption of an interrupted item
    label: str = ""  # speaker label for formats without styles (SRT/VTT)

    @property
    def text(self) -> str:
        return " ".join(self.lines)


# ---------------------------------------------------------------------------- words


@dataclass
class _Frag:
    text: str  # no whitespace
    start: float
    end: float
    truncated: bool


@dataclass
class _Word:
    item_id: str
    frags: list[_Frag]

    @property
    def text(self) -> str:
        return "".join(f.text for f in self.frags)

    @property
    def start(self) -> float:
        return self.frags[0].start

    @property
    def end(self) -> float:
        return max(f.end for f in self.frags)


def _item_words(item_id: str, captions: Sequence[Caption]) -> list[_Word]:
    """Split one item's deltas (in index order) into words of timed fragments.

    A delta holding several words (whisper sends a whole turn as one) is divided by
    character weight so lines and cues can break between its words.
    """
    words: list[_Word] = []
    new_word = True
    for cap in captions:
        text = cap.text or ""
        pieces = list(_WORDLIKE.finditer(text))
        if not pieces:
            new_word = new_word or bool(text)  # whitespace-only: a word boundary, no time
            continue
        start, end = float(cap.start_ms), max(float(cap.end_ms), float(cap.start_ms))
        total = sum(len(p.group()) for p in pieces)
        t = start
        for j, piece in enumerate(pieces):
            t_end = end if j == len(pieces) - 1 else t + (end - start) * len(piece.group()) / total
            frag = _Frag(piece.group(), t, t_end, cap.truncated)
            if new_word or piece.start() > 0 or not words:
                words.append(_Word(item_id, [frag]))
            else:
                words[-1].frags.append(frag)
            new_word = False
            t = t_end
        new_word = text[-1].isspace()
    return words


def _track_words(captions: Iterable[Caption]) -> list[_Word]:
    """One role's words in play order, with times made non-decreasing."""
    items: dict[str, list[Caption]] = {}
    for cap in captions:
        items.setdefault(cap.item_id, []).append(cap)
    order = sorted(items, key=lambda i: min(c.start_ms for c in items[i]))  # stable on ties
    words = [w for i in order for w in _item_words(i, sorted(items[i], key=lambda c: c.index))]
    last = -math.inf
    for w in words:  # defensive: overlapping input must not break cue invariants
        for f in w.frags:
            f.start = max(f.start, last)
            f.end = max(f.end, f.start)
            last = f.start
    return words


# ---------------------------------------------------------------------------- lines


def _line_fits(words: Sequence[str], cap: int) -> bool:
    return len(words) == 1 or len(" ".join(words)) <= cap


def _lines_needed(words: Sequence[str], first_cap: int, cap: int) -> int:
    """Fewest lines for ``words`` (greedy filling is optimal for the line count)."""
    lines, current = 0, []
    for w in words:
        if current and _line_fits(current + [w], first_cap if lines == 0 else cap):
            current.append(w)
        else:
            lines += bool(current)
            current = [w]
    return lines + bool(current)


def _break_bonus(word: str, cap: int) -> float:
    """How many squared-imbalance units a break after ``word`` is worth."""
    if _SENTENCE_END.search(word):
        return 2 * (cap / 3.5) ** 2
    if _CLAUSE_END.search(word):
        return 2 * (cap / 5) ** 2
    return 0.0


def break_lines(words: Sequence[str], first_cap: int, cap: int, max_lines: int) -> list[str]:
    """Balanced line breaks: fewest lines, then lengths as even as possible, preferring
    breaks after punctuation. Never splits a word; a word longer than a line stands alone."""
    n = len(words)
    if n == 0:
        return []
    count = max(_lines_needed(words, first_cap, cap), 1)
    if count == 1:
        return [" ".join(words)]
    # best[k][j]: minimal cost of putting words[:j] into k lines
    inf = math.inf
    best = [[inf] * (n + 1) for _ in range(count + 1)]
    back = [[0] * (n + 1) for _ in range(count + 1)]
    best[0][0] = 0.0
    for k in range(1, count + 1):
        line_cap = first_cap if k == 1 else cap
        for j in range(1, n + 1):
            for i in range(k - 1, j):
                if best[k - 1][i] == inf or not _line_fits(words[i:j], line_cap):
                    continue
                length = len(" ".join(words[i:j]))
                cost = best[k - 1][i] + length**2
                if j < n:
                    cost -= _break_bonus(words[j - 1], cap)
                if cost < best[k][j]:
                    best[k][j], back[k][j] = cost, i
    lines, j = [], n
    for k in range(count, 0, -1):
        i = back[k][j]
        lines.append(" ".join(words[i:j]))
        j = i
    return lines[::-1]


# ---------------------------------------------------------------------------- cues


def _q_up(x: float, step: int) -> int:
    return int(math.ceil(x / step - 1e-9)) * step


def _q_down(x: float, step: int) -> int:
    return int(math.floor(x / step + 1e-9)) * step


class _Packer:
    """Groups one track's words into cues: hard splits at item changes and long pauses,
    sentence ends once a cue is long enough, and the best break when a cue is full."""

    def __init__(self, words: list[_Word], rules: LayoutRules, label: str) -> None:
        self.w, self.r = words, rules
        self.first_cap = rules.max_chars_per_line - len(label)

    def fits(self, i: int, j: int) -> bool:
        words = self.w[i:j]
        if j - i > 1 and max(w.end for w in words) - words[0].start > self.r.max_duration_ms:
            return False
        texts = [w.text for w in words]
        return _lines_needed(texts, self.first_cap, self.r.max_chars_per_line) <= self.r.max_lines

    def clean(self, k: int) -> bool:
        """Can the cue ending before word k stay up until its last word starts, gap kept?"""
        a, b = self.w[k - 1], self.w[k]
        return math.ceil(b.start) - self.r.min_gap_ms > math.ceil(a.start)

    def fill(self, i: int, j: int) -> float:
        chars = len(" ".join(w.text for w in self.w[i:j]))
        span = self.w[j - 1].end - self.w[i].start
        r = self.r
        return max(chars / (r.max_chars_per_line * r.max_lines), span / r.max_duration_ms)

    def choose_break(self, i: int, k: int) -> int:
        """Best end (exclusive) for a full cue starting at i whose words[i:k] fit."""

        def score(c: int) -> float:
            word = self.w[c - 1].text
            bonus = 0.35 if _SENTENCE_END.search(word) else 0.2 if _CLAUSE_END.search(word) else 0
            return self.fill(i, c) + bonus

        candidates = range(i + 1, k + 1)
        clean = [c for c in candidates if self.clean(c)]
        return max(clean or candidates, key=score)

    def groups(self) -> list[tuple[int, int]]:
        out, i, n = [], 0, len(self.w)
        while i < n:
            k, cut, speech_end = i + 1, n, self.w[i].end
            while k < n:
                a, b = self.w[k - 1], self.w[k]
                if b.item_id != a.item_id or b.start - speech_end >= self.r.pause_split_ms:
                    cut = k
                    break
                if (
                    _SENTENCE_END.search(a.text)
                    and speech_end - self.w[i].start >= self.r.min_duration_ms
                    and self.clean(k)
                ):
                    cut = k
                    break
                if not self.fits(i, k + 1):
                    cut = self.choose_break(i, k)
                    break
                speech_end = max(speech_end, b.end)
                k += 1
            out.append((i, cut))
            i = cut
        return out


def _cue_words(words: Sequence[_Word]) -> list[CueWord]:
    out = []
    for n, w in enumerate(words):
        for m, f in enumerate(w.frags):
            space = " " if n > 0 and m == 0 else ""
            out.append(CueWord(space + f.text, f.start, f.end))
    return out


def _layout_track(words: list[_Word], role: Role, rules: LayoutRules) -> list[Cue]:
    label = rules.label(role)
    step, gap = rules.time_step_ms, rules.min_gap_ms
    groups = [words[i:j] for i, j in _Packer(words, rules, label).groups()]
    # starts: at the first word (quantised up); delayed only when an unavoidable split
    # leaves the previous cue no room to show its last word with the gap kept.
    starts: list[int] = []
    for n, g in enumerate(groups):
        s = _q_up(g[0].start, step)
        if n:
            prev = groups[n - 1]
            s = max(s, _q_up(max(starts[-1], math.ceil(prev[-1].start)) + gap + step, step))
        starts.append(s)
    cues = []
    for n, g in enumerate(groups):
        s = starts[n]
        texts = [w.text for w in g]
        lines = break_lines(texts, rules.max_chars_per_line - len(label),
                            rules.max_chars_per_line, rules.max_lines)
        speech_end = max(w.end for w in g)
        reading = s + 1000.0 * len(" ".join(texts)) / rules.max_chars_per_s
        wanted = min(speech_end + rules.max_linger_ms, max(speech_end, reading))
        end = _q_up(max(s + rules.min_duration_ms, wanted), step)
        end = min(end, s + _q_down(rules.max_duration_ms, step))
        if n + 1 < len(groups):
            end = min(end, _q_down(starts[n + 1] - gap, step))
        cues.append(
            Cue(
                start_ms=s,
                end_ms=end,
                role=role,
                item_id=g[0].item_id,
                lines=lines,
                words=_cue_words(g),
                truncated=any(f.truncated for w in g for f in w.frags),
                label=label,
            )
        )
    return cues


def layout_cues(captions: Sequence[Caption], rules: Optional[LayoutRules] = None) -> list[Cue]:
    """Lay captions out as cues, each role on its own non-overlapping track.

    Returns cues sorted by (start_ms, role). Empty/whitespace-only captions add nothing.
    """
    rules = rules or LayoutRules()
    cues: list[Cue] = []
    for role in ("assistant", "user"):
        words = _track_words(c for c in captions if c.role == role)
        cues.extend(_layout_track(words, role, rules))
    cues.sort(key=lambda c: (c.start_ms, c.role))
    return cues
