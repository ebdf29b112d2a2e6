"""The look-aheads in front of the entity patterns (``lexicon.may_start``) skip positions, never matches.

Each guarded pattern must find exactly the non-empty matches of the same pattern without its look-ahead (and, for
the context words before a number, of the flat keyword alternation): on every message of the labelled and
hand-written sets and on texts made to test the edges (letters that fold to Latin ones, digits after digits, words
glued to Latin letters).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from models.entities import identifiers, money, timex
from models.entities.lexicon import alternation, load, may_start
from models.text import normalize

DATA = Path(__file__).parent / "data"
EDGES = [
    "laſt Friday at 3pm, \u212aelvin 12/05/2025 and 2025-06-01 15:30, 3 days ago; ſept 3rd",
    "x3pm a12 on 8/9 yesterday evening the day before yesterday, twenty-five minutes past two",
    "上上周五下午三点左右 民国114年9月3日 去年双十一 昨天晚上八点半 3-6到3-8 大年初三 个半钟 上个月底",
    "订单号JD0087216453021 电话13800138000 卡号6222021234567890123 imei 356938035643809 sn码ABC12345",
    "HK$200 RMB300 ￥99 人民币100元 花了两千五 退款1.2万 把2350退给他 转了5000给他 2.5万的沙发 加100上楼费",
    "paid 1450, refund of 64, the 15.99 shipping fee, 59 each, charged me $212.47 instead of the usual 85",
    "Black Friday last Christmas 618买的 国庆后 中秋节晚上 双11零点",
    "ORDER NUMBER: 123456789 Tracking#1Z999AA10123456784 FedEx says 7894391261",
]


def _texts() -> list[str]:
    records = [
        json.loads(line)
        for name in ("entities_labelled.jsonl", "entities_written.jsonl")
        for line in (DATA / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    texts = [normalize(r["text"]).text for r in records] + EDGES
    return texts + [" ".join(texts[i : i + 12])[:300] for i in range(0, len(texts), 12)]


TEXTS = _texts()
GUARDED = {
    "zh_point": (timex._ZH_POINT, timex._ZH_POINT_STARTS),
    "en_point": (timex._EN_POINT, timex._EN_POINT_STARTS),
    "festival": (timex._FEST_RE, may_start([*timex.REL_YEARS, "last", "this", "next", *timex._FEST_WORDS])),
    "prefixed": (money._PREFIXED, may_start(money.PREFIXES)),
    "suffixed": (money._SUFFIXED, money._CN_NUMBER_STARTS),
    "bare": (money._BARE, may_start([*money._M["context_before"], "费", "税", "钱", *money._DOCUMENTS])),
    "fee": (money._FEE, money._AMOUNT_STARTS),
    "of_thing": (money._OF_THING, money._AMOUNT_STARTS),
    "paid_over": (money._PAID_OVER, money._AMOUNT_STARTS),
    "en_bare": (money._EN_BARE, money._EN_BARE_STARTS),
}


def _matches(pattern: re.Pattern[str], text: str) -> list[tuple[tuple[int, int], dict[str, str | None]]]:
    return [(m.span(), m.groupdict()) for m in pattern.finditer(text) if m.end() > m.start()]


@pytest.mark.parametrize("name", sorted(GUARDED))
def test_look_ahead_changes_no_match(name: str) -> None:
    pattern, starts = GUARDED[name]
    assert pattern.pattern.startswith(starts)
    unguarded = re.compile(pattern.pattern.removeprefix(starts), pattern.flags)
    for text in TEXTS:
        assert _matches(pattern, text) == _matches(unguarded, text), text


def test_context_words_as_prefix_trees() -> None:
    """The kind of number the words before it announce, as the flat alternation of each kind's words reads it."""
    flat = re.compile(
        "(?:"
        + "|".join(f"(?P<{name}>{alternation(words)})" for name, words in identifiers._CONTEXT_WORDS)
        + ")"
        + identifiers._FILLER
    )
    carriers = re.compile(
        alternation(w.lower() for w in load("identifiers")["carriers"] + load("identifiers")["platforms"])
    )
    for text in TEXTS:
        # where a number or a code starts (the flat alternation is slow: not at every position of every message)
        starts = [m.start() for m in re.finditer(r"(?<![A-Za-z0-9])[A-Za-z0-9]", text)]
        ends = range(len(text) + 1) if text in EDGES else starts
        for end in ends:
            window = text[max(0, end - 40) : end].lower()
            got, want = identifiers._CONTEXT_RE.search(window), flat.search(window)
            assert (got and got.lastgroup, got and got.span()) == (want and want.lastgroup, want and want.span()), (
                window
            )
            assert bool(identifiers._CARRIER_RE.search(window)) == bool(carriers.search(window)), window
