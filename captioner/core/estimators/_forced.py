"""The default estimator: forced alignment of each item's text to its audio, live.

While an item streams, its audio is resampled to 16 kHz and fed to a pocketsphinx
aligner (:mod:`sphinx`) as it arrives, against a grammar of the words received so far
that may stop after any word (the last one, whose text may still be growing, once the
words before it are heard: text that comes as it is spoken ends in the word being
said). A word counts as *confirmed* once the aligner has heard
the next one (or enough audio after it); confirmed words are placed where they were
heard. Words not yet confirmed take the audio-only estimate (:mod:`_energy`: pauses,
energy, text weights) until they are, so the first words of an item, and words the
aligner has not caught up with, are shown as they play instead of waiting for enough
audio to align them; ``confident()`` says how many leading deltas the alignment placed.

When the text outgrows the grammar, alignment restarts from the last confirmed word
(earlier words keep their timing, and the words decoded again theirs until they are
heard again), with re-decoding limited to a budget in proportion to the audio received.
Where the path gets lost (a pause over speech, a word stretched over others) the rest
is followed again from the word before, keeping nothing the lost path placed after it.
Once audio and text are complete the alignment is finished with the whole text; that
final timing is what ``replay`` and exports use. It depends on the item's audio and text
only, not on how they arrived or when spans() was asked: audio is resampled and fed in
fixed blocks, dithered by sample position, and each utterance starts from a fresh front
end and the item's own cepstral mean. So a live session's exports and a replay of its
log agree.

Items without samples (WebRTC: only a length) and items the aligner cannot follow use
:class:`~captioner.core.estimate.AudioAlignedEstimator`.
"""

from __future__ import annotations

import bisect
import logging
import math
import re
import weakref
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

from captioner.core.estimators._base import ItemEstimator, Span, after, ordered, pace, spread
from captioner.core.estimators._energy import AudioAlignedEstimator, syllable_level
from captioner.core.estimators._sphinx import ALIGN_RATE, ALIGNERS, FAST_FRAME_MS, Aligner, WordTiming, dither
from captioner.core.estimators._text import SpokenWord, continues, reading_phones, speakable, spoken_share
from captioner.core.wire._audio import Resampler

__all__ = ["ForcedAlignEstimator", "default_estimator"]

log = logging.getLogger(__name__)

_CONFIRM_AFTER_MS = 250.0  # audio after a word's end that confirms it without a next word
# Longer than any voice says a word (2.5 syllables/s, and a drawn-out "Yes." or "Hmm" up
# to a second): a word "lasting" longer has absorbed the speech of other words.
_SLOWEST_MS_PER_UNIT = 400.0
_LONGEST_SHORT_WORD_MS = 1000.0
_PACE_SLACK = 3.0  # a word at a phrase's end is drawn out, up to about twice the voice's pace
_BLOCK = ALIGN_RATE // 20  # 50 ms: the aligner is fed whole blocks (see _feeding)
_CMN_SAMPLES = 2 * ALIGN_RATE  # the item's cepstral mean is measured on its first 2 s
_ANCHOR_LEAD_MS = 30.0  # audio kept before the anchor word when restarting
_PACE_MS_PER_UNIT = 150.0
# Ways to finish an item, best first (see Aligner.start): pauses between words, else
# words absorbing them; the same with a shorter frame shift (speech too fast for the
# model's shortest phone gets through no grammar at all); then any word allowed unheard,
# then the text may end early.
_FINAL_ATTEMPTS: tuple[dict, ...] = (
    dict(pauses=True),
    dict(pauses=False),
    dict(pauses=True, frame_ms=FAST_FRAME_MS),
    dict(pauses=False, frame_ms=FAST_FRAME_MS),
    dict(pauses=False, lenient=True),
    dict(pauses=True, lenient=True, prefix=True),
)  # placing words not yet heard
_QUIET_DB = 10.0  # frames this close to the item's noise floor are a pause
_MIN_QUIET_FRAMES = 6  # 60 ms: longer than a stop closure
_HEAD_FRAMES = 10  # a lead-in pause begins within a word's first 100 ms (or first quarter)
_EDGE_FRAMES = 2  # a word's aligned edges are this uncertain (20 ms)
_SWALLOW_MIN_MS = 300.0  # a pause this long between words should be quiet ...
_LOUD_DB = 25.0  # ... not mostly this far above the noise floor
_SWALLOWING_MS = 1000.0  # live: loud audio this long after the last word heard is being swallowed
_SNAP_DB = 15.0  # a word after a pause starts where the energy rises this far above the floor
# ... at most these shares of the item's range (floor to loudest frames): 40-80 dB on a
# clean channel, about the SNR on a noisy one, where speech's soft sounds are a few dB over
# the floor and would pass for pauses, and words would start at their first loud syllable.
_QUIET_SHARE = 1 / 6
_SNAP_SHARE = 3 / 8
_VOWEL_LETTERS = frozenset("aeiou")
_ONSET_FRAMES = 15  # a vowel-initial word's voice rises within its first 150 ms ...
_DIP_DB = 12.0  # ... out of a dip this deep
_EDGE_DB = 3.0  # energy that moves less than this is level
_FADE_FRAMES, _FADE_DB = 4, 6.0  # a word fading: this far under its loudest of the last 40 ms
# Letters that may spell a stop (or affricate) after a word's first sound: only such a
# word can hold a closure as long as a short pause ("sculp|ture"); th/sh/ph/gh are not stops.
_CLOSURE = re.compile(r"[pbtdkgcqxj](?!h)|ch|dg")


def _longest_ms(units: float) -> float:
    """The longest a voice says a word of ``units`` spoken units (see _SLOWEST_MS_PER_UNIT)."""
    return max(_LONGEST_SHORT_WORD_MS, _SLOWEST_MS_PER_UNIT * units)


class _Samples:
    """Growable int16 buffer (the item's audio at 16 kHz, dithered)."""

    def __init__(self) -> None:
        self._buf = np.zeros(16000, np.int16)
        self.n = 0

    def append(self, x: np.ndarray) -> None:
        if self.n + len(x) > len(self._buf):
            grown = np.zeros(max(2 * len(self._buf), self.n + len(x)), np.int16)
            grown[: self.n] = self._buf[: self.n]
            self._buf = grown
        self._buf[self.n : self.n + len(x)] = dither(x, self.n)
        self.n += len(x)

    def view(self, start: int, stop: Optional[int] = None) -> np.ndarray:
        return self._buf[max(0, start) : self.n if stop is None else min(stop, self.n)]


@dataclass
class _Utterance:
    """The aligner's current pass: words[first : first + count] from sample ``start`` on."""

    first: int
    count: int
    start: int
    fed: int  # samples fed (absolute)
    cmn: Optional[str] = None  # the cepstral mean it started from
    last_units: float = 1.0  # spoken length of its last word (see _used_up)
    last_end: int = 0  # where its last word's text ended when it began (see _grown)
    last_heard: Optional[WordTiming] = None  # its last word, as last heard (see _feeding)


@dataclass(frozen=True)
class _Levels:
    """An item's 10 ms energy frames (dB) and the levels they are read by."""

    energy: np.ndarray
    floor: float
    quiet: float  # under it: a pause
    rise: float  # a word after quiet starts where the energy passes it (see _risen)
    syllable: float  # how loud a syllable gets (see syllable_level)
    # Over it: speech-loud. None while that would be louder than a syllable gets: the
    # floor is then the item's quietest speech, not a pause's (no pause yet, or a noisy
    # channel), and the voicing track says what is speech (see _loud).
    loud: Optional[float]

    @classmethod
    def of(cls, energy: np.ndarray, floor: float) -> "_Levels":
        syllable = syllable_level(energy, floor) if len(energy) else floor
        span = max(0.0, float(np.percentile(energy, 98)) - floor) if len(energy) else 0.0
        loud = floor + _LOUD_DB if floor + _LOUD_DB <= syllable else None
        return cls(energy, floor, floor + min(_QUIET_DB, _QUIET_SHARE * span),
                   floor + min(_SNAP_DB, _SNAP_SHARE * span), syllable, loud)

    def frames(self, lo_ms: float, hi_ms: float) -> np.ndarray:
        return self.energy[int(lo_ms // 10) : int(hi_ms // 10)]


class ForcedAlignEstimator:
    """Places every delta where pocketsphinx hears its first word (see module doc)."""

    def __init__(self, sample_rate: int, live_lag_ms: float = 0.0, restart_budget: float = 1.5) -> None:
        self.sample_rate = sample_rate
        self.live_lag_ms = live_lag_ms  # live answers lean late: early captions spoil speech
        self.restart_budget = restart_budget  # re-decoded audio per audio received
        self.fallback = AudioAlignedEstimator(sample_rate)
        self._text_len = 0  # characters of text so far (the text itself is the fallback's)
        self._delta_starts: list[int] = []
        self._pcm = _Samples()
        self._resampler: Optional[Resampler] = None  # while audio arrives at another rate
        self._unresampled = np.zeros(0, np.int16)  # less than a resampling block
        self._audio_complete = False
        self._text_complete = False
        self._failed = False  # the aligner raised: the audio-only estimate from then on
        self._aligner: Optional[Aligner] = None
        self._release: Optional[weakref.finalize] = None
        self._utt: Optional[_Utterance] = None
        self._frozen: list[Optional[WordTiming]] = []  # words before the utterance's first
        self._redecoding: list[Optional[WordTiming]] = []  # timings when the utterance started
        self._was_confirmed: set[int] = set()  # words of _redecoding its decode had confirmed
        self._carried = 0  # how many words of _redecoding keep their timing (see _restart)
        self._live_how: dict = {}  # Aligner.start options of the live pass (see _swallowing)
        self._refed = 0  # samples decoded more than once
        self._waiting = False  # live: the grammar is used up and restarting it over budget
        self._cmn: tuple[int, Optional[str]] = (0, None)  # (samples measured on, mean)
        self._live_key: tuple = ()
        self._live_timings: list[Optional[WordTiming]] = []
        self._final_key: tuple = ()
        self._final: Optional[list[Span]] = None
        self._job: Optional[Iterator[int]] = None  # the final pass, resumable
        self._levels_cache: Optional[_Levels] = None

    # -- feeding
    def add_audio(self, pcm: np.ndarray) -> None:
        self.fallback.add_audio(pcm)
        x = np.asarray(pcm, dtype=np.int16).ravel()
        if self.sample_rate == ALIGN_RATE:
            self._pcm.append(x)
            return
        if self._resampler is None:
            self._resampler = Resampler(self.sample_rate, ALIGN_RATE)
        # Resampled a fixed block at a time: soxr's output depends (by an LSB or two) on
        # how its input is cut, and the alignment should depend on the audio alone.
        self._unresampled = np.concatenate([self._unresampled, x])
        block = max(1, self.sample_rate // 20)
        whole = len(self._unresampled) // block * block
        for i in range(0, whole, block):
            self._pcm.append(self._resampler.feed(self._unresampled[i : i + block]))
        self._unresampled = self._unresampled[whole:]

    def add_text(self, text: str) -> None:
        self.fallback.add_text(text)
        self._delta_starts.append(self._text_len)
        self._text_len += len(text)

    def set_audio_length(self, audio_ms: float) -> None:
        self.fallback.set_audio_length(audio_ms)

    def complete(self, audio: bool, text: bool) -> None:
        self.fallback.complete(audio, text)
        self._text_complete = self._text_complete or text
        if audio and not self._audio_complete:
            self._audio_complete = True
            if self._resampler is not None:  # what is left, and the resampler's tail
                self._pcm.append(self._resampler.feed(self._unresampled, last=True))
                self._resampler, self._unresampled = None, np.zeros(0, np.int16)

    # -- working
    def step(self, budget_ms: Optional[float]) -> bool:
        """Follow the audio live, or (both complete) run the final pass, for about
        ``budget_ms`` of audio; None finishes it."""
        if self.settled:
            return True
        try:
            if self._audio_complete and self._text_complete:
                if self._final_key != self._final_wanted():
                    self._final_key, self._final = self._final_wanted(), None
                    self._job = self._finishing()
                if self._job is not None:
                    self._advance(budget_ms)
            else:
                for _ in range(2):  # again if following let the last word in (see _live_words)
                    words = self._live_words()
                    self._live_key = self._live_wanted()
                    self._live_timings = self._follow(words, budget_ms)
                    if budget_ms is not None or self._live_key == self._live_wanted():
                        break
        except Exception:  # the aligner is advice: never lose a caption over it
            log.exception("forced alignment failed; using the audio-only estimate")
            self._give_back()
            self._failed = True
        return self.settled

    @property
    def settled(self) -> bool:
        """False while step() has work: the final pass, or the live pass behind the text
        and audio received."""
        if self._failed or not self._delta_starts or self._pcm.n == 0:
            return True
        if self._audio_complete and self._text_complete:
            return self._final_key == self._final_wanted() and self._job is None
        return self._live_key == self._live_wanted() and self._caught_up()

    def _final_wanted(self) -> tuple:
        return (self._text_len, self._pcm.n)

    def _live_wanted(self) -> tuple:
        words = self._live_words()
        return (len(words), words[-1].end if words else 0, self._pcm.n, self._audio_complete)

    def _caught_up(self) -> bool:
        utt = self._utt
        return utt is None or utt.count == 0 or self._aligner is None or utt.fed >= self._feedable(utt)

    def _advance(self, step_ms: Optional[float]) -> bool:
        """Run the final pass for about ``step_ms`` of audio; True once it is done."""
        assert self._job is not None
        budget = math.inf if step_ms is None else step_ms * ALIGN_RATE / 1000
        try:
            while budget > 0:
                budget -= next(self._job)
        except StopIteration as done:
            self._job = None
            timings = done.value
            self._final = None if timings is None else self._place(timings, live=False)
            return True
        except Exception:
            self._job = None
            self._give_back()
            raise
        return False

    # -- answering
    def spans(self) -> list[Span]:
        if not self._delta_starts:
            return []
        if self._pcm.n == 0 or self._failed:  # only a length (WebRTC), nothing yet, or no aligner
            return self.fallback.spans()
        if self._audio_complete and self._text_complete:
            if self._final_key == self._final_wanted() and self._job is None:
                if self._final is None or len(self._final) != len(self._delta_starts):
                    return self.fallback.spans()
                return self._final
            return self._place(self._progress(), live=True, audio_complete=True)
        return self._place(self._live_timings, live=True, audio_complete=self._audio_complete)

    def _progress(self) -> list[Optional[WordTiming]]:
        """What to answer with while the final pass runs: the words its decode has heard
        so far when it has got further than the live pass did (text that came with the
        end of the audio had no live pass: the item's first words are playing now),
        else the live pass's."""
        utt = self._utt
        if self._job is None or utt is None or self._aligner is None or utt.count == 0:
            return self._live_timings
        decoded = self._combined()
        return decoded if _heard(decoded) > _heard(self._live_timings) else self._live_timings

    # -- words
    def _all_words(self) -> list[SpokenWord]:
        return self.fallback.words()  # the same text: read it once

    def _live_words(self) -> list[SpokenWord]:
        """The words the live pass aligns: those whose text is whole, and the last one,
        which may still be growing ("Interop" + "erability"), once the grammar before it
        has had its last word (see _wants_restart) and its audio. Text that arrives as it
        is spoken has its last word playing now, and the next delta may be a word away:
        its start, which is what the live view shows, is the start of whatever it grows
        into (the utterance restarts if it grows, see _grown)."""
        words = self._all_words()
        if self._text_complete or not words or words[-1].end < self._text_len:
            return words
        growing, utt = len(words) - 1, self._utt
        if utt is not None and utt.count and (utt.first + utt.count > growing or (
                utt.first + utt.count == growing and self._caught_up() and self._wants_restart())):
            return words
        return words[:-1]

    # -- aligning
    def _follow(self, words: list[SpokenWord], budget_ms: Optional[float]) -> list[Optional[WordTiming]]:
        """Feed new audio to the live utterance (restarting it for new words); timings so far."""
        if not words:
            return []
        if self._aligner is None:
            self._take_aligner()
        if self._utt is None:
            self._restart(words, 0)
        utt = self._utt
        assert utt is not None
        self._waiting = False
        grown = self._grown(words)
        if grown is not None or (len(words) > utt.first + utt.count and self._wants_restart()):
            timings = self._combined()
            budget = self.restart_budget * self._pcm.n + ALIGN_RATE - self._refed
            fits = [a for a in self._anchors(timings, grown)
                    if max(0, utt.fed - self._anchor_sample(timings, a)) <= budget]  # audio decoded again
            if fits:
                self._restart(words, fits[0], timings, carry=grown, **self._live_how)
            else:  # a used-up grammar only misplaces its last words: wait for the budget
                self._waiting = True
        self._feed(budget_ms)
        if self._live_how.get("pauses", True) and (lost := self._swallowing()) is not None:
            # The silence model is taking speech (see _swallowed): as the final pass does,
            # follow the rest of the item with words absorbing the pauses instead.
            self._live_how = dict(self._live_how, pauses=False)
            self._restart(words, lost, self._combined(), carry=lost + 1, **self._live_how)
            self._feed(budget_ms)
        elif "frame_ms" not in self._live_how and (lost := self._stretched()) is not None:
            # A word "lasting" longer than any voice says it: speech faster than the
            # model's shortest phone, the path lost. As the final pass does, follow the
            # rest of the item at the shorter frame shift, from the word before.
            self._live_how = dict(self._live_how, frame_ms=FAST_FRAME_MS)
            self._restart(words, lost, self._combined(), carry=lost + 1, **self._live_how)
            self._feed(budget_ms)
        return self._combined() + [None] * max(0, len(words) - self._utt.first - self._utt.count)

    def _stretched(self) -> Optional[int]:
        """The heard word before the first word of the live utterance heard over more
        speech than the slowest voice says it in, if any. Only its loud frames count (a
        word may absorb a pause: see Aligner.start). The last word heard is not judged (the
        path so far runs it to the audio fed; a word heard after it has ended it), unless
        it is the first word of the item heard and its grammar has words after it: a path
        that cannot get through the speech at this frame shift sticks in its first word
        ("The" for 2 s of "The UN was founded"). After words it followed, a word stuck is
        a reading the voice did not use ("e.g."), not speed, and a shorter frame shift
        would squeeze the next words into the wrong speech."""
        utt = self._utt
        if utt is None or self._aligner is None or utt.count == 0:
            return None
        own = self._aligner.timings() or []
        words = self._all_words()
        heard = [(utt.first + k, t) for k, t in enumerate(own) if t is not None and utt.first + k < len(words)]
        first = next((i for i, t in enumerate(self._combined()) if t is not None), None)
        stuck = len(heard) == 1 and heard[0][0] == first and first < utt.first + utt.count - 1
        judged = heard if stuck else heard[:-1]
        before = utt.first
        for i, t in judged:
            if self._sounding_ms(t.start_ms, t.end_ms) > _longest_ms(words[i].units):
                return before
            before = i
        return None

    def _swallowing(self) -> Optional[int]:
        """The word to follow again from if the live utterance's path holds a pause over
        loud audio: between two heard words (the heard word before it, see _swallowed_at),
        or after its last heard word with words of its grammar still unheard (that word)."""
        utt = self._utt
        if utt is None or self._aligner is None or utt.count == 0:
            return None
        timings = self._combined()
        own = self._aligner.timings() or []
        heard = [utt.first + k for k, t in enumerate(own) if t is not None]
        if heard:  # pauses the path has gone past (one at its end may yet be a long word's)
            last_start = timings[heard[-1]].start_ms
            silences = [(lo, hi) for lo, hi in self._aligner.silences() if hi <= last_start + 1e-6]
            inside = self._swallowed_at(timings[: heard[-1] + 1], silences, read_otherwise=True)
            if inside is not None and inside >= utt.first - 1:
                return max(inside, 0)
        if own and own[-1] is not None:
            return None
        end = timings[heard[-1]].end_ms if heard else utt.start * 1000.0 / ALIGN_RATE
        fed_ms = utt.fed * 1000.0 / ALIGN_RATE
        if fed_ms - end < _SWALLOWING_MS:  # a partial path may lag a long word: not sooner
            return None
        return (heard[-1] if heard else utt.first) if self._loud(end, fed_ms) else None

    def _grown(self, words: list[SpokenWord]) -> Optional[int]:
        """The utterance's last word, if its text has grown since the utterance began
        (see _live_words): its timing is that of a word the voice did not finish."""
        utt = self._utt
        if utt is None or utt.count == 0 or len(words) < utt.first + utt.count:
            return None
        last = utt.first + utt.count - 1
        return last if words[last].end != utt.last_end else None

    def _wants_restart(self) -> bool:
        """Restart only once the current grammar is used up: its last word heard, or
        plenty of audio past the last word heard."""
        timings = self._combined()
        if timings and timings[-1] is not None:
            return True
        heard = [t for t in timings if t is not None]
        last_end = heard[-1].end_ms if heard else 0.0
        return self._received_ms() - last_end > 2 * _CONFIRM_AFTER_MS

    def _anchors(self, timings: list[Optional[WordTiming]], grown: Optional[int]) -> list[int]:
        """Words to restart from, best first: the last heard one before the last heard word
        (or a ``grown`` word heard: the path before it stands, it only heard a word cut
        short), then the last word heard, which leaves less to decode again when the
        budget is short (the word it restarts from is taken as heard)."""
        heard = [i for i, t in enumerate(timings) if t is not None]
        if grown is not None and grown < len(timings) and timings[grown] is not None:
            return [grown]
        anchor = heard[-2] if len(heard) >= 2 else 0
        return [anchor] + [i for i in heard[-1:] if i > anchor]

    def _anchor_sample(self, timings: list[Optional[WordTiming]], anchor: int) -> int:
        """Where a restart from word ``anchor`` begins: a little before it, as heard. Not
        heard (yet): where the utterance under way began it, else after the last word
        heard before it - never the item's start, which put the words from it there."""
        if anchor == 0:
            return 0
        t = timings[anchor] if anchor < len(timings) else None
        if t is None and self._utt is not None and self._utt.first == anchor:
            return self._utt.start
        if t is None:
            before = [u for u in timings[:anchor] if u is not None]
            if not before:
                return 0
            return int(max(0.0, before[-1].end_ms - _ANCHOR_LEAD_MS) * ALIGN_RATE / 1000)
        return int(max(0.0, t.start_ms - _ANCHOR_LEAD_MS) * ALIGN_RATE / 1000)

    def _restart(self, words: list[SpokenWord], anchor: int,
                 timings: Optional[list[Optional[WordTiming]]] = None, carry: Optional[int] = None,
                 **how) -> bool:
        """Start an utterance at word ``anchor``; the words it decodes again keep their
        ``timings`` until it has had their audio again (see _combined) - only the first
        ``carry`` of them if given: not what a lost path placed after the word it restarts
        from, nor a word whose text has grown since it was heard."""
        assert self._aligner is not None
        timings = timings or []
        start = self._anchor_sample(timings, anchor)
        if self._utt is not None:
            self._refed += max(0, self._utt.fed - start)
        self._frozen = list(timings[:anchor])
        listened = self._listened_ms(self._audio_complete)  # by the utterance that heard them
        self._was_confirmed = {i for i, t in enumerate(timings)
                               if t is not None and self._confirmed(i, timings, listened)}
        self._redecoding = list(timings)
        self._carried = len(timings) if carry is None else min(carry, len(timings))
        self._frozen += [None] * (anchor - len(self._frozen))
        cmn = self._item_cmn()
        ok = self._aligner.start(words[anchor:], start * 1000.0 / ALIGN_RATE, cmn=cmn, **how)
        self._utt = _Utterance(anchor, len(words) - anchor if ok else 0, start, start, cmn,
                               max(words[-1].units, 1.0) if words else 1.0, words[-1].end if words else 0)
        return ok

    def _item_cmn(self, final: bool = False) -> Optional[str]:
        """This item's cepstral mean, measured again only when there is twice the audio
        it was measured on, or the first 2 s: a few front-end passes per item. The
        ``final`` one is measured on exactly the first 2 s (or all of a shorter item),
        so an item's final timing depends on its audio only, not on when it was asked;
        a live utterance started from that mean can be the final decode."""
        assert self._aligner is not None
        have = min(self._pcm.n, _CMN_SAMPLES)
        measured, mean = self._cmn
        if have and (mean is None or (measured < _CMN_SAMPLES and have >= min(2 * measured, _CMN_SAMPLES))
                     or (final and measured != have)):
            self._cmn = (have, self._aligner.measure_cmn(self._pcm.view(0, have)))
        return self._cmn[1]

    def _feed(self, step_ms: Optional[float] = None) -> None:
        """Feed the utterance what it has not had (about ``step_ms`` of it at most)."""
        budget = math.inf if step_ms is None else step_ms * ALIGN_RATE / 1000
        for fed in self._feeding():
            budget -= fed
            if budget <= 0:
                break

    def _feeding(self) -> Iterator[int]:
        """Feed the utterance the audio it has not had, a block at a time.

        Blocks sit at fixed places from the utterance's start and a partial block waits
        for the rest of it (or the end of the item): pocketsphinx adapts its cepstral
        mean per call, so the same blocks give the same alignment however the audio
        arrived, and the live pass is the final pass's decode.
        """
        utt = self._utt
        if utt is None or self._aligner is None or utt.count == 0:
            return
        available = self._feedable(utt)
        while available > utt.fed:
            end = min(available, utt.fed + _BLOCK - (utt.fed - utt.start) % _BLOCK)
            self._aligner.feed(self._pcm.view(utt.fed, end))
            step_fed, utt.fed = end - utt.fed, end
            if not self._text_complete:
                own = self._aligner.timings()
                if own and own[-1] is not None:
                    utt.last_heard = own[-1]
            yield step_fed
            if not self._text_complete:  # used up meanwhile? (a block past it pulls its last word late)
                available = self._feedable(utt)

    def _feedable(self, utt: _Utterance) -> int:
        """Samples the utterance may have: whole blocks, and the rest once audio is complete;
        none past a used-up grammar (see _used_up) while more text may come."""
        if not self._text_complete and self._used_up(utt):
            return utt.fed
        if self._audio_complete:
            return self._pcm.n
        return self._pcm.n - (self._pcm.n - utt.start) % _BLOCK

    def _used_up(self, utt: _Utterance) -> bool:
        """Has the utterance heard its last word, with enough audio after it to confirm it?
        Audio fed past that only goes to silence and noise fillers - or to the last word,
        stretched over the speech of words not received yet (no voice says "Apollo" for
        2.6 s; nor "by" for 750 ms when it said "grew" in 150) - and would be decoded
        again once the next words arrive and the alignment restarts: it waits instead."""
        if self._aligner is None or utt.count == 0:
            return False
        timings = self._aligner.timings()
        last = (timings[-1] if timings else None) or utt.last_heard
        if last is None:  # waiting to restart (see _follow): past its last heard word, fillers
            return self._waiting
        end = min(last.end_ms, last.start_ms + self._longest_last_ms(utt))
        confirmed = int((end + _CONFIRM_AFTER_MS) * ALIGN_RATE / 1000)
        return utt.fed >= confirmed

    def _longest_last_ms(self, utt: _Utterance) -> float:
        """How long the utterance's last word may last (see _longest_said_ms)."""
        return self._longest_said_ms(utt.last_units, self._combined()[:-1])

    def _longest_said_ms(self, units: float, before: list[Optional[WordTiming]]) -> float:
        """How long a word of ``units`` may last: as the slowest voice says it, and at
        most _PACE_SLACK times as long as this voice says the words heard ``before`` it."""
        words = self._all_words()
        heard = [(words[i].units, t.end_ms - t.start_ms) for i, t in enumerate(before)
                 if t is not None and i < len(words)]
        longest = _longest_ms(units)
        if len(heard) < 2:
            return longest
        ms_per_unit = sum(ms for _, ms in heard) / max(sum(u for u, _ in heard), 1e-6)
        return min(longest, _PACE_SLACK * ms_per_unit * units)

    def _combined(self) -> list[Optional[WordTiming]]:
        """Timings so far: frozen words, then the utterance's. Words a restart re-decodes
        keep their previous timing until the new utterance has had their audio again,
        so a restart never takes back a word the live view was given."""
        utt = self._utt
        if utt is None or self._aligner is None or utt.count == 0:
            return list(self._frozen)
        out = self._frozen + (self._aligner.timings() or [None] * utt.count)
        dropped = utt.last_heard
        if out[-1] is None and dropped is not None and all(
                t is None or t.end_ms <= dropped.start_ms for t in out[:-1]):
            # The path heard its last word, then let it go for the audio after it (the
            # speech of words it does not have yet): as heard is worth more than not.
            out[-1] = dropped
        fed_ms = utt.fed * 1000.0 / ALIGN_RATE
        heard = [i for i, t in enumerate(out) if t is not None]
        last_heard = heard[-1] if heard else -1
        for i, before in enumerate(self._redecoding[: min(len(out), self._carried)]):
            if before is None or fed_ms >= before.end_ms + _CONFIRM_AFTER_MS:
                continue
            # The new path's last word runs only to the audio it has had: the end the
            # previous decode heard is worth more - unless that word was the last of its
            # grammar, held over the speech of words it did not have yet.
            cut_short = i == last_heard and i < len(self._redecoding) - 1
            if out[i] is None or cut_short:
                out[i] = before
        return out

    def _finishing(self) -> Iterator[int]:
        """Align the whole text to the whole audio; None when it cannot be followed.

        The live pass is finished when it is one of these decodes (every word from the
        first, from the same mean, the same options); otherwise the item is aligned
        afresh. If the voice read something differently than written, any word may go
        unheard; if the audio stops early (an interrupted item), the text may end
        anywhere. A fallback first re-decodes only from where the previous decode went
        wrong (a pause hiding speech, or the words no longer heard), keeping its words
        before that; the whole item only if that does not get through either. Each
        decode depends on the item's audio and text only, so the final timing does too.
        """
        words = speakable(self._all_words(), self.fallback.audio_ms)
        if not words:
            return None
        if self._aligner is None:
            self._take_aligner()
        assert self._aligner is not None
        try:
            cmn = self._item_cmn(final=True)
            best: Optional[list[Optional[WordTiming]]] = None
            # A decode that lost only numbers or symbols (read some other way): a later one
            # must hear more to be better (without pauses it may put words on their speech).
            read_otherwise: Optional[list[Optional[WordTiming]]] = None
            last: Optional[tuple[list[Optional[WordTiming]], list[tuple[float, float]]]] = None  # the previous attempt's
            for attempt in _FINAL_ATTEMPTS:
                anchor = self._unsettled(words, *last) if last is not None else 0
                for start in dict.fromkeys((anchor, 0)):  # from the trouble on, else all of it
                    if not (start == 0 and self._aligner.decoding(words, cmn=cmn, **attempt)) \
                            and not self._restart(words, start, last[0] if last else None, **attempt):
                        continue
                    yield from self._feeding()
                    own = self._aligner.finish()
                    if own is None:
                        continue
                    timings, silences = self._frozen + own, self._aligner.silences()
                    if _reached_end(words, timings) and not self._swallowed(timings, silences):
                        if read_otherwise is not None and _heard(read_otherwise) >= _heard(timings):
                            return read_otherwise
                        return timings
                    if read_otherwise is None and _reached_end(words, timings) \
                            and self._swallowed_at(timings, silences, read_otherwise=True) is None:
                        read_otherwise = timings
                    if best is None or _heard(timings) > _heard(best):
                        best = timings
                    if start == 0:
                        last = timings, silences
            if read_otherwise is not None and (best is None or _heard(read_otherwise) >= _heard(best)):
                return read_otherwise
            return best if best is not None and _heard(best) else None
        finally:
            self._give_back()

    def _unsettled(self, words: list[SpokenWord], timings: list[Optional[WordTiming]],
                   silences: list[tuple[float, float]]) -> int:
        """The word a fallback re-decodes from: the heard word before the first pause that
        hid speech, or before the last heard word when the text was not got through."""
        trouble = self._swallowed_at(timings, silences)
        if trouble is None and not _reached_end(words, timings):
            heard = [i for i, t in enumerate(timings) if t is not None]
            trouble = heard[-1] if heard else None
        if trouble is None:
            return 0
        before = [i for i, t in enumerate(timings[:trouble]) if t is not None]
        return before[-1] if before else 0

    def _swallowed(self, timings: list[Optional[WordTiming]], silences: list[tuple[float, float]]) -> bool:
        """Did a pause hide speech? (The silence model sometimes takes a stretch of loud
        audio, and the words around it get squeezed, or go unheard.)"""
        return self._swallowed_at(timings, silences) is not None

    def _swallowed_at(self, timings: list[Optional[WordTiming]], silences: list[tuple[float, float]],
                      read_otherwise: bool = False) -> Optional[int]:
        """The heard word before the first place the path lost the speech (see
        _swallowed), if any: a long pause over loud audio - a gap between heard
        neighbours, or the silence model where words went unheard (with ``read_otherwise``,
        not if only numbers or symbols did and the speech there fits them: the voice may
        have read them some other way), or before the item's first word - or a word heard
        where there is only silence."""
        heard = [(i, t) for i, t in enumerate(timings) if t is not None]
        pauses = [(a.end_ms, b.start_ms, i, True) for i, (a, b) in enumerate(zip(timings, timings[1:]))
                  if a is not None and b is not None]  # neighbours both heard (a skipped number is no pause)
        words = self._all_words()
        for lo, hi in silences:
            before = [(i, t) for i, t in heard if t.end_ms <= lo + 1e-6]
            later = [i for i, t in heard if t.start_ms >= hi - 1e-6]
            first, last = (before[-1][0] if before else -1), (later[0] if later else len(timings))
            if last - first > 1 and not any(t.start_ms < lo and t.end_ms > hi for _, t in heard) \
                    and not (read_otherwise and self._read_otherwise(words[first + 1 : last], lo, hi)):
                # words went unheard there (a pause inside a heard word is the voice's)
                pauses.append((lo, hi, max(first, 0), False))
        if timings and timings[0] is not None:  # before the first word: silence or a filler
            pauses.append((0.0, timings[0].start_ms, 0, False))
        lost = [(lo, i) for lo, hi, i, neighbours in pauses if hi - lo >= _SWALLOW_MIN_MS and self._loud(lo, hi)
                and not (neighbours and i < len(words) and self._voice_pause(words[i], timings[i], hi))]
        for k, (i, t) in enumerate(heard):
            if self._on_silence(t):
                lost.append((t.start_ms, heard[k - 1][0] if k else 0))
        return min(lost)[1] if lost else None

    def _on_silence(self, t: WordTiming) -> bool:
        """Is a word heard where there is only silence? (Its edges may touch a neighbour.)"""
        levels = self._levels()
        frames = levels.frames(t.start_ms, t.end_ms)
        inner = frames[_EDGE_FRAMES : len(frames) - _EDGE_FRAMES]
        return len(frames) >= _MIN_QUIET_FRAMES and float(inner.max()) < levels.quiet

    def _voice_pause(self, word: SpokenWord, timing: WordTiming, next_start_ms: float) -> bool:
        """Is the pause after ``word`` the voice's, though loud audio begins it? It ends in
        quiet where the next word starts (that word is on the speech, give or take its
        first sounds), and the loud audio before the quiet fits in ``word`` (its end was
        cut short: "weather, | the")."""
        levels = self._levels()
        quiet = levels.frames(timing.start_ms, next_start_ms) < levels.quiet
        f = len(quiet)
        while f > 0 and not quiet[f - 1] and len(quiet) - f < _HEAD_FRAMES:
            f -= 1  # the next word's head, which the pause may hold ("JSON, | not")
        end = f
        while f > 0 and quiet[f - 1]:
            f -= 1
        if end - f < _MIN_QUIET_FRAMES:
            return False
        return 10.0 * np.count_nonzero(~quiet[:f]) <= _longest_ms(word.units)

    def _read_otherwise(self, unheard: list[SpokenWord], lo_ms: float, hi_ms: float) -> bool:
        """Did only numbers and symbols go unheard in this pause, and does its speech fit
        them? Then the voice read them some other way ("3rd"), and the pause holds them,
        not the words around (those are where they are)."""
        if not unheard or any(w.literal for w in unheard):
            return False
        return self._sounding_ms(lo_ms, hi_ms) <= sum(_longest_ms(w.units) for w in unheard)

    def _sounding_ms(self, lo_ms: float, hi_ms: float) -> float:
        """How long the audio from ``lo_ms`` to ``hi_ms`` is louder than a pause (ms)."""
        levels = self._levels()
        return 10.0 * np.count_nonzero(levels.frames(lo_ms, hi_ms) >= levels.quiet)

    def _loud(self, lo_ms: float, hi_ms: float) -> bool:
        """Is audio from ``lo_ms`` to ``hi_ms`` mostly speech-loud (see _Levels.loud)?"""
        levels = self._levels()
        if levels.loud is not None:
            loud = levels.frames(lo_ms, hi_ms) > levels.loud
        else:
            loud = self.fallback.voiced()[int(lo_ms // 10) : int(hi_ms // 10)]
        return len(loud) > 0 and float(np.mean(loud)) > 0.5

    def _levels(self) -> _Levels:
        """The item's energy so far and its levels (worked out again only for new frames)."""
        energy, floor = self.fallback.energy()
        if self._levels_cache is None or self._levels_cache.energy is not energy:
            self._levels_cache = _Levels.of(energy, floor)
        return self._levels_cache

    def _take_aligner(self) -> None:
        self._aligner = ALIGNERS.take()
        self._release = weakref.finalize(self, ALIGNERS.give, self._aligner)
        self._utt = None
        self._frozen, self._redecoding, self._was_confirmed, self._carried = [], [], set(), 0

    def _give_back(self) -> None:
        if self._release is not None:
            self._release()  # returns the aligner to the pool once
        self._aligner, self._release, self._utt, self._frozen = None, None, None, []
        self._redecoding, self._was_confirmed, self._carried = [], set(), 0

    # -- placing deltas
    def _received_ms(self) -> float:
        return self.fallback.audio_ms  # the resampler holds back a few ms of the aligner's copy

    def _place(self, timings: list[Optional[WordTiming]], live: bool, audio_complete: bool = True) -> list[Span]:
        """Delta spans from word timings. Final: every delta from the alignment. Live:
        deltas the alignment has settled, then the audio-only estimate for the rest."""
        spans, _ = self._placed(timings, live, audio_complete)
        return spans

    def _listened_ms(self, audio_complete: bool) -> float:
        """Item ms up to which the live pass has heard the audio (inf: all of it): only
        audio it was fed confirms a word; audio it has not had says nothing."""
        utt = self._utt
        if utt is None or self._aligner is None or utt.count == 0:
            return math.inf if audio_complete else self._received_ms()
        if audio_complete and utt.fed >= self._pcm.n:
            return math.inf
        return utt.fed * 1000.0 / ALIGN_RATE

    def confident(self) -> int:
        """How many leading spans of ``spans()`` come from the alignment; the rest are the
        audio-only estimate (a session holding the same audio can compute those itself,
        and fresher than a worker's answer). A pure read, like ``spans()``."""
        if not self._delta_starts or self._pcm.n == 0 or self._failed:
            # The audio-only estimate's, from no samples yet (the session's own copy has
            # the audio that arrived since), a length only, or an aligner that failed.
            return 0
        if self._audio_complete and self._text_complete and self._final_key == self._final_wanted() \
                and self._job is None:
            return len(self._delta_starts)  # the final answer (or the fallback's, when there is none)
        if self._audio_complete and self._text_complete:
            return self._placed(self._progress(), True, True)[1]
        return self._placed(self._live_timings, True, self._audio_complete)[1]

    def _placed(self, timings: list[Optional[WordTiming]], live: bool,
                audio_complete: bool) -> tuple[list[Span], int]:
        """(spans, how many leading ones come from the alignment).

        Live, a word counts once it is confirmed: the aligner heard the next word, or
        enough audio after it (or the audio is complete) - unless it was heard where there
        is only silence: the path is lost there, and nothing from it on is settled (a path
        without the silence model puts a word in a pause, the next over its speech, and
        so on; the words heard after them confirm them all). Words before the last confirmed
        one are settled (unheard ones share the time between heard neighbours); a delta
        is placed by the alignment only if every word its time depends on is settled.
        The rest - the first words of an item before the aligner has enough audio, words
        past a restart the aligner has not caught up with - get the audio-only estimate
        (energy, pauses, text weights), never before the settled ones: a word is never
        held back waiting for the aligner, nor placed after audio already played.
        """
        words = self._all_words()
        audio_ms = self.fallback.audio_ms
        listened = self._listened_ms(audio_complete) if live else math.inf
        starts = [np.nan] * len(words)
        ends = [np.nan] * len(words)
        settled = len(words) if not live else 0  # words up to the last confirmed one
        begun: Optional[float] = None  # the next heard word's start, once settled
        heard_end: Optional[float] = None  # the end of the word before, if heard
        for i, t in enumerate(timings[: len(words)]):
            if t is None:
                heard_end = None  # a pause after an unheard word may hold that word
                continue
            if live and self._on_silence(t):
                break
            if not live or self._confirmed(i, timings, listened):
                starts[i], ends[i] = self._snap(t), t.end_ms
                if heard_end is not None and t.start_ms > heard_end:
                    starts[i] = min(starts[i], self._head_in_pause(heard_end, t.start_ms))
                if starts[i] == t.start_ms and (i == 0 or (heard_end is not None and
                                                           t.start_ms - heard_end >= 10.0 * _MIN_QUIET_FRAMES)):
                    starts[i] = self._rise(t.start_ms)  # after silence: not on its noise
                elif starts[i] == t.start_ms and t.said and t.said[0][:1] in _VOWEL_LETTERS:
                    starts[i] = self._voicing_onset(t)
                settled = max(settled, i + 1) if live else settled
            elif listened - t.start_ms >= _CONFIRM_AFTER_MS:  # heard, still being decided
                # Its end is not known yet (nor where its first spoken word ends): a lead-in
                # pause begins in its first 100 ms, and may last as long as it has been heard.
                head = ((t.start_ms, t.start_ms + _HEAD_FRAMES * 10.0),)
                begun = self._snap(WordTiming(t.start_ms, t.end_ms, tokens=head))
            heard_end = t.end_ms
        if live:  # words after the last confirmed one are not the alignment's to place
            starts, ends = starts[:settled], ends[:settled]
        starts, ends = _fill(words[: len(starts)], starts, ends, None if live else audio_ms, self._resumes)
        held = 0.0  # where the words after a heard, unsettled word may start
        if live and begun is not None and settled < len(words) and timings[settled] is not None:
            starts.append(max(begun, ends[-1] if ends else 0.0))  # its start, not yet its end
            held = self._held_until(settled, timings)
        lag = self.live_lag_ms if live else 0.0
        word_starts = [w.start for w in words]
        times: list[float] = []
        for c in self._delta_starts:
            t, needs, end = self._delta_time(c, words, word_starts, starts, ends, timings)
            if needs >= len(ends if end else starts):
                break  # this delta and every later one: the audio-only estimate
            times.append(t + lag)
        placed = len(times)
        if placed < len(self._delta_starts) or len(ends) < len(words):
            fallback = self.fallback.spans()
            rest = fallback[placed:]
            limit = audio_ms if audio_complete else math.inf
            if live:  # the rest comes after what the alignment heard, not after its guesses
                end = max(times[-1:] + starts[-1:] + ends[-1:] + [held]) + lag
                rest = after(rest, end, limit)
            else:
                end = rest[0][0] if rest else max([times[-1]] + [e for _, e in fallback[-1:]])
            spans = list(zip(times, times[1:] + [max(end, times[-1])] if times else [])) + rest
            return ordered(spans, 0.0, limit), placed
        end = (ends[-1] if words else 0.0) + lag
        if not live or audio_complete:
            times = [min(t, audio_ms) for t in times]
            end = min(end, audio_ms)
        return ordered(list(zip(times, times[1:] + [max(end, times[-1])]))), placed

    def _held_until(self, i: int, timings: list[Optional[WordTiming]]) -> float:
        """Where the words after heard word ``i``, not yet settled, may start, when its
        grammar has the next word: the decode could have taken that word anywhere in the
        audio it had, and heard ``i`` still being said up to its end (its text may have come
        as the word was said: the next word's audio-only estimate would start it inside
        ``i``). 0 when the grammar ends at ``i`` (the path runs its last word to the audio
        fed, whatever that holds), or the path holds it longer than the voice says it:
        lost, over the speech of the words after it (see _stretched)."""
        utt, t = self._utt, timings[i]
        if t is None or utt is None or not utt.first <= i < utt.first + utt.count - 1:
            return 0.0
        if t.end_ms - t.start_ms > self._longest_said_ms(self._all_words()[i].units, timings[:i]):
            return 0.0
        return t.end_ms

    def _confirmed(self, i: int, timings: list[Optional[WordTiming]], listened_ms: float) -> bool:
        """Live, is heard word ``i`` settled: the aligner heard a word after it, or enough
        audio after it? A timing a restart keeps (see _combined) stays as its own decode
        settled it: the new decode has not had that audio yet, and a word the live view
        was given as settled ("1969" to 1170 ms) is not taken back to its start alone."""
        t = timings[i]
        assert t is not None
        if listened_ms - t.end_ms >= _CONFIRM_AFTER_MS or any(u is not None for u in timings[i + 1 :]):
            return True
        return i in self._was_confirmed and i < len(self._redecoding) and t is self._redecoding[i]

    def _resumes(self, lo_ms: float, hi_ms: float) -> float:
        """Where speech resumes after a pause starting at ``lo_ms`` (words the aligner
        did not hear, between ``lo_ms`` and ``hi_ms``, are spoken after it, not in it)."""
        levels = self._levels()
        energy = levels.energy
        a, b = int(lo_ms // 10), min(len(energy), int(hi_ms // 10))
        f = a
        while f < min(b, a + _HEAD_FRAMES) and energy[f] >= levels.quiet:
            f += 1  # the last frames of the word before (its end is the aligner's, to a frame or two)
        quiet = f
        while f < b and energy[f] < levels.quiet:
            f += 1
        if f - quiet < _MIN_QUIET_FRAMES:
            return lo_ms
        if f >= b:
            return hi_ms  # quiet up to ``hi_ms``: no speech before it
        f = _risen(levels, f, b)
        return f * 10.0 if f < b else lo_ms

    def _head_in_pause(self, lo_ms: float, start_ms: float) -> float:
        """Where a word the path heard after a pause (``lo_ms`` to ``start_ms``) starts:
        the pause may hold its head ("Dr." after "guarantee.": the silence model took
        "Doc"). Speech after the pause's last quiet run, loud as a syllable and mostly
        loud up to the word, is the word's; a breath or a click is not."""
        levels = self._levels()
        energy = levels.energy
        a, b = int(lo_ms // 10), min(len(energy), int(start_ms // 10))
        quiet = energy[a:b] < levels.quiet
        f, run = b, 0  # back to the end of the last quiet run longer than a stop closure
        while f > a and run < _MIN_QUIET_FRAMES:
            run = run + 1 if quiet[f - 1 - a] else 0
            f -= 1
        if run < _MIN_QUIET_FRAMES:
            return start_ms
        f = _risen(levels, f + run, b)
        head = energy[f:b]
        if b - f < _EDGE_FRAMES or float(head.max()) < levels.syllable or np.mean(head >= levels.quiet) < 0.5:
            return start_ms
        return f * 10.0

    def _rise(self, start_ms: float) -> float:
        """Where a word the path starts after silence rises out of the noise: the aligner
        often begins it a few frames early, on the noise or a breath before it (the "h" of
        "have" is 20 dB over the floor; the frames the path gave it before, 5 dB)."""
        levels = self._levels()
        a = int(start_ms // 10)
        b = min(len(levels.energy), a + _HEAD_FRAMES)
        f = _risen(levels, a, b)
        return max(start_ms, f * 10.0) if f < b else start_ms  # soft all through its head: its own

    def _voicing_onset(self, t: WordTiming) -> float:
        """A word starting with a vowel starts where its voice rises out of the dip
        between it and the word before: there is no closure to anchor its start on, and
        the aligner often starts it where the word before fades ("suit | in", "data |
        analysis"). Only where the aligned start is on that fade (not on a vowel, nor a
        level glide between two vowels): a dip in its head that the energy falls into from
        there, not rising first, and rises out of again; the word starts halfway up."""
        levels = self._levels()
        energy = levels.energy
        a = int(t.start_ms // 10)
        first_end = int(t.tokens[0][1] // 10) if t.tokens else int(t.end_ms // 10)
        b = min(len(energy), a + _ONSET_FRAMES, first_end)
        if b - a < 3:
            return t.start_ms
        left = float(energy[max(0, a - _FADE_FRAMES) : a].max()) if a else -math.inf
        if float(energy[a]) > left - _FADE_DB:
            return t.start_ms  # not where the word before fades: on its vowel, or a level glide
        m = a + int(np.argmin(energy[a:b]))
        if m == a or float(energy[a : m + 1].max()) > float(energy[a]) + _EDGE_DB:
            return t.start_ms  # its voice rose first: it had begun
        peak = float(energy[m:b].max())
        if min(left, peak) - float(energy[m]) < _DIP_DB:
            return t.start_ms
        rise = energy[m:b] >= (float(energy[m]) + peak) / 2
        return (m + int(np.argmax(rise))) * 10.0

    def _snap(self, t: WordTiming) -> float:
        """The aligner has no silence model, so a word after a pause starts with it:
        past a quiet run near its head, the word starts where the energy rises."""
        levels = self._levels()
        energy = levels.energy
        a = int(t.start_ms // 10)
        b = min(len(energy), int(t.end_ms // 10))
        # The head of its first spoken word: a long number or an e-mail address is many
        # words, and a pause inside it ("forty-eight thousand | two hundred") is no lead-in;
        # nor is a stop closure halfway into a long word ("sculp|ture"). A lead-in pause
        # starts where the word does, or where a misplaced previous word really ended.
        first_end = int(t.tokens[0][1] // 10) if t.tokens else b
        head = a + max(_HEAD_FRAMES, (min(first_end, b) - a) // 4)
        if t.said and not _CLOSURE.search(t.said[0], 1):
            head = min(first_end, b)  # no stop to close in its first spoken word ("the"): a pause there is before it
        quiet, f = 0, a
        while f < b and (quiet or f < head):
            if energy[f] < levels.quiet:
                quiet += 1
            elif quiet >= _MIN_QUIET_FRAMES:
                f = _risen(levels, f, b)
                return f * 10.0 if f < b else t.start_ms
            else:
                quiet = 0
            f += 1
        return t.start_ms

    def _delta_time(self, c: int, words: list[SpokenWord], word_starts: list[int],
                    starts: list[float], ends: list[float],
                    timings: list[Optional[WordTiming]]) -> tuple[float, int, bool]:
        """Item ms where the delta starting at character ``c`` is spoken, the last word
        whose timing that uses and whether it uses that word's end (live, ``starts`` and
        ``ends`` may cover only the first words). A piece inside a word is placed by the
        spoken length before it, on the words the aligner heard for it when it did."""
        if not words:
            return 0.0, -1, False
        i = bisect.bisect_right(word_starts, c) - 1  # last word starting at/before c
        if i >= 0 and continues(words[i], self.fallback.text, c):  # a piece inside a word
            if i >= len(ends):
                return math.nan, i, True
            w = words[i]
            share = spoken_share(self.fallback.text[w.start : w.end], c - w.start)
            t = timings[i] if i < len(timings) else None
            return _inside(share, w, starts[i], ends[i], t), i, True
        j = i if i >= 0 and c == words[i].start else i + 1
        if j < len(words):
            k = bisect.bisect_right(self._delta_starts, c) - 1
            delta_end = self._delta_starts[k + 1] if k + 1 < len(self._delta_starts) else self._text_len
            if words[j].start < delta_end or j == 0:  # the delta says this word (or comes first)
                return (starts[j] if j < len(starts) else math.nan), j, False
            # only punctuation: the end of the last word
            return (ends[j - 1] if j - 1 < len(ends) else math.nan), j - 1, True
        last = len(words) - 1
        return (ends[last] if last < len(ends) else math.nan), last, True


def _inside(share: float, word: SpokenWord, start: float, end: float, heard: Optional[WordTiming]) -> float:
    """Item ms ``share`` (of its usual reading's phones) into ``word``, placed from
    ``start`` to ``end``: on the spoken words the aligner heard for it, each taking its
    phones over its own time (a reading cut short, the audio ending inside it, keeps the
    usual reading's length), else evenly."""
    if heard is None or len(heard.tokens) < 2:
        return start + share * (end - start)
    phones = [reading_phones((w,)) for w in heard.said]
    total = sum(phones) if heard.said in word.readings else max(word.phones, sum(phones))
    goal, done = share * total, 0.0
    for (a, b), n in zip(heard.tokens, phones):
        if goal < done + n:
            return max(start, a + (goal - done) / n * (b - a))
        done += n
    last = heard.tokens[-1][1]
    return last + (goal - done) / max(total - done, 1e-9) * max(0.0, end - last)


def _risen(levels: _Levels, f: int, b: int) -> int:
    """The first frame from ``f`` where the energy rises to ``levels.rise`` (a word's
    start after quiet), or ``b`` if none before it."""
    energy = levels.energy
    while f < b and energy[f] <= levels.rise:
        f += 1
    return f


def _heard(timings: list[Optional[WordTiming]]) -> int:
    return sum(t is not None for t in timings)


def _reached_end(words: list[SpokenWord], timings: list[Optional[WordTiming]]) -> bool:
    """Did the alignment get through the text? (Its last plain word was heard.)"""
    for w, t in zip(reversed(words), reversed(timings)):
        if t is not None:
            return True
        if w.literal:
            return False
    return True


def _fill(words: list[SpokenWord], starts: list[float], ends: list[float],
          audio_ms: Optional[float], resumes=None) -> tuple[list[float], list[float]]:
    """Times for words not placed: between placed neighbours by spoken length (from
    where ``resumes(lo, hi)`` says the speech resumes: not in a pause), and after the
    last placed word at a steady pace (squeezed into ``audio_ms`` when given)."""
    n = len(words)
    units = [max(w.units, 0.5) for w in words]
    s, e = list(starts), list(ends)
    paces = [(b - a) / u for a, b, u in zip(s, e, units) if b > a]  # NaN compares false
    ms_per_unit = float(np.median(paces)) if paces else _PACE_MS_PER_UNIT

    def stretch(k: int) -> float:  # how drawn out word k is against the item's pace (1: as usual)
        return max(0.0, e[k] - s[k]) / (ms_per_unit * units[k])

    i = 0
    while i < n:
        if not np.isnan(s[i]):
            i += 1
            continue
        j = i
        while j < n and np.isnan(s[j]):
            j += 1
        lo = e[i - 1] if i > 0 else 0.0
        need = ms_per_unit * sum(units[i:j])
        # No speech between the neighbours for them (touching, or only a pause): the
        # neighbour drawn out more than the other ran over them.
        cramped = j < n and i > 0 and s[j] - (resumes(lo, s[j]) if resumes is not None else lo) < need / 2
        if cramped and stretch(i - 1) > max(1.0, stretch(j)):
            # The word before ("The" over "API"): they share its time by spoken length,
            # from where the speech resumes if a pause ends it.
            cut = spread(units[i - 1 : j], s[i - 1], s[j])[1][0]
            e[i - 1] = resumes(cut, s[j]) if resumes is not None else cut
            placed = spread(units[i:j], e[i - 1], s[j])
        elif cramped and stretch(j) > max(1.0, stretch(i - 1)):
            # The word after ("that" over "Hmm,"): they take its head by spoken length; it
            # starts where the speech resumes if a pause follows them.
            shared = spread(units[i : j + 1], s[j], e[j])
            placed = shared[:-1]
            s[j] = resumes(shared[-1][0], e[j]) if resumes is not None else shared[-1][0]
        elif j < n:  # a gap between placed words: share it
            placed = spread(units[i:j], resumes(lo, s[j]) if resumes is not None else lo, s[j])
        else:  # after everything heard
            placed = pace(units[i:], lo, _PACE_MS_PER_UNIT)
        for k, (start, end) in enumerate(placed, start=i):
            s[k], e[k] = start, end
        if j == n and audio_ms is not None:  # final: squeeze into the audio
            for k in range(i, n):
                s[k], e[k] = min(s[k], audio_ms), min(e[k], audio_ms)
        i = j
    return s, e


def default_estimator(sample_rate: int) -> ItemEstimator:
    return ForcedAlignEstimator(sample_rate)
