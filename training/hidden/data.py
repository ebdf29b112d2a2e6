"""The hidden-dissatisfaction corpus: three classes from eight pools, group-aware splits per pool.

Target of the service: the customer is dissatisfied AND the text carries no explicit negative sentiment.
Branch classes: ``hidden`` (implicit / sarcastic / ironic / low-satisfaction turns), ``explicit`` (plainly
negative: contains a non-negated explicit negative word of ``models/resources/hidden/explicit_negative_*``),
``none`` (everything else). The score is binary: hidden vs the rest.

Pools and how their labels map:

- SMP2019-ECISA: implicit negative -> hidden; implicit positive and no-sentiment -> none. Earlier sentences
  of the document are the message's context (role ``customer``).
- car_implicit_opinion: -1 (complaints stated as facts / rhetorical questions) -> hidden; 1 -> none.
- ToSarcasm (zh), iSarcasmEval (en): sarcastic -> hidden; not sarcastic -> none.
- USS user turns (en): mean satisfaction <= 2.34 (at least two annotators gave 2 or less) -> hidden;
  >= 3 -> none; in between is dropped as ambiguous. The dialogue so far is the context.
- tousu_service_zh (this project): Chinese customer messages to a service; complaints -> hidden (explicit when
  they carry an explicit negative word), thanks and questions -> none.
- explicit_zh / explicit_en: negative reviews and chat lines (online_shopping_10_cats, chinese_conversation_
  sentiment, UCI) WITH an explicit negative word -> explicit; positive ones -> none. Negative reviews without
  such a word are not used (many are factual complaints: neither clean "explicit" nor clean "hidden").

Every pool supplies at least two of the three classes from one stream of text: the single-class pools of
round 1 (the project's neutral service messages, BANKING77 questions: all ``none``) are gone, since a class
drawn from a source that supplies no other class teaches the model to recognise the source.

Label noise is handled by the lexicon rule above (an implicit/sarcastic example that contains an explicit
negative word is relabelled ``explicit``: by the target's definition it is not hidden; likewise a not-sarcastic
comment with one) and by dropping ambiguous USS turns. Pools are capped so none dominates, and sample weights
balance what remains. Splits are per pool and by group (an ECISA document, a USS dialogue), so context never
leaks across splits. SemEval-2018 irony is held out WHOLE as ``test_ood`` (a source never seen in training).
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from models.hidden.cues import ExplicitLexicon
from models.hidden.score import BRANCH_LABELS
from models.pipeline import Turn
from models.text import normalize
from training import data
from training.sentiment.data import service_messages

LABELS = BRANCH_LABELS
OOD_SOURCE = "semeval2018_irony_en"
MAX_CHARS = 200
TRAIN_CAP = 2000
EVAL_CAP = 350
OOD_SIZE = 1200
USS_LOW, USS_OK = 2.34, 3.0
MAX_CONTEXT_TURNS = 8


@dataclass(frozen=True)
class HiddenExample:
    text: str
    label: str  # none / hidden / explicit
    source: str
    lang: str
    context: tuple[Turn, ...] = ()
    group: str = ""  # split unit (document, dialogue); the text itself when empty
    raw: str = ""  # the source's own label, for the report

    @property
    def hidden(self) -> int:
        return int(self.label == "hidden")


def _cap(text: str) -> str:
    return text[:MAX_CHARS]


class _Labeller:
    def __init__(self) -> None:
        self.explicit = ExplicitLexicon.load()
        self.relabelled: dict[str, int] = defaultdict(int)

    def __call__(self, text: str, label: str, source: str, may_be_explicit: bool) -> str:
        """``label`` is none/hidden from the source; explicit words override when the source allows it."""
        if may_be_explicit and self.explicit.has(normalize(text).text):
            self.relabelled[f"{source}:{label}->explicit"] += 1
            return "explicit"
        return label


def _pools(seed: int, lab: _Labeller) -> dict[str, list[HiddenExample]]:
    rng = random.Random(seed)
    pools: dict[str, list[HiddenExample]] = defaultdict(list)

    for text, label, context in data.ecisa():
        raw = "hidden" if label == 2 else "none"
        turns = tuple(Turn("customer", _cap(c)) for c in context[-MAX_CONTEXT_TURNS:])
        group = context[0] if context else text
        pools["SMP2019_ECISA"].append(
            HiddenExample(
                _cap(text), lab(text, raw, "ecisa", raw == "hidden"), "SMP2019_ECISA", "zh", turns, group, str(label)
            )
        )

    car = list(data.car_implicit_opinion())
    rng.shuffle(car)
    neg = [c for c in car if c[1] == -1][:1600]
    pos = [c for c in car if c[1] == 1][:1300]
    for text, score, _ in neg + pos:
        raw = "hidden" if score == -1 else "none"
        pools["car_implicit_opinion"].append(
            HiddenExample(
                _cap(text), lab(text, raw, "car", raw == "hidden"), "car_implicit_opinion", "zh", raw=str(score)
            )
        )

    for text, label, _topic in data.tosarcasm():
        raw = "hidden" if label == 1 else "none"
        pools["ToSarcasm"].append(
            HiddenExample(_cap(text), lab(text, raw, "tosarcasm", True), "ToSarcasm", "zh", raw=str(label))
        )

    for text, label in data.isarcasmeval():
        raw = "hidden" if label == 1 else "none"
        pools["isarcasmeval_en"].append(
            HiddenExample(_cap(text), lab(text, raw, "isarcasm", True), "isarcasmeval_en", "en", raw=str(label))
        )

    uss_low, uss_ok = [], []
    for text, mean, corpus, history in data.uss_dialogue_turns():
        if USS_LOW < mean < USS_OK:
            continue
        turns = tuple(Turn(role, _cap(t)) for role, t in history[-MAX_CONTEXT_TURNS:])
        group = uss_group(corpus, history, text)
        raw = "hidden" if mean <= USS_LOW else "none"
        ex = HiddenExample(
            _cap(text), lab(text, raw, "uss", raw == "hidden"), "uss_" + corpus, "en", turns, group, f"{mean:.2f}"
        )
        (uss_low if raw == "hidden" else uss_ok).append(ex)
    rng.shuffle(uss_ok)
    pools["uss_user_satisfaction_en"] = uss_low + uss_ok[: 2 * len(uss_low)]

    zh_neg = [e for e in data.online_shopping() if e.label == "negative"] + [
        e for e in data.conversation_sentiment() if e.label == "negative"
    ]
    zh_pos = [e for e in data.online_shopping() if e.label == "positive"] + [
        e for e in data.conversation_sentiment() if e.label == "positive"
    ]
    pools["explicit_zh"] = _explicit_pool(zh_neg, zh_pos, 1800, 900, "zh", lab, rng)
    en = list(data.uci_sentiment())
    pools["explicit_en"] = _explicit_pool(
        [e for e in en if e.label == "negative"], [e for e in en if e.label == "positive"], 800, 600, "en", lab, rng
    )
    for e in service_messages():  # the project's own customer-service messages (all classes)
        raw = "hidden" if e.label == "negative" else "none"
        pools["tousu_service_zh"].append(
            HiddenExample(e.text, lab(e.text, raw, "service", raw == "hidden"), e.source, "zh", raw=e.label)
        )
    return pools


def _explicit_pool(
    negative: list[data.Example],
    positive: list[data.Example],
    n_neg: int,
    n_pos: int,
    lang: str,
    lab: _Labeller,
    rng: random.Random,
) -> list[HiddenExample]:
    rng.shuffle(negative)
    rng.shuffle(positive)
    explicit = [e for e in negative if lab.explicit.has(normalize(_cap(e.text)).text)][:n_neg]
    out = [HiddenExample(_cap(e.text), "explicit", e.source, lang, raw="negative") for e in explicit]
    out += [HiddenExample(_cap(e.text), "none", e.source, lang, raw="positive") for e in positive[:n_pos]]
    return out


def _ood(seed: int, lab: _Labeller) -> list[HiddenExample]:
    rows = list(data.semeval_irony())
    random.Random(seed).shuffle(rows)
    out = []
    for text, label in rows[:OOD_SIZE]:
        raw = "hidden" if label == 1 else "none"
        out.append(HiddenExample(_cap(text), lab(text, raw, "semeval", True), OOD_SOURCE, "en", raw=str(label)))
    return out


def _bucket(key: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def uss_group(corpus: str, history: list[tuple[str, str]], text: str) -> str:
    """A USS dialogue's split key: every turn of one dialogue lands in the same split."""
    return corpus + ":" + (history[0][1] if history else text)


def never_trained_on(group: str, seed: int = 13) -> bool:
    """True when ``split_pool`` puts this group in dev or test (dev fits the score layer, never the branch)."""
    return _bucket(group, seed) < 0.2


def split_pool(items: Iterable[HiddenExample], seed: int) -> tuple[list[HiddenExample], ...]:
    """80/10/10 by group (capped: at most EVAL_CAP for dev and test, TRAIN_CAP for train)."""
    train, dev, test = [], [], []
    for e in items:
        u = _bucket(e.group or e.text, seed)
        (dev if u < 0.1 else test if u < 0.2 else train).append(e)
    rng = random.Random(seed)
    for part in (train, dev, test):
        rng.shuffle(part)
    return train[:TRAIN_CAP], dev[:EVAL_CAP], test[:EVAL_CAP]


def build(seed: int = 13) -> tuple[dict[str, list[HiddenExample]], dict[str, int]]:
    """``({"train", "dev", "test", "test_ood"}, relabel counts)``."""
    lab = _Labeller()
    splits: dict[str, list[HiddenExample]] = {"train": [], "dev": [], "test": []}
    for _name, items in sorted(_pools(seed, lab).items()):
        train, dev, test = split_pool(items, seed)
        splits["train"] += train
        splits["dev"] += dev
        splits["test"] += test
    splits["test_ood"] = _ood(seed, lab)
    return splits, dict(lab.relabelled)


def pool_weights(examples: list[HiddenExample]) -> list[float]:
    """Per-example weights so every pool carries about the same total weight (clipped to [0.5, 2])."""
    counts: dict[str, int] = defaultdict(int)
    for e in examples:
        counts[pool_of(e)] += 1
    mean = len(examples) / len(counts)
    return [min(2.0, max(0.5, mean / counts[pool_of(e)])) for e in examples]


def pool_of(e: HiddenExample) -> str:
    """The pool an example came from (USS corpora and the explicit sources are grouped)."""
    if e.source.startswith("uss_"):
        return "uss_user_satisfaction_en"
    if e.source in ("online_shopping_10_cats", "chinese_conversation_sentiment"):
        return "explicit_zh"
    if e.source == "uci_sentiment_labelled_en":
        return "explicit_en"
    return e.source
