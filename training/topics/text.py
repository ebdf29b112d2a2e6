"""Words for topic keywords: jieba segmentation (Chinese words, not characters) + stop words.

The tokenizer feeds BERTopic's ``CountVectorizer``, so it decides what a topic's label and
keywords can be. Text is normalised as the service does (Traditional -> Simplified,
full-width -> ASCII, URLs -> ``<url>``), lower-cased, segmented by jieba (which also splits
English on spaces and punctuation), then tokens are kept when they are words of at least
two characters that are neither stop words nor numbers. Stop words are data files in
``models/resources/topics/`` (sources in their headers).
"""

from __future__ import annotations

import logging

from models.text import normalize
from models.topics.words import WORD, load_stop_words  # one stop-word list and word shape for fits and jobs


class JiebaTokenizer:
    """Callable ``text -> list[str]`` for ``CountVectorizer(tokenizer=...)``."""

    def __init__(self, stop_words: frozenset[str] | None = None, allowed: frozenset[str] | None = None) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        self._cut = jieba.lcut
        self.stop_words = load_stop_words() if stop_words is None else stop_words
        self.allowed = allowed  # when set, only these words (a vocabulary chosen on whole messages)

    def __call__(self, text: str) -> list[str]:
        tokens = self._cut(normalize(text).text.lower())
        words = [t for t in tokens if WORD.match(t) and t not in self.stop_words]
        return words if self.allowed is None else [w for w in words if w in self.allowed]
