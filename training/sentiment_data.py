"""The sentiment corpus: three classes from six sources, with source-stratified splits.

Neutral has no dedicated public set in either language, so it is drawn from sentences
whose sources are neutral by construction: ECISA's "no sentiment" sentences, news
sentences (CLUENER, CoNLL-2003) and task-oriented user turns rated 3/5 (USS).
Two whole product categories of online_shopping_10_cats (hotel, dairy) are held out as
an out-of-domain test, since the scoring data comes from domains we do not have.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from pathlib import Path

from training import data
from training.data import Example

LABELS = ("negative", "neutral", "positive")
OOD_CATEGORIES = ("酒店", "蒙牛")
MAX_CHARS = 200
TEMPLATE_FILE = "neutral_service_templates_zh.json"
TEMPLATE_EXAMPLES = 1500
#: BANKING77 intents that are information requests, not problems: neutral customer-service English.
NEUTRAL_BANKING = frozenset(
    {
        "exchange_rate",
        "fiat_currency_support",
        "card_delivery_estimate",
        "automatic_top_up",
        "age_limit",
        "top_up_by_bank_transfer_charge",
        "top_up_limits",
        "supported_cards_and_currencies",
        "getting_virtual_card",
        "edit_personal_details",
        "why_verify_identity",
        "get_physical_card",
        "visa_or_mastercard",
        "topping_up_by_card",
        "disposable_card_limits",
        "atm_support",
        "transfer_timing",
        "change_pin",
        "receiving_money",
        "transfer_into_account",
        "getting_spare_card",
        "top_up_by_cash_or_cheque",
        "order_physical_card",
        "get_disposable_virtual_card",
        "exchange_charge",
        "top_up_by_card_charge",
        "activate_my_card",
        "card_about_to_expire",
        "apple_pay_or_google_pay",
        "verify_my_identity",
        "country_support",
        "exchange_via_app",
        "card_linking",
        "verify_source_of_funds",
        "verify_top_up",
    }
)


def _cap(text: str) -> str:
    return text[:MAX_CHARS]


def build(seed: int = 13) -> dict[str, list[Example]]:
    """Return ``{"train", "dev", "test", "test_ood"}`` example lists."""
    rng = random.Random(seed)
    pools: dict[str, list[Example]] = defaultdict(list)

    shopping = list(data.online_shopping())
    in_domain = [e for e in shopping if e.group not in OOD_CATEGORIES]
    ood = [e for e in shopping if e.group in OOD_CATEGORIES]
    pools["shopping"] = _balanced(in_domain, 12000, rng)
    ood_sample = _balanced(ood, 800, rng)

    pools["conversation"] = data.sample(list(data.conversation_sentiment()), 7000, seed)
    pools["ecisa_neutral"] = [
        Example(t, "neutral", "SMP2019_ECISA", "zh") for t, label, _ in data.ecisa() if label == 0
    ]
    news_zh = data.sample([Example(t, "neutral", "cluener2020", "zh") for t in data.cluener_texts()], 1400, seed)
    pools["news_zh"] = news_zh
    pools["uci"] = list(data.uci_sentiment())
    uss = [Example(t, "neutral", "uss_" + c, "en") for t, s, c in data.uss_user_turns() if s == 3.0]
    pools["uss_neutral"] = data.sample(uss, 1600, seed)
    pools["service_zh"] = [
        Example(t, "neutral", "tousu_neutral_service_zh", "zh") for t in data.project_lines("neutral_service_zh.txt")
    ]
    pools["banking_en"] = data.sample(
        [Example(t, "neutral", "banking77_en", "en", c) for t, c in data.banking77() if c in NEUTRAL_BANKING],
        900,
        seed,
    )
    pools["news_en"] = data.sample(
        [Example(t, "neutral", "conll2003_en", "en") for t in data.conll_sentences()], 900, seed
    )

    splits: dict[str, list[Example]] = {"train": [], "dev": [], "test": []}
    for name in sorted(pools):
        items = [Example(_cap(e.text), e.label, e.source, e.lang, e.group) for e in pools[name]]
        rng.shuffle(items)
        n = len(items)
        n_dev, n_test = n // 10, n // 10
        splits["dev"] += items[:n_dev]
        splits["test"] += items[n_dev : n_dev + n_test]
        splits["train"] += items[n_dev + n_test :]
    splits["test_ood"] = [Example(_cap(e.text), e.label, e.source, e.lang, e.group) for e in ood_sample]
    splits["train"] += neutral_service_templates(TEMPLATE_EXAMPLES, seed)  # synthetic: training only
    return splits


def neutral_service_templates(n: int, seed: int) -> list[Example]:
    """``n`` distinct neutral questions expanded from ``training/resources/neutral_service_templates_zh.json``.

    Reviews make topic words polar (退货 reads negative, 5G positive); plain questions about the same topics
    teach the branch that the topic is not the sentiment. Synthetic, so never part of dev or test.
    """
    spec = json.loads((Path(data.__file__).parent / "resources" / TEMPLATE_FILE).read_text(encoding="utf-8"))
    rng = random.Random(seed)
    out: set[str] = set()
    attempts = 0
    while len(out) < n and attempts < 50 * n:
        attempts += 1
        text = rng.choice(spec["questions"])
        while "{" in text:  # slots may hold slots ({order} -> 我买的{product})
            text = re.sub(r"\{(\w+)\}", lambda m: rng.choice(spec["slots"][m.group(1)]), text, count=1)
        ending = rng.choice(spec["endings"])
        if text.endswith("吗") and ending.startswith("呢"):  # "…吗呢？" is not Chinese
            ending = "？"
        out.add(rng.choice(spec["prefixes"]) + text + ending)
    return [Example(t, "neutral", "tousu_neutral_templates_zh", "zh") for t in sorted(out)]


def _balanced(items: list[Example], n: int, rng: random.Random) -> list[Example]:
    by_key: dict[tuple[str, str], list[Example]] = defaultdict(list)
    for e in items:
        by_key[(e.group, e.label)].append(e)
    per = max(1, n // len(by_key))
    out: list[Example] = []
    for key in sorted(by_key):
        group = by_key[key]
        out += rng.sample(group, min(per, len(group)))
    return out
