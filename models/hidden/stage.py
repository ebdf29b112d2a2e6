"""The ``hidden_dissatisfaction`` stage: ``{detected, score, cues}`` for every message.

``score`` is the calibrated probability that the customer is dissatisfied while the text carries no
explicit negative sentiment. A logistic score layer (``models/hidden/score.py``, fitted on dev by
``training/hidden/recipe.py``) combines: a pooled head (``models/pooled.py``), a 3-way none / hidden / explicit
classifier on the shared encoder pass (no extra encoder run, no layers of its own), whose ``explicit`` class is
what keeps an openly angry message low; the cue lexicons and explicit negative words; and, when the request
has ``context``, lexicon features of the earlier turns. The sentiment block's probabilities are offered
to the score layer too, but on dev they added nothing over the branch's ``explicit`` class, so the served
layer does not read them (the head's ``config.json`` says which features it uses). ``detected`` is
``score >= threshold``, chosen on dev and stored in ``config.json``. ``cues`` are evidence: they are
reported whenever found, also when ``detected`` is false (an openly angry "再也不买了，垃圾！" has a
``threat_to_leave`` cue and a low hidden score, because it is plainly negative).
"""

from __future__ import annotations

import hashlib
import json
import logging

from models.hidden.context import ContextReader
from models.hidden.cues import CueFinder, ExplicitLexicon, lexicon_digest
from models.hidden.score import BRANCH_LABELS, Evidence, ScoreModel, feature_values
from models.pipeline import Context
from models.pooled import WEIGHTS_FILE, PooledHead, load_pooled
from models.schema import HiddenDissatisfaction, Sentiment
from models.spec import ModelSpec
from models.stages import StageEnv

logger = logging.getLogger(__name__)
NAME = "hidden_dissatisfaction"
HEAD_DIR = "hidden"
#: Used only when no sentiment block is present (a pipeline without sentiment): "no opinion".
_NO_SENTIMENT = (1 / 3, 1 / 3, 1 / 3)


class HiddenStage:
    name = NAME

    def __init__(
        self,
        head: PooledHead,
        score: ScoreModel,
        threshold: float,
        cues: CueFinder,
        explicit: ExplicitLexicon,
        context: ContextReader,
        version: str,
    ) -> None:
        if tuple(head.labels) != BRANCH_LABELS:
            raise ValueError(f"hidden head labels {head.labels} != {BRANCH_LABELS}")
        self.head = head
        self.score_model = score
        self.threshold = threshold
        self.cues = cues
        self.explicit = explicit
        self.context = context
        self.version = version

    def run(self, batch: list[Context]) -> None:
        if not batch:
            return
        probs = self.head.sequence_proba([c.encoded for c in batch])
        for ctx, p in zip(batch, probs, strict=True):
            text = ctx.item.normalized.text
            spans = self.cues.spans(text)
            evidence = Evidence(
                branch=(float(p[0]), float(p[1]), float(p[2])),
                sentiment=_sentiment_probs(ctx.fields.get("sentiment")),
                cue_types=frozenset(s.type for s in spans),
                explicit=self.explicit.has(text),
                context=self.context.features(text, ctx.item.context),
            )
            score = self.score_model.score(feature_values(evidence))
            ctx.fields[NAME] = HiddenDissatisfaction(
                detected=score >= self.threshold,
                score=round(score, 4),
                cues=self.cues.to_cues(ctx.item.normalized, spans),
            )


def _sentiment_probs(block: object) -> tuple[float, float, float]:
    if isinstance(block, Sentiment):
        p = block.probabilities
        return (p.negative, p.neutral, p.positive)
    return _NO_SENTIMENT


def load_hidden_stage(env: StageEnv) -> tuple[HiddenStage, ModelSpec] | None:
    """The served stage, or None when `tousu train hidden` has not written a head yet."""
    directory = env.heads_dir / HEAD_DIR
    if not (directory / WEIGHTS_FILE).is_file():
        logger.warning("no hidden-dissatisfaction head in %s: the stage is off (run `tousu train hidden`)", directory)
        return None
    head, spec = load_pooled(NAME, directory, env.encoder.name, env.encoder.version)
    score = ScoreModel.from_json(head.config["score"])
    if any(name.startswith("sent_") for name in score.names):
        fitted_with = head.config.get("sentiment_head", {}).get("version")
        sentiment_dir = env.heads_dir / "sentiment"
        if (sentiment_dir / WEIGHTS_FILE).is_file() and fitted_with != PooledHead.load(
            "sentiment", sentiment_dir
        ).version:
            logger.warning("the hidden score was fitted with another sentiment head: rerun `tousu train hidden`")
    threshold = float(head.config["threshold"]["value"])
    cues = CueFinder.load()
    explicit = ExplicitLexicon.load()
    # The score layer and the lexicons change answers without touching the adapter: both are in the version.
    fitted = json.dumps([head.config["score"], head.config["threshold"]], sort_keys=True).encode()
    version = f"{spec.version}+score-{hashlib.sha256(fitted).hexdigest()[:8]}+lex-{lexicon_digest()[:8]}"
    stage = HiddenStage(head, score, threshold, cues, explicit, ContextReader.load(cues, explicit), version)
    return stage, spec
