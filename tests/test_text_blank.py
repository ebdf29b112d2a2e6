"""``is_blank`` and the spec's ``VISIBLE_PATTERN`` agree on every code point."""

from __future__ import annotations

import re

from models.text import BLANK_RANGES, VISIBLE_PATTERN, is_blank


def test_blank_ranges_are_exactly_what_is_blank_refuses() -> None:
    ranges: list[tuple[int, int]] = []
    start = None
    for cp in range(0x110000):
        blank = not 0xD800 <= cp <= 0xDFFF and is_blank(chr(cp))
        if blank and start is None:
            start = cp
        elif not blank and start is not None:
            ranges.append((start, cp - 1))
            start = None
    assert tuple(ranges) == BLANK_RANGES


def test_visible_pattern_matches_exactly_the_texts_that_are_not_blank() -> None:
    visible = re.compile(VISIBLE_PATTERN)
    texts = ["", " \t\n", "\u200d", "\u200b\u200d\ufeff\u2060", "\ufe0f\u3164\u2800", "a", "\u200d好", "😀", "\x00x"]
    for text in texts:
        assert (visible.search(text) is None) == is_blank(text), repr(text)
