"""The versioned risk config: signal weights, bias, level thresholds, signal transforms, handoff rules.

Written by ``tousu train risk`` (``training/risk.py``) to ``models/heads/risk/risk.json``; the
served answer is a documented function of it (see :mod:`models.risk.scorer`). Validation is
strict because the file is meant to be read and edited by people: every weight must be
non-negative (a signal may only raise risk) and the thresholds ordered.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.risk.lexicon import RESOURCES
from models.spec import files_digest

#: Every signal the extractor knows, in the order reasons are documented.
SIGNALS = (
    "negative_intensity",
    "hidden_dissatisfaction",
    "escalation_threat",
    "churn_threat",
    "safety_legal",
    "urgency",
    "absolute_words",
    "money_at_stake",
    "repetition",
    "rising_intensity",
)
LEVELS = ("blue", "yellow", "red")
DEFAULT_PRIOR = RESOURCES / "prior.json"
DEFAULT_CONFIG_NAME = "risk.json"


@dataclass(frozen=True)
class RiskConfig:
    version: str
    weights: dict[str, float]
    bias: float
    yellow: float  # score thresholds: yellow when score >= yellow, red when score >= red
    red: float
    transforms: dict[str, dict[str, Any]]
    handoff_levels: frozenset[str]
    handoff_yellow_with: frozenset[str]
    raw: dict[str, Any]
    sha256: str

    @classmethod
    def from_dict(cls, data: dict[str, Any], sha256: str = "") -> RiskConfig:
        weights = {str(k): float(v) for k, v in data["weights"].items()}
        unknown = sorted(set(weights) - set(SIGNALS))
        if unknown:
            raise ValueError(f"risk config: unknown signals {unknown}")
        negative = sorted(k for k, v in weights.items() if v < 0)
        if negative:
            raise ValueError(f"risk config: weights must be >= 0 (a signal only raises risk): {negative}")
        yellow, red = float(data["thresholds"]["yellow"]), float(data["thresholds"]["red"])
        if not 0.0 < yellow < red < 1.0:
            raise ValueError(f"risk config: need 0 < yellow ({yellow}) < red ({red}) < 1")
        handoff = data.get("handoff", {})
        levels = frozenset(str(x) for x in handoff.get("levels", ["red"]))
        yellow_with = frozenset(str(x) for x in handoff.get("yellow_with", []))
        if not levels <= set(LEVELS) or not yellow_with <= set(SIGNALS):
            raise ValueError(f"risk config: bad handoff rules {handoff}")
        return cls(
            version=str(data["version"]),
            weights={s: weights.get(s, 0.0) for s in SIGNALS},
            bias=float(data["bias"]),
            yellow=yellow,
            red=red,
            transforms={k: dict(v) for k, v in data.get("transforms", {}).items()},
            handoff_levels=levels,
            handoff_yellow_with=yellow_with,
            raw=data,
            sha256=sha256,
        )

    @classmethod
    def load(cls, path: Path) -> RiskConfig:
        raw = path.read_bytes()
        return cls.from_dict(json.loads(raw), hashlib.sha256(raw).hexdigest())

    def transform(self, signal: str) -> dict[str, Any]:
        return self.transforms.get(signal, {})


def load_prior(path: Path = DEFAULT_PRIOR) -> dict[str, Any]:
    """The prior weights, transforms and handoff rules that training starts from."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def resources_digest(directory: Path = RESOURCES) -> str:
    """sha256 over the risk resource files: part of the stage version, so cached answers follow edits."""
    return files_digest(directory)
