"""The escalation-risk signals of one message, each a value in [0, 1] with its evidence.

Signals come from three places, and none runs the encoder again:

- blocks earlier stages already wrote into ``ctx.fields``: sentiment (negative intensity),
  hidden dissatisfaction (score, ``threat_to_leave`` cues), entities (MONEY amounts). A block that
  is absent (its task not served) simply yields no signal;
- the risk lexicons (escalation, churn, safety/legal, urgency, absolute words) on the normalised
  text, spans mapped back to the caller's text;
- the request's history: repetition (counted by :mod:`models.risk.repetition`) and the rise of a
  lexical "heat" from the earlier customer turns in ``context`` to this message.

How each value is computed is documented in ``models/resources/risk/prior.json`` (``transforms``),
which the fitted config carries along.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.pipeline import AnalysisInput, Turn
from models.risk.lexicon import RESOURCES, Hit, Lexicons
from models.risk.repetition import Repeat
from models.risk.scorer import Signal
from models.sentiment import DegreeLexicon
from models.text import CJK_RE, NormalizedText, normalize

logger = logging.getLogger(__name__)

DEFAULT_RATES = RESOURCES / "currency_to_cny.json"
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:['\u2019][A-Za-z]+)?")
_EMPHASIS = re.compile(r"[!?]{2,}")
_CAPS_WORD = re.compile(r"\b[A-Z]{2,}\b")
_LABELS = {
    "escalation_threat": "threat to escalate",
    "churn_threat": "threat to leave",
    "safety_legal": "safety or legal issue",
    "urgency": "urgency",
}
_MAX_TERMS_IN_DETAIL = 4
#: A lean of P(negative) over P(positive) smaller than this is noise on a neutral message, not evidence: a
#: calm question whose probabilities read 0.01 / 0.00 / 0.99 is not "negative sentiment".
MIN_NEGATIVE_LEAN = 0.05


def _get(obj: object, name: str) -> Any:
    """A field of a block that may be a pydantic model or a plain dict (answers read back from JSON)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


@dataclass(frozen=True)
class CurrencyRates:
    rates: dict[str, float]

    @classmethod
    def load(cls, path: Path = DEFAULT_RATES) -> CurrencyRates:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls({str(k).upper(): float(v) for k, v in data["rates"].items()})

    def to_cny(self, amount: float, currency: str) -> float | None:
        rate = self.rates.get(currency.upper())
        return None if rate is None else amount * rate


def _unique(hits: Sequence[Hit]) -> list[str]:
    return list(dict.fromkeys(h.text.lower() if h.text.isascii() else h.text for h in hits))


class SignalExtractor:
    def __init__(
        self,
        transforms: Mapping[str, Mapping[str, Any]],
        lexicons: Lexicons | None = None,
        degree: DegreeLexicon | None = None,
        rates: CurrencyRates | None = None,
    ) -> None:
        self.transforms = transforms
        self.lexicons = lexicons or Lexicons.load()
        self.degree = degree or DegreeLexicon.load()
        self.rates = rates or CurrencyRates.load()

    def extract(
        self, item: AnalysisInput, language: str, fields: Mapping[str, Any], repeat: Repeat | None = None
    ) -> dict[str, Signal]:
        """Every signal that fired (value > 0) for this message; absent blocks give no signal."""
        norm = item.normalized
        text = norm.text
        out: dict[str, Signal] = {}
        hidden = fields.get("hidden_dissatisfaction")
        candidates = {
            "negative_intensity": self._negative_intensity(norm, fields.get("sentiment")),
            "hidden_dissatisfaction": self._hidden(hidden),
            **{name: self._lexical(norm, name) for name in _LABELS},
            "absolute_words": self._absolute(norm),
            "money_at_stake": self._money(fields.get("entities"), language),
            "repetition": self._repetition(norm, repeat),
            "rising_intensity": self._rising(norm, item.context),
        }
        if candidates["churn_threat"] is None:
            candidates["churn_threat"] = self._churn_cue(hidden)
        for name, signal in candidates.items():
            if signal is not None and signal.value > 0:
                out[name] = signal
        logger.debug("risk signals %s for a message of %d chars", sorted(out), len(text))
        return out

    # --- blocks of earlier stages ---------------------------------------------------------------

    def _negative_intensity(self, norm: NormalizedText, sentiment: object) -> Signal | None:
        probs = _get(sentiment, "probabilities")
        intensity = _get(sentiment, "intensity")
        if probs is None or intensity is None:
            return None
        try:
            neg, pos, intensity = float(_get(probs, "negative")), float(_get(probs, "positive")), float(intensity)
        except (TypeError, ValueError):  # a malformed block is an absent signal, not a failed answer
            return None
        if neg - pos < MIN_NEGATIVE_LEAN or intensity <= 0:
            return None
        detail = f"negative sentiment (P={neg:.2f}), intensity {intensity:.2f}"
        match = self.degree.patterns["extreme"].search(norm.text)  # an extreme degree cue is the evidence
        if match:
            return _with_span(min(1.0, intensity), detail, norm, match.start(), match.end())
        return Signal(min(1.0, intensity), detail)

    @staticmethod
    def _hidden(block: object) -> Signal | None:
        if not _get(block, "detected"):
            return None
        try:
            score = max(0.0, min(1.0, float(_get(block, "score") or 0.0)))
        except (TypeError, ValueError):
            return None
        cues = [c for c in (_get(block, "cues") or []) if _get(c, "type") != "threat_to_leave"]
        types = ", ".join(dict.fromkeys(str(_get(c, "type")) for c in cues)) or "no cue"
        detail = f"hidden dissatisfaction {score:.2f} ({types})"
        if cues:  # cue offsets are already in the original text
            c = cues[0]
            return Signal(score, detail, _get(c, "text"), _get(c, "start"), _get(c, "end"))
        return Signal(score, detail)

    @staticmethod
    def _churn_cue(block: object) -> Signal | None:
        for cue in _get(block, "cues") or []:
            if _get(cue, "type") == "threat_to_leave":
                detail = "threat to leave (hidden-dissatisfaction cue)"
                return Signal(1.0, detail, _get(cue, "text"), _get(cue, "start"), _get(cue, "end"))
        return None

    def _money(self, entities: object, language: str) -> Signal | None:
        cfg = self.transforms.get("money_at_stake", {})
        low, high = float(cfg.get("low_cny", 100)), float(cfg.get("high_cny", 100_000))
        defaults = cfg.get("default_currency", {})
        best: tuple[float, object, float, str] | None = None
        for entity in entities if isinstance(entities, list) else []:
            if str(_get(entity, "type") or "").upper() != "MONEY":
                continue
            value = _get(entity, "normalized")
            try:
                amount = float(_get(value, "amount")) if isinstance(value, Mapping) else float(str(value))
            except (TypeError, ValueError):
                continue
            currency = str((_get(value, "currency") if isinstance(value, Mapping) else None) or "")
            currency = currency or str(defaults.get(language, "CNY"))
            cny = self.rates.to_cny(abs(amount), currency)
            if cny is None:
                logger.debug("money at stake: no rate for currency %s", currency)
                continue
            if best is None or cny > best[0]:
                best = (cny, entity, abs(amount), currency.upper())
        if best is None or best[0] <= low:
            return None
        cny, entity, amount, currency = best
        value_x = min(1.0, math.log10(cny / low) / math.log10(high / low))
        detail = f"money at stake: {amount:,.2f} {currency} (about {cny:,.0f} CNY)"
        return Signal(value_x, detail, _get(entity, "text"), _get(entity, "start"), _get(entity, "end"))

    # --- lexicons --------------------------------------------------------------------------------

    def _lexical(self, norm: NormalizedText, signal: str) -> Signal | None:
        hits = self.lexicons.find(signal, norm.text)
        if not hits:
            return None
        terms = _unique(hits)
        detail = f"{_LABELS[signal]}: {', '.join(terms[:_MAX_TERMS_IN_DETAIL])}"
        return _with_span(1.0, detail, norm, hits[0].start, hits[0].end)

    def words(self, text: str) -> float:
        per_word = float(self.transforms.get("absolute_words", {}).get("cjk_chars_per_word", 1.6))
        return len(_LATIN_WORD.findall(text)) + len(CJK_RE.findall(text)) / per_word

    def absolute_ratio(self, text: str) -> tuple[float, list[Hit]]:
        cfg = self.transforms.get("absolute_words", {})
        hits = self.lexicons.find("absolute_words", text)
        if not hits:
            return 0.0, hits
        words = max(self.words(text), float(cfg.get("min_words", 12)))
        density = len(hits) / words
        return min(1.0, density / float(cfg.get("saturation_density", 0.15))), hits

    def _absolute(self, norm: NormalizedText) -> Signal | None:
        value, hits = self.absolute_ratio(norm.text)
        if not hits:
            return None
        terms = ", ".join(_unique(hits)[:_MAX_TERMS_IN_DETAIL])
        detail = f"absolute words: {len(hits)} in about {self.words(norm.text):.0f} words ({terms})"
        return _with_span(value, detail, norm, hits[0].start, hits[0].end)

    # --- history ---------------------------------------------------------------------------------

    def _repetition(self, norm: NormalizedText, repeat: Repeat | None) -> Signal | None:
        """Counted by the store (customer_id) or stated in the text (第三次, 'third time'): the larger wins."""
        saturation = float(self.transforms.get("repetition", {}).get("saturation_count", 4))
        counted = repeat.count if repeat is not None else 0
        hits = self.lexicons.find("repeat_contact", norm.text)
        stated = max((stated_count(h.text) for h in hits), default=0)
        n = max(counted, stated)
        if n < 2:
            return None
        value = min(1.0, math.log2(n) / math.log2(saturation))
        if counted >= stated and repeat is not None:
            about = "any issue" if repeat.issue is None else f"'{repeat.issue}'"
            detail = f"message {counted} from this customer about {about} within {_duration(repeat.window_s)}"
            return Signal(value, detail)
        hit = next(h for h in hits if stated_count(h.text) == stated)
        detail = f"repeated contact stated in the message (about {stated} times)"
        return _with_span(value, detail, norm, hit.start, hit.end)

    def heat(self, text: str) -> float:
        """Lexical heat of one normalised turn in [0, 1] (weights: ``transforms.rising_intensity``)."""
        cfg = self.transforms.get("rising_intensity", {})
        anger = len(_unique(self.lexicons.find("anger", text)))
        score = float(cfg.get("anger_per_hit", 0.25)) * min(anger, int(cfg.get("anger_max_hits", 2)))
        if anger and (self.degree.patterns["extreme"].search(text) or self.degree.patterns["intensifier"].search(text)):
            score += float(cfg.get("degree_with_anger", 0.15))
        latin = _LATIN_WORD.findall(text)
        shouting = len(latin) >= 4 and len(_CAPS_WORD.findall(text)) >= max(2, 0.3 * len(latin))
        if _EMPHASIS.search(text) or shouting:
            score += float(cfg.get("emphasis", 0.15))
        for signal in ("escalation_threat", "churn_threat", "urgency"):
            if self.lexicons.find(signal, text):
                score += float(cfg.get(signal, 0.0))
        score += float(cfg.get("absolute_words", 0.15)) * self.absolute_ratio(text)[0]
        return min(1.0, score)

    def _rising(self, norm: NormalizedText, context: Sequence[Turn]) -> Signal | None:
        earlier = [self.heat(normalize(t.text).text) for t in context if t.role == "customer" and t.text.strip()]
        if not earlier:
            return None
        before = sum(earlier) / len(earlier)
        now = self.heat(norm.text)
        rise = min(1.0, max(0.0, now - before))
        if rise <= 0:
            return None
        detail = f"heat rose from {before:.2f} (mean of {len(earlier)} earlier customer turns) to {now:.2f}"
        hits = sorted(
            self.lexicons.find("anger", norm.text) + self.lexicons.find("escalation_threat", norm.text),
            key=lambda h: h.start,
        )
        if hits:
            return _with_span(rise, detail, norm, hits[0].start, hits[0].end)
        return Signal(rise, detail)


_NUMBERS = {
    "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
    "second": 2, "two": 2, "third": 3, "three": 3, "fourth": 4, "four": 4, "fifth": 5, "five": 5,
    "sixth": 6, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_NUMBER_RE = re.compile(r"\d{1,2}|" + "|".join(sorted(_NUMBERS, key=len, reverse=True)), re.IGNORECASE)
#: A repeat stated without a number (多次, repeatedly, several times) counts as this many contacts.
STATED_WITHOUT_NUMBER = 3


def stated_count(match: str) -> int:
    """How many contacts a repeat-contact phrase states: 第三次 -> 3, 'second time' -> 2, 多次 -> 3."""
    found = _NUMBER_RE.search(match)
    if found is None:
        return STATED_WITHOUT_NUMBER
    token = found.group().lower()
    return min(20, int(token)) if token.isdigit() else _NUMBERS[token]


def _with_span(value: float, detail: str, norm: NormalizedText, start: int, end: int) -> Signal:
    """A signal whose evidence is a span of the NORMALISED text, reported in original offsets."""
    o_start, o_end = norm.to_original(start, end)
    return Signal(value, detail, norm.original[o_start:o_end], o_start, o_end)


def _duration(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        days = int(seconds // 86400)
        return f"{days} day{'s' if days != 1 else ''}"
    hours = seconds / 3600
    return f"{hours:g} hours"
