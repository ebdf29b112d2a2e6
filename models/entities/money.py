"""MONEY: find amounts of money and normalise them to ``{"amount": float, "currency": "CNY"|"USD"|...}``.

Covers symbols and codes (``￥99``, ``$20``, ``RMB 300``, ``HK$200``), unit words (``120元``,
``一百二十块``, ``20 dollars``), sub-units (``三块五`` = 3.5, ``五毛`` = 0.5, ``3元5角``), 万/k
suffixes (``1.2万元``) and the colloquial bare forms (``花了两千五``, ``退款1.2万``), which count
only after a money word (花了, 退款, 扣了, paid ...) since a bare number is usually not money.
Approximate forms (``200多块``) carry ``"approximate": true``. Lexicon: ``money.json``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from models.entities.lexicon import alternation, load
from models.entities.numerals import ARABIC_NUMBER, CN_NUMBER, DIGITS, parse_number

_M = load("money")
PREFIXES: dict[str, str] = _M["prefixes"]
SUFFIXES: dict[str, str] = {k.lower(): v for k, v in _M["suffixes"].items()}
SUBUNITS: dict[str, float] = _M["subunits"]

_NUMBER = rf"(?:(?:{ARABIC_NUMBER})(?:[万千百亿]|[kKwW](?![A-Za-z]))?|\d+[千万]\d*|{CN_NUMBER})"
_CN_DIGIT = "[" + "".join(DIGITS) + "]"
_TAIL = rf"(?:(?:{_CN_DIGIT}|\d)(?:毛|角)?(?:(?:{_CN_DIGIT}|\d)分?)?)?"
_PREFIX = alternation(PREFIXES, trail=False)
_SUFFIX = alternation(_M["suffixes"], lead=False)
_CONTEXT = alternation(_M["context_before"])
_BLOCK = alternation(_M["block_after"])

# ￥99 / RMB 300 / HK$200 / 人民币100元
_PREFIXED = re.compile(
    rf"(?<![A-Za-z]){_PREFIX}\s?(?P<num>{ARABIC_NUMBER})(?P<mult>[万千kK](?![A-Za-z]))?(?:\s?(?P<unit>元|块))?",
    re.IGNORECASE,
)
# 120元 / 一百二十块钱 / 三块五 / 20 dollars / 200多块 / 3元5角
_SUFFIXED = re.compile(
    rf"(?<![\d.,A-Za-z])(?P<num>{_NUMBER})(?P<approx>多)?\s?(?P<unit>{_SUFFIX})(?P<tail>{_TAIL})",
    re.IGNORECASE,
)
# 花了两千五 / 退款1.2万 (bare numbers after a money word)
_BARE = re.compile(
    rf"{_CONTEXT}\s?(?:了|我|给我|你们|我们)?\s?(?P<num>(?:{ARABIC_NUMBER})[万千kK]|\d+[千万]\d+|{CN_NUMBER}[千万百](?:{CN_NUMBER})?)(?!{_BLOCK})(?![\dA-Za-z.])"
)


@dataclass(frozen=True)
class MoneyMatch:
    start: int
    end: int
    amount: float
    currency: str
    approximate: bool = False
    confidence: float = 0.95

    def normalized(self) -> dict[str, Any]:
        out: dict[str, Any] = {"amount": round(self.amount, 2), "currency": self.currency}
        if self.approximate:
            out["approximate"] = True
        return out


def _tail_value(tail: str, unit: str) -> float:
    """The sub-unit after the main unit: 三块五 -> 0.5, 3元5角 -> 0.5, 两块五毛二 -> 0.52."""
    if not tail:
        return 0.0
    digits = [DIGITS[c] if c in DIGITS else int(c) for c in tail if c in DIGITS or c.isdigit()]
    if unit in SUBUNITS:  # 五毛二 = 0.5 + 0.02
        return digits[0] * 0.01 if digits else 0.0
    value = digits[0] * 0.1 if digits else 0.0
    if len(digits) > 1:
        value += digits[1] * 0.01
    return value


def find_money(text: str) -> list[MoneyMatch]:
    """All money amounts in a normalised text (overlaps resolved: the longest wins)."""
    found: list[MoneyMatch] = []
    for m in _PREFIXED.finditer(text):
        amount = parse_number(m.group("num") + (m.group("mult") or ""))
        prefix = text[m.start() : m.start("num")].strip().upper()
        currency = PREFIXES.get(prefix) or PREFIXES.get(text[m.start() : m.start("num")].strip(), "CNY")
        if amount is not None:
            found.append(MoneyMatch(m.start(), m.end(), amount, currency, confidence=0.97))
    for m in _SUFFIXED.finditer(text):
        unit = m.group("unit")
        if unit == "元" and text[m.end("unit") : m.end("unit") + 1] == "旦":
            continue
        num = m.group("num")
        if unit == "块" and not _money_like_block(text, m):
            continue
        amount = parse_number(num)
        if amount is None:
            continue
        tail = m.group("tail")
        if tail and unit.lower() not in ("元", "块", "块钱", "圆", "毛", "角"):
            tail = ""
        end = m.end("tail") if tail else m.end("unit")
        base_unit = unit.removesuffix("钱")  # 五毛钱 = 五毛
        if base_unit in SUBUNITS:
            amount *= SUBUNITS[base_unit]
        amount += _tail_value(tail, base_unit)
        currency = SUFFIXES[unit.lower()]
        if currency == "USD" and text[max(0, m.start() - 3) : m.start()].upper().endswith(("HK", "NT")):
            continue
        found.append(MoneyMatch(m.start(), end, amount, currency, bool(m.group("approx")), 0.95))
    for m in _BARE.finditer(text):
        amount = parse_number(m.group("num"))
        if amount is not None:
            found.append(MoneyMatch(m.start("num"), m.end("num"), amount, "CNY", confidence=0.8))
    return _longest(found)


def _money_like_block(text: str, m: re.Match[str]) -> bool:
    """块 is a classifier as well as a currency (一块蛋糕, 两块手表): with a small Chinese numeral it
    is money only when its neighbours say so; Arabic digits and amounts with 十/百/千 are money."""
    num = m.group("num")
    if any(c.isdigit() for c in num) or any(c in "十百千万亿拾佰仟" for c in num):
        return True
    after = text[m.end("unit") : m.end("unit") + 1]
    if m.group("tail") or after in (
        "",
        "钱",
        "的",
        "了",
        "多",
        "左右",
        "，",
        "。",
        "！",
        "？",
        ",",
        ".",
        "!",
        "?",
        " ",
        "）",
        ")",
    ):
        return True
    before = text[max(0, m.start() - 6) : m.start()]
    return bool(re.search(_CONTEXT, before))


def _longest(matches: list[MoneyMatch]) -> list[MoneyMatch]:
    chosen: list[MoneyMatch] = []
    for m in sorted(matches, key=lambda x: (-(x.end - x.start), x.start)):
        if all(m.end <= c.start or m.start >= c.end for c in chosen):
            chosen.append(m)
    return sorted(chosen, key=lambda x: x.start)
