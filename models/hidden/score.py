"""The hidden-dissatisfaction score: one logistic layer over the evidence of a message.

Evidence per message: the branch's calibrated probabilities (``none`` / ``hidden`` / ``explicit``
negative), the sentiment block's probabilities, which cue types the lexicon layer found, whether
explicit negative words are present, and the conversation-context features. ``feature_values`` turns
it into named numbers; ``ScoreModel`` (weights fitted on dev by ``training/hidden/recipe.py`` and stored in the
head's ``config.json``) maps them to ``P(dissatisfied and not explicitly negative)``. Training and
serving call the same two functions, so what was measured is what runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from models.hidden.context import CONTEXT_FEATURES
from models.hidden.cues import CUE_TYPES

BRANCH_LABELS = ("none", "hidden", "explicit")
CUE_FEATURES = tuple(f"cue_{t}" for t in CUE_TYPES)
ALL_FEATURES = (
    "branch_hidden",
    "branch_explicit",
    "sent_negative",
    "sent_positive",
    "explicit_words",
    *CUE_FEATURES,
    *CONTEXT_FEATURES,
)
_EPS = 1e-4


def logit(p: float) -> float:
    p = min(1.0 - _EPS, max(_EPS, p))
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class Evidence:
    branch: tuple[float, float, float]  # P(none), P(hidden), P(explicit)
    sentiment: tuple[float, float, float]  # P(negative), P(neutral), P(positive)
    cue_types: frozenset[str]
    explicit: bool
    context: Mapping[str, float] = field(default_factory=dict)


def feature_values(e: Evidence) -> dict[str, float]:
    """Named features of one message (probabilities as logits, the rest 0/1 or small counts)."""
    values = {
        "branch_hidden": logit(e.branch[1]),
        "branch_explicit": logit(e.branch[2]),
        "sent_negative": logit(e.sentiment[0]),
        "sent_positive": logit(e.sentiment[2]),
        "explicit_words": float(e.explicit),
    }
    values.update({f"cue_{t}": float(t in e.cue_types) for t in CUE_TYPES})
    values.update({name: float(e.context.get(name, 0.0)) for name in CONTEXT_FEATURES})
    return values


@dataclass(frozen=True)
class ScoreModel:
    """``sigmoid(bias + sum(weight * feature))`` over the named features it was fitted on."""

    names: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float

    def __post_init__(self) -> None:
        unknown = set(self.names) - set(ALL_FEATURES)
        if unknown or len(self.names) != len(self.weights):
            raise ValueError(f"score model does not match the feature set: unknown {sorted(unknown)}")

    def logit(self, values: Mapping[str, float]) -> float:
        return self.bias + sum(w * values[n] for n, w in zip(self.names, self.weights, strict=True))

    def score(self, values: Mapping[str, float]) -> float:
        z = self.logit(values)
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.names), "weights": list(self.weights), "bias": self.bias}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScoreModel:
        return cls(tuple(data["features"]), tuple(float(w) for w in data["weights"]), float(data["bias"]))
