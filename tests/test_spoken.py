"""Written transcript text -> the words a voice says (the forced aligner's grammar)."""

from __future__ import annotations

import pytest

from captioner.core.estimators._text import spoken_words


def _readings(text: str) -> dict[str, tuple]:
    return {text[w.start : w.end]: w.readings for w in spoken_words(text)}


def test_numbers_are_read_in_every_usual_way():
    r = _readings("In 1969, it cost $12 and $3,482.50 at 10:45 or 9:00 on March 3rd, up 7.5%.")
    assert ("nineteen", "sixty", "nine") in r["1969"]  # the comma after a year is punctuation
    assert ("nineteen", "hundred", "and", "sixty", "nine") in r["1969"]
    assert ("twelve", "dollars") in r["$12"]
    assert ("three", "thousand", "four", "hundred", "eighty", "two", "dollars", "and", "fifty", "cents") in r["$3,482.50"]
    assert ("ten", "forty", "five") in r["10:45"]
    assert ("nine", "o'clock") in r["9:00"]
    assert r["3rd"] == (("third",),)
    assert ("seven", "point", "five", "percent") in r["7.5%"]


def test_acronyms_abbreviations_and_symbols():
    r = _readings("The FBI and Dr. Smith, e.g. 250 mg & support@example.com, B12")
    assert ("fbi",) in r["FBI"] and ("f", "b", "i") in r["FBI"]
    assert ("doctor",) in r["Dr"]
    assert ("for", "example") in r["e.g."]
    assert ("milligrams",) in r["mg"]
    assert r["&"] == (("and",),)
    assert r["support@example.com"] == (("support", "at", "example", "dot", "com"),)
    assert ("b", "twelve") in r["B12"]


def test_spans_and_literal_flag():
    text = " Interop" + "erability, 42 times."
    words = spoken_words(text)
    assert [text[w.start : w.end] for w in words] == ["Interoperability", "42", "times"]
    assert [w.literal for w in words] == [True, False, True]  # numbers may be read otherwise
    assert spoken_words(" , . -") == []


def test_spoken_share_of_pieces_inside_one_written_word():
    from captioner.core.estimators._text import reading_phones, spoken_share

    email = "support@example.com"
    said = ["support", "at", "example", "dot", "com"]
    phones = [reading_phones((w,)) for w in said]

    def share(k: int) -> float:  # the first k spoken words of the address
        return sum(phones[:k]) / sum(phones)

    assert spoken_share(email, email.index("@")) == pytest.approx(share(1))  # "@example.com": at "at"
    assert spoken_share(email, email.index("example")) == pytest.approx(share(2))
    assert spoken_share(email, email.index(".com")) == pytest.approx(share(3))  # ".com" says the "dot"
    assert spoken_share(email, email.index("com")) == pytest.approx(share(4))  # "com" after a "." delta
    assert spoken_share(email, 0) == 0.0 and spoken_share(email, len(email)) == 1.0
    # a piece cut inside a spoken word counts its own sounds
    assert 0.0 < spoken_share("Interoperability", 5) < spoken_share("Interoperability", 9) < 1.0


def test_dashed_digit_groups_may_be_read_with_the_dash():
    readings = _readings("Call 555-0142.")["555-0142"]
    assert ("five", "five", "five", "oh", "one", "four", "two") in readings
    assert ("five", "five", "five", "dash", "oh", "one", "four", "two") in readings


def test_a_delta_continues_a_word_only_while_it_has_more_of_it_to_say():
    from captioner.core.estimators._text import continues

    text = "e.g. for 7.5% of U.S. GDP"
    words = spoken_words(text)
    eg, _, pct, _, us, _ = words
    assert continues(eg, text, 2)  # "g. for": the "g" is still to say
    assert not continues(eg, text, 3)  # ". for": the last "." says nothing
    assert continues(pct, text, text.index("%"))  # "%" says "percent"
    assert not continues(us, text, text.index("U.S.") + 3)
    assert not continues(eg, text, 0)  # a delta at a word's start is that word's, not a piece
