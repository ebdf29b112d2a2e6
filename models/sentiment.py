"""Sentiment: three calibrated classes and a length-independent intensity."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.heads import DenseHead, FloatArray
from models.schema import Sentiment, SentimentProbabilities

LABELS = ("negative", "neutral", "positive")


class SentimentModel:
    name = "sentiment"

    def __init__(self, head: DenseHead, version: str) -> None:
        if tuple(head.labels) != LABELS:
            raise ValueError(f"sentiment head labels {head.labels} != {LABELS}")
        self.head = head
        self.version = version

    @classmethod
    def load(cls, directory: Path, version: str) -> SentimentModel:
        return cls(DenseHead.load(directory), version)

    def predict(self, features: FloatArray) -> list[Sentiment]:
        """``features``: (N, D) pooled encoder features."""
        probs = self.head.predict_proba(features)
        return [self._result(row) for row in probs]

    @staticmethod
    def _result(p: FloatArray) -> Sentiment:
        idx = int(np.argmax(p))
        neg, neu, pos = (round(float(x), 4) for x in p)
        return Sentiment(
            label=LABELS[idx],  # type: ignore[arg-type]
            score=round(float(p[idx]), 4),
            intensity=round(min(1.0, abs(float(p[2]) - float(p[0]))), 4),
            probabilities=SentimentProbabilities(negative=neg, neutral=neu, positive=pos),
        )
