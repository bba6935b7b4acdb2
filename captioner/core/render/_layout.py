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

import bisect
import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from captioner.core._model import Caption, Role

_SENTENCE_END = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*$")
_CLAUSE_END = re.compile(r"[,;:\u2013\u2014][\"'\u201d\u2019)\]]*$")
# Words that bind to what follows: breaking a line or cue after them reads badly.
_BINDING = frozenset(
    "a an the to of in on at by for from with into about and or but nor so as than that "
    "my your his her its our their this these those i we you he she they it is are was "
    "were be not no very".split()
)


# Words that open a clause: a break just before them reads well.
_OPENING = frozenset("and but or so because which who when while if then where".split())


def _binds_forward(word: str) -> bool:
    return word.lower() in _BINDING


def _opens_clause(word: str) -> bool:
    return word.lower() in _OPENING


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
    assistant_label: str = ""  # export_captions sets "Assistant: " when both speakers are there
    cut_mark: str = "\u2014"  # ends an interrupted answer's last cue ("" for none)

    def label(self, role: str) -> str:
        return self.user_label if role == "user" else self.assistant_label


@dataclass(frozen=True, slots=True)
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


@dataclass(slots=True)
class Fragment:
    """A timed piece of one word (a delta, or a share of a multi-word delta)."""

    text: str  # no whitespace
    start: float
    end: float
    caption: Caption

    @property
    def truncated(self) -> bool:
        return self.caption.truncated


@dataclass(slots=True)
class Word:
    item_id: str
    frags: list[Fragment]

    @property
    def text(self) -> str:
        return "".join(f.text for f in self.frags)

    @property
    def start(self) -> float:
        return self.frags[0].start

    @property
    def end(self) -> float:
        return max(f.end for f in self.frags)


def item_words(item_id: str, captions: Sequence[Caption]) -> list[Word]:
    """Split one item's deltas (in index order) into words of timed fragments.

    A delta holding several words (whisper sends a whole turn as one) is divided by
    character weight so lines and cues can break between its words.
    """
    words: list[Word] = []
    new_word = True
    for cap in captions:
        text = cap.text or ""
        pieces = text.split()  # the runs of non-space characters (str.isspace is re's \s)
        if not pieces:
            new_word = new_word or bool(text)  # whitespace-only: a word boundary, no time
            continue
        start, end = float(cap.start_ms), float(cap.end_ms)
        if end < start:
            end = start
        new_word = new_word or text[0].isspace() or not words
        last = len(pieces) - 1
        if not last:  # one piece (a word, or a tiny delta of one): no sharing out
            if new_word:
                words.append(Word(item_id, [Fragment(pieces[0], start, end, cap)]))
            else:
                words[-1].frags.append(Fragment(pieces[0], start, end, cap))
            new_word = text[-1].isspace()
            continue
        total = sum(map(len, pieces))
        t = start
        for j, piece in enumerate(pieces):
            t_end = end if j == last else t + (end - start) * len(piece) / total
            frag = Fragment(piece, t, t_end, cap)
            if new_word:
                words.append(Word(item_id, [frag]))
            else:
                words[-1].frags.append(frag)
            new_word = True
            t = t_end
        new_word = text[-1].isspace()
    return words


def _track_words(captions: Iterable[Caption], cut_mark: str = "") -> list[Word]:
    """One role's words in play order, with times made non-decreasing; an interrupted
    item's last word carries the cut mark after a no-break space (never split from it,
    and lines keep room for it)."""
    items: dict[str, list[Caption]] = {}
    for cap in captions:
        items.setdefault(cap.item_id, []).append(cap)
    order = sorted(items, key=lambda i: (min(c.start_ms for c in items[i]), i))
    words = []
    for item_id in order:
        caps = sorted(items[item_id], key=lambda c: c.index)
        item = item_words(item_id, caps)
        if cut_mark and item and caps[-1].truncated:
            t = item[-1].end
            item[-1].frags.append(Fragment("\u00a0" + cut_mark, t, t, caps[-1]))
        words.extend(item)
    last = -math.inf
    for w in words:  # defensive: overlapping input must not break cue invariants
        for f in w.frags:  # (comparisons, not max calls: this runs once per delta)
            if f.start < last:
                f.start = last
            if f.end < f.start:
                f.end = f.start
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


def _break_bonus(word: str, next_word: str, cap: int) -> float:
    """How many squared-imbalance units a break between two words is worth."""
    if _SENTENCE_END.search(word):
        return 2 * (cap / 3.5) ** 2
    if _CLAUSE_END.search(word):
        return 2 * (cap / 5) ** 2
    if _binds_forward(word):
        return -2 * (cap / 7) ** 2
    if _opens_clause(next_word):
        return 2 * (cap / 7) ** 2
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
    offsets = list(itertools.accumulate((len(w) + 1 for w in words), initial=0))
    bonus = [_break_bonus(words[j - 1], words[j], cap) if 0 < j < n else 0.0 for j in range(n + 1)]
    # best[k][j]: minimal cost of putting words[:j] into k lines
    inf = math.inf
    best = [[inf] * (n + 1) for _ in range(count + 1)]
    back = [[0] * (n + 1) for _ in range(count + 1)]
    best[0][0] = 0.0
    for k in range(1, count + 1):
        line_cap = first_cap if k == 1 else cap
        prev, row, rback = best[k - 1], best[k], back[k]
        for j in range(1, n + 1):
            for i in range(j - 1, k - 2, -1):  # longer lines as i falls: stop once one is too long
                length = offsets[j] - offsets[i] - 1
                if length > line_cap and j - i > 1:
                    break
                if prev[i] == inf:
                    continue
                cost = prev[i] + length**2 - bonus[j]
                if cost <= row[j]:  # ties go to the earliest break, as before
                    row[j], rback[j] = cost, i
    lines, j = [], n
    for k in range(count, 0, -1):
        i = back[k][j]
        lines.append(" ".join(words[i:j]))
        j = i
    return lines[::-1]


# ---------------------------------------------------------------------------- cues


def _q_up(x: float, step: int) -> int:
    """Smallest multiple of step >= x (exact even where x / step rounds)."""
    q = math.ceil(x / step) * step
    return q + step if q < x else q


def _q_down(x: float, step: int) -> int:
    """Largest multiple of step <= x."""
    q = math.floor(x / step) * step
    return q - step if q > x else q


class _Packer:
    """Partitions one track's words into cues.

    Item changes and long pauses always split. Between them, the partition minimising a
    cost is chosen (like Knuth-Plass line breaking, over cues): breaking mid-sentence costs
    more than after a clause, which costs more than after a sentence; under-filled cues
    and cues that run a sentence end into the next sentence (once the first part is long
    enough to stand alone) cost a little; a split that would hide the earlier cue before
    its last word starts (the 83 ms gap leaves no room) costs a lot, so such words merge.
    """

    CUE = 0.1  # every extra cue
    MID_SENTENCE, AFTER_CLAUSE = 1.0, 0.25
    RUN_ON = 0.5  # a long-enough sentence end inside a cue
    ORPHAN = 0.5  # a cue opening with a short tail of the previous cue's sentence
    UNDERFILL = 0.5
    BINDING = 0.3  # ending a cue on "the", "of", "and", ...
    OPENING = 0.2  # the next cue opens with "and", "which", ...
    UNCLEAN = 5.0

    def __init__(self, words: list[Word], rules: LayoutRules, label: str) -> None:
        self.r = rules
        self.first_cap = rules.max_chars_per_line - len(label)
        # per-word facts, computed once: the search below looks at each word many times
        self.text = [w.text for w in words]
        self.item = [w.item_id for w in words]
        self.start = [w.start for w in words]
        self.end = [w.end for w in words]
        self.sentence = [_SENTENCE_END.search(t) is not None for t in self.text]
        self.clause = [_CLAUSE_END.search(t) is not None for t in self.text]
        self.binds = [_binds_forward(t) for t in self.text]
        self.opens = [_opens_clause(t) for t in self.text]
        self.most_chars = rules.max_chars_per_line * rules.max_lines
        # offsets[k]: length of words[:k] joined with spaces, plus one (a line's length by
        # subtraction), and where the sentence ends are: so each question costs O(log n)
        self.offsets = list(itertools.accumulate((len(t) + 1 for t in self.text), initial=0))
        self.sentence_ends = [n for n, flag in enumerate(self.sentence) if flag]
        # next_end[k]: the first sentence end at or after word k (len(words): none), so a
        # cue without one inside is seen at once
        self.next_end = [len(self.text)] * (len(self.text) + 1)
        for k in range(len(self.text) - 1, -1, -1):
            self.next_end[k] = k if self.sentence[k] else self.next_end[k + 1]

    def _lines(self, i: int, j: int) -> int:
        """Fewest lines for words[i:j] (greedy filling is optimal), stopping past the limit."""
        lines, a, cap = 0, i, self.first_cap
        while a < j and lines <= self.r.max_lines:
            b = bisect.bisect_right(self.offsets, self.offsets[a] + cap + 1, a + 1, j + 1) - 1
            a = max(b, a + 1)  # a word longer than a line stands alone
            lines, cap = lines + 1, self.r.max_chars_per_line
        return lines

    def clean(self, k: int) -> bool:
        """Can the cue ending before word k stay up until its last word starts, gap kept?"""
        return math.ceil(self.start[k]) - self.r.min_gap_ms > math.ceil(self.start[k - 1])

    def _inner_cost(self, i: int, j: int, first: bool) -> float:
        """What the sentence ends inside words[i:j] cost: running on past one that could
        stand alone, or opening with a short tail of the previous cue's sentence."""
        ends = self.sentence_ends
        lo = bisect.bisect_left(ends, i)
        if lo == len(ends) or ends[lo] >= j - 1:
            return 0.0
        cost = 0.0
        orphan_checked = first or self.sentence[i - 1]
        for n in ends[lo:bisect.bisect_left(ends, j - 1)]:
            if self.end[n] - self.start[i] >= self.r.min_duration_ms:
                cost += self.RUN_ON
            if not orphan_checked:
                orphan_checked = True
                if self.offsets[n + 1] - self.offsets[i] - 1 < self.r.max_chars_per_line / 3:
                    cost += self.ORPHAN  # "... the rising | sun. One day"
        return cost

    def _ending_cost(self, j: int) -> float:
        """What ending a cue before word j costs (its last word, the gap it leaves)."""
        e = j - 1
        cost = 0.0 if self.clean(j) else self.UNCLEAN
        if self.sentence[e]:
            return cost  # a whole sentence is a natural cue, however short
        if self.clause[e]:
            return cost + self.AFTER_CLAUSE
        if self.binds[e]:
            return cost + self.MID_SENTENCE + self.BINDING
        if self.opens[j]:
            return cost + self.MID_SENTENCE - self.OPENING
        return cost + self.MID_SENTENCE

    def _segment(self, a: int, b: int) -> list[tuple[int, int]]:
        """The cheapest partition of words[a:b] into cues (dynamic programming over ends)."""
        r, end, start, offsets, next_end = self.r, self.end, self.start, self.offsets, self.next_end
        max_duration, max_lines, first_cap, most_chars = r.max_duration_ms, r.max_lines, self.first_cap, self.most_chars
        cue_cost, underfill_cost, lines, inner_cost = self.CUE, self.UNDERFILL, self._lines, self._inner_cost
        best = [0.0] + [math.inf] * (b - a)
        back = [a] * (b - a + 1)
        fits = a  # the first word a cue ending before word j may start at and keep to max_lines:
        for j in range(a + 1, b + 1):  # it only moves forward with j (more words never fit in fewer lines)
            while fits < j - 1 and offsets[j] - offsets[fits] - 1 > first_cap and lines(fits, j) > max_lines:
                fits += 1
            last = j == b
            ending = 0.0 if last else self._ending_cost(j)
            underfill = not last and not self.sentence[j - 1]
            speech_end = -math.inf
            here, here_i = math.inf, a
            last_word, line_end = j - 1, offsets[j] - 1
            for i in range(last_word, a - 1, -1):  # (the hot loop: locals, no calls)
                e, s = end[i], start[i]
                if e > speech_end:
                    speech_end = e
                if i < last_word and (speech_end - s > max_duration or i < fits):
                    break  # adding words in front never makes a cue fit again
                c = best[i - a] + cue_cost
                if next_end[i] < last_word:  # a sentence ends inside
                    c += inner_cost(i, j, i == a)
                c += ending
                if underfill:  # how far from full the cue is, by characters or by time
                    fill = (line_end - offsets[i]) / most_chars
                    by_time = (speech_end - s) / max_duration
                    if by_time > fill:
                        fill = by_time
                    if fill < 1.0:
                        c += underfill_cost * (1.0 - fill) ** 2
                if c < here:
                    here, here_i = c, i
            best[j - a], back[j - a] = here, here_i
        out, j = [], b
        while j > a:
            out.append((back[j - a], j))
            j = back[j - a]
        return out[::-1]

    def groups(self) -> list[tuple[int, int]]:
        """(start, end) word index ranges of the cues, in order."""
        out, a, speech_end = [], 0, -math.inf
        for k in range(len(self.text)):
            if k and (self.item[k] != self.item[k - 1] or self.start[k] - speech_end >= self.r.pause_split_ms):
                out += self._segment(a, k)
                a, speech_end = k, -math.inf
            speech_end = max(speech_end, self.end[k])
        if self.text:
            out += self._segment(a, len(self.text))
        return out


def _cue_words(words: Sequence[Word]) -> list[CueWord]:
    out = []
    append = out.append
    for n, w in enumerate(words):
        frags = w.frags
        first = frags[0]
        append(CueWord(" " + first.text if n else first.text, first.start, first.end))
        for f in frags[1:]:
            append(CueWord(f.text, f.start, f.end))
    return out


def _layout_track(words: list[Word], role: Role, rules: LayoutRules) -> list[Cue]:
    label = rules.label(role)
    step, gap = rules.time_step_ms, rules.min_gap_ms
    packer = _Packer(words, rules, label)
    spans = packer.groups()
    groups = [words[i:j] for i, j in spans]
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
        i, j = spans[n]
        texts = packer.text[i:j]
        lines = break_lines(texts, rules.max_chars_per_line - len(label),
                            rules.max_chars_per_line, rules.max_lines)
        speech_end = max(packer.end[i:j])
        reading = s + 1000.0 * len(" ".join(texts)) / rules.max_chars_per_s
        wanted = min(speech_end + rules.max_linger_ms, max(speech_end, reading))
        end = _q_up(max(s + max(rules.min_duration_ms, 1), wanted), step)
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
        words = _track_words((c for c in captions if c.role == role), rules.cut_mark)
        cues.extend(_layout_track(words, role, rules))
    cues.sort(key=lambda c: (c.start_ms, c.role))
    return cues
