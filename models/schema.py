"""The versioned answer of ``/v1/analyze`` (also what ``tousu analyze`` writes per line).

Every task contributes one optional block; a task that is not served or not requested
is ``null``, so clients can rely on the keys being present. Bump ``SCHEMA_VERSION`` on
any breaking change.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"

SentimentLabel = Literal["negative", "neutral", "positive"]
Task = Literal["sentiment", "hidden_dissatisfaction", "entities", "topic", "risk"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SentimentProbabilities(_Out):
    negative: float
    neutral: float
    positive: float


class SentenceSentiment(_Out):
    """One sentence of the message, scored from the message's own encoder pass (no second run)."""

    start: int = Field(description="Offset of the sentence in the text as sent (characters).")
    end: int = Field(description="End offset (exclusive) in the text as sent.")
    label: SentimentLabel
    score: float = Field(description="Probability of `label` for this sentence.")
    probabilities: SentimentProbabilities


class Sentiment(_Out):
    label: SentimentLabel
    score: float = Field(description="Calibrated probability of `label`.")
    intensity: float = Field(
        ge=0.0,
        le=1.0,
        description="How strongly the polarity is expressed: |P(positive) - P(negative)| scaled by the "
        "strongest degree cue (有点 / 非常 / 极其 / 'a bit' / 'very' / 'worst' / '!!'); does not grow with length.",
    )
    probabilities: SentimentProbabilities
    sentences: list[SentenceSentiment] | None = Field(
        default=None,
        description="Per-sentence labels (offsets into the text as sent), from the same encoder pass: a long "
        "complaint often mixes thanks and grievance. Null when the sentiment head cannot score spans.",
    )


class Cue(_Out):
    """Evidence of hidden dissatisfaction found by the lexicon/rule layer (``models/resources/hidden/``)."""

    type: str = Field(
        description="sarcasm, rhetorical_question, polite_resignation, factual_complaint, negated_praise "
        "or threat_to_leave."
    )
    text: str = Field(
        description="The cue as it appears in the original text (`text[start:end]`), personal data inside it "
        "masked as in `entities` unless `options.include_pii`."
    )
    start: int = Field(description="Start offset in the original text (characters).")
    end: int = Field(description="End offset (exclusive) in the original text.")


class HiddenDissatisfaction(_Out):
    """The unhappy customer who does not say so; an openly negative message is `sentiment`, not this."""

    detected: bool = Field(description="score >= the threshold chosen on dev (stored with the model).")
    score: float = Field(
        description="Calibrated probability that the customer is dissatisfied while the text carries no "
        "explicit negative sentiment; earlier turns in `context` move it."
    )
    cues: list[Cue] = Field(description="Evidence spans, reported whenever found (also when not detected).")


class Entity(_Out):
    type: str = Field(
        description="ORDER_ID, PHONE, EMAIL, ID_NUMBER, MONEY, DATETIME, URL, PERSON, ORG, LOCATION or PRODUCT."
    )
    text: str = Field(
        description="The entity as written; masked (138****8000, 张*) for personal data unless include_pii."
    )
    start: int = Field(description="Offset of the first character in the text as sent.")
    end: int = Field(description="Offset after the last character in the text as sent.")
    normalized: dict[str, object] | str | None = Field(
        None,
        description="Normalised value: MONEY {amount, currency}; DATETIME {value, grain} (ISO 8601, resolved against "
        "received_at) or {duration}; PHONE {e164, kind}; ID_NUMBER {kind, value}; ORDER_ID {value, format, carrier}; "
        "EMAIL / URL the value; ORG {id, name, kind, known}: one id per responsible party whatever the spelling "
        "(京东 / 京東 / JD -> jd; unknown organisations x:<folded name>); PRODUCT {id, name, brand, model} (brand = "
        "the brand's party id); personal data masked unless include_pii.",
    )
    confidence: float = Field(
        description="Patterns: how strongly validation and context support the reading; statistical NER: the "
        "branch's calibrated probability, or the system's measured precision for the type."
    )
    pii: bool = Field(description="Personal data (phones, e-mails, ID numbers, names, street addresses).")


class Topic(_Out):
    id: int = Field(description="Stable topic id (kept across refits); -1 = outlier, no fitted theme is nearest.")
    label: str = Field(description="Top c-TF-IDF words of the topic, or 'outlier'.")
    keywords: list[str] = Field(description="Top c-TF-IDF words (jieba words for Chinese); empty for outliers.")
    probability: float = Field(
        description="Calibrated probability of the topic: softmax of the cosine similarities to all topic "
        "embeddings at a temperature fitted on the training corpus."
    )
    similarity: float | None = Field(
        None,
        description="Cosine similarity to the topic embedding: what BERTopic.transform returns as 'probability' "
        "for this model (e5 cosines sit in a narrow band, about 0.8-0.95).",
    )


class Category(_Out):
    name: str = Field(description="Root-cause category of the message (taxonomy name, e.g. delivery_and_logistics).")
    score: float = Field(
        description="Probability of the category: softmax over the zero-shot similarities to every category's "
        "description and examples, at a temperature fitted on labelled messages."
    )


class RiskReason(_Out):
    signal: str = Field(
        description="Signal that raised the risk: negative_intensity, hidden_dissatisfaction, escalation_threat, "
        "churn_threat, safety_legal, urgency, absolute_words, money_at_stake, repetition or rising_intensity."
    )
    contribution: float = Field(description="weight x signal value, in logit units (always > 0).")
    detail: str = Field(description="What the signal saw, e.g. the matched words or the repetition count.")
    text: str | None = Field(
        None,
        description="Evidence span as sent, when the signal has one (personal data masked as in `entities`).",
    )
    start: int | None = Field(None, description="Start offset of the evidence in the text as sent.")
    end: int | None = Field(None, description="End offset (exclusive) of the evidence in the text as sent.")


class Risk(_Out):
    level: Literal["red", "yellow", "blue"] = Field(
        description="red: a senior agent now; yellow: a human answer today; blue: the normal queue."
    )
    score: float = Field(
        description="sigmoid(bias + sum of the reasons' contributions); bias, weights and level thresholds are in "
        "the versioned risk config (GET /v1/models)."
    )
    reasons: list[RiskReason] = Field(description="Evidence that raised the risk, largest contribution first.")
    handoff: bool = Field(
        description="Recommend a human agent: every red message, and yellow ones raised by repetition, rising "
        "intensity across turns or a safety/legal issue (rules in the risk config)."
    )


class AnalysisWarning(_Out):
    """A block of the answer that could not be computed for this message: the block is ``null``, the rest stands."""

    stage: str = Field(description="The block that failed: sentiment, hidden_dissatisfaction, entities, topic or risk.")
    error_type: Literal["stage_failed"] = Field(description="Why the block is missing.")
    message: str = Field(description="Human-readable; never carries the message text.")


class Analysis(_Out):
    """Everything the service says about one message."""

    schema_version: str = SCHEMA_VERSION
    id: str | None = None
    language: str = Field(description="Detected language: zh, en or und.")
    traditional: bool = Field(description="True when Traditional Chinese was converted for the models.")
    truncated: bool = Field(description="True when the text exceeded the encoder window budget.")
    sentiment: Sentiment | None = None
    hidden_dissatisfaction: HiddenDissatisfaction | None = None
    entities: list[Entity] | None = None
    topic: Topic | None = None
    category: Category | None = None
    risk: Risk | None = None
    redacted_text: str | None = None
    model_versions: dict[str, str]
    warnings: list[AnalysisWarning] = Field(
        default_factory=list,
        description="Blocks that failed on this message (null in this answer; the other blocks are complete). "
        "Empty for a complete answer; an answer with warnings is never cached.",
    )
    cached: bool = False
