"""From signals to ``{level, score, reasons, handoff}``: a monotone logistic model, fully auditable.

    logit  = bias + sum_i w_i * x_i            (x_i in [0, 1], w_i >= 0: a signal only raises risk)
    score  = sigmoid(logit)
    level  = red if score >= t_red, yellow if score >= t_yellow, else blue
    reason = one per signal with w_i * x_i > 0: ``contribution`` = w_i * x_i (logit units)

so the contributions of the reasons add up to ``logit - bias``. The weights come from an ordinal
(proportional-odds) logistic fit on labelled messages (``training/risk.py``), and two decision
thresholds t_yellow < t_red on ``sum w_i x_i`` are tuned on the same fit part; the bias is
``-(t_yellow + t_red) / 2``, so score 0.5 is the middle of the yellow band and the score thresholds
are ``sigmoid(-/+ (t_red - t_yellow) / 2)``. ``handoff`` recommends a human agent for the levels
and signals the config names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from models.risk.config import SIGNALS, RiskConfig
from models.schema import Risk, RiskReason


@dataclass(frozen=True)
class Signal:
    """One signal's value ``x`` in [0, 1], what it saw, and where (offsets into the ORIGINAL text)."""

    value: float
    detail: str
    text: str | None = None
    start: int | None = None
    end: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0 or math.isnan(self.value):
            raise ValueError(f"signal value {self.value} outside [0, 1]")


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class RiskScorer:
    def __init__(self, config: RiskConfig) -> None:
        self.config = config

    def logit(self, signals: Mapping[str, Signal]) -> float:
        w = self.config.weights
        return self.config.bias + sum(w[name] * s.value for name, s in signals.items() if name in w)

    def level(self, score: float) -> str:
        if score >= self.config.red:
            return "red"
        if score >= self.config.yellow:
            return "yellow"
        return "blue"

    def score(self, signals: Mapping[str, Signal]) -> Risk:
        unknown = set(signals) - set(SIGNALS)
        if unknown:
            raise ValueError(f"unknown risk signals {sorted(unknown)}")
        contributions = {name: self.config.weights[name] * s.value for name, s in signals.items()}
        score = sigmoid(self.config.bias + sum(contributions.values()))
        level = self.level(score)
        reasons = [
            RiskReason(
                signal=name,
                contribution=round(c, 4),
                detail=signals[name].detail,
                text=signals[name].text,
                start=signals[name].start,
                end=signals[name].end,
            )
            for name, c in sorted(contributions.items(), key=lambda kv: (-kv[1], SIGNALS.index(kv[0])))
            if c > 0
        ]
        fired = {r.signal for r in reasons}
        handoff = level in self.config.handoff_levels or (
            level == "yellow" and bool(fired & self.config.handoff_yellow_with)
        )
        return Risk(level=level, score=round(score, 4), reasons=reasons, handoff=handoff)  # type: ignore[arg-type]
