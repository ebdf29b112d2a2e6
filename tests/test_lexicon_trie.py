"""``trie_alternation`` matches what ``alternation`` matches, in the same (longest-first) order."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from models.entities.lexicon import alternation, trie_alternation

_WORDS = st.lists(st.text(alphabet="abAB1京东-", min_size=1, max_size=5), min_size=1, max_size=12)
_TEXT = st.text(alphabet="abAB1京东- x", max_size=40)


@settings(max_examples=300, deadline=None)
@given(words=_WORDS, text=_TEXT, lead=st.booleans(), trail=st.booleans())
def test_same_matches_as_the_flat_alternation(words: list[str], text: str, lead: bool, trail: bool) -> None:
    flat = re.compile(alternation(words, lead=lead, trail=trail))
    tree = re.compile(trie_alternation(words, lead=lead, trail=trail))
    assert [m.span() for m in tree.finditer(text)] == [m.span() for m in flat.finditer(text)]


@settings(max_examples=200, deadline=None)
@given(words=_WORDS, text=_TEXT)
def test_folded_tree_inside_ignorecase_finds_the_longest_word(words: list[str], text: str) -> None:
    flat = re.compile(f"(?i:{alternation({w.lower() for w in words})})")
    tree = re.compile(f"(?i:{trie_alternation(words, fold_case=True)})")
    assert [m.span() for m in tree.finditer(text)] == [m.span() for m in flat.finditer(text)]


def test_longest_word_wins_and_no_word_matches_nothing() -> None:
    tree = re.compile(trie_alternation(["Galaxy", "Galaxy Buds", "Gal"]))
    assert tree.search("my Galaxy Buds broke").group(0) == "Galaxy Buds"  # type: ignore[union-attr]
    assert tree.search("my Galaxy broke").group(0) == "Galaxy"  # type: ignore[union-attr]
    assert re.search(trie_alternation([]), "anything") is None
