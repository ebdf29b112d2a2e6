"""Gold spans -> token tags, and decoded tags -> spans: the coordinates the encoder and the decoder share.

Gold spans are character offsets into the ORIGINAL text; the encoder sees the NORMALISED text
(``models.text.normalize``), whose tokens carry offsets into it. A token takes the entity covering
most of its non-space characters; ``B-`` where the entity changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from metrics.scores import span_scores as shared_span_scores
from models.entities.bio import bio_labels, decode
from models.text import NormalizedText
from training.entities.data import TYPES, NerExample

LABELS = bio_labels(TYPES)
Gold = set[tuple[int, int, str]]


def normalised_spans(example: NerExample, norm: NormalizedText) -> Gold:
    """Gold spans in normalised-text offsets (the encoder's and the decoder's coordinates)."""
    out: Gold = set()
    for span in example.spans:
        inside = [i for i, s in enumerate(norm.starts) if span.start <= s < span.end]
        if inside:
            out.add((inside[0], inside[-1] + 1, span.type))
    return out


def token_tags(gold: Gold, offsets: Sequence[tuple[int, int]], text: str) -> list[int]:
    owner = [-1] * (len(text) + 1)
    kinds: list[str] = []
    for k, (lo, hi, kind) in enumerate(sorted(gold)):
        kinds.append(kind)
        for i in range(lo, hi):
            owner[i] = k
    tags: list[int] = []
    previous = -1
    for s, e in offsets:
        chars = [owner[i] for i in range(s, min(e, len(text))) if not text[i].isspace()]
        best = max(set(chars), key=chars.count) if chars else -1
        if best < 0:
            tags.append(0)
        else:
            prefix = "I" if best == previous else "B"
            tags.append(LABELS.index(f"{prefix}-{kinds[best]}"))
        previous = best
    return tags


def span_scores(pred: list[Gold], gold: list[Gold], types: Sequence[str] = TYPES) -> dict[str, Any]:
    """Entity-level P/R/F1 per type and over all (key ``all``): exact spans, and any same-type overlap."""
    return shared_span_scores(pred, gold, types, total="all")


def decode_all(
    probs: Sequence[np.ndarray], offsets: Sequence[Sequence[tuple[int, int]]], texts: Sequence[str]
) -> list[Gold]:
    return [
        {(s.start, s.end, s.type) for s in decode(p, o, LABELS, t)}
        for p, o, t in zip(probs, offsets, texts, strict=True)
    ]
