"""One analysed message -> the row the store keeps (and its entity rows), following the personal-data rules.

- text: only redacted (entity spans of personal data replaced by ``[PERSON]``, ``[ADDRESS]``...,
  then ``models.pii.redact`` over the result for anything the entity stage did not serve);
- entity values: as the answer carries them (masked), and masked here when the caller asked for raw
  values (``include_pii``);
- customer id: only its salted HMAC; the salt is a setting and is never written to the database.

A message without an id gets a content id (a hash of its redacted text, time, channel and customer
hash), so that re-sending it updates its row instead of adding one.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from models.entities.staff import is_staff
from models.pii import mask, mask_normalized, redact, redacted_text
from models.schema import Analysis, Entity

MAX_VALUE_CHARS = 256
ROLES = {"PRODUCT": "product", "ORG": "party", "ORDER_ID": "identifier", "URL": "identifier"}


@dataclass(frozen=True)
class Message:
    """What the store needs besides the answer: where the message came from and its text (redacted here)."""

    dataset: str
    analysis: Analysis
    text: str
    id: str | None = None
    received_at: datetime | None = None
    channel: str | None = None
    customer_id: str | None = None
    job_id: str | None = None
    include_pii: bool = False  # the answer carries raw personal data: mask it before storing


@dataclass(frozen=True)
class RowBuilder:
    salt: bytes | None  # None: customer ids are not stored at all
    keep_text: bool = True

    def customer_hash(self, customer_id: str | None) -> str | None:
        if customer_id is None or self.salt is None:
            return None
        return hmac.new(self.salt, customer_id.encode(), hashlib.sha256).hexdigest()

    def build(self, m: Message, now: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        a = m.analysis
        entities = [_masked(e) if m.include_pii and e.pii else e for e in (a.entities or [])]
        text = redact(redacted_text(clean(m.text) or "", entities))  # clean keeps offsets: 1 char for 1
        received = _timestamp(m.received_at) if m.received_at is not None else now
        customer = self.customer_hash(m.customer_id)
        message_id = m.id if m.id is not None else content_id(text, received if m.received_at else None, m, customer)
        risk = a.risk
        row: dict[str, Any] = {
            "dataset": m.dataset,
            "message_id": message_id,
            "job_id": m.job_id,
            "received_at": received,
            "channel": m.channel,
            "language": a.language,
            "sentiment": a.sentiment.label if a.sentiment else None,
            "intensity": a.sentiment.intensity if a.sentiment else None,
            "dissatisfied": a.hidden_dissatisfaction.detected if a.hidden_dissatisfaction else None,
            "hidden_score": a.hidden_dissatisfaction.score if a.hidden_dissatisfaction else None,
            "model_risk_level": risk.level if risk else None,
            "risk_level": risk.level if risk else None,
            "risk_score": risk.score if risk else None,
            "risk_reasons": [r.signal for r in risk.reasons] if risk else [],
            "category": a.category.name[:64] if a.category else None,  # a user-edited taxonomy may be long
            "category_score": a.category.score if a.category else None,
            "topic_id": a.topic.id if a.topic else None,
            "topic_label": a.topic.label[:MAX_VALUE_CHARS] if a.topic else None,
            "customer_hash": customer,
            "text": text if self.keep_text else None,
            "status": "open",
            "escalated_at": None,
            "created_at": now,
            "updated_at": now,
        }
        for key in _TEXT_COLUMNS:
            row[key] = clean(row[key])
        ents = [
            {
                "dataset": row["dataset"],
                "message_id": row["message_id"],
                "idx": i,
                "type": clean(e.type[:16]),
                "role": _role(e),
                "value": clean(entity_value(e)[:MAX_VALUE_CHARS]),
                "received_at": received,
            }
            for i, e in enumerate(entities)
        ]
        return row, ents


_TEXT_COLUMNS = ("dataset", "message_id", "channel", "language", "category", "topic_label", "text")


def clean(value: str | None) -> str | None:
    """Text any database takes: PostgreSQL refuses NUL characters and every driver lone surrogates; one such
    character must not make a chunk fail on every retry."""
    if value is None:
        return value
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def content_id(text: str, received: float | None, m: Message, customer: str | None) -> str:
    key = "\x1f".join([text, repr(received), m.channel or "", customer or ""])
    return "h:" + hashlib.sha256(key.encode()).hexdigest()[:32]


def _timestamp(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _role(e: Entity) -> str | None:
    """product, party (ORG, and the staff a customer names) or identifier; None for the other types."""
    if is_staff(e.type, e.normalized):
        return "party"
    return ROLES.get(e.type)


def _subtype(e: Entity) -> str:
    return str(e.normalized.get("kind", "")) if isinstance(e.normalized, dict) else ""


def _masked(e: Entity) -> Entity:
    subtype = _subtype(e)
    return e.model_copy(
        update={"text": mask(e.type, subtype, e.text), "normalized": mask_normalized(e.type, subtype, e.normalized)}
    )


def entity_value(e: Entity) -> str:
    """The normalised value people search and group by (``ORDER_ID`` value, ``MONEY`` "12.5 CNY", E.164...)."""
    n = e.normalized
    if isinstance(n, str) and n:
        return n
    if isinstance(n, dict):
        if e.type == "MONEY" and n.get("amount") is not None:
            return f"{n['amount']} {n.get('currency') or ''}".strip()
        for key in ("value", "e164", "duration", "name"):
            if n.get(key):
                return str(n[key])
    return e.text
