"""Sentiment: three calibrated classes and a length-independent intensity.

``intensity`` is how strongly the polarity is expressed, not how sure the classifier is:
``|P(positive) - P(negative)|`` scaled by the strongest degree cue in the message
(diminishers such as 有点/稍微/"a bit" lower it, intensifiers such as 非常/"very" and extreme
markers such as 极其/气死/"worst"/"!!" raise it). Cues count by presence, so repeating a
sentence does not inflate it. The lexicon is data: ``models/resources/sentiment/intensity.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from models.encoder import EncoderOutput
from models.heads import FloatArray
from models.schema import SentenceSentiment, Sentiment, SentimentProbabilities
from models.spec import files_digest
from models.text import NormalizedText, normalize

LABELS = ("negative", "neutral", "positive")
LEVELS = ("extreme", "intensifier", "diminisher")
#: Sentence ends: CJK and ASCII terminators (runs of them, with closing quotes/brackets), line breaks.
_SENTENCE_END = re.compile(r"(?:[。！？!?；;…]+|\.(?=\s|$))[”’」』)）\]]*|\n+")
MAX_SENTENCES = 64
DEFAULT_INTENSITY_LEXICON = Path(__file__).resolve().parent / "resources" / "sentiment" / "intensity.json"


@dataclass(frozen=True)
class DegreeLexicon:
    patterns: dict[str, re.Pattern[str]]
    multipliers: dict[str, float]
    digest: str

    @classmethod
    def load(cls, path: Path = DEFAULT_INTENSITY_LEXICON) -> DegreeLexicon:
        data = json.loads(path.read_text(encoding="utf-8"))
        patterns = {}
        for level in LEVELS:
            alternatives = []
            for entry in sorted(data[level], key=len, reverse=True):
                term = re.escape(normalize(entry).text) if entry.strip() else ""
                if not term:
                    continue
                # Latin words match on word boundaries; CJK and symbols as substrings.
                alternatives.append(rf"\b{term}\b" if entry[0].isascii() and entry[0].isalpha() else term)
            patterns[level] = re.compile("|".join(alternatives), re.IGNORECASE)
        return cls(patterns, {k: float(v) for k, v in data["multipliers"].items()}, files_digest(path))

    def multiplier(self, text: str) -> float:
        for level in LEVELS:  # strongest first
            if self.patterns[level].search(text):
                return self.multipliers[level]
        return self.multipliers["none"]


class SequenceClassifier(Protocol):
    """A calibrated message-level classifier over the encoder pass (a task branch, or a pooled head)."""

    @property
    def labels(self) -> tuple[str, ...]: ...

    def sequence_proba(self, outputs: list[EncoderOutput]) -> FloatArray: ...


@runtime_checkable
class SpanClassifier(Protocol):
    """A classifier that can also score spans of a message from its encoder pass (``models/pooled.py``)."""

    def span_proba(self, output: EncoderOutput, spans: list[tuple[int, int]]) -> FloatArray: ...


def sentence_spans(text: str, limit: int = MAX_SENTENCES) -> list[tuple[int, int]]:
    """``[start, end)`` of each sentence of ``text`` (terminators kept, surrounding white space not)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.end()))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for lo, hi in spans:
        while lo < hi and text[lo].isspace():
            lo += 1
        while hi > lo and text[hi - 1].isspace():
            hi -= 1
        if hi > lo and any(ch.isalnum() for ch in text[lo:hi]):
            out.append((lo, hi))
    return out[:limit]


class SentimentModel:
    name = "sentiment"

    def __init__(self, head: SequenceClassifier, version: str, degree: DegreeLexicon | None = None) -> None:
        """``version``: the head's; the answer's version adds the degree lexicon's digest (it changes
        ``intensity``, and the risk signals read it)."""
        if tuple(head.labels) != LABELS:
            raise ValueError(f"sentiment head labels {head.labels} != {LABELS}")
        self.head = head
        self.degree = degree or DegreeLexicon.load()
        self.version = f"{version}+lex-{self.degree.digest[:8]}"

    def probabilities(self, outputs: list[EncoderOutput]) -> FloatArray:
        """(N, 3) calibrated probabilities in ``LABELS`` order (other stages read them too)."""
        return self.head.sequence_proba(outputs)

    def predict(self, outputs: list[EncoderOutput], texts: list[NormalizedText]) -> list[Sentiment]:
        """``outputs``: the messages' encoder passes; ``texts``: the normalised messages."""
        probs = self.probabilities(outputs)
        return [
            self._result(row, self.degree.multiplier(t.text), self._sentences(o, t, row))
            for row, o, t in zip(probs, outputs, texts, strict=True)
        ]

    def _sentences(
        self, output: EncoderOutput, text: NormalizedText, whole: FloatArray
    ) -> list[SentenceSentiment] | None:
        if not isinstance(self.head, SpanClassifier):
            return None
        spans = sentence_spans(text.text)
        if len(spans) <= 1:  # one sentence: its span is the message
            rows: FloatArray = np.stack([whole] * len(spans)) if spans else np.zeros((0, 3), np.float32)
        else:
            rows = self.head.span_proba(output, spans)
        out = []
        for (lo, hi), p in zip(spans, rows, strict=True):
            start, end = text.to_original(lo, hi)
            idx = int(np.argmax(p))
            out.append(
                SentenceSentiment(
                    start=start,
                    end=end,
                    label=LABELS[idx],  # type: ignore[arg-type]
                    score=round(float(p[idx]), 4),
                    probabilities=_probabilities(p),
                )
            )
        return out

    @staticmethod
    def _result(p: FloatArray, degree: float, sentences: list[SentenceSentiment] | None = None) -> Sentiment:
        idx = int(np.argmax(p))
        return Sentiment(
            label=LABELS[idx],  # type: ignore[arg-type]
            score=round(float(p[idx]), 4),
            intensity=round(min(1.0, abs(float(p[2]) - float(p[0])) * degree), 4),
            probabilities=_probabilities(p),
            sentences=sentences,
        )


def _probabilities(p: FloatArray) -> SentimentProbabilities:
    neg, neu, pos = (round(float(x), 4) for x in p)
    return SentimentProbabilities(negative=neg, neutral=neu, positive=pos)
