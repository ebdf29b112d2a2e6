"""The ``normalized`` value of each entity type, and whether the entity is personal data.

| type | normalized | pii |
|---|---|---|
| ORDER_ID | ``{"value", "format", "carrier"?}`` (spaces dropped) | no |
| PHONE | ``{"e164", "kind"}`` (``e164`` null for short service numbers such as 95588) | yes |
| EMAIL | the address, lower-cased | yes |
| ID_NUMBER | ``{"kind": "resident_id"|"bank_card", "value", "issuer"?}`` | yes |
| MONEY | ``{"amount", "currency", "approximate"?}`` | no |
| DATETIME | ``{"value", "grain"}`` resolved against ``received_at`` or ``{"duration"}`` | no |
| URL | the URL as sent (set from the original text) | no |
| PERSON | null | yes |
| LOCATION | ``{"address": true}`` for street addresses (pii), else null | addresses only |
| ORG | ``{"id", "name", "kind", "known", "shop"?}``: one id per party (``models.entities.parties``) | no |
| PRODUCT | ``{"id", "name", "brand", "model"}``: the brand's party id and the model | no |
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from models.entities.identifiers import IdMatch, card_issuer
from models.entities.lexicon import load
from models.entities.money import MoneyMatch
from models.entities.parties import org_value, product_value
from models.entities.structured import Payload
from models.entities.timex import Timex

PII_TYPES = frozenset({"PHONE", "EMAIL", "ID_NUMBER", "PERSON"})
_CARRIERS = {f["name"]: f["carrier"] for f in load("identifiers")["formats"] if f.get("carrier")}
_ADDRESS_ZH = re.compile(
    r"\d+\s?(?:号|號|栋|棟|幢|单元|單元|室|楼|樓|弄|巷)|(?:路|街|道|巷|弄|村|小区|社区|大厦|花园)\d"
)
_ADDRESS_EN = re.compile(
    r"\b\d{1,6}\s+(?:[A-Z][a-z]+\s){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Terrace|Place|Pl)\b"
)


def is_address(text: str) -> bool:
    """A street address (with a house number) rather than a city or district."""
    return bool(_ADDRESS_ZH.search(text) or _ADDRESS_EN.search(text))


def normalized_value(
    label: str, text: str, subtype: str, payload: Payload, received_at: datetime | None
) -> tuple[dict[str, Any] | str | None, bool]:
    """``(normalized, pii)`` of one entity; ``text`` is its normalised-text surface."""
    if isinstance(payload, MoneyMatch):
        return payload.normalized(), False
    if isinstance(payload, Timex):
        return payload.normalized(received_at), False
    if isinstance(payload, IdMatch):
        return _identifier(payload), payload.pii
    if label == "EMAIL":
        return text.lower(), True
    if label == "LOCATION":
        return ({"address": True}, True) if is_address(text) else (None, False)
    if label == "ORG":
        return org_value(text), False
    if label == "PRODUCT":
        return product_value(text), False
    return None, label in PII_TYPES


def _identifier(m: IdMatch) -> dict[str, Any] | str:
    if m.type == "PHONE":
        if m.subtype == "service":
            return {"e164": None, "national": m.value, "kind": "service"}
        return {"e164": m.value, "kind": m.subtype}
    if m.type == "EMAIL":
        return m.value.lower()
    if m.type == "ID_NUMBER":
        out: dict[str, Any] = {"kind": m.subtype, "value": m.value}
        if m.subtype == "bank_card":
            out["issuer"] = card_issuer(m.value)
        return out
    value = re.sub(r"\s", "", m.value)
    order: dict[str, Any] = {"value": value, "format": m.subtype}
    carrier = _CARRIERS.get(m.subtype)
    if carrier:
        order["carrier"] = carrier
    return order
