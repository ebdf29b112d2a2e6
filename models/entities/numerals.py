"""Numbers as people write them: Arabic with separators and 万/k suffixes, Chinese numerals, colloquial forms.

``parse_number("两千五") == 2500``: spoken Chinese drops the last unit (两千五 = 2500, 一百二 = 120,
三万五 = 35000), so a lone digit after a unit is read one order of magnitude below it.
"""

from __future__ import annotations

import re

from models.entities.lexicon import load

_NUM = load("numerals")
DIGITS: dict[str, int] = _NUM["digits"]
UNITS: dict[str, int] = _NUM["units"]
BIG_UNITS: dict[str, int] = _NUM["big_units"]
SUFFIX_MULTIPLIERS: dict[str, int] = _NUM["suffix_multipliers"]
EN_NUMBERS: dict[str, int] = _NUM["en_numbers"]

CN_CHARS = "".join(sorted(set(DIGITS) | set(UNITS) | set(BIG_UNITS)))
#: A run of Chinese numeral characters (regex fragment), bounded so that a long run of numerals
#: cannot make the money / time regexes quadratic (一千二百三十四万五千六百七十八 is 15 characters).
CN_NUMBER = f"[{CN_CHARS}]{{1,16}}"
#: Arabic number: 1,299.00 / 1299 / 1.2 (a Chinese comma folded to "," before a digit is no thousands separator)
ARABIC_NUMBER = r"\d{1,3}(?:,\d{3})+(?![\d])(?:\.\d+)?|\d+(?:\.\d+)?"
_ARABIC_RE = re.compile(rf"^(?:{ARABIC_NUMBER})$")
#: Arabic digits before 万 / 千 and what follows it: 16万8 (168,000: the dropped unit), 3万2000, 2万5千.
_MIXED_BIG = re.compile(r"(?P<head>\d+)(?P<unit>[万千])(?P<rest>\d*|[\d零一二两三四五六七八九十百千]+)")


def parse_chinese(text: str) -> float | None:
    """Chinese numerals (incl. 两, 〇, financial forms and the colloquial dropped unit) -> value."""
    if not text or any(c not in DIGITS and c not in UNITS and c not in BIG_UNITS for c in text):
        return None
    if all(c in DIGITS for c in text) and len(text) > 1:  # 二〇二四 read digit by digit
        return float("".join(str(DIGITS[c]) for c in text))
    total = 0.0
    section = 0.0  # below the current 万/亿
    number = -1  # pending digit (-1: none)
    last_unit = 1
    for ch in text:
        if ch in DIGITS:
            number = DIGITS[ch]
        elif ch in UNITS:
            unit = UNITS[ch]
            section += (number if number >= 0 else 1) * unit
            number = -1
            last_unit = unit
        else:  # 万 / 亿
            big = BIG_UNITS[ch]
            section += max(number, 0)
            if section == 0:
                section = 1
            total = (total + section) * big if big > 10000 else total + section * big
            section = 0.0
            number = -1
            last_unit = big
    if number >= 0:
        # A trailing digit right after a unit is the colloquial dropped unit: 两千五 = 2500.
        previous = text[-2] if len(text) > 1 else ""
        if previous in UNITS or previous in BIG_UNITS:
            section += number * last_unit / 10
        else:
            section += number
    return total + section


def parse_arabic(text: str) -> float | None:
    text = text.strip()
    if not _ARABIC_RE.match(text):
        return None
    return float(text.replace(",", ""))


def parse_number(text: str) -> float | None:
    """Arabic or Chinese numerals, with an optional 万/千/k suffix (``1.2万`` = 12000, ``3k`` = 3000)."""
    text = text.strip()
    if not text:
        return None
    value = parse_arabic(text)
    if value is not None:
        return value
    suffix = text[-1]
    if suffix in SUFFIX_MULTIPLIERS and len(text) > 1:
        head = parse_arabic(text[:-1])
        if head is not None:
            return head * SUFFIX_MULTIPLIERS[suffix]
    if m := _MIXED_BIG.fullmatch(text):  # 16万8 / 3万2000 / 2万5千: Arabic digits before 万 or 千, then the rest
        big = SUFFIX_MULTIPLIERS[m["unit"]]
        rest = m["rest"]
        tail: float | None = 0.0
        if len(rest) == 1 and (rest.isdigit() or rest in DIGITS):  # the dropped unit: 16万8 = 160,000 + 8,000
            tail = (int(rest) if rest.isdigit() else DIGITS[rest]) * big / 10
        elif rest:  # 3万2000; 10万零500 (零: no unit dropped)
            tail = parse_number(rest.lstrip("零") or "0")
        if tail is not None and tail < big:
            return int(m["head"]) * big + tail
    if text[0].isdigit() or (text[-1].isdigit() and "." not in text):
        # 3千5 / 2万5千 / 两千5: Arabic digits mixed with Chinese numerals and units
        mixed = "".join("零一二三四五六七八九"[int(c)] if c.isdigit() else c for c in text)
        if "." not in mixed:
            return parse_chinese(mixed)
        return None
    return parse_chinese(text)


def parse_en_number(text: str) -> float | None:
    text = text.strip().lower()
    value = parse_arabic(text)
    if value is not None:
        return value
    return float(EN_NUMBERS[text]) if text in EN_NUMBERS else None


_EN_WORDS: dict[str, dict[str, int]] = _NUM["en_words"]
_EN_UNITS, _EN_TENS, _EN_SCALES = _EN_WORDS["units"], _EN_WORDS["tens"], _EN_WORDS["scales"]
_EN_WORD = "|".join(sorted([*_EN_UNITS, *_EN_TENS], key=len, reverse=True))
_EN_SCALE = "|".join(_EN_SCALES)
#: A number spelled out in English words (two hundred, twenty-five, a hundred and fifty): regex fragment, to be
#: compiled case-insensitively.
EN_WORD_NUMBER = (
    rf"\b(?:(?:{_EN_WORD})(?:-(?:{_EN_WORD}))?|an?(?=\s(?:{_EN_SCALE})\b))"
    rf"(?:\s(?:and\s)?(?:(?:{_EN_WORD})(?:-(?:{_EN_WORD}))?|{_EN_SCALE})\b)*"
)


def parse_en_words(text: str) -> float | None:
    """An amount spelled out in English words: ``two hundred`` = 200, ``twenty-five`` = 25, ``a thousand`` = 1000.

    Only the regular forms: ``one fifty`` (a price read digit group by group) is no number here.
    """
    total, current, last = 0, 0, ""  # last: the kind of the previous word (unit / ten / scale)
    words = [w for w in re.split(r"[\s-]+", text.strip().lower()) if w != "and"]
    for i, word in enumerate(words):
        if word in ("a", "an") and i == 0:
            current, last = 1, "unit"
        elif word in _EN_TENS:
            if last in ("unit", "ten"):
                return None
            current, last = current + _EN_TENS[word], "ten"
        elif word in _EN_UNITS:
            if last == "unit" or (last == "ten" and _EN_UNITS[word] >= 10):
                return None
            current, last = current + _EN_UNITS[word], "unit"
        elif word in _EN_SCALES:
            if last == "scale" and _EN_SCALES[word] < 1000:
                return None
            if _EN_SCALES[word] == 100:
                current = (current or 1) * 100
            else:
                total, current = total + (current or 1) * _EN_SCALES[word], 0
            last = "scale"
        else:
            return None
    return float(total + current) if words else None
