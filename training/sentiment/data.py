"""The sentiment corpus: every source supplies at least two classes, from one stream of real text.

Round 1 drew ``neutral`` from news, bank questions and templates and the polar classes from product
reviews, so the model learned which *source* a text came from. Here each source labels its own texts:

| source | language | classes | mapping |
|---|---|---|---|
| smp2020_ewect_zh (Weibo posts) | zh | neg / neu / pos | angry/sad/fear -> negative, happy -> positive; no surprise |
| SMP2019_ECISA (implicit sentiment) | zh | neg / neu / pos | 2 -> negative, 1 -> positive, 0 -> neutral |
| marc_reviews_zh (amazon.cn, stars) | zh | neg / pos | 1-2 stars -> negative, 4-5 -> positive; 3 (mixed) dropped |
| online_shopping_10_cats | zh | neg / pos | review polarity |
| chinese_conversation_sentiment | zh | neg / pos | hand-labelled chat lines |
| airline_tweets_en (customer tweets) | en | neg / neu / pos | as labelled; the release's "Late Flight" leak undone |
| tweeteval_sentiment_en | en | neg / neu / pos | SemEval-2017 4A labels |
| uss_user_satisfaction_en (task dialogues) | en | neu / pos | user turns rated 3 by all -> neutral, mean >= 4 -> pos |
| uci_sentiment_labelled_en | en | neg / pos | review sentence polarity |
| tousu_service_zh (this project) | zh | neg / neu / pos | customer messages to a service, written here |

``tousu_service_zh`` is the one register no public set labels: Chinese customer messages to a service
(complaints, thanks, questions). It is small and written by this project (``training/resources/``: the
three-class ``service_messages_zh.tsv``, the neutral ``neutral_service_zh.txt`` and a sample of the
neutral question templates), so it is one source among ten, weighted like the others.

USS turns rated low are dropped rather than called negative: they are polite corrections ("No, I will be
back on March 14th"), dissatisfied but not negative-sounding, which is the hidden-dissatisfaction task.
Every source is capped so that none dominates, and ``build`` carves per-source 80/10/10 splits for the
in-source numbers; the leave-one-source-out table (``training/sentiment/loso.py``) uses whole sources.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

from training import data
from training.data import Example

LABELS = ("negative", "neutral", "positive")
MAX_CHARS = 200
TEMPLATE_FILE = "neutral_service_templates_zh.json"
#: Per-source caps on what is used at all (training + its dev/test share), so no source dominates.
CAPS = {
    "smp2020_ewect_zh": 9000,
    "SMP2019_ECISA": 6000,
    "marc_reviews_zh": 6000,
    "online_shopping_10_cats": 5000,
    "chinese_conversation_sentiment": 4000,
    "airline_tweets_en": 8000,
    "tweeteval_sentiment_en": 6000,
    "uss_user_satisfaction_en": 3000,
    "uci_sentiment_labelled_en": 3000,
    "tousu_service_zh": 1000,
}
#: Neutral question templates drawn into ``tousu_service_zh`` (a small share beside the written messages).
TEMPLATE_EXAMPLES = 250
#: Licences as stated in ``../shared/data/README.md`` (the model card prints them).
LICENCES = {
    "smp2020_ewect_zh": "none stated (research)",
    "SMP2019_ECISA": "none stated (research)",
    "marc_reviews_zh": "academic research only, no commercial use",
    "online_shopping_10_cats": "none stated (research)",
    "chinese_conversation_sentiment": "none stated (research)",
    "airline_tweets_en": "CC BY-NC-SA 4.0",
    "tweeteval_sentiment_en": "none stated (research)",
    "uss_user_satisfaction_en": "none stated (research)",
    "uci_sentiment_labelled_en": "CC BY 4.0",
    "tousu_service_zh": "this project (Apache-2.0)",
}
EWECT_LABELS = {"angry": "negative", "sad": "negative", "fear": "negative", "happy": "positive", "neutral": "neutral"}
ECISA_LABELS = {0: "neutral", 1: "positive", 2: "negative"}
#: The airline release replaced "cancel" and "late" inside tweets with its reason names
#: ("Cancelled Flightled" was "cancelled", "Late Flightr" was "later").
_AIRLINE_LEAK = (("Cancelled Flight", "cancel"), ("cancelled Flight", "cancel"), ("Late Flight", "late"))


def smp2020_ewect() -> Iterator[Example]:
    """Weibo posts, general (``usual``) and COVID-19 (``virus``) as groups; conflicting duplicates dropped."""
    folder = data.data_root() / "smp2020_ewect_zh"
    labels: dict[str, set[str]] = defaultdict(set)
    groups: dict[str, str] = {}
    for path in sorted(folder.glob("*.txt")):
        for row in json.loads(path.read_text(encoding="utf-8")):
            text = str(row.get("content", "")).strip()
            if text and row.get("label") in EWECT_LABELS:
                labels[text].add(EWECT_LABELS[row["label"]])
                groups.setdefault(text, path.name.split("_")[0])
            elif text:
                labels[text].add("dropped")
    for text in sorted(labels):
        if len(labels[text]) == 1 and "dropped" not in labels[text]:
            yield Example(text, next(iter(labels[text])), "smp2020_ewect_zh", "zh", groups[text])


def ecisa() -> Iterator[Example]:
    for text, label, _ in data.ecisa():
        yield Example(text, ECISA_LABELS[label], "SMP2019_ECISA", "zh")


def marc() -> Iterator[Example]:
    folder = data.data_root() / "marc_reviews_zh"
    seen: set[str] = set()
    for name in ("marc_zh_pool_dedup.csv", "marc_zh_test.csv"):
        with (folder / name).open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                text, stars = (row.get("text") or "").strip(), (row.get("stars") or "").strip()
                if text and text not in seen and stars in ("1", "2", "4", "5"):
                    seen.add(text)
                    yield Example(text, "negative" if stars in ("1", "2") else "positive", "marc_reviews_zh", "zh")


def airline_tweets() -> Iterator[Example]:
    seen: set[str] = set()
    with (data.data_root() / "airline_tweets_en" / "Tweets.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            text = undo_airline_leak((row.get("text") or "").strip())
            if text and row["tweet_id"] not in seen and row["airline_sentiment"] in LABELS:
                seen.add(row["tweet_id"])
                yield Example(text, row["airline_sentiment"], "airline_tweets_en", "en", row.get("negativereason", ""))


def undo_airline_leak(text: str) -> str:
    for leaked, original in _AIRLINE_LEAK:
        text = text.replace(leaked, original)
    return text


def tweeteval() -> Iterator[Example]:
    folder = data.data_root() / "tweeteval_sentiment_en"
    for split in ("val", "test"):
        texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
        labels = (folder / f"{split}_labels.txt").read_text(encoding="utf-8").split()
        for text, label in zip(texts, labels, strict=True):
            if text.strip():
                yield Example(text.strip(), LABELS[int(label)], "tweeteval_sentiment_en", "en")


def uss() -> Iterator[Example]:
    for text, score, corpus in data.uss_user_turns():
        if text == "OVERALL":
            continue
        if score == 3.0:
            yield Example(text, "neutral", "uss_user_satisfaction_en", "en", corpus)
        elif score >= 4.0:
            yield Example(text, "positive", "uss_user_satisfaction_en", "en", corpus)


def service_messages() -> Iterator[Example]:
    """The project's own Chinese customer-service messages, all three classes (see the module docstring)."""
    for line in data.project_lines("service_messages_zh.tsv"):
        label, _, text = line.partition("\t")
        yield Example(text.strip(), label.strip(), "tousu_service_zh", "zh")
    for text in data.project_lines("neutral_service_zh.txt"):
        yield Example(text, "neutral", "tousu_service_zh", "zh")
    for e in neutral_templates(TEMPLATE_EXAMPLES, 13):
        yield Example(e.text, "neutral", "tousu_service_zh", "zh", "template")


def neutral_templates(n: int, seed: int) -> list[Example]:
    """``n`` distinct neutral questions expanded from ``training/resources/neutral_service_templates_zh.json``."""
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
    return [Example(t, "neutral", "tousu_service_zh", "zh", "template") for t in sorted(out)]


SOURCES = {
    "smp2020_ewect_zh": smp2020_ewect,
    "SMP2019_ECISA": ecisa,
    "marc_reviews_zh": marc,
    "online_shopping_10_cats": data.online_shopping,
    "chinese_conversation_sentiment": data.conversation_sentiment,
    "airline_tweets_en": airline_tweets,
    "tweeteval_sentiment_en": tweeteval,
    "uss_user_satisfaction_en": uss,
    "uci_sentiment_labelled_en": data.uci_sentiment,
    "tousu_service_zh": service_messages,
}


def corpus(seed: int = 13) -> dict[str, list[Example]]:
    """Every source's examples (capped, texts cut at ``MAX_CHARS``, deduplicated across sources)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: dict[str, list[Example]] = {}
    for name in sorted(SOURCES):
        items = []
        for e in SOURCES[name]():
            text = e.text[:MAX_CHARS]
            if text not in seen:
                seen.add(text)
                items.append(Example(text, e.label, name, e.lang, e.group))
        out[name] = _stratified_cap(items, CAPS[name], rng)
    return out


def build(seed: int = 13) -> dict[str, list[Example]]:
    """Return ``{"train", "dev", "test"}``: 80/10/10 of every source (in-source splits)."""
    rng = random.Random(seed)
    splits: dict[str, list[Example]] = {"train": [], "dev": [], "test": []}
    for _, items in sorted(corpus(seed).items()):
        items = list(items)
        rng.shuffle(items)
        n = len(items) // 10
        splits["dev"] += items[:n]
        splits["test"] += items[n : 2 * n]
        splits["train"] += items[2 * n :]
    return splits


def label_source_table(examples: list[Example]) -> dict[str, Counter[str]]:
    """``{source: Counter(label)}``: the model card's label x source table, and what the tests check."""
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for e in examples:
        table[e.source][e.label] += 1
    return dict(table)


def _stratified_cap(items: list[Example], n: int, rng: random.Random) -> list[Example]:
    """At most ``n`` items, keeping the source's own label shares (its class prior is part of the source)."""
    if len(items) <= n:
        return items
    by_label: dict[str, list[Example]] = defaultdict(list)
    for e in items:
        by_label[e.label].append(e)
    out: list[Example] = []
    for label in sorted(by_label):
        group = by_label[label]
        out += rng.sample(group, round(n * len(group) / len(items)))
    return out
