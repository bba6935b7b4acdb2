"""What the scripted assistant says, cut into model-like tokens timed by espeak word marks.

Pure functions: the caller synthesises (espeak is slow and global) and hands the
:class:`~captioner.edges.tts.Speech` in, so the protocol state machine stays sans-I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

from captioner.server.espeak import Speech

# A word (with its leading space) or a run of punctuation (with its leading space).
_TOKEN_RE = re.compile(r" ?[\w'’]+| ?[^\w\s]+")
_LONG_WORD = 8  # letters; longer words come in pieces, as BPE tokens do
_PIECE = 5


@dataclass(frozen=True)
class Token:
    """One transcript delta: ``text`` covers ``source[start:end]`` of the normalised text."""

    text: str
    start: int
    end: int

    @property
    def is_word(self) -> bool:
        return any(ch.isalnum() for ch in self.text)


@dataclass(frozen=True)
class TimedToken:
    text: str
    start_sample: int
    n_samples: int


def normalise(text: str) -> str:
    """Single spaces, no leading/trailing blanks: deltas then concatenate to the transcript."""
    return " ".join(text.split())


def _pieces(token_text: str) -> list[str]:
    lead = " " if token_text.startswith(" ") else ""
    word = token_text[len(lead):]
    if len(word) <= _LONG_WORD:
        return [token_text]
    parts = [word[i : i + _PIECE] for i in range(0, len(word), _PIECE)]
    if len(parts) > 1 and len(parts[-1]) < 3:
        last = parts.pop()
        parts[-1] += last
    parts[0] = lead + parts[0]
    return parts


def tokenize(text: str) -> list[Token]:
    """Model-like deltas: leading spaces, punctuation split off, long words in pieces.

    ``"".join(t.text for t in tokenize(s)) == normalise(s)``.
    """
    text = normalise(text)
    tokens: list[Token] = []
    for m in _TOKEN_RE.finditer(text):
        pos = m.start()
        pieces = _pieces(m.group()) if any(c.isalnum() for c in m.group()) else [m.group()]
        for piece in pieces:
            tokens.append(Token(piece, pos, pos + len(piece)))
            pos += len(piece)
    return tokens


def _fill_gaps(starts: list[Optional[int]], positions: list[int], total: int) -> list[int]:
    """Interpolate words espeak gave no mark for, by character position; keep monotonic."""
    known = [(p, s) for p, s in zip(positions, starts) if s is not None]
    out: list[int] = []
    for p, s in zip(positions, starts):
        if s is None:
            before = [(kp, ks) for kp, ks in known if kp <= p]
            after = [(kp, ks) for kp, ks in known if kp > p]
            p0, s0 = before[-1] if before else (0, 0)
            p1, s1 = after[0] if after else (max(positions[-1] + 1, p0 + 1), total)
            s = int(s0 + (s1 - s0) * (p - p0) / max(1, p1 - p0))
        out.append(max(s, out[-1]) if out else s)
    return out


def time_tokens(tokens: Sequence[Token], speech: Speech) -> list[TimedToken]:
    """Partition the speech's samples over the tokens, word by word.

    A word runs from its espeak WORD mark to the next word's mark (its pause included);
    the first word also takes the leading silence, so durations add up to the whole
    audio and, laid end to end from the item's first sample, land every word on its
    true start. Pieces and trailing punctuation share their word's span by length.
    """
    total = len(speech.samples)
    if not tokens:
        return []
    groups: list[list[int]] = []  # token indices, one group per word
    for i, tok in enumerate(tokens):
        if tok.is_word and (not groups or tok.text.startswith(" ") or not tokens[i - 1].is_word):
            groups.append([i])
        elif groups:
            groups[-1].append(i)
        else:
            groups.append([i])  # leading punctuation joins the first word
    spans = []
    for g in groups:
        word_tokens = [tokens[i] for i in g if tokens[i].is_word] or [tokens[g[0]]]
        spans.append((word_tokens[0].start, word_tokens[-1].end))
    starts: list[Optional[int]] = []
    for lo, hi in spans:
        inside = [w.sample for w in speech.words if lo <= w.text_start < hi]
        starts.append(min(inside) if inside else None)
    starts[0] = 0
    word_starts = _fill_gaps(starts, [lo for lo, _ in spans], total)
    timed: list[TimedToken] = []
    for gi, g in enumerate(groups):
        g_start = min(word_starts[gi], total)
        g_end = min(word_starts[gi + 1], total) if gi + 1 < len(groups) else total
        g_end = max(g_end, g_start)
        weights = [max(1, len(tokens[i].text.strip())) for i in g]
        acc = 0
        pos = g_start
        for i, w in zip(g, weights):
            acc += w
            nxt = g_start + round((g_end - g_start) * acc / sum(weights))
            timed.append(TimedToken(tokens[i].text, pos, nxt - pos))
            pos = nxt
    return timed
