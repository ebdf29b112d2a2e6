"""Trim the encoder's vocabulary to the scripts customer text is written in.

multilingual-e5-small keeps XLM-R's 250,002 SentencePiece pieces; its embedding table is most of the
served model (96M of 118M parameters, 384 MB in fp32 inside the int8 graph), and the tokenizer's lattice
index of all pieces costs a process about 290 MB of memory. Chinese, Japanese, Korean and English
customer text never reaches most of those pieces: 115k of them are made of Cyrillic, Arabic, Devanagari,
Thai, Hebrew, Georgian and other scripts, or of Latin letters beyond Latin-1.

The trimmed vocabulary keeps a piece when

- every character of it (the word-boundary mark ``▁`` aside) is in a kept script
  (:data:`KEPT_SCRIPTS`) or in Latin-1 (U+0000-U+00FF: ASCII and the letters of Western European names), or
- it is a single character of any script, so that a word in another script still reads character by
  character instead of as ``<unk>``, or
- it is a special token, or the piece with the lowest score (the unknown-character penalty of the unigram
  model is measured from that score; it must not move).

Why nothing changes for text in the kept scripts: the unigram tokenizer chooses among the pieces that
match substrings of the (normalised) text, and every such piece of a text made of kept characters is
itself made of kept characters, so it is kept with its score. The lattice, the best path and therefore the
pieces are the same, each piece keeps its embedding row, and the encoder's states are the same bits
(``tests/test_build.py``). Only the ids are renumbered, in their original order.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np

from models.build.e5s1 import Vocab

#: Unicode scripts kept whole (``Common`` holds digits, punctuation, symbols and emoji; ``Inherited`` the
#: combining marks). Latin is kept up to U+00FF (:data:`LATIN_LIMIT`).
KEPT_SCRIPTS = ("Han", "Hiragana", "Katakana", "Bopomofo", "Hangul", "Greek", "Common", "Inherited")
LATIN_LIMIT = 0xFF
WORD_MARK = "\u2581"


@cache
def _kept_char_pattern() -> Any:
    import regex

    scripts = "".join(rf"\p{{Script={name}}}" for name in KEPT_SCRIPTS)
    return regex.compile(rf"[{scripts}\x00-\xff]")


def kept_character(ch: str) -> bool:
    """Whether ``ch`` is in a kept script (every piece made of such characters is kept)."""
    return ord(ch) <= LATIN_LIMIT or _kept_char_pattern().fullmatch(ch) is not None


def kept_ids(vocab: Vocab) -> list[int]:
    """Ids (ascending) of the pieces the trimmed vocabulary keeps."""
    specials = {vocab.bos, vocab.eos, vocab.pad, vocab.unk, int(np.argmin(vocab.scores))}

    def kept(i: int, body: str) -> bool:
        return i in specials or len(body) <= 1 or all(kept_character(ch) for ch in body)

    return [i for i, piece in enumerate(vocab.pieces) if kept(i, piece.replace(WORD_MARK, ""))]


def trim(vocab: Vocab, ids: list[int]) -> Vocab:
    """The vocabulary restricted to ``ids`` (ascending), with the special ids renumbered."""
    new = {old: n for n, old in enumerate(ids)}
    return replace(
        vocab,
        pieces=[vocab.pieces[i] for i in ids],
        scores=np.ascontiguousarray(vocab.scores[ids]),
        bos=new[vocab.bos],
        eos=new[vocab.eos],
        pad=new[vocab.pad],
        unk=new[vocab.unk],
    )
