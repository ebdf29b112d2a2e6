"""Which Chinese-speaking region a message is written from: mainland, Hong Kong or Taiwan.

The same surface means different things by region: ``300元`` is yuan from a mainland customer and
New Taiwan dollars from a Taiwanese one, ``$200`` is Hong Kong dollars in Cantonese, and an
8-digit ``9187 2634`` is a Hong Kong mobile. The region is guessed from the message alone:
Cantonese particles (咗, 嘅, 喺 ...) say Hong Kong, Traditional script without them says Taiwan,
anything else in Chinese is the mainland. Markers: ``identifiers.json`` ``cantonese_markers``.
"""

from __future__ import annotations

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
    """The country of an English message, from the currency it names (NZ$, S$, RM, ₹, €, A$, £), or None.

    National phone formats differ by country (021 448 3092 is a New Zealand mobile, 9127 4408 a Singapore
    one); the identifiers read them only where the message says which country it is from
    (``identifiers.json`` ``english_countries``).
    """
    for country, markers in load("identifiers")["english_countries"].items():
        if country.startswith("_"):
            continue
        if any(marker in text for marker in markers):
            return str(country)
    return None
