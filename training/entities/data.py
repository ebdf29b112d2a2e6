"""The NER corpus for the statistical entity types: five public sets mapped to PERSON / ORG / LOCATION / PRODUCT.

Label mapping (anything not listed becomes ``O``):

| source | PERSON | ORG | LOCATION | PRODUCT |
|---|---|---|---|---|
| dh_msra (zh news) | PER | ORG | LOC | - |
| cluener2020 (zh news) | name | company, organization, government | address, scene | game, book, movie |
| resume_ner (zh resumes) | NAME | ORG | LOC | - |
| ecommerce_ner_taobao (zh product titles) | - | - | - | HPPX (brand), XH (model); adjacent brand+model merge |
| conll2003_en (en news) | PER | ORG | LOC | - |
| weibo_ner_zh (zh social) | PER.NAM | ORG.NAM | LOC.NAM, GPE.NAM | - |
| wnut17_en (en social) | person | corporation, group | location | product |

Not mapped: cluener ``position``, resume TITLE/EDU/PRO/CONT/RACE, taobao HCCX (generic product
type such as 手机, which would make every "phone" in a complaint an entity) and MISC, CoNLL MISC,
Weibo nominal mentions (``*.NOM``: 老师, 朋友, 公司 are not names), WNUT creative-work.

Splits are carved per source with a fixed seed: the official test file where a source has one
(cluener's ``dev_as_test``, resume/taobao/CoNLL ``test``) is the held-out test, the official dev
file (or a hash-stable slice of train for cluener and dh_msra, which has a single file) is dev.
Every record keeps its character spans in the ORIGINAL text; the recipe maps them to the
normalised text the encoder sees.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from training.data import data_root

TYPES = ("PERSON", "ORG", "LOCATION", "PRODUCT")
SOURCES = ("dh_msra", "cluener2020", "resume_ner", "ecommerce_ner_taobao", "conll2003_en")

MAP_MSRA = {"PER": "PERSON", "ORG": "ORG", "LOC": "LOCATION"}
MAP_CLUENER = {
    "name": "PERSON",
    "company": "ORG",
    "organization": "ORG",
    "government": "ORG",
    "address": "LOCATION",
    "scene": "LOCATION",
    "game": "PRODUCT",
    "book": "PRODUCT",
    "movie": "PRODUCT",
}
MAP_RESUME = {"NAME": "PERSON", "ORG": "ORG", "LOC": "LOCATION"}
MAP_TAOBAO = {"HPPX": "PRODUCT", "XH": "PRODUCT"}
MAP_CONLL = {"PER": "PERSON", "ORG": "ORG", "LOC": "LOCATION"}
MAP_WEIBO = {"PER.NAM": "PERSON", "ORG.NAM": "ORG", "LOC.NAM": "LOCATION", "GPE.NAM": "LOCATION"}
MAP_WNUT = {"person": "PERSON", "corporation": "ORG", "group": "ORG", "location": "LOCATION", "product": "PRODUCT"}

#: Leave-one-source-out: every source with the language it is in and the types it labels (only those are
#: scored on it: resume_ner has no products, taobao titles have only products, CoNLL's products are MISC).
LOSO_SOURCES = {
    "dh_msra": ("zh", ("PERSON", "ORG", "LOCATION")),
    "cluener2020": ("zh", ("PERSON", "ORG", "LOCATION", "PRODUCT")),
    "resume_ner": ("zh", ("PERSON", "ORG", "LOCATION")),
    "ecommerce_ner_taobao": ("zh", ("PRODUCT",)),
    "weibo_ner_zh": ("zh", ("PERSON", "ORG", "LOCATION")),
    "conll2003_en": ("en", ("PERSON", "ORG", "LOCATION")),
    "wnut17_en": ("en", ("PERSON", "ORG", "LOCATION", "PRODUCT")),
}
#: Sentences per source for the token head and its leave-one-source-out runs (the encoder pass over them
#: is the cost: about 15k sentences, a few minutes on 2 cores). WNUT-17 keeps all of its train and dev.
LOSO_SIZES = {"train": 2000, "test": 500}
LOSO_FULL_TEST = ("weibo_ner_zh", "wnut17_en")
#: Sentences kept per source and split (train sizes keep `tousu train entities` within ~15 min here).
SIZES = {
    "dh_msra": {"train": 6000, "dev": 300, "test": 600},
    "cluener2020": {"train": 4500, "dev": 300, "test": 600},
    "resume_ner": {"train": 2000, "dev": 300, "test": 477},
    "ecommerce_ner_taobao": {"train": 3000, "dev": 300, "test": 600},
    "conll2003_en": {"train": 4500, "dev": 300, "test": 600},
}
MAX_CHARS = 160


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    type: str


@dataclass(frozen=True)
class NerExample:
    text: str
    spans: tuple[Span, ...]
    source: str
    lang: str


def _tagged_lines(path: Path, sep: str | None) -> Iterator[list[tuple[str, str]]]:
    """Character (or token) + tag lines, blank line between sentences."""
    rows: list[tuple[str, str]] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line.strip():
                if rows:
                    yield rows
                rows = []
                continue
            parts = line.split(sep) if sep else line.split()
            if len(parts) < 2 or parts[0].startswith("-DOCSTART-"):
                continue
            rows.append((parts[0], parts[-1]))
    if rows:
        yield rows


def _spans_from_tags(tags: list[str], starts: list[int], ends: list[int], mapping: dict[str, str]) -> list[Span]:
    """BIO / BMES / BIOES tags -> spans (``starts``/``ends``: char offsets of each unit)."""
    spans: list[Span] = []
    cur: tuple[int, int, str] | None = None  # (start unit, last unit, raw type)

    def close() -> None:
        nonlocal cur
        if cur is not None and cur[2] in mapping:
            spans.append(Span(starts[cur[0]], ends[cur[1]], mapping[cur[2]]))
        cur = None

    for i, tag in enumerate(tags):
        prefix, _, kind = tag.partition("-")
        if tag == "O" or not kind:
            close()
        elif prefix in ("B", "S") or cur is None or cur[2] != kind:
            close()
            cur = (i, i, kind)
            if prefix == "S":
                close()
        else:  # I, M, E
            cur = (cur[0], i, kind)
            if prefix == "E":
                close()
    close()
    return spans


def _char_corpus(path: Path, source: str, mapping: dict[str, str], sep: str | None = None) -> list[NerExample]:
    out = []
    for rows in _tagged_lines(path, sep):
        chars = [c for c, _ in rows]
        text = "".join(chars)
        idx = list(range(len(chars)))
        spans = _spans_from_tags([t for _, t in rows], idx, [i + 1 for i in idx], mapping)
        out.append(NerExample(text, tuple(spans), source, "zh"))
    return out


def _merge_adjacent(example: NerExample, gap: str = " ") -> NerExample:
    """Brand + model written next to each other (``华为 Mate60``) is one PRODUCT."""
    merged: list[Span] = []
    for span in example.spans:
        if (
            merged
            and merged[-1].type == span.type == "PRODUCT"
            and example.text[merged[-1].end : span.start].strip(gap) == ""
        ):
            merged[-1] = Span(merged[-1].start, span.end, "PRODUCT")
        else:
            merged.append(span)
    return NerExample(example.text, tuple(merged), example.source, example.lang)


def dh_msra() -> list[NerExample]:
    return _char_corpus(data_root() / "dh_msra" / "dh_msra.txt", "dh_msra", MAP_MSRA, "\t")


def resume(split: str) -> list[NerExample]:
    return _char_corpus(data_root() / "resume_ner" / f"{split}.char.bmes", "resume_ner", MAP_RESUME)


def taobao(split: str) -> list[NerExample]:
    rows = _char_corpus(data_root() / "ecommerce_ner_taobao" / f"{split}.txt", "ecommerce_ner_taobao", MAP_TAOBAO)
    return [_merge_adjacent(r) for r in rows]


def cluener(split: str) -> list[NerExample]:
    name = "train.json" if split == "train" else "dev_as_test.json"
    out = []
    with (data_root() / "cluener2020" / name).open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            record = json.loads(line)
            spans = [
                Span(s, e + 1, MAP_CLUENER[kind])
                for kind, found in (record.get("label") or {}).items()
                if kind in MAP_CLUENER
                for positions in found.values()
                for s, e in positions
            ]
            out.append(NerExample(record["text"], tuple(sorted(spans, key=lambda s: s.start)), "cluener2020", "zh"))
    return out


def conll(split: str) -> list[NerExample]:
    out = []
    for rows in _tagged_lines(data_root() / "conll2003_en" / f"{split}.txt", None):
        if len(rows) < 3:
            continue
        starts, ends, pos = [], [], 0
        for token, _ in rows:
            starts.append(pos)
            ends.append(pos + len(token))
            pos += len(token) + 1
        text = " ".join(t for t, _ in rows)
        spans = _spans_from_tags([t for _, t in rows], starts, ends, MAP_CONLL)
        out.append(NerExample(text, tuple(spans), "conll2003_en", "en"))
    return out


def weibo(split: str) -> list[NerExample]:
    """Weibo NER (golden-horse, 2nd release): ``科0<TAB>O``: the character, then its position in its word."""
    path = data_root() / "weibo_ner_zh" / f"weiboNER_2nd_conll.{split}"
    out = []
    for rows in _tagged_lines(path, "\t"):
        chars = [c[:-1] if len(c) > 1 and c[-1].isdigit() else c for c, _ in rows]
        if any(len(c) != 1 for c in chars):
            continue
        idx = list(range(len(chars)))
        spans = _spans_from_tags([t for _, t in rows], idx, [i + 1 for i in idx], MAP_WEIBO)
        out.append(NerExample("".join(chars), tuple(spans), "weibo_ner_zh", "zh"))
    return out


def wnut(split: str) -> list[NerExample]:
    """WNUT-17 emerging entities (tweets, Reddit, YouTube comments): tokens joined by spaces."""
    name = "wnut17train.conll" if split == "train" else "emerging.dev.conll"
    out = []
    for rows in _tagged_lines(data_root() / "wnut17_en" / name, "\t"):
        starts, ends, pos = [], [], 0
        for token, _ in rows:
            starts.append(pos)
            ends.append(pos + len(token))
            pos += len(token) + 1
        spans = _spans_from_tags([t for _, t in rows], starts, ends, MAP_WNUT)
        out.append(NerExample(" ".join(t for t, _ in rows), tuple(spans), "wnut17_en", "en"))
    return out


def _raw_splits(source: str, seed: int) -> dict[str, list[NerExample]]:
    rng = random.Random(seed)
    if source == "dh_msra":
        rows = dh_msra()
        rng.shuffle(rows)
        return {"test": rows[:2000], "dev": rows[2000:4000], "train": rows[4000:]}
    if source == "cluener2020":
        train = cluener("train")
        rng.shuffle(train)
        return {"test": cluener("test"), "dev": train[:1000], "train": train[1000:]}
    if source == "weibo_ner_zh":  # the official test split is held out: dev is the test here
        return {"train": weibo("train"), "dev": [], "test": weibo("dev")}
    if source == "wnut17_en":
        return {"train": wnut("train"), "dev": [], "test": wnut("dev")}
    loader = {"resume_ner": resume, "ecommerce_ner_taobao": taobao, "conll2003_en": conll}[source]
    return {"train": loader("train"), "dev": loader("dev"), "test": loader("test")}


def build(seed: int = 13, sizes: dict[str, dict[str, int]] | None = None) -> dict[str, list[NerExample]]:
    """``{"train", "dev", "test"}`` lists mixing every source, sampled to ``SIZES`` with a fixed seed."""
    sizes = sizes or SIZES
    out: dict[str, list[NerExample]] = {"train": [], "dev": [], "test": []}
    for source in SOURCES:
        raw = _raw_splits(source, seed)
        for split, rows in raw.items():
            rows = [r for r in rows if 0 < len(r.text) <= MAX_CHARS]
            rng = random.Random(f"{seed}-{source}-{split}")
            n = sizes[source][split]
            out[split].extend(rows if len(rows) <= n else rng.sample(rows, n))
    return out


def loso_corpus(seed: int = 13) -> dict[str, dict[str, list[NerExample]]]:
    """``{source: {"train", "test"}}`` for every source in ``LOSO_SOURCES``, sampled to ``LOSO_SIZES``."""
    out: dict[str, dict[str, list[NerExample]]] = {}
    for source in LOSO_SOURCES:
        raw = _raw_splits(source, seed)
        out[source] = {}
        for split in ("train", "test"):
            rows = [r for r in raw[split] if 0 < len(r.text) <= MAX_CHARS]
            n = len(rows) if source in LOSO_FULL_TEST else LOSO_SIZES[split]
            rng = random.Random(f"{seed}-{source}-{split}")
            out[source][split] = rows if len(rows) <= n else rng.sample(rows, n)
    return out
