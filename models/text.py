"""Message normalisation that keeps a map back to the caller's original offsets.

What the model sees: Traditional Chinese converted to Simplified, full-width ASCII folded
to half-width, control characters dropped, whitespace runs collapsed, URLs replaced by a
placeholder. Every character of the normalised text remembers the ``[start, end)`` span
of the original text it came from, so spans found on the normalised text (entities, cue
words, token offsets) are reported against what the caller sent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

URL_RE = re.compile(r"(?:https?://|www\.)[^\s\u3000\u4e00-\u9fff，。！？]+", re.IGNORECASE)
URL_PLACEHOLDER = "<url>"
CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_RE = re.compile(r"[A-Za-z]")


class _Converter(Protocol):
    def convert(self, text: str) -> str: ...


@lru_cache(maxsize=1)
def _t2s() -> _Converter:
    import opencc

    converter: _Converter = opencc.OpenCC("t2s.json")
    return converter


@dataclass(frozen=True)
class NormalizedText:
    """Normalised text plus, per normalised character, its original ``[start, end)``."""

    original: str
    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    traditional: bool

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalised ``[start, end)`` span to the original text."""
        if not self.text:
            return 0, 0
        start = max(0, min(start, len(self.text) - 1))
        end = max(start + 1, min(end, len(self.text)))
        return self.starts[start], self.ends[end - 1]


def _fold_char(ch: str) -> str:
    code = ord(ch)
    if 0xFF01 <= code <= 0xFF5E:  # full-width ASCII block
        return chr(code - 0xFEE0)
    if code == 0x3000:  # ideographic space
        return " "
    return ch


def _is_dropped(ch: str) -> bool:
    if ch in "\n\t":
        return False
    cat = unicodedata.category(ch)
    return cat in ("Cc", "Cf") and ch not in "\u200d"  # keep ZWJ inside emoji sequences


def _simplify(text: str) -> tuple[str, bool]:
    converted = _t2s().convert(text)
    if converted == text:
        return text, False
    if len(converted) != len(text):
        # Phrase-level conversions that change length are rare; fall back to a
        # per-character conversion so the 1:1 offset map holds.
        converted = "".join(_t2s().convert(ch) if len(_t2s().convert(ch)) == 1 else ch for ch in text)
    return converted, True


def normalize(text: str) -> NormalizedText:
    """Normalise one message for the models; see the module docstring."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for match in URL_RE.finditer(text):
        _append_plain(text, pos, match.start(), chars, starts, ends)
        if chars and chars[-1] != " ":
            _push(chars, starts, ends, " ", match.start(), match.start())
        for ch in URL_PLACEHOLDER:
            _push(chars, starts, ends, ch, match.start(), match.end())
        _push(chars, starts, ends, " ", match.end(), match.end())
        pos = match.end()
    _append_plain(text, pos, len(text), chars, starts, ends)
    # Strip leading/trailing whitespace.
    lo, hi = 0, len(chars)
    while lo < hi and chars[lo] == " ":
        lo += 1
    while hi > lo and chars[hi - 1] == " ":
        hi -= 1
    folded = "".join(chars[lo:hi])
    simplified, traditional = _simplify(folded)
    return NormalizedText(
        original=text,
        text=simplified,
        starts=tuple(starts[lo:hi]),
        ends=tuple(ends[lo:hi]),
        traditional=traditional,
    )


def _push(chars: list[str], starts: list[int], ends: list[int], ch: str, start: int, end: int) -> None:
    chars.append(ch)
    starts.append(start)
    ends.append(end)


def _append_plain(text: str, lo: int, hi: int, chars: list[str], starts: list[int], ends: list[int]) -> None:
    for i in range(lo, hi):
        ch = text[i]
        if _is_dropped(ch):
            continue
        ch = _fold_char(ch)
        if ch.isspace():
            if chars and chars[-1] == " ":
                ends[-1] = i + 1
                continue
            ch = " "
        chars.append(ch)
        starts.append(i)
        ends.append(i + 1)


#: Characters that render as nothing although Unicode does not call them format or space characters:
#: the combining grapheme joiner, Hangul fillers, the Braille blank and the variation selectors.
_INVISIBLE = frozenset("\u034f\u115f\u1160\u3164\uffa0\u2800") | frozenset(
    chr(c) for r in (range(0xFE00, 0xFE10), range(0xE0100, 0xE01F0)) for c in r
)


#: The code points :func:`is_blank` treats as invisible (this Python's Unicode data), as ranges: the API spec
#: documents a message text as containing one character outside them (``tests/test_text_blank.py`` checks it).
BLANK_RANGES = (
    (0x0, 0x20), (0x7F, 0xA0), (0xAD, 0xAD), (0x34F, 0x34F), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD),
    (0x70F, 0x70F), (0x890, 0x891), (0x8E2, 0x8E2), (0x115F, 0x1160), (0x1680, 0x1680), (0x180E, 0x180E),
    (0x2000, 0x200F), (0x2028, 0x202F), (0x205F, 0x2064), (0x2066, 0x206F), (0x2800, 0x2800), (0x3000, 0x3000),
    (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001),
    (0xE0020, 0xE007F), (0xE0100, 0xE01EF),
)  # fmt: skip
#: A regular expression (JSON Schema ``pattern``) that matches a text :func:`is_blank` does not refuse.
VISIBLE_PATTERN = "[^" + "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in BLANK_RANGES) + "]"


def is_blank(text: str) -> bool:
    """True when ``text`` has no visible character: only whitespace, control or format characters (zero-width
    spaces and joiners, BOM, bidi marks) or the fillers above. Such a message is empty."""
    return all(
        ch.isspace() or ch in _INVISIBLE or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp") for ch in text
    )


def detect_language(text: str) -> str:
    """Return ``zh``, ``en`` or ``und`` for a normalised message.

    Chinese characters decide first (a message with a meaningful share of Han script is
    Chinese even when it carries English product names); otherwise the Latin share.
    """
    han = len(CJK_RE.findall(text))
    latin = len(_LATIN_RE.findall(text))
    if han and han >= 0.15 * (han + latin):
        return "zh"
    if latin >= 2:
        return "en"
    if han:
        return "zh"
    return "und"
