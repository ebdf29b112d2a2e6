"""Risk lexicons (data: ``models/resources/risk/lexicons.json``) compiled into one matcher per signal.

Matching runs on the NORMALISED text, so Traditional Chinese and full-width input hit the same
entries; each hit keeps its normalised span, which the signal layer maps back to the caller's
text. Entries are normalised with the same function as messages, so a lexicon written in either
script works.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from models.text import normalize

RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "risk"
DEFAULT_LEXICONS = RESOURCES / "lexicons.json"
LEXICON_SIGNALS = (
    "escalation_threat",
    "churn_threat",
    "safety_legal",
    "urgency",
    "absolute_words",
    "anger",
    "repeat_contact",
)


@dataclass(frozen=True)
class Hit:
    """One lexicon match on the normalised text, ``[start, end)``."""

    text: str
    start: int
    end: int


def _term_regex(entry: str) -> str | None:
    term = normalize(entry).text
    if not term:
        return None
    escaped = re.escape(term).replace("'", "['’]")  # typographic apostrophes too
    if term.isdigit():  # 12315 inside a longer number (an order id) is not the hotline
        return rf"(?<!\d){escaped}(?!\d)"
    if term[0].isascii() and term[0].isalnum():  # Latin words on ASCII word boundaries (also next to CJK)
        tail = r"(?![A-Za-z0-9])" if term[-1].isalnum() else ""
        return rf"(?<![A-Za-z0-9]){escaped}{tail}"
    return escaped


@dataclass(frozen=True)
class Matcher:
    """All entries of one signal as one case-insensitive alternation (longest entries first)."""

    pattern: re.Pattern[str] | None

    @classmethod
    def build(cls, terms: list[str], patterns: list[str]) -> Matcher:
        parts = [p for p in (_term_regex(t) for t in sorted(set(terms), key=len, reverse=True)) if p]
        parts += [f"(?:{p})" for p in patterns]
        return cls(re.compile("|".join(parts), re.IGNORECASE) if parts else None)

    def find(self, text: str) -> list[Hit]:
        if self.pattern is None:
            return []
        return [Hit(m.group(), m.start(), m.end()) for m in self.pattern.finditer(text) if m.end() > m.start()]


@dataclass(frozen=True)
class Lexicons:
    matchers: dict[str, Matcher]

    @classmethod
    def load(cls, path: Path = DEFAULT_LEXICONS) -> Lexicons:
        data = json.loads(path.read_text(encoding="utf-8"))["signals"]
        missing = [s for s in LEXICON_SIGNALS if s not in data]
        if missing:
            raise ValueError(f"{path}: lexicons missing for {missing}")
        return cls({name: Matcher.build(list(data[name]["terms"]), list(data[name]["patterns"])) for name in data})

    def find(self, signal: str, text: str) -> list[Hit]:
        return self.matchers[signal].find(text)
