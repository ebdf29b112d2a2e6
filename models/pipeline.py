"""One message through the service: normalise -> one encoder pass -> task heads -> answer.

``Analyzer.analyze_batch`` is synchronous and batch-shaped: the HTTP batcher, the CLI
and the batch workers all call it, so a message gets the same answer on every path.
Later stages (hidden dissatisfaction, entities, topic, risk) plug in as ``Stage``
objects that read the shared :class:`Context` and fill their block of the answer.

One message never sinks its neighbours: a stage (sentiment included) that raises on a batch is
run again one message at a time, and a message it still fails on gets that block ``null`` and a
``warnings`` entry (a degraded answer, never cached). A message whose encoder pass fails has no
answer at all: :meth:`Analyzer.analyze_each` returns an :class:`AnalysisFailure` in its place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from models.encoder import Encoder, EncoderOutput, FloatArray, OnnxEncoder
from models.pii import mask_evidence, pattern_pii
from models.schema import Analysis, AnalysisWarning
from models.sentiment import SentimentModel
from models.text import NormalizedText, detect_language, normalize

logger = logging.getLogger(__name__)


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
    #: Stages that failed on this message (their blocks stay null).
    warnings: list[AnalysisWarning] = field(default_factory=list)


class Stage(Protocol):
    """A task after the encoder pass; writes its result into ``ctx.fields``."""

    name: str
    version: str

    def run(self, batch: list[Context]) -> None: ...


#: Part of every cache key: bump when the pipeline's own code changes answers while no model version
#: changes, so cached answers of the old code are not served (2: evidence spans mask personal data;
#: 3: answers carry ``warnings``).
PIPELINE_REVISION = 3


@dataclass(frozen=True)
class AnalysisFailure:
    """In place of the answer of a message that could not be analysed at all (its encoder pass failed)."""

    error_type: str
    message: str


class AnalysisError(RuntimeError):
    """Raised by :meth:`Analyzer.analyze_batch` when a message of the batch has no answer."""

    def __init__(self, index: int, failure: AnalysisFailure) -> None:
        super().__init__(f"message {index}: {failure.message}")
        self.index = index
        self.failure = failure


ANALYSIS_FAILED = AnalysisFailure("analysis_failed", "the models could not analyse this message")

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

    def release_caches(self) -> None:
        """Empty caches that grow with the texts seen (the tokenizer's word cache): the service calls this
        after heavy work, before giving freed memory back to the system."""
        if isinstance(self.encoder, OnnxEncoder):
            self.encoder.clear_caches()

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
        """One answer per item, in order (degraded answers included); raises :class:`AnalysisError` if a
        message has none. Callers that must answer the other messages anyway use :meth:`analyze_each`."""
        out: list[Analysis] = []
        for n, result in enumerate(self.analyze_each(items)):
            if isinstance(result, AnalysisFailure):
                raise AnalysisError(n, result)
            out.append(result)
        return out

    def analyze_each(self, items: list[AnalysisInput]) -> list[Analysis | AnalysisFailure]:
        """Answer each item alone as far as its own errors go: whatever fails for one message never fails another."""
        return self.analyze_with_embeddings(items)[0]

    def analyze_with_embeddings(
        self, items: list[AnalysisInput]
    ) -> tuple[list[Analysis | AnalysisFailure], list[FloatArray | None]]:
        """:meth:`analyze_each` plus each message's e5 embedding (None where the encoder failed).

        Batch jobs keep the embeddings to fit the dataset's own topic model at the end of the job,
        without a second encoder pass.
        """
        if not items:
            return [], []
        clock = time.perf_counter()
        encoded = self._encode(items)
        clock = self._observe("encoder", clock)
        contexts = [
            Context(item, detect_language(item.normalized.text), enc)
            for item, enc in zip(items, encoded, strict=True)
            if enc is not None
        ]
        self._run_isolated(_SentimentStage(self.sentiment), contexts)
        clock = self._observe("sentiment", clock)
        for stage in self.stages:
            self._run_isolated(stage, contexts)
            clock = self._observe(stage.name, clock)
        answers = iter(self._answer(c) for c in contexts)
        results = [ANALYSIS_FAILED if enc is None else next(answers) for enc in encoded]
        return results, [None if enc is None else enc.embedding for enc in encoded]

    def _encode(self, items: list[AnalysisInput]) -> list[EncoderOutput | None]:
        """The encoder pass of the batch; if it raises, of each message alone (None where that fails too)."""
        try:
            return list(self._encode_batch(items))
        except Exception as exc:
            logger.warning("encoder failed on a batch of %d (%s)", len(items), type(exc).__name__)
            if len(items) == 1:
                return [None]
        out: list[EncoderOutput | None] = []
        for item in items:
            try:
                out.append(self._encode_batch([item])[0])
            except Exception as exc:
                logger.warning("encoder failed on one message (%s)", type(exc).__name__)
                out.append(None)
        return out

    def _encode_batch(self, items: list[AnalysisInput]) -> list[EncoderOutput]:
        encoded = self.encoder.forward(self.encoder.preprocess([i.normalized.text for i in items]))
        if len(encoded) != len(items):
            raise RuntimeError(f"encoder returned {len(encoded)} outputs for {len(items)} inputs")
        return encoded

    def _run_isolated(self, stage: Stage, contexts: list[Context]) -> None:
        """``stage.run`` on the batch; if it raises, again one message at a time for the messages it had not
        finished (a finished message keeps its block: the risk stage's repetition count must not run twice)."""
        if not contexts:
            return
        before = [(dict(c.fields), list(c.pii)) for c in contexts]
        try:
            stage.run(contexts)
            return
        except Exception as exc:
            logger.warning("stage %s failed on a batch of %d (%s)", stage.name, len(contexts), type(exc).__name__)
            failed_alone = len(contexts) == 1
        for ctx, (fields, pii) in zip(contexts, before, strict=True):
            if not failed_alone and _written(ctx, fields):
                continue
            ctx.fields, ctx.pii = dict(fields), list(pii)
            if not failed_alone:
                try:
                    stage.run([ctx])
                    continue
                except Exception as exc:
                    logger.warning("stage %s failed on one message (%s)", stage.name, type(exc).__name__)
                    ctx.fields, ctx.pii = dict(fields), list(pii)
            ctx.warnings.append(
                AnalysisWarning(
                    stage=stage.name,
                    error_type="stage_failed",
                    message=f"the {stage.name} stage failed on this message; its block is null",
                )
            )

    def _answer(self, c: Context) -> Analysis | AnalysisFailure:
        failed = {w.stage for w in c.warnings}
        include_pii = bool(c.item.options.get("include_pii"))
        original = c.item.normalized.original
        try:
            if "entities" in failed and not include_pii:  # no entity list: mask what the patterns alone find
                c.pii = pattern_pii(original)
            fields = c.fields
            if c.pii and not include_pii:
                fields = {k: mask_evidence(v, original, c.pii) for k, v in fields.items()}
            return Analysis(
                id=c.item.id,
                language=c.language,
                traditional=c.item.normalized.traditional,
                truncated=c.encoded.truncated,
                model_versions=self.model_versions,
                warnings=c.warnings,
                **fields,
            )
        except Exception as exc:  # a block that does not fit the schema: no answer rather than a wrong one
            logger.warning("answer of one message failed (%s)", type(exc).__name__)
            return ANALYSIS_FAILED

    def _observe(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        for observer in self.observers:
            observer(phase, now - since)
        return now


class _SentimentStage:
    """Sentiment as a stage, so that it fails one message at a time like the others."""

    name = "sentiment"

    def __init__(self, model: SentimentModel) -> None:
        self.model = model
        self.version = model.version

    def run(self, batch: list[Context]) -> None:
        predictions = self.model.predict([c.encoded for c in batch], [c.item.normalized for c in batch])
        for ctx, sentiment in zip(batch, predictions, strict=True):
            ctx.fields["sentiment"] = sentiment


def _written(ctx: Context, before: dict[str, Any]) -> bool:
    """Whether a stage wrote a block of this message (a new key, or a value replaced)."""
    return ctx.fields.keys() != before.keys() or any(ctx.fields[k] is not v for k, v in before.items())
