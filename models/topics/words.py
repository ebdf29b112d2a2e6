"""Key-phrase candidates for topic names: jieba words and two-word phrases, stop words and brands out.

Text is normalised as the service does (Traditional -> Simplified, full-width -> ASCII, URLs ->
``<url>``) and lower-cased; @-mentions, numbers and model codes (``x5``, ``737max``, ``ua1234``)
are removed first, as are the ORG / PRODUCT spans the entities stage found (the caller passes the
text with those spans cut out: :func:`mask_spans`). jieba segments Chinese into words (and splits
English on spaces and punctuation); a token is kept when it is a word of at least two characters
that is neither a stop word nor a number. Two kept tokens with only stop words between them also
form a phrase ("变速箱" + "顿挫" -> "变速箱顿挫", "lost" + "bag" -> "lost bag"), so a topic can be
named by what went wrong rather than by single stop-like words. Stop words are data files in
``models/resources/topics/`` (sources in their headers).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

from models.text import normalize

RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "topics"
STOPWORD_FILES = ("stopwords_zh.txt", "stopwords_en.txt")

#: A keyword: two or more Chinese characters, or an English word of two or more letters.
WORD = re.compile(r"^(?:[\u4e00-\u9fff]{2,}|[a-z][a-z'\-]*[a-z])$")
_CJK = re.compile(r"[\u4e00-\u9fff]")
#: @handles, #tags' hash, numbers and model / flight codes: who and which, never what went wrong.
_NOISE = re.compile(r"@\w+|#|[a-z]*\d[a-z0-9\-]*|\d+", re.IGNORECASE | re.ASCII)


def load_stop_words(directory: Path = RESOURCES) -> frozenset[str]:
    words: set[str] = set()
    for name in STOPWORD_FILES:
        for line in (directory / name).read_text(encoding="utf-8").splitlines():
            word = line.strip().lower()
            if word and not word.startswith("#"):
                words.add(normalize(word).text)
    return frozenset(words)


def mask_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` with the given (start, end) spans replaced by a space (brands, shops, products)."""
    out, pos = [], 0
    for start, end in sorted(spans):
        if start < pos or end > len(text):
            continue
        out.append(text[pos:start])
        out.append(" ")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def is_chinese(phrase: str) -> bool:
    return bool(_CJK.search(phrase))


class PhraseTokenizer:
    """Callable ``text -> list[str]`` for ``CountVectorizer(tokenizer=...)``: words and adjacent pairs."""

    def __init__(self, stop_words: frozenset[str] | None = None, phrases: bool = True) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        self._cut = jieba.lcut
        self.stop_words = load_stop_words() if stop_words is None else stop_words
        self.phrases = phrases

    def __call__(self, text: str) -> list[str]:
        clean = _NOISE.sub(" ", normalize(text).text.lower())
        out: list[str] = []
        previous: str | None = None
        for token in self._cut(clean):
            if token.isspace():  # English words are separated by spaces: keep them adjacent
                continue
            if not WORD.match(token):
                previous = None  # punctuation, numbers: a phrase never spans them
            elif token in self.stop_words:
                continue  # "lost my bag" still gives "lost bag"
            else:
                out.append(token)
                if self.phrases and previous is not None:
                    joiner = "" if is_chinese(previous) and is_chinese(token) else " "
                    out.append(previous + joiner + token)
                previous = token
        return out
