"""Labelled risk messages, their stratified split, and their signals from the REAL served pipeline.

The signals are extracted exactly as the served ``risk`` stage does (``models.risk.signals``), from
the answers of the served pipeline without its risk stage: whatever is served (sentiment always;
hidden dissatisfaction, entities, topic when trained) feeds the fit, and a stage that is not
served yet contributes no signal. Customer sequences go through an in-process repetition store in
file order, so the Nth message of a customer sees the N-1 before it.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.pipeline import AnalysisInput, Analyzer, Turn
from models.registry import Registry
from models.risk.config import SIGNALS
from models.risk.repetition import MemoryRepetitionStore, RepetitionTracker
from models.risk.scorer import Signal
from models.risk.signals import SignalExtractor
from models.schema import Analysis
from models.settings import ModelSettings

logger = logging.getLogger(__name__)

DATA_FILE = Path(__file__).resolve().parent / "resources" / "risk_labelled.jsonl"
LEVELS = ("blue", "yellow", "red")
HELD_OUT_SHARE = 0.3
#: Fields of the answer the risk signals read (the blocks of earlier stages).
BLOCKS = ("sentiment", "hidden_dissatisfaction", "entities", "topic", "category")


@dataclass(frozen=True)
class Message:
    id: str
    text: str
    level: str
    language: str
    channel: str
    context: tuple[Turn, ...] = ()
    customer_id: str | None = None
    received_at: datetime | None = None

    @property
    def y(self) -> int:
        return LEVELS.index(self.level)

    def input(self) -> AnalysisInput:
        return AnalysisInput.prepare(
            self.text, context=self.context, received_at=self.received_at, customer_id=self.customer_id
        )


def load(path: Path = DATA_FILE) -> list[Message]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row["level"] not in LEVELS:
            raise ValueError(f"{path}:{n}: unknown level {row['level']!r}")
        out.append(
            Message(
                id=row["id"],
                text=row["text"],
                level=row["level"],
                language=row["language"],
                channel=row["channel"],
                context=tuple(Turn(t["role"], t["text"]) for t in row.get("context", [])),
                customer_id=row.get("customer_id"),
                received_at=datetime.fromisoformat(row["received_at"]) if row.get("received_at") else None,
            )
        )
    ids = [m.id for m in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate ids")
    return out


def split(messages: Sequence[Message], seed: int, held_out: float = HELD_OUT_SHARE) -> tuple[list[int], list[int]]:
    """Indices (fit, held_out), stratified by level x language; each stratum shuffled with ``seed``."""
    strata: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, m in enumerate(messages):
        strata[(m.level, m.language)].append(i)
    fit: list[int] = []
    hold: list[int] = []
    rng = random.Random(seed)
    for key in sorted(strata):
        idx = strata[key][:]
        rng.shuffle(idx)
        k = round(held_out * len(idx))
        hold += idx[:k]
        fit += idx[k:]
    return sorted(fit), sorted(hold)


def without_risk(registry: Registry) -> Analyzer:
    """The served analyzer minus its risk stage (training must not count into the served store)."""
    a = registry.analyzer
    return Analyzer(a.encoder, a.sentiment, tuple(s for s in a.stages if s.name != "risk"))


def analyse(analyzer: Analyzer, messages: Sequence[Message], batch_size: int = 16) -> tuple[list[Analysis], float]:
    """Answers of the served pipeline, in order, and the seconds it took."""
    started = time.perf_counter()
    out: list[Analysis] = []
    for start in range(0, len(messages), batch_size):
        out += analyzer.analyze_batch([m.input() for m in messages[start : start + batch_size]])
    return out, time.perf_counter() - started


def blocks(answer: Analysis) -> dict[str, Any]:
    return {name: getattr(answer, name) for name in BLOCKS}


def extract(
    messages: Sequence[Message], answers: Sequence[Analysis], transforms: dict[str, Any]
) -> list[dict[str, Signal]]:
    """Risk signals per message, as the served stage computes them (repetition: file order)."""
    extractor = SignalExtractor(transforms)
    window = float(ModelSettings().risk_repeat_window_s)
    by_category = transforms.get("repetition", {}).get("issue", "any") == "category"
    tracker = RepetitionTracker(MemoryRepetitionStore(), window, salt=b"tousu-train-risk", by_category=by_category)
    out = []
    for message, answer in zip(messages, answers, strict=True):
        item = message.input()
        fields = blocks(answer)
        out.append(extractor.extract(item, answer.language, fields, tracker.count(item, fields)))
    return out


def matrix(signals: Sequence[dict[str, Signal]]) -> np.ndarray:
    """(n, len(SIGNALS)) signal values; a signal that did not fire is 0."""
    return np.array([[s[name].value if name in s else 0.0 for name in SIGNALS] for s in signals], dtype=np.float64)


def served_blocks(answers: Sequence[Analysis]) -> dict[str, bool]:
    """Which blocks the pipeline served (a block absent everywhere means its stage is not served)."""
    return {name: any(getattr(a, name) is not None for a in answers) for name in BLOCKS}
