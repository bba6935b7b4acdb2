"""How written transcript text is read aloud: the one table of readings, and spoken weight.

Every estimator starts here. The forced aligner listens for a word's readings; the
audio-only estimators and every text-weight spread use its spoken length (syllable-like
units) and how likely a pause comes before it.

A model's transcript says "$3,482.50", "10:45", "NASA", "Dr." and "e.g."; its voice says
"three thousand four hundred and eighty-two dollars fifty", "ten forty-five", "nasa",
"doctor", "for example". Each written word becomes a :class:`SpokenWord` holding every
plausible reading (a voice may or may not say "and", spell an acronym, read a year as
"twenty nineteen"); the aligner picks whichever reading the audio supports. Readings
are plain lower-case English words; pronunciations are the aligner's business.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass

from num2words import num2words

Reading = tuple[str, ...]


__all__ = ["Reading", "SpokenWord", "continues", "pause_after", "reading_phones", "speakable", "spoken_share", "spoken_units",
           "spoken_words", "text_weight"]


@dataclass(frozen=True)
class SpokenWord:
    """A written word (character span of the text), the ways it may be spoken, its spoken
    length and how likely speech pauses before it."""

    start: int
    end: int
    readings: tuple[Reading, ...]  # never empty; () means it may go unspoken
    literal: bool = False  # a plain word read as written: a voice surely says it this way
    units: float = 0.0  # spoken length in syllable-like units
    pause_before: float = 0.0  # 0: glued to the previous word; 0.1 plain space; up to 1 after "."
    phones: float = 0.0  # speech sounds of its usual reading (see :func:`reading_phones`)
    syllables: float = 0.0  # syllables of that reading


_WRITTEN = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail
    r"|\$?\d+(?:,\d{3})*(?:\.\d+)?(?::\d\d)?(?:%|st|nd|rd|th|s|am|pm)?(?:-\d+)*"  # numbers, times, 555-0142
    r"|(?:[A-Za-z]\.){2,}"  # e.g. p.m. U.S.
    r"|[A-Za-z]+(?:'[A-Za-z]+)?\d*(?:\.\d+)?"  # words, B12, v2
    r"|[@&+=#%/]"
)
_ABBREVIATIONS: dict[str, tuple[Reading, ...]] = {
    "dr": (("doctor",), ("drive",)), "mr": (("mister",),), "mrs": (("missus",), ("misses",)),
    "ms": (("miss",), ("mizz",)), "st": (("street",), ("saint",)), "vs": (("versus",),),
    "etc": (("et", "cetera"),), "jr": (("junior",),), "sr": (("senior",),),
    "km": (("kilometers",), ("kilometres",)), "kg": (("kilograms",),), "mg": (("milligrams",),),
    "ml": (("milliliters",),), "ft": (("feet",),), "oz": (("ounces",),), "lb": (("pounds",),),
    "lbs": (("pounds",),), "approx": (("approximately",),), "min": (("minutes",), ("min",)),
    "e.g.": (("for", "example"),), "i.e.": (("that", "is"),),
    # Interjections are voiced every which way.
    "hmm": (("hmm",), ("hum",), ("mm",)), "hm": (("hm",), ("hum",)), "mm": (("mm",), ("hum",)),
    "uh": (("uh",), ("ah",)), "um": (("um",), ("uhm",)), "ok": (("okay",), ("o", "k")),
}
_SYMBOLS: dict[str, tuple[Reading, ...]] = {
    "@": (("at",),), "&": (("and",),), "+": (("plus",),), "=": (("equals",), ("is",)),
    "#": (("number",), ("hash",)), "%": (("percent",),), "/": (("slash",), ("or",), ()),
}
_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_ORDINAL = re.compile(r"(\d+)(st|nd|rd|th)$")


def spoken_words(text: str) -> list[SpokenWord]:
    """Every written word of ``text`` with its readings, weight and pause likelihood, in order."""
    out: list[SpokenWord] = []
    prev_end = 0
    for m in _WRITTEN.finditer(text):
        readings, literal, units, phones, syllables = _written_word(m.group())
        if not readings or units <= 0:
            continue
        gap = text[prev_end : m.start()]
        if out and text[out[-1].start : out[-1].end].lower() in _ABBREVIATIONS and gap.strip() == ".":
            gap = " "  # "Dr. Smith": the dot marks an abbreviation, not a pause
        if not out or not gap:
            strength = 0.0
        else:
            strength = max(0.1, pause_after(gap.strip())) if gap.strip() else 0.1
        out.append(SpokenWord(m.start(), m.end(), readings, literal, units, strength, phones, syllables))
        prev_end = m.end()
    return out


@functools.lru_cache(maxsize=8192)  # pure, and words repeat (in speech and in floods of tiny deltas)
def _written_word(written: str) -> tuple[tuple[Reading, ...], bool, float, float, float]:
    """What a written word says whatever its neighbours: its readings, whether it is read
    as written, its spoken units, and the phones and syllables of its usual reading."""
    readings = _dedupe(_readings(written))
    units = spoken_units(written)
    if not readings or units <= 0:
        return readings, False, units, 0.0, 0.0
    said, spelled = _usual_reading(written, readings)
    return (readings, readings == ((written.lower(),),), units,
            reading_phones(said, spelled), _reading_syllables(said, spelled))


def _dedupe(readings: list[Reading]) -> tuple[Reading, ...]:
    return tuple(dict.fromkeys(r for r in readings))


def _words(phrase: str) -> Reading:
    """num2words output ("three thousand, four hundred and eighty-two") as words."""
    return tuple(w for w in re.split(r"[\s,-]+", phrase.lower()) if w)


def _without_and(r: Reading) -> Reading:
    return tuple(w for w in r if w != "and")


def _cardinal(n: int) -> list[Reading]:
    r = _words(num2words(n))
    return [r, _without_and(r)]


def _number(body: str) -> list[Reading]:
    """An unsigned number as written (commas, decimals): cardinal, year, digit by digit."""
    whole, _, frac = body.partition(".")
    digits = whole.replace(",", "")
    if not digits.isdigit():
        return []
    n = int(digits)
    out = _cardinal(n) if len(digits) <= 12 else []
    if 1100 <= n <= 2099 and "," not in whole and not frac:
        out.insert(0, _words(num2words(n, to="year")))
        if n % 100:  # "nineteen hundred and sixty-nine"
            hundreds = _words(num2words(n // 100)) + ("hundred",)
            out += [hundreds + r for r in _cardinal(n % 100)] + [hundreds + ("and",) + _cardinal(n % 100)[1]]
    if len(digits) >= 3 and "," not in whole:
        spelled = [_DIGITS[int(c)] for c in digits]
        out.append(tuple(spelled))
        out.append(tuple("oh" if w == "zero" else w for w in spelled))
    if frac:
        tail = ("point",) + tuple(_DIGITS[int(c)] for c in frac)
        out = [r + tail for r in out]
    return out


def _money(body: str) -> list[Reading]:
    whole, _, cents = body.partition(".")
    base = _number(whole)
    out = [r + ("dollars",) for r in base] + [("dollar",) + base[0]]  # some voices read "$" first
    if cents and cents.isdigit():
        c = _cardinal(int(cents))
        out = [r + extra for r in out for extra in (c[0] + ("cents",), c[1], ("and",) + c[1] + ("cents",))]
        digits = ("point",) + tuple(_DIGITS[int(ch)] for ch in cents)
        out += [r + digits + ("dollars",) for r in base] + [("dollar",) + base[0] + digits]
    return out


def _time(body: str) -> list[Reading]:
    hours, minutes = body.split(":", 1)
    h = _words(num2words(int(hours)))
    m = int(minutes)
    if m == 0:
        return [h + ("o'clock",), h, h + ("hundred",)]
    mins = _words(num2words(m))
    return [h + mins, h + ("oh",) + mins] if m < 10 else [h + mins]


def _letters(word: str) -> Reading:
    return tuple(c.lower() for c in word if c.isalpha())


def _readings(w: str) -> list[Reading]:
    low = w.lower()
    if w in _SYMBOLS:
        return list(_SYMBOLS[w])
    if "@" in w:  # support@example.com
        user, _, host = w.partition("@")
        parts = [tuple(re.split(r"[.\-_]", user))]
        host_words: Reading = ()
        for i, part in enumerate(host.split(".")):
            host_words += (("dot",) if i else ()) + (part.lower(),)
        return [tuple(p.lower() for p in parts[0] if p) + ("at",) + host_words]
    if low in _ABBREVIATIONS:
        return list(_ABBREVIATIONS[low]) + [_letters(w)]
    if re.fullmatch(r"(?:[A-Za-z]\.){2,}", w):  # p.m., U.S.
        return [_letters(w)]
    if w[0].isdigit() or w[0] == "$":
        return _numeric(w)
    alnum = re.fullmatch(r"([A-Za-z]+)(\d+(?:\.\d+)?)", w)
    if alnum:  # B12, v2, mp3
        letters, number = alnum.groups()
        return [head + tail for head in _readings(letters) for tail in _number(number)]
    out: list[Reading] = [(low,)]
    if w.isupper() and 1 < len(w) <= 5:  # FBI, XML, NASA: spelled or said
        out.append(_letters(w))
    return out


def _numeric(w: str) -> list[Reading]:
    """Numbers with their decorations: $, %, ordinals, times, am/pm, dashes."""
    suffix = ""
    for s in ("am", "pm", "%"):
        if w.endswith(s):
            w, suffix = w[: -len(s)], s
            break
    if "-" in w:  # 555-0142: groups read one after another, the dash said or not
        groups = [_numeric(g) for g in w.split("-") if g]
        combos = list(itertools.product(*groups))[:16]
        out = [tuple(itertools.chain.from_iterable(c)) for c in combos]
        return out + [tuple(itertools.chain.from_iterable(r + ("dash",) for r in c))[:-1] for c in combos]
    ordinal = _ORDINAL.fullmatch(w)
    if ordinal:
        base = [_words(num2words(int(ordinal.group(1)), to="ordinal"))]
    elif w.startswith("$"):
        base = _money(w[1:].rstrip("s"))
    elif ":" in w:
        base = _time(w)
    elif w.endswith("s") and w[:-1].isdigit():  # 1990s
        base = [r[:-1] + (_plural(r[-1]),) for r in _number(w[:-1])]
    else:
        base = _number(w)
    tail: Reading = {"%": ("percent",), "am": ("a", "m"), "pm": ("p", "m")}.get(suffix, ())
    return [r + tail for r in base]


def _plural(word: str) -> str:
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


# ------------------------------------------------------------------ spoken weight

_VOWEL_GROUPS = re.compile(r"[aeiouy]+", re.IGNORECASE)
_PIECE = re.compile(
    r"\$?\d[\d,]*(?:\.\d+)?(?::\d\d)?(?:%|st|nd|rd|th|s)?|[A-Za-z]+(?:'[A-Za-z]+)?|[.,;:!?]|[-@/&+=#%$]"
)
_UNITS = {0: 0, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 2, 8: 1, 9: 1, 10: 1, 11: 3, 12: 1,
          13: 2, 14: 2, 15: 2, 16: 2, 17: 3, 18: 2, 19: 2}
_TENS = {2: 2, 3: 2, 4: 2, 5: 2, 6: 2, 7: 3, 8: 2, 9: 2}
_LETTER_SYLLABLES = {"w": 3}
_LETTER_UNITS = 0.08  # consonant clusters lengthen syllables: letters add a little
_PAUSE_AFTER = {".": 1.0, "!": 1.0, "?": 1.0, ";": 0.8, ":": 0.7, ",": 0.7, "-": 0.3}


def _number_syllables(n: int) -> float:
    """Syllables of an integer read as words ("one thousand two hundred ...")."""
    if n < 20:
        return max(1, _UNITS[n]) if n else 2  # "zero"
    if n < 100:
        return _TENS[n // 10] + (_UNITS[n % 10] if n % 10 else 0)
    if n < 1000:
        return _UNITS[n // 100] + 2 + (_number_syllables(n % 100) if n % 100 else 0)
    for scale, sylls in ((10**9, 2), (10**6, 2), (10**3, 2)):
        if n >= scale:
            rest = n % scale
            return _number_syllables(n // scale) + sylls + (_number_syllables(rest) if rest else 0)
    return 1.0


def _numeric_syllables(token: str) -> float:
    """Spoken length of a number-like token: currency, decimals, times, years, ordinals."""
    money = token.startswith("$")
    body = token.lstrip("$")
    suffix = re.search(r"(%|st|nd|rd|th|s)$", body)
    if suffix:
        body = body[: suffix.start()]
    total = 0.0
    if ":" in body:  # 10:45 -> "ten forty-five"
        parts = [p for p in body.split(":") if p]
        total = sum(_number_syllables(int(p)) if p != "00" else 0 for p in parts)
    else:
        whole, _, frac = body.partition(".")
        digits = whole.replace(",", "")
        if not digits.isdigit():
            return 1.0
        n = int(digits)
        if 1100 <= n <= 2099 and "," not in whole and not money:  # a year: "nineteen ninety"
            total = _number_syllables(n // 100) + (_number_syllables(n % 100) if n % 100 else 2)
        elif len(digits) > 9:  # read digit by digit
            total = 1.2 * len(digits)
        else:
            total = _number_syllables(n)
        if frac:
            total += 2 + (1.1 * len(frac) if not money else _number_syllables(int(frac)) + 1)
    if money:
        total += 2  # "dollars"
    if suffix:
        total += 2 if suffix.group() == "%" else 0.3
    return total


def _spelled(word: str) -> bool:
    """Short all-caps words without a sayable vowel inside are spelled out (FBI, API; not NASA)."""
    letters = word.replace("'", "")
    return letters.isupper() and 1 < len(letters) <= 5 and not (
        len(letters) >= 4 and bool(_VOWEL_GROUPS.search(letters[1:-1])))


@functools.lru_cache(maxsize=8192)  # pure, and words repeat (in speech and in floods of tiny deltas)
def _word_syllables(word: str) -> float:
    """Syllables of a written word; short all-caps words are spelled out (FBI, API)."""
    letters = word.replace("'", "")
    if _spelled(word):
        return float(sum(_LETTER_SYLLABLES.get(c.lower(), 1) for c in letters))
    low = letters.lower()
    if low in _ABBREVIATIONS and _ABBREVIATIONS[low][0] != (low,):  # written short, spoken long
        return _reading_syllables(_ABBREVIATIONS[low][0])
    n = len(_VOWEL_GROUPS.findall(low))
    if n > 1 and (
        (low.endswith("e") and not low.endswith(("le", "ee", "ye")))
        or (low.endswith("es") and not low.endswith(("ses", "xes", "zes", "ches", "shes", "ces", "ges")))
        or (low.endswith("ed") and not low.endswith(("ted", "ded")))
        or re.search(r"[^aeiouy]ely$", low)
    ):
        n -= 1  # silent e: "tone", "tones", "moved", "absolutely"
    return float(max(1, n))


def _reading_syllables(reading: Reading, spelled: bool = False) -> float:
    if spelled:  # letter names: "double-u" has three
        return float(sum(_LETTER_SYLLABLES.get(w, 1) for w in reading))
    return float(sum(_word_syllables(w) for w in reading))


# Speech sounds from spelling: a digraph ("th", "ee", "ck") or a doubled letter is one
# sound, "x" two, a final silent "e" none (checked against cmudict: 0.3 sounds more per
# word on average, off by 0.4).
_GRAPHEME = re.compile(
    r"tch|dge|igh|ough|augh|[tsc]h|ph|ng|ck|qu|wh|gh|kn|wr"
    r"|ee|oo|ea|ai|ay|oa|ou|ow|oi|oy|au|aw|ei|ey|ie|ue|ew|([a-z])\1|[a-z]")
_SILENT_E = re.compile(r"[aeiouy][^aeiouy]+e$")  # "tone", "since"; not "the", "free", "table"
_LETTER_NAME_PHONES = {"a": 1, "e": 1, "i": 1, "o": 1, "w": 6, "x": 3, "q": 3, "u": 2}  # others: 2 ("bee")


def _usual_reading(written: str, readings: tuple[Reading, ...]) -> tuple[Reading, bool]:
    """The reading a voice most likely says (the first; letters for a spelled acronym)."""
    if _spelled(written):
        letters = _letters(written)
        if letters in readings:
            return letters, True
    return readings[0], False


def reading_phones(reading: Reading, spelled: bool = False) -> float:
    """Speech sounds (phones) in ``reading``; ``spelled``: its words are letter names.

    Durations follow sounds more closely than syllables ("strengths" vs "idea"): a
    word's length is roughly its consonants plus its (longer) vowels."""
    if spelled:
        return float(sum(_LETTER_NAME_PHONES.get(c, 2) for c in reading))
    total = 0
    for word in reading:
        w = word.replace("'", "")
        n = len(_GRAPHEME.findall(w)) + w.count("x")
        if _SILENT_E.search(w):
            n -= 1
        total += max(1, n)
    return float(total)


def _said(text: str) -> tuple[Reading, bool]:
    """The usual reading of ``text``, word after word (and whether it is letter names)."""
    said: Reading = ()
    spelled = False
    for m in _WRITTEN.finditer(text):
        readings = _written_word(m.group())[0]
        if readings:
            r, spelled = _usual_reading(m.group(), readings)
            said += r
    return said, spelled


def continues(word: SpokenWord, text: str, c: int) -> bool:
    """Does a delta starting at character ``c`` of ``text`` go on saying ``word``: does it
    start inside it, with more of it to say? One that starts on its silent tail (the last
    "." of "e.g.", then " for") is not a piece of it but the next word's."""
    return word.start < c < word.end and bool(_said(text[c : word.end])[0])


@functools.lru_cache(maxsize=4096)  # pure; asked again on every answer while the word is on screen
def spoken_share(written: str, cut: int) -> float:
    """How much of one written word is spoken before its character ``cut`` (0..1, by
    phones of its usual reading): "support@example.com" cut before "com" has "support
    at example dot" of "support at example dot com" behind it, not 16 of 19 characters.

    The piece before the cut is read on its own and matched against the whole word's
    reading, word by word (a piece cut inside a word, "Interop", counts its own sounds).
    A joiner neither piece says on its own (the "dot" of a ".") belongs to the piece
    whose edge it is: after the cut when that piece starts with it (".com"), else
    before it (the "." that ended "support@example.")."""
    whole, spelled = _said(written)
    if not whole or cut <= 0:
        return 0.0
    if cut >= len(written):
        return 1.0
    before, _ = _said(written[:cut])
    n = 0
    while n < min(len(before), len(whole)) and before[n] == whole[n]:
        n += 1
    phones = [reading_phones((w,), spelled) for w in whole]
    done = sum(phones[:n])
    if n < len(whole):
        if n < len(before) and whole[n].startswith(before[n]):  # cut inside a spoken word
            done += min(reading_phones((before[n],), spelled), phones[n])
        elif n == len(before) and written[cut].isalnum() and _said(written[cut:])[0][:1] != whole[n : n + 1]:
            done += phones[n]  # the joiner that ended the piece before
    return min(1.0, done / sum(phones))


@functools.lru_cache(maxsize=8192)
def spoken_units(text: str) -> float:
    """Spoken length of ``text`` in syllable-like units, pauses excluded.

    Consonant clusters lengthen a syllable, so letters add a little on top of the
    syllable count (a pure syllable count under-weights "strengths" vs "idea").
    """
    units = 0.0
    for piece in _PIECE.findall(text):
        ch = piece[0]
        if ch.isdigit() or (ch == "$" and len(piece) > 1):
            units += _numeric_syllables(piece)
        elif ch.isalpha():
            units += _word_syllables(piece) + _LETTER_UNITS * len(piece)
        elif piece in _SYMBOLS:
            units += _reading_syllables(_SYMBOLS[piece][0])
    return units


def pause_after(text: str) -> float:
    """How likely speech pauses after ``text`` (0..1), from its trailing punctuation."""
    stripped = text.rstrip()
    if not stripped:
        return 0.0
    return _PAUSE_AFTER.get(stripped[-1], 0.0)


def text_weight(text: str) -> float:
    """Rough spoken length of ``text`` in syllable units (punctuation adds a pause)."""
    weight = spoken_units(text)
    for ch in re.findall(r"[.,;:!?]", text):
        weight += 1.2 if ch in ".!?" else 0.6
    return weight


# No voice says more than this in a second (fast speech is ~8 units/s): words past what an
# item's audio could hold were not spoken in it (an interrupted item's text runs on) and
# are not worth a search (a flood of text would make it slow).
_MAX_UNITS_PER_S = 15.0
_UNITS_SLACK = 10.0


def speakable(words: list[SpokenWord], audio_ms: float) -> list[SpokenWord]:
    """The words the audio could hold, from the first."""
    budget = _MAX_UNITS_PER_S * audio_ms / 1000.0 + _UNITS_SLACK
    total = 0.0
    for i, w in enumerate(words):
        total += w.units
        if total > budget:
            return words[:i]
    return words
