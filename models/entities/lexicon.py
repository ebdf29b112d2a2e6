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
from typing import Any, TypeVar

SpanT = TypeVar("SpanT", bound=tuple[Any, ...])
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
        parts.append((_LEAD if lead and _latin_letter(word[:1]) else "") + re.escape(word) + _trail(word, trail))
    return "(?:" + "|".join(parts) + ")"


#: Before a word that starts with a Latin letter: no Latin letter right before it.
_LEAD = r"(?<![A-Za-z])"


def _latin_letter(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _trail(word: str, trail: bool) -> str:
    """After a word that ends in a Latin letter or digit: no Latin letter or digit right after it."""
    return r"(?![A-Za-z0-9])" if trail and word[-1:].isascii() and word[-1:].isalnum() else ""


def may_start(words: Iterable[str] = (), extra: str = "", lead: bool = True) -> str:
    """A look-ahead that holds where one of ``words`` (as :func:`alternation` writes them) can start, or where a
    character of the class body ``extra`` (``\\d\\s`` ...) stands.

    Put in front of a pattern whose every non-empty match starts with one of them, it changes no match: the
    regex engine tries the whole pattern at every position of a text, and this one test skips at once the
    positions where the pattern could only fail or match the empty string (a long alternation fails there word
    by word). ``lead``: as in :func:`alternation`, a word that starts with a Latin letter starts no match right
    after another Latin letter. A case-insensitive pattern folds the class as it folds the words.
    """
    latin: set[str] = set()
    other: set[str] = set()
    for word in words:
        if word:
            (latin if lead and _latin_letter(word[0]) else other).add(word[0])
    branches = []
    if latin:
        branches.append(_LEAD + "[" + "".join(re.escape(c) for c in sorted(latin)) + "]")
    if other or extra:
        branches.append("[" + extra + "".join(re.escape(c) for c in sorted(other)) + "]")
    return "(?=" + "|".join(branches) + ")" if branches else "(?!)"


def trie_alternation(words: Iterable[str], lead: bool = True, trail: bool = True, fold_case: bool = False) -> str:
    """What :func:`alternation` matches, and in the same order (longest first), written as a prefix tree.

    A flat alternation of hundreds of names is tried word by word at every position of a text; as a tree,
    a position that starts no word fails at its first character. Where the words share a prefix, the
    longer continuation is tried before the word ends, so the longest word still wins. ``fold_case``
    lower-cases the words first: for use inside ``(?i:...)``, where words that differ only in case would
    otherwise be separate branches, the first of which wins even when another continues further.
    """
    root: dict[str, Any] = {}
    for word in set(w.lower() if fold_case else w for w in words):
        if not word:
            continue
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = word

    def render(node: dict[str, Any], first: bool) -> str:
        branches = []
        for ch in sorted(k for k in node if k):
            prefix = _LEAD if first and lead and _latin_letter(ch) else ""
            branches.append(prefix + re.escape(ch) + render(node[ch], False))
        if "" in node:  # a word ends here: after every longer continuation
            branches.append(_trail(node[""], trail))
        if len(branches) == 1:
            return branches[0]
        return "(?:" + "|".join(branches) + ")"

    return render(root, True) if root else "(?!)"


def longest_first(spans: Iterable[SpanT]) -> list[SpanT]:
    """Of overlapping ``(start, end, ...)`` spans the longest (then the first) stays; in text order."""
    chosen: list[SpanT] = []
    for span in sorted(set(spans), key=lambda x: (-(x[1] - x[0]), x[0])):
        if all(span[1] <= c[0] or span[0] >= c[1] for c in chosen):
            chosen.append(span)
    return sorted(chosen)
