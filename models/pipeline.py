"""One message through the service: normalise -> one encoder pass -> task heads -> answer.

``Analyzer.analyze_batch`` is synchronous and batch-shaped: the HTTP batcher, the CLI
and the batch workers all call it, so a message gets the same answer on every path.
Later stages (hidden dissatisfaction, entities, topic, risk) plug in as ``Stage``
objects that read the shared :class:`Context` and fill their block of the answer.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from models.encoder import Encoder, EncoderOutput
from models.pii import mask_evidence
from models.schema import Analysis
from models.sentiment import SentimentModel
from models.text import NormalizedText, detect_language, normalize


@dataclass(frozen=True)
class Turn:
    """An earlier turn of the same conversation (``role`` is ``customer`` or ``agent``)."""

    role: str
    text: str


@dataclass(frozen=True)
class AnalysisInput:
    """A message ready for analysis (already normalised by the caller or by ``prepare``).

    ``options`` are the caller's per-request options (``redact``, ``include_pii``, ...);
    ``context`` the earlier turns; ``received_at`` anchors relative dates; ``customer_id``
    lets stateful signals (repetition) find earlier messages of the same customer.
    """

    normalized: NormalizedText
    options: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    context: tuple[Turn, ...] = ()
    received_at: datetime | None = None
    customer_id: str | None = None

    @classmethod
    def prepare(
        cls,
        text: str,
        options: dict[str, Any] | None = None,
        id: str | None = None,
        context: tuple[Turn, ...] = (),
        received_at: datetime | None = None,
        customer_id: str | None = None,
    ) -> AnalysisInput:
        return cls(normalize(text), dict(options or {}), id, context, received_at, customer_id)

    def cache_payload(self) -> dict[str, Any]:
        """What, besides model versions, decides the answer (never the raw customer id)."""
        return {
            "t": self.normalized.text,
            "o": self.options,
            "c": [(t.role, t.text) for t in self.context],
            "r": self.received_at.isoformat() if self.received_at else None,
        }


@dataclass
class Context:
    """What the stages of one message share."""

    item: AnalysisInput
    language: str
    encoded: EncoderOutput
    fields: dict[str, Any] = field(default_factory=dict)
    #: Personal data found in the message: (start, end, masked value) in original-text offsets, set by
    #: the entity stage. Evidence spans of any block that overlap it are masked after the last stage.
    pii: list[tuple[int, int, str]] = field(default_factory=list)


class Stage(Protocol):
    """A task after the encoder pass; writes its result into ``ctx.fields``."""

    name: str
    version: str

    def run(self, batch: list[Context]) -> None: ...


#: Part of every cache key: bump when the pipeline's own code changes answers while no model version
#: changes, so cached answers of the old code are not served (2: evidence spans mask personal data).
PIPELINE_REVISION = 2

StageObserver = Callable[[str, float], None]
"""Called with (phase name, seconds) for every phase of every batch: ``encoder``, ``sentiment``, each stage."""


class Analyzer:
    def __init__(self, encoder: Encoder, sentiment: SentimentModel, stages: Sequence[Stage] = ()) -> None:
        names = [s.name for s in stages]
        if len(set(names)) != len(names) or "sentiment" in names:
            raise ValueError(f"duplicate stage names: {names}")
        self.encoder = encoder
        self.sentiment = sentiment
        self.stages = tuple(stages)
        self.observers: list[StageObserver] = []

    @property
    def model_versions(self) -> dict[str, str]:
        versions = {
            f"encoder/{self.encoder.name}": self.encoder.version,
            "sentiment": self.sentiment.version,
        }
        versions.update({s.name: s.version for s in self.stages})
        return versions

    def cache_key(self, item: AnalysisInput) -> str:
        """Model versions + sha256 of the normalised text and options; never the raw text."""
        payload = json.dumps(
            {"v": self.model_versions, "p": PIPELINE_REVISION, **item.cache_payload()},
            sort_keys=True,
            ensure_ascii=False,
            default=str,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def cacheable(self, item: AnalysisInput) -> bool:
        """False when a stateful stage (``stateful = True``: risk repetition) will read this customer's
        history: the answer then depends on more than ``cache_key`` sees, so it must not be cached."""
        return not item.customer_id or not any(getattr(s, "stateful", False) for s in self.stages)

    def analyze_batch(self, items: list[AnalysisInput]) -> list[Analysis]:
        if not items:
            return []
        clock = time.perf_counter()
        tokenized = self.encoder.preprocess([i.normalized.text for i in items])
        encoded = self.encoder.forward(tokenized)
        clock = self._observe("encoder", clock)
        contexts = [
            Context(item, detect_language(item.normalized.text), enc) for item, enc in zip(items, encoded, strict=True)
        ]
        texts = [c.item.normalized.text for c in contexts]
        for ctx, sentiment in zip(contexts, self.sentiment.predict(encoded, texts), strict=True):
            ctx.fields["sentiment"] = sentiment
        clock = self._observe("sentiment", clock)
        for stage in self.stages:
            stage.run(contexts)
            clock = self._observe(stage.name, clock)
        for c in contexts:
            if c.pii and not c.item.options.get("include_pii"):
                original = c.item.normalized.original
                c.fields = {k: mask_evidence(v, original, c.pii) for k, v in c.fields.items()}
        versions = self.model_versions
        return [
            Analysis(
                id=c.item.id,
                language=c.language,
                traditional=c.item.normalized.traditional,
                truncated=c.encoded.truncated,
                model_versions=versions,
                **c.fields,
            )
            for c in contexts
        ]

    def _observe(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        for observer in self.observers:
            observer(phase, now - since)
        return now
