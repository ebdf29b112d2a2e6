"""All structured entities of a normalised text in one pass: identifiers, money, date/time, URLs.

The pattern component of the spaCy pipeline calls :func:`find_structured`; overlaps between
kinds are resolved here by confidence, then length (a resident ID is never also a phone).
"""

from __future__ import annotations

from dataclasses import dataclass

from models.entities.identifiers import IdMatch, find_identifiers
from models.entities.money import MoneyMatch, find_money
from models.entities.timex import Timex, find_times
from models.text import URL_PLACEHOLDER

STRUCTURED_TYPES = ("ORDER_ID", "PHONE", "EMAIL", "ID_NUMBER", "MONEY", "DATETIME", "URL")

Payload = IdMatch | MoneyMatch | Timex | None


@dataclass(frozen=True)
class Structured:
    type: str
    start: int  # offsets into the normalised text
    end: int
    subtype: str
    confidence: float
    payload: Payload


def find_structured(text: str, lang: str) -> list[Structured]:
    found: list[Structured] = []
    for m in find_identifiers(text, lang):
        found.append(Structured(m.type, m.start, m.end, m.subtype, m.confidence, m))
    for money in find_money(text):
        found.append(Structured("MONEY", money.start, money.end, "amount", money.confidence, money))
    for t in find_times(text, lang):
        kind = "duration" if t.duration is not None else "point"
        found.append(Structured("DATETIME", t.start, t.end, kind, t.confidence, t))
    pos = text.find(URL_PLACEHOLDER)
    while pos >= 0:
        found.append(Structured("URL", pos, pos + len(URL_PLACEHOLDER), "url", 0.99, None))
        pos = text.find(URL_PLACEHOLDER, pos + 1)
    chosen: list[Structured] = []
    for s in sorted(found, key=lambda x: (-x.confidence, -(x.end - x.start), x.start)):
        if all(s.end <= c.start or s.start >= c.end for c in chosen):
            chosen.append(s)
    return sorted(chosen, key=lambda s: s.start)
