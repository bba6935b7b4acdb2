"""How written transcript text is read aloud: the words a forced aligner listens for.

A model's transcript says "$3,482.50", "10:45", "NASA", "Dr." and "e.g."; its voice says
"three thousand four hundred and eighty-two dollars fifty", "ten forty-five", "nasa",
"doctor", "for example". Each written word becomes a :class:`SpokenWord` holding every
plausible reading (a voice may or may not say "and", spell an acronym, read a year as
"twenty nineteen"); the aligner picks whichever reading the audio supports. Readings
are plain lower-case English words; pronunciations are the aligner's business.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from num2words import num2words

Reading = tuple[str, ...]


@dataclass(frozen=True)
class SpokenWord:
    """A written word (character span of the text) and the ways it may be spoken."""

    start: int
    end: int
    readings: tuple[Reading, ...]  # never empty; () means it may go unspoken
    literal: bool = False  # a plain word read as written: a voice surely says it this way


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
    """Every written word of ``text`` with its readings, in order."""
    out = []
    for m in _WRITTEN.finditer(text):
        readings = _dedupe(_readings(m.group()))
        if readings:
            literal = readings == ((m.group().lower(),),)
            out.append(SpokenWord(m.start(), m.end(), readings, literal))
    return out


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
    if "-" in w:  # 555-0142: groups read one after another
        groups = [_numeric(g) for g in w.split("-") if g]
        out = [tuple(itertools.chain.from_iterable(c)) for c in itertools.product(*groups)]
        return out[:16]
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
