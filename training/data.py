"""Loaders for the labelled sets in ``../shared/data`` (read in place, never copied).

Every loader returns plain records so that recipes can mix sources and carve their own
splits. ``data_root()`` honours ``TOUSU_DATA_DIR`` and otherwise looks for ``../shared/data``
next to the project.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    env = os.environ.get("TOUSU_DATA_DIR")
    root = Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"
    if not root.is_dir():
        raise FileNotFoundError(f"training data not found at {root} (set TOUSU_DATA_DIR)")
    return root


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    source: str
    lang: str
    group: str = ""  # e.g. product category, for out-of-domain splits


_SEGMENTED_SPACE = re.compile(
    r"(?<=[\u4e00-\u9fff\uff00-\uffef\u3000-\u303f]) +|"
    r" +(?=[\u4e00-\u9fff\uff00-\uffef\u3000-\u303f])"
)


def _unsegment(text: str) -> str:
    """Undo word segmentation spaces between Chinese characters."""
    return _SEGMENTED_SPACE.sub("", text).strip()


def online_shopping() -> Iterator[Example]:
    path = data_root() / "online_shopping_10_cats" / "online_shopping_10_cats.csv"
    with path.open(encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            text = (row.get("review") or "").strip().lstrip("\ufeff")
            if text:
                label = "positive" if row["label"] == "1" else "negative"
                yield Example(text, label, "online_shopping_10_cats", "zh", row["cat"])


def conversation_sentiment() -> Iterator[Example]:
    path = data_root() / "chinese_conversation_sentiment" / "sentiment_XS_test.txt"
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            text = _unsegment(row["text"])
            if text and row["labels"] in ("positive", "negative"):
                yield Example(text, row["labels"], "chinese_conversation_sentiment", "zh")


def ecisa() -> Iterator[tuple[str, int, list[str]]]:
    """SMP2019-ECISA sentences: (text, label 0/1/2, preceding context sentences)."""
    path = data_root() / "SMP2019_ECISA" / "SMP2019_ECISA_Dev.xml"
    root = ET.parse(path).getroot()
    for doc in root.iter("Doc"):
        context: list[str] = []
        for sent in doc.iter("Sentence"):
            text = (sent.text or "").strip()
            label = sent.get("label")
            if label is not None and text:
                yield text, int(label), list(context)
            if text:
                context.append(text)


def uci_sentiment() -> Iterator[Example]:
    folder = data_root() / "uci_sentiment_labelled_en"
    for name in ("amazon_cells_labelled.txt", "yelp_labelled.txt", "imdb_labelled.txt"):
        with (folder / name).open(encoding="utf-8") as fh:
            for line in fh:
                text, _, label = line.rstrip("\n").rpartition("\t")
                if text.strip() and label.strip() in ("0", "1"):
                    yield Example(
                        text.strip(),
                        "positive" if label.strip() == "1" else "negative",
                        "uci_sentiment_labelled_en",
                        "en",
                        name.split("_")[0],
                    )


def uss_user_turns() -> Iterator[tuple[str, float, str]]:
    """User turns of the USS dialogues: (text, mean satisfaction 1-5, corpus)."""
    folder = data_root() / "uss_user_satisfaction_en"
    for name in ("SGD.txt", "MWOZ.txt", "ReDial.txt", "CCPE.txt"):
        with (folder / name).open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 4 and parts[0] == "USER" and parts[3]:
                    try:
                        scores = [float(x) for x in parts[3].split(",") if x]
                    except ValueError:
                        continue
                    if scores and parts[1].strip():
                        yield parts[1].strip(), sum(scores) / len(scores), name[:-4]


def cluener_texts() -> Iterator[str]:
    with (data_root() / "cluener2020" / "train.json").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield str(json.loads(line)["text"])


def conll_sentences(split: str = "train") -> Iterator[str]:
    tokens: list[str] = []
    with (data_root() / "conll2003_en" / f"{split}.txt").open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                if len(tokens) >= 5:
                    yield _detokenize(tokens)
                tokens = []
            elif not line.startswith("-DOCSTART-"):
                tokens.append(line.split()[0])


def _detokenize(tokens: list[str]) -> str:
    text = " ".join(tokens)
    return re.sub(r" ([,.;:!?%)'])", r"\1", text).replace("( ", "(").replace(" n't", "n't")


def banking77(split: str = "train") -> Iterator[tuple[str, str]]:
    with (data_root() / "banking77_en" / f"{split}.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            yield row["text"].strip(), row["category"]


def car_implicit_opinion() -> Iterator[tuple[str, int, str]]:
    """Car-review implicit opinions: (comment, score -1/1, file split train/dev/test)."""
    folder = data_root() / "car_implicit_opinion"
    for split in ("Train", "Dev", "Test"):
        with (folder / f"review{split}.txt").open(encoding="utf-8-sig") as fh:
            for row in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
                if len(row) >= 2 and row[1].strip() in ("-1", "1") and row[0].strip():
                    yield row[0].strip(), int(row[1]), split.lower()


def tosarcasm() -> Iterator[tuple[str, int, str]]:
    """ToSarcasm comments: (text, 1 sarcastic / 0 not, topic the comment answers)."""
    for split in ("train", "dev", "test"):
        rows = json.loads((data_root() / "ToSarcasm" / f"{split}.json").read_text(encoding="utf-8"))
        for row in rows:
            text = str(row.get("text", "")).strip()
            if text and str(row.get("label")) in ("0", "1"):
                yield text, int(row["label"]), str(row.get("topic", ""))


def isarcasmeval() -> Iterator[tuple[str, int]]:
    """iSarcasmEval English tweets: (text, 1 sarcastic / 0 not), train and task A test."""
    folder = data_root() / "isarcasmeval_en"
    for name, column in (("train.En.csv", "sarcastic"), ("task_A_En_test.csv", "sarcastic")):
        with (folder / name).open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                text = (row.get("tweet") or row.get("text") or "").strip()
                if text and (row.get(column) or "").strip() in ("0", "1"):
                    yield text, int(row[column])


def semeval_irony() -> Iterator[tuple[str, int]]:
    """SemEval-2018 task 3A English tweets: (text, 1 ironic / 0 not), train and gold test."""
    folder = data_root() / "semeval2018_irony_en"
    for name in ("SemEval2018-T3-train-taskA_emoji.txt", "SemEval2018-T3_gold_test_taskA_emoji.txt"):
        with (folder / name).open(encoding="utf-8") as fh:
            next(fh)
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 3 and parts[1] in ("0", "1") and parts[2].strip():
                    yield parts[2].strip(), int(parts[1])


def uss_dialogue_turns() -> Iterator[tuple[str, float, str, list[tuple[str, str]]]]:
    """USS user turns with their dialogue so far: (text, mean satisfaction 1-5, corpus, earlier turns).

    Earlier turns are ``(role, text)`` with role ``customer`` (USER) or ``agent`` (SYSTEM), oldest first:
    a turn's satisfaction rates the system's previous answer, so the context matters.
    """
    folder = data_root() / "uss_user_satisfaction_en"
    for name in ("SGD.txt", "MWOZ.txt", "ReDial.txt", "CCPE.txt"):
        history: list[tuple[str, str]] = []
        with (folder / name).open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if not line.strip():
                    history = []
                    continue
                role, text = parts[0], parts[1].strip() if len(parts) > 1 else ""
                if role not in ("USER", "SYSTEM") or not text or text == "OVERALL":
                    continue
                if role == "USER" and len(parts) >= 4 and parts[3]:
                    try:
                        scores = [float(x) for x in parts[3].split(",") if x]
                    except ValueError:
                        scores = []
                    if scores:
                        yield text, sum(scores) / len(scores), name[:-4], list(history)
                history.append(("customer" if role == "USER" else "agent", text))


def project_lines(name: str) -> list[str]:
    """Lines of a small data file written by this project (``training/resources/``)."""
    path = Path(__file__).resolve().parent / "resources" / name
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def sample(items: list[Example], n: int, seed: int) -> list[Example]:
    if len(items) <= n:
        return list(items)
    return random.Random(seed).sample(items, n)
