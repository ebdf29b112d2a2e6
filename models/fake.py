"""A deterministic fake encoder implementing the real contract, for plumbing tests only.

It makes HTTP, batching, cache and job tests fast and independent of the 470 MB
artifact. Its features are hashes of the text: it knows nothing about language, and the
model tests never use it.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np

from models.encoder import EncoderOutput, Tokenized
from models.pooled import PooledHead
from models.sentiment import LABELS, SentimentModel


class FakeEncoder:
    name = "fake-encoder"
    version = "fake-1"

    def __init__(self, hidden_size: int = 16, delay_s: float = 0.0) -> None:
        self.hidden_size = hidden_size
        self.delay_s = delay_s
        self.calls: list[int] = []  # batch sizes seen by forward(), for batching tests
        self._lock = threading.Lock()

    def preprocess(self, texts: list[str]) -> list[Tokenized]:
        out = []
        for text in texts:
            offsets = tuple((i, i + 1) for i in range(len(text)))
            out.append(Tokenized(((0, *range(3, 3 + len(text)), 2),), offsets, 0, False))
        return out

    def forward(self, items: list[Tokenized]) -> list[EncoderOutput]:
        import time

        with self._lock:
            self.calls.append(len(items))
        if self.delay_s:
            time.sleep(self.delay_s)
        return [self._one(item) for item in items]

    def _one(self, item: Tokenized) -> EncoderOutput:
        seed = hashlib.sha256(repr(item.windows).encode()).digest()
        rng = np.random.default_rng(int.from_bytes(seed[:8], "little"))
        n = max(1, item.n_tokens)
        tokens = rng.standard_normal((n, self.hidden_size)).astype(np.float32)
        window = np.vstack([tokens[:1], tokens, tokens[:1]])  # <s>, content, </s>: pooled like the real encoder
        mean = window.mean(axis=0)
        emb = mean / (np.linalg.norm(mean) or 1.0)
        return EncoderOutput(
            mean_8=mean,
            mean_last=mean,
            embedding=emb.astype(np.float32),
            offsets=item.content_offsets,
            truncated=item.truncated,
            windows_8=(window,),
            windows_last=(window,),
            prefix_len=0,
        )


def random_pooled_head(width: int, hidden: int = 8, seed: int = 0, encoder: str = "fake-encoder/fake-1") -> PooledHead:
    """A pooled head (the served kind) with fixed random weights over ``width`` features: meaningless predictions.

    No biases and a unit-free scale, so that every label occurs (the fake features are hashes of the text).
    """
    rng = np.random.default_rng(seed)
    layers = (
        (rng.standard_normal((width, hidden)).astype(np.float32), np.zeros(hidden, np.float32)),
        (rng.standard_normal((hidden, len(LABELS))).astype(np.float32), np.zeros(len(LABELS), np.float32)),
    )
    return PooledHead(
        name="sentiment",
        labels=LABELS,
        mean=np.zeros(width, np.float32),
        scale=np.full(width, 0.3, np.float32),
        layers=layers,
        temperature=1.3,
        version="fake-1",
        config={"kind": "pooled", "encoder": encoder},
    )


def fake_sentiment(hidden_size: int = 16) -> SentimentModel:
    """A pooled head with fixed random weights over the fake features; deterministic, meaningless predictions."""
    return SentimentModel(random_pooled_head(2 * hidden_size), "fake-1")
