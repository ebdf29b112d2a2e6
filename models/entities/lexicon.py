"""The entity lexicons (``models/resources/entities/*.json``), loaded once and shared.

Everything a linguist or an operator may want to extend (currency words, relative-day words,
carrier formats, context keywords, organisation names) lives in those files, not in code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "entities"


@cache
def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RESOURCES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def alternation(words: Iterable[str], lead: bool = True, trail: bool = True) -> str:
    """A regex alternation, longest first so that 块钱 wins over 块.

    Latin words get boundaries against other Latin letters (``lead`` before, ``trail`` after; a
    Chinese character next to them is a boundary, unlike ``\\b``): a currency code before a number
    (``RMB300``) needs none after it, a unit after a number (``45USD``) none before it.
    """
    parts = []
    for word in sorted(set(words), key=len, reverse=True):
        escaped = re.escape(word)
        if lead and word[:1].isascii() and word[:1].isalpha():
            escaped = r"(?<![A-Za-z])" + escaped
        if trail and word[-1:].isascii() and word[-1:].isalnum():
            escaped += r"(?![A-Za-z0-9])"
        parts.append(escaped)
    return "(?:" + "|".join(parts) + ")"
