"""Forced alignment of transcript text to audio with pocketsphinx.

:mod:`estimate` guesses where words fall from energy dips; this listens for them. The
written words become a finite-state grammar of their readings (:mod:`spoken`) and
pocketsphinx's US-English acoustic model finds where each one is spoken, at 10 ms
resolution.

Everything here is deterministic computation on data handed in: no clocks, sockets or
devices. The acoustic model and dictionary are read from the pocketsphinx package once
per :class:`Aligner`.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from captioner.core.estimators._text import Reading, SpokenWord

log = logging.getLogger(__name__)

ALIGN_RATE = 16000  # the acoustic model's sample rate
# No dither here: pocketsphinx draws it from one random stream per decoder, so a pooled
# decoder's history would change its alignments; callers dither with ``dither()``.
# Chosen with benchmarks/align_sweep.py (final onset error against offline CPU): nearly
# all the CPU is the acoustic model's Gaussians (42 codebooks of 128, every frame), not
# the search, so beams and maxhmmpf barely change it, and narrower beams (1e-45) lose
# words and fall back more often. Fewer Gaussians per codebook or frames scored (topn 3
# or 2: ~0.95x, 0.9x; ds=2: ~0.7x) each put some words far off (on the corpus' 24 espeak
# sessions the p95 error goes from 89 ms to 116 with topn=3, 232 with topn=2), and
# topn=2 loses a whole item when its starting mean is off: pocketsphinx's own stay.
DECODER_OPTIONS: dict = {"beam": 1e-60, "wbeam": 1e-40, "pbeam": 1e-60, "dither": False}
_DITHER = (np.random.default_rng(0).random(1 << 16) < 0.25).astype(np.int16)
_SKIP_PROB = 0.01
# Longer unknown "words" are not pronounced from pieces (the search is quadratic in length
# and English words are far shorter: a URL or a base64 blob is not read out letter by letter).
MAX_PIECED_LETTERS = 40
# The mean-measuring decoder (see Aligner.__init__).
_METER: dict = {"beam": 1e-2, "pbeam": 1e-2, "wbeam": 1e-2, "lpbeam": 1e-2, "lponlybeam": 1e-2,
                "bestpath": False, "fsgusefiller": False, "maxhmmpf": 10, "ds": 10, "topn": 1}
FRAME_MS = 10.0
# A phone lasts at least three frames (the model's HMMs have no skips): 30 ms at the
# model's frame shift. Speech faster than that (espeak at ~300 wpm, a fast voice's
# unstressed syllables) cannot pass the grammar at all, so an item no decode gets
# through is decoded again with this shorter shift (a phone may then last 20 ms).
FAST_FRAME_MS = 1000.0 / 150
_FILLER = re.compile(r"^(<.*>|\[.*\]|\+\+.*\+\+|\(NULL\))$")  # (NULL): a null transition of the grammar
_SILENCE = re.compile(r"^(<s>|</s>|<sil>)$")  # the silence model's words (the noise dictionary)
_ALT = re.compile(r"\(\d+\)$")
# Letters as spoken on their own (cmudict spells "a" as the article).
_LETTER_PHONES = {
    "a": "EY", "b": "B IY", "c": "S IY", "d": "D IY", "e": "IY", "f": "EH F", "g": "JH IY",
    "h": "EY CH", "i": "AY", "j": "JH EY", "k": "K EY", "l": "EH L", "m": "EH M", "n": "EH N",
    "o": "OW", "p": "P IY", "q": "K Y UW", "r": "AA R", "s": "EH S", "t": "T IY", "u": "Y UW",
    "v": "V IY", "w": "D AH B AH L Y UW", "x": "EH K S", "y": "W AY", "z": "Z IY",
}


def dither(pcm16k: np.ndarray, first_sample: int) -> np.ndarray:
    """pocketsphinx's dither (+1 on a quarter of the samples, so digital silence has a
    log energy), fixed by each sample's place in the item: the same audio, the same noise."""
    idx = (np.arange(len(pcm16k)) + first_sample) % len(_DITHER)
    x = np.asarray(pcm16k, dtype=np.int16)
    return np.where(x < 32767, x + _DITHER[idx], x).astype(np.int16)


@dataclass(frozen=True)
class WordTiming:
    """Where a written word was heard (ms from the start of the aligned audio)."""

    start_ms: float
    end_ms: float
    # The spoken words of the reading heard ("support", "at", ...) and the (start, end)
    # ms of each: where pieces of one written word are spoken (an e-mail address, a number)
    said: Reading = ()
    tokens: tuple[tuple[float, float], ...] = ()


class Lexicon:
    """Pronunciations: the pocketsphinx dictionary, else built from dictionary pieces.

    Words missing from the dictionary ("interoperability", "json") are pronounced as
    the fewest dictionary pieces that spell them ("inter" + "operability", "j" + "son"),
    falling back to letter names; good enough to hold their place in the audio.
    """

    def __init__(self, lookup) -> None:
        self._lookup = lookup
        self._cache: dict[str, Optional[str]] = {}

    def phones(self, word: str) -> Optional[str]:
        if word not in self._cache:
            self._cache[word] = self._pronounce(word)
        return self._cache[word]

    def _pronounce(self, word: str) -> Optional[str]:
        known = self._lookup(word)
        if known:
            return known
        if len(word) == 1 and word in _LETTER_PHONES:
            return _LETTER_PHONES[word]
        if word.endswith("'s") and len(word) > 2:
            base = self.phones(word[:-2])
            return f"{base} Z" if base else None
        letters = re.sub(r"[^a-z]", "", word)
        if not letters or len(letters) > MAX_PIECED_LETTERS:
            return None  # nothing to say, or no word: it may go unheard
        return self._pieces(letters)

    @functools.lru_cache(maxsize=4096)
    def _pieces(self, letters: str) -> Optional[str]:
        n = len(letters)
        best: list[Optional[tuple[int, str]]] = [None] * (n + 1)  # (pieces, phones) spelling letters[:i]
        best[0] = (0, "")
        for i in range(1, n + 1):
            for j in range(max(0, i - 16), i):
                if best[j] is None:
                    continue
                piece = letters[j:i]
                ph = (self._lookup(piece) if len(piece) > 1 else None) or _LETTER_PHONES.get(piece)
                if not ph:
                    continue
                cost = best[j][0] + (1 if len(piece) > 1 else 3)  # letters spelled out are a last resort
                if best[i] is None or cost < best[i][0]:
                    best[i] = (cost, (best[j][1] + " " + ph).strip())
        return best[n][1] if best[n] else None


class Aligner:
    """A pocketsphinx decoder (and a cheap one to measure means); aligns 16 kHz int16
    audio to spoken words.

    Not thread-safe; :data:`ALIGNERS` lends them out one user at a time.
    """

    def __init__(self) -> None:
        from pocketsphinx import Decoder  # heavy import, only when aligning

        self._decoder = Decoder(samprate=ALIGN_RATE, lm=None, loglevel="FATAL", **DECODER_OPTIONS)
        self.lexicon = Lexicon(self._decoder.lookup_word)
        # Measuring a mean (see measure_cmn) needs the front end only: a second decoder
        # with the same front end, whose search keeps almost nothing and scores a frame
        # in ten, with a one-word dictionary (the full one is most of a decoder's 28 MB).
        # Measured, its means are the aligner's to the digit at a fifth of the CPU and 6 MB.
        self._meter = Decoder(samprate=ALIGN_RATE, lm=None, dict=None, loglevel="FATAL", **{**DECODER_OPTIONS, **_METER})
        self._meter.add_word("the", "DH AH", True)
        self._meter.add_fsg("cmn", self._meter.create_fsg("cmn", 0, 1, [(0, 1, 1.0, "the")]))
        self._meter.activate_search("cmn")
        self._cmn_start = self._meter.get_cmn()  # the model's starting cepstral mean
        self._added: set[str] = set()
        self._fsg_id = 0
        self._in_utt = False
        self._groups: list[list[Reading]] = []
        self._offset_ms = 0.0
        self._frame_ms = FRAME_MS
        self._started: tuple = ()  # the arguments of the utterance under way

    # -- one utterance at a time: start, feed, ask, finish
    def start(self, words: Sequence[SpokenWord], offset_ms: float = 0.0, prefix: bool = False,
              lenient: bool = False, pauses: bool = True, cmn: Optional[str] = None,
              frame_ms: float = FRAME_MS) -> bool:
        """Begin aligning ``words`` against audio fed next (``offset_ms`` into the item).

        With ``prefix`` the audio may as well end after any word (a live item still
        arriving); otherwise that is allowed only as a last resort.
        Words not read literally (numbers, symbols, unknown words) may go unheard, their
        audio taken by the model's speech-noise filler, in case the voice read them some
        other way; with ``lenient`` any word may. ``pauses`` lets silence and noise
        fall between words; that places words after a pause exactly, but now and then
        the silence model swallows speech and the grammar is lost, so without it words
        absorb the pauses (the caller then finds onsets from the energy). ``frame_ms``:
        the frame shift (:data:`FAST_FRAME_MS` for speech too fast for the usual one).
        Returns False when no word can be pronounced.
        """
        self.abandon()
        started = (tuple(words), offset_ms, prefix, lenient, pauses, cmn, frame_ms)
        groups = [self._pronounceable(w.readings, lenient or not w.literal) for w in words]
        if not any(any(r) for g in groups for r in g):
            return False
        transitions: list[tuple] = []
        state, nxt = 0, 1
        finals: list[int] = []
        for g in groups:
            end = nxt
            nxt += 1
            spoken = sum(1 for r in g if r)
            for reading in g:
                if not reading:  # unheard: a last resort
                    transitions.append((state, end, _SKIP_PROB if spoken else 1.0))
                    continue
                p = (1.0 - _SKIP_PROB) / spoken
                s = state
                for k, token in enumerate(reading):
                    t = end if k == len(reading) - 1 else nxt
                    if t != end:
                        nxt += 1
                    transitions.append((s, t, p if k == 0 else 1.0, token))
                    s = t
            state = end
            finals.append(end)
        final = nxt
        transitions.append((state, final, 1.0))
        # The audio may stop after any word (an interrupted item's text runs past it).
        if prefix:
            transitions += [(f, final, 1.0) for f in finals[:-1]]
        self._fsg_id += 1
        name = f"align{self._fsg_id}"
        self._decoder.config["fsgusefiller"] = pauses  # read when the search is built
        fsg = self._decoder.create_fsg(name, 0, final, transitions)
        self._decoder.add_fsg(name, fsg)
        self._decoder.activate_search(name)
        if self._fsg_id > 1:
            self._decoder.remove_search(f"align{self._fsg_id - 1}")
        self._groups, self._offset_ms, self._frame_ms = groups, offset_ms, frame_ms
        # The front end's noise estimate and the cepstral mean to start from (see
        # measure_cmn); otherwise whatever the last utterance left, which makes an
        # alignment depend on this decoder's history.
        self._decoder.config["frate"] = int(round(1000.0 / frame_ms))
        self._decoder.reinit_feat()
        if cmn is not None:
            self._decoder.set_cmn(cmn)
        self._decoder.start_utt()
        self._in_utt, self._started = True, started
        return True

    def decoding(self, words: Sequence[SpokenWord], offset_ms: float = 0.0, prefix: bool = False,
                 lenient: bool = False, pauses: bool = True, cmn: Optional[str] = None,
                 frame_ms: float = FRAME_MS) -> bool:
        """Is the utterance under way the one ``start`` with these arguments begins? (Then
        feeding it the rest of the audio is that decode: no need to start it again.)"""
        return self._in_utt and self._started == (tuple(words), offset_ms, prefix, lenient, pauses, cmn, frame_ms)

    def measure_cmn(self, pcm16k: np.ndarray) -> str:
        """The cepstral mean of ``pcm16k`` (an item's own audio), from the model's
        starting mean: alignments started from it do not depend on what this pooled
        decoder heard before, and start better adapted than from the model's mean."""
        meter = self._meter
        meter.reinit_feat()
        meter.set_cmn(self._cmn_start)
        meter.start_utt()
        if len(pcm16k):
            meter.process_raw(np.ascontiguousarray(pcm16k, dtype=np.int16).tobytes(), False, False)
        mean = meter.get_cmn(True)
        try:
            meter.end_utt()
        except RuntimeError:  # pragma: no cover - the search may not finish; the mean is kept
            pass
        return mean

    def feed(self, pcm16k: np.ndarray) -> None:
        if len(pcm16k):
            self._decoder.process_raw(np.ascontiguousarray(pcm16k, dtype=np.int16).tobytes(), False, False)

    def timings(self) -> Optional[list[Optional[WordTiming]]]:
        """Timing of every word heard so far (None: not reached or unspoken)."""
        segs = self._decoder.seg()
        if segs is None:
            return None
        heard = [(_ALT.sub("", s.word), s.start_frame, s.end_frame) for s in segs]
        heard = [h for h in heard if not _FILLER.match(h[0])]
        return _assign(self._groups, heard, self._offset_ms, self._frame_ms)

    def silences(self) -> list[tuple[float, float]]:
        """(start, end) ms of the stretches the silence model took on the path so far
        (pauses; speech there means the path lost the words: see ForcedAlignEstimator)."""
        segs = self._decoder.seg()
        if segs is None:
            return []
        return [(self._offset_ms + s.start_frame * self._frame_ms, self._offset_ms + (s.end_frame + 1) * self._frame_ms)
                for s in segs if _SILENCE.match(s.word)]

    def finish(self) -> Optional[list[Optional[WordTiming]]]:
        """End the utterance; the timings, or None when the audio did not fit the grammar."""
        self._in_utt = False
        try:
            self._decoder.end_utt()
        except RuntimeError as exc:  # pragma: no cover - pocketsphinx refuses odd utterances
            log.info("alignment failed: %s", exc)
            return None
        if self._decoder.hyp() is None:
            return None
        return self.timings()

    def abandon(self) -> None:
        """Drop an unfinished utterance so the next start() begins clean."""
        if self._in_utt:
            try:
                self._decoder.end_utt()
            except RuntimeError:  # pragma: no cover
                pass
            self._in_utt = False

    def align(self, words: Sequence[SpokenWord], pcm16k: np.ndarray, **how) -> Optional[list[Optional[WordTiming]]]:
        """Whole-item alignment (``how``: the options of :meth:`start`)."""
        if not self.start(words, **how):
            return None
        self.feed(dither(pcm16k, 0))
        return self.finish()

    def _pronounceable(self, readings: Sequence[Reading], skippable: bool) -> list[Reading]:
        out: list[Reading] = []
        for reading in readings:
            ok = True
            for token in reading:
                if token in self._added:
                    continue
                phones = self.lexicon.phones(token)
                if phones is None:
                    ok = False
                    break
                if self._decoder.lookup_word(token) is None:
                    self._decoder.add_word(token, phones, True)
                self._added.add(token)
            if ok:
                out.append(reading)
        if skippable or not out:
            out.append(())
        return out


def _assign(groups: list[list[Reading]], heard: list[tuple[str, int, int]],
            offset_ms: float, frame_ms: float = FRAME_MS) -> list[Optional[WordTiming]]:
    """Which written word each heard word belongs to: parse the heard sequence through
    the grammar's groups (a prefix of it when the audio stopped early)."""
    n, m = len(groups), len(heard)
    words = [h[0] for h in heard]
    dead: set[tuple[int, int]] = set()
    stack = [[0, 0, 0]]  # group, heard position, next reading to try (depth-first)
    while stack:
        i, j, r = stack[-1]
        if j == m:
            break
        if i == n or r == len(groups[i]):
            dead.add((i, j))
            stack.pop()
            continue
        stack[-1][2] += 1
        reading = groups[i][r]
        k = len(reading)
        if tuple(words[j : j + k]) == reading:
            if (i + 1, j + k) not in dead:
                stack.append([i + 1, j + k, 0])
        elif j + k > m and tuple(words[j:]) == reading[: m - j]:  # the audio ends inside it
            stack.append([i + 1, m, 0])
    out: list[Optional[WordTiming]] = [None] * n
    for i, j, r in stack[:-1]:
        k = min(len(groups[i][r - 1]), m - j)
        if k:
            tokens = tuple((offset_ms + a * frame_ms, offset_ms + (b + 1) * frame_ms) for _, a, b in heard[j : j + k])
            out[i] = WordTiming(tokens[0][0], tokens[-1][1], tuple(words[j : j + k]), tokens)
    return out


class _Pool:
    """Idle aligners: loading the acoustic model costs ~0.1 s of CPU, an item needs one
    aligner for as long as its audio streams, and items mostly come one after another."""

    def __init__(self) -> None:
        self._idle: list[Aligner] = []
        self._lock = threading.Lock()

    def take(self) -> Aligner:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return Aligner()

    def give(self, aligner: Aligner) -> None:
        aligner.abandon()
        with self._lock:
            if len(self._idle) < 4:
                self._idle.append(aligner)


ALIGNERS = _Pool()
