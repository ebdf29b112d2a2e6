"""All structured entities of a normalised text in one pass: identifiers, money, date/time, URLs.

The pattern component of the spaCy pipeline calls :func:`find_structured`; overlaps between
kinds are resolved here by confidence, then length (a resident ID is never also a phone).
URLs with a scheme or ``www.`` arrive as the normaliser's placeholder; the ones customers type
without either (``m.tb.cn/h.5Gx2kQp``, ``shopee.tw/product/88213``) are found here by their
top-level domain (``identifiers.json`` ``url_tlds``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.entities.identifiers import IdMatch, find_identifiers
from models.entities.lexicon import load
from models.entities.money import MoneyMatch, find_money
from models.entities.region import region_of
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


_TLDS = "|".join(sorted(load("identifiers")["url_tlds"], key=len, reverse=True))
#: Newer top-level domains (fb.watch, youtu.be): an address only with a path after them.
_PATH_TLDS = "|".join(sorted(load("identifiers")["url_tlds_with_path"], key=len, reverse=True))
_PATH = r"/[^\s\u3000-\u303f\u4e00-\u9fff\uff00-\uffef<>\"']*"
#: A host name ending in a known top-level domain, optionally a port and a path, without a scheme.
BARE_URL_RE = re.compile(
    rf"(?<![A-Za-z0-9_@.\-/])(?:[a-z0-9](?:[a-z0-9\-]{{0,62}}[a-z0-9])?\.)+"
    rf"(?:(?:{_TLDS})(?![A-Za-z0-9_\-@])(?::\d{{2,5}})?(?:{_PATH})?|(?:{_PATH_TLDS}){_PATH})",
    re.IGNORECASE,
)


def find_structured(text: str, lang: str, traditional: bool = False) -> list[Structured]:
    """``traditional``: the message was written in Traditional script (with the text, decides the region)."""
    region = region_of(text, lang, traditional)
    found: list[Structured] = []
    for m in find_identifiers(text, lang, region=region):
        found.append(Structured(m.type, m.start, m.end, m.subtype, m.confidence, m))
    for money in find_money(text, region):
        found.append(Structured("MONEY", money.start, money.end, "amount", money.confidence, money))
    for url in BARE_URL_RE.finditer(text):
        if "/" not in url.group() and url.group()[:1].isupper() and url.group().count(".") == 1:
            continue  # "through Booking.com": a company's name in prose, no address to visit
        # a host with a path is an address for certain: the numbers in its path (…/view/17383920147) are its own
        confidence = 0.98 if "/" in url.group() else 0.9
        found.append(Structured("URL", url.start(), url.end(), "url", confidence, None))
    for t in find_times(text, lang, region):
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
