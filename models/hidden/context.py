"""Conversation context as score features, read from the earlier turns' text without any encoder pass.

Many quiet complaints only make sense after the agent's answer: "哦，好吧" after "已发", "OK, thanks"
after "Sorry, there are no rooms". The current message has the encoder pass; its earlier turns get
only these cheap lexicon features (patterns in ``models/resources/hidden/context.json``, cue and
explicit-negative lexicons shared with :mod:`models.hidden.cues`), so context costs microseconds,
not another transformer run per turn. The score's weights for them are fitted on USS dialogues and
ECISA documents (``training/hidden/recipe.py``).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from models.hidden.cues import RESOURCES, CueFinder, ExplicitLexicon
from models.pipeline import Turn
from models.text import normalize

CONTEXT_FEATURES = (
    "ctx_present",
    "ctx_agent_unhelpful",
    "ctx_agent_terse",
    "ctx_ack_after_unhelpful",
    "ctx_customer_repeat",
    "ctx_earlier_cues",
    "ctx_earlier_explicit",
)
_LATIN_WORD = re.compile(r"[A-Za-z']+")


def _bigrams(text: str) -> set[str]:
    """Character bigrams of CJK text, word bigrams of Latin text (lower-cased, no spaces/punctuation)."""
    words = _LATIN_WORD.findall(text.lower())
    if len(words) >= 2:
        return {f"{a} {b}" for a, b in itertools.pairwise(words)}
    chars = [c for c in text if c.isalnum()]
    return {a + b for a, b in itertools.pairwise(chars)}


@dataclass(frozen=True)
class ContextReader:
    agent_unhelpful: re.Pattern[str]
    ack: re.Pattern[str]
    max_terse_chars: int
    max_terse_words: int
    repeat_min_overlap: float
    max_turns: int
    cues: CueFinder
    explicit: ExplicitLexicon

    @classmethod
    def load(cls, cues: CueFinder, explicit: ExplicitLexicon, directory: Path = RESOURCES) -> ContextReader:
        data = json.loads((directory / "context.json").read_text(encoding="utf-8"))

        def either(entry: dict[str, str]) -> re.Pattern[str]:
            return re.compile("|".join(f"(?:{p})" for p in entry.values()), re.IGNORECASE)

        return cls(
            agent_unhelpful=either(data["agent_unhelpful"]),
            ack=either(data["ack"]),
            max_terse_chars=int(data["max_terse_chars"]),
            max_terse_words=int(data["max_terse_words"]),
            repeat_min_overlap=float(data["repeat_min_overlap"]),
            max_turns=int(data["max_turns"]),
            cues=cues,
            explicit=explicit,
        )

    def _terse(self, text: str) -> bool:
        if "?" in text:
            return False
        words = _LATIN_WORD.findall(text)
        if len(words) >= 2:
            return len(words) <= self.max_terse_words
        return len([c for c in text if c.isalnum()]) <= self.max_terse_chars

    def features(self, text: str, turns: Sequence[Turn]) -> dict[str, float]:
        """``text``: the normalised current message; ``turns``: earlier turns, oldest first."""
        out = dict.fromkeys(CONTEXT_FEATURES, 0.0)
        recent = [(t.role, normalize(t.text).text) for t in turns[-self.max_turns :] if t.text.strip()]
        if not recent:
            return out
        out["ctx_present"] = 1.0
        agent = [t for role, t in recent if role == "agent"]
        customer = [t for role, t in recent if role == "customer"]
        last_role, last_text = recent[-1]
        if agent and self.agent_unhelpful.search(agent[-1]):
            out["ctx_agent_unhelpful"] = 1.0
        if last_role == "agent" and self._terse(last_text):
            out["ctx_agent_terse"] = 1.0
        if out["ctx_agent_terse"] or (last_role == "agent" and out["ctx_agent_unhelpful"]):
            # "哦，好吧" right after "已发" / "Sorry, none left": acceptance that means giving up
            out["ctx_ack_after_unhelpful"] = float(bool(self.ack.fullmatch(text.strip())))
        current = _bigrams(text)
        if len(current) >= 3:
            overlap = max((len(current & _bigrams(t)) / len(current) for t in customer), default=0.0)
            out["ctx_customer_repeat"] = float(overlap >= self.repeat_min_overlap)
        earlier_types = set().union(*(self.cues.types(t) for t in customer)) if customer else set()
        out["ctx_earlier_cues"] = min(len(earlier_types), 2) / 2.0
        out["ctx_earlier_explicit"] = float(any(self.explicit.has(t) for t in customer))
        return out
