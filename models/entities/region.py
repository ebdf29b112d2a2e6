"""Which Chinese-speaking region a message is written from: mainland, Hong Kong or Taiwan.

The same surface means different things by region: ``300元`` is yuan from a mainland customer and
New Taiwan dollars from a Taiwanese one, ``$200`` is Hong Kong dollars in Cantonese, and an
8-digit ``9187 2634`` is a Hong Kong mobile. The region is guessed from the message alone:
Cantonese particles (咗, 嘅, 喺 ...) say Hong Kong, Traditional script without them says Taiwan,
anything else in Chinese is the mainland. Markers: ``identifiers.json`` ``cantonese_markers``.
"""

from __future__ import annotations

import re
from functools import cache

from models.entities.lexicon import load

REGIONS = ("cn", "hk", "tw", "en")


def region_of(text: str, lang: str, traditional: bool = False) -> str:
    """``cn`` / ``hk`` / ``tw`` for Chinese (``text`` normalised to Simplified), ``en`` otherwise."""
    if lang == "en":
        return "en"
    if any(marker in text for marker in load("identifiers")["cantonese_markers"]):
        return "hk"
    return "tw" if traditional else "cn"


def english_country(text: str) -> str | None:
    """The country of an English message, from the currency it names (NZ$, S$, RM, ₹, €, A$, £, ₱, R12,500) or the
    words that say where it is from (GCash, rand, +27), or None.

    National phone formats differ by country (021 448 3092 is a New Zealand mobile, 9127 4408 a Singapore
    one, 0917 845 2231 a Philippine one); the identifiers read them only where the message says which country it
    is from (``identifiers.json`` ``english_countries``: substrings; ``english_country_patterns``: regexes, for
    markers that need a word boundary, as rand is in brand, or a number, as R4 870).
    """
    patterns = _country_patterns()
    for country, markers in load("identifiers")["english_countries"].items():
        if country.startswith("_"):
            continue
        if any(marker in text for marker in markers):
            return str(country)
        if country in patterns and patterns[country].search(text):
            return str(country)
    return None


#: Countries that write a numeric date month first, as the US does (the Philippines: 9/5/2025 is September 5).
MONTH_FIRST = frozenset({"ph"})


def writes_day_first(text: str) -> bool:
    """Whether an English message's numeric dates put the day first: its country says so (8/3/2025 is 8 March in
    the UK, India, South Africa ...); with no country named, or a month-first one, the US order."""
    country = english_country(text)
    return country is not None and country not in MONTH_FIRST


def preload() -> None:
    """Build the cached patterns now (start-up), not inside the first request that needs them (see
    :func:`models.entities.parties.preload`)."""
    _country_patterns()


@cache
def _country_patterns() -> dict[str, re.Pattern[str]]:
    """``english_country_patterns`` compiled, one alternation per country."""
    return {
        country: re.compile("|".join(f"(?:{p})" for p in patterns))
        for country, patterns in load("identifiers")["english_country_patterns"].items()
        if not country.startswith("_")
    }
