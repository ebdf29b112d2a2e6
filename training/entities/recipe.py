"""Recipe: ``tousu train entities``: the token head for PERSON / ORG / LOCATION / PRODUCT, chosen on left-out sources.

1. Corpus (``training/entities/data.py``, ``loso_corpus``): seven public NER sources mapped to our four
   types, news (dh_msra, cluener2020, conll2003_en), resumes (resume_ner), product titles
   (ecommerce_ner_taobao) and social media (weibo_ner_zh, wnut17_en); up to 2,000 training and 500 test
   sentences per source (WNUT-17 and Weibo: all of them), seed 13.
2. Token states from the SERVED encoder pass (``training/entities/features.py``, cached as float16).
3. Targets: gold character spans -> normalised text -> one BIO tag per content token.
4. Leave-one-source-out: for each source, a head trained on the other six (10% of their sentences
   held back to fit the temperature), decoded with the constrained Viterbi and scored on the left-out
   source's test split, on the types that source labels (exact spans, original-text offsets). The
   systems served before this head are scored on the same sentences: LAC (Chinese) and spaCy
   ``en_core_web_sm`` (English) raw, and the whole served stage of that time (patterns, ORG gazetteer,
   product patterns, LAC / spaCy).
5. The choice, per language and type: the head serves a type where its mean left-out F1 over the sources
   of that language that label the type beats the served stage's; elsewhere LAC / spaCy stay.
6. The served head: trained on every source (temperature on 10% held back), in-source test scores.
7. Write ``models/heads/entities/token_head/`` (``weights.safetensors``, ``config.json`` with the choice,
   ``metrics.json`` with the leave-one-source-out table and the timings).

``--branch`` runs the older recipe instead (``training/entities/branch.py``: LoRA'd e5 layers, about an
hour here; not served).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from metrics.scores import fit_temperature
from models.entities.token_head import ARRAYS, CONFIG_FILE, WEIGHTS_FILE, TokenHead
from models.settings import DEFAULT_HEADS_DIR
from models.text import NormalizedText, normalize
from training import model_card
from training.entities.data import LOSO_SIZES, LOSO_SOURCES, TYPES, NerExample, loso_corpus
from training.entities.features import Encoded, encode
from training.entities.head import F16, HeadConfig, fit
from training.entities.tags import LABELS, Gold, normalised_spans, span_scores, token_tags
from training.features import load_encoder

logger = logging.getLogger(__name__)
SEED = 13
DEFAULT_OUTPUT = DEFAULT_HEADS_DIR / "entities" / "token_head"
LICENCES = {
    "dh_msra": "no licence stated (research)",
    "cluener2020": "no licence stated (research)",
    "resume_ner": "no licence stated (research)",
    "ecommerce_ner_taobao": "no licence stated (research)",
    "weibo_ner_zh": "no licence stated (research)",
    "conll2003_en": "Reuters corpus terms (research)",
    "wnut17_en": "CC BY 4.0",
}


class Split:
    """One source's split ready for training and scoring."""

    def __init__(self, rows: list[NerExample], encoded: Encoded) -> None:
        self.rows = rows
        self.norms: list[NormalizedText] = [normalize(r.text) for r in rows]
        self.states: list[F16] = encoded.split_states()
        self.offsets = encoded.offsets
        self.gold: list[Gold] = [{(s.start, s.end, s.type) for s in r.spans} for r in rows]
        self.tags = [
            token_tags(normalised_spans(r, n), o, n.text)
            for r, n, o in zip(rows, self.norms, self.offsets, strict=True)
        ]


def head_spans(head: TokenHead, split: Split) -> list[Gold]:
    """Decoded spans of every sentence, in original-text offsets."""
    from models.entities.bio import decode

    out = []
    for states, offsets, norm in zip(split.states, split.offsets, split.norms, strict=True):
        spans = decode(head.proba(states), offsets, head.labels, norm.text)
        out.append({(*norm.to_original(s.start, s.end), s.type) for s in spans})
    return out


def _dev_mask(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < 0.1


def train_head(splits: Sequence[Split], cfg: HeadConfig) -> tuple[TokenHead, float]:
    """Fit on 90% of the sentences, the temperature on the other 10% (token NLL)."""
    states = [s for sp in splits for s in sp.states]
    tags = [t for sp in splits for t in sp.tags]
    dev = _dev_mask(len(tags), cfg.seed)
    fitted = fit(
        [s for s, d in zip(states, dev, strict=True) if not d],
        [t for t, d in zip(tags, dev, strict=True) if not d],
        len(LABELS),
        cfg,
    )
    raw = fitted.head(LABELS)
    dev_logits = np.concatenate([raw.logits(s[: len(t)]) for s, t, d in zip(states, tags, dev, strict=True) if d])
    dev_y = [y for t, d in zip(tags, dev, strict=True) if d for y in t]
    temperature = fit_temperature(dev_logits, dev_y)
    return fitted.head(LABELS, temperature), fitted.seconds


def restrict(spans: list[Gold], types: Sequence[str]) -> list[Gold]:
    return [{s for s in sent if s[2] in types} for sent in spans]


def score(pred: list[Gold], gold: list[Gold], types: Sequence[str]) -> dict[str, Any]:
    return span_scores(restrict(pred, types), restrict(gold, types), types)


# -- the systems served before the head ----------------------------------------------------------------------------
def baseline_systems() -> dict[str, Callable[[list[NormalizedText], str], list[Gold]]]:
    """``raw``: LAC (zh) / spaCy (en) alone; ``served``: the whole entity stage as served before the head;
    ``served_no_base``: that stage without LAC / spaCy (patterns, gazetteer, product patterns only)."""
    from evaluation.entities import lac_candidate, spacy_candidate
    from models.entities.pipeline import EntityConfig, EntityPipelines, EntityRequest

    lac, spacy = lac_candidate(False), spacy_candidate()
    pipelines = EntityPipelines.build(EntityConfig("lac", "spacy"), without_base=())
    no_base = EntityPipelines.build(EntityConfig("lac", "spacy"), without_base=("zh", "en"))

    def raw(norms: list[NormalizedText], lang: str) -> list[Gold]:
        return (lac if lang == "zh" else spacy)(norms)

    def stage(p: EntityPipelines) -> Callable[[list[NormalizedText], str], list[Gold]]:
        def run(norms: list[NormalizedText], lang: str) -> list[Gold]:
            out = p.extract([EntityRequest(n, lang) for n in norms])
            return [{(e.start, e.end, e.type) for e in ents if e.type in TYPES} for ents in out]

        return run

    return {"raw": raw, "served": stage(pipelines), "served_no_base": stage(no_base)}


def combined(served: list[Gold], head: list[Gold], head_types: Sequence[str]) -> list[Gold]:
    """The stage with the head: served spans of the other types, the head's spans of its types; on overlap the
    longer span stays (the gazetteer and product patterns are in ``served`` and win their overlaps there)."""
    out = []
    for s_set, h_set in zip(served, head, strict=True):
        keep = [s for s in s_set if s[2] not in head_types] + [h for h in h_set if h[2] in head_types]
        chosen: list[tuple[int, int, str]] = []
        for span in sorted(keep, key=lambda x: (-(x[1] - x[0]), x[0])):
            if all(span[1] <= c[0] or span[0] >= c[1] for c in chosen):
                chosen.append(span)
        out.append(set(chosen))
    return out


def mean_f1(loso: dict[str, Any], system: str, lang: str, kind: str) -> float | None:
    """Mean left-out F1 of ``system`` over the sources of ``lang`` that label ``kind`` (``all``: every source,
    each over its own types)."""
    values = [
        entry[system][kind]["f1"]
        for source, entry in loso.items()
        if LOSO_SOURCES[source][0] == lang and (kind == "all" or kind in LOSO_SOURCES[source][1])
    ]
    return round(float(np.mean(values)), 4) if values else None


def replaces_base(loso: dict[str, Any], serve: dict[str, list[str]]) -> list[str]:
    """Languages where the head serves some type and the stage with it but without LAC / spaCy scores at least
    the F1 (over each source's types) of the stage with it and with them, on the mean over left-out sources:
    the base model then costs time (en_core_web_sm: about half of an English message's entity stage) for
    nothing."""
    out = []
    for lang in ("zh", "en"):
        with_base = mean_f1(loso, "served_with_head", lang, "all")
        without = mean_f1(loso, "served_with_head_no_base", lang, "all")
        if serve.get(lang) and with_base is not None and without is not None and without >= with_base:
            out.append(lang)
    return out


def choose(loso: dict[str, Any]) -> dict[str, list[str]]:
    """Per language, the types where the head's mean left-out F1 beats the stage served before it."""
    serve: dict[str, list[str]] = {}
    for lang in ("zh", "en"):
        serve[lang] = []
        for kind in TYPES:
            head, before = mean_f1(loso, "head", lang, kind), mean_f1(loso, "served", lang, kind)
            if head is not None and before is not None and head > before:
                serve[lang].append(kind)
    return serve


def main(argv: Sequence[str] = ()) -> int:
    if "--branch" in argv:
        from training.entities.branch import main as branch_main

        return branch_main([a for a in argv if a != "--branch"])
    ap = argparse.ArgumentParser(prog="tousu train entities")
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--output", default=str(DEFAULT_OUTPUT))
    ap.add_argument("--epochs", type=int, default=HeadConfig.epochs)
    ap.add_argument("--hidden", type=int, default=HeadConfig.hidden)
    ap.add_argument("--dim", type=int, default=HeadConfig.dim, help="principal components kept per token")
    ap.add_argument("--skip-baselines", action="store_true", help="left-out scores of the head only")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    cfg = HeadConfig(dim=args.dim, hidden=args.hidden, epochs=args.epochs, seed=SEED)

    # 1-3. corpus, token states (cached), targets
    corpus = loso_corpus(SEED)
    encoder = load_encoder(Path(args.artifacts), "int8")
    encode_s = 0.0
    data: dict[str, dict[str, Split]] = {}
    for source, parts in corpus.items():
        data[source] = {}
        for split, rows in parts.items():
            encoded = encode(encoder, [r.text for r in rows], f"{source}-{split}")
            encode_s += encoded.seconds
            data[source][split] = Split(rows, encoded)
    prepared_s = time.perf_counter() - started
    logger.info("corpus and token states ready in %.0f s (encoder %.0f s)", prepared_s, encode_s)

    # 4. leave one source out
    systems = {} if args.skip_baselines else baseline_systems()
    loso: dict[str, Any] = {}
    loso_train_s = 0.0
    for source, (lang, types) in LOSO_SOURCES.items():
        others = [data[s]["train"] for s in LOSO_SOURCES if s != source]
        head, seconds = train_head(others, cfg)
        loso_train_s += seconds
        test = data[source]["test"]
        pred = head_spans(head, test)
        entry: dict[str, Any] = {
            "lang": lang,
            "types": list(types),
            "n": len(test.rows),
            "head": score(pred, test.gold, types),
        }
        for name, system in systems.items():
            if name == "served_no_base":
                entry["_served_no_base"] = system(test.norms, lang)
                continue
            entry[name] = score(system(test.norms, lang), test.gold, types)
        if "served" in systems:
            entry["_served"] = systems["served"](test.norms, lang)
            entry["_head"] = pred
        loso[source] = entry
        logger.info("left out %s: head %s", source, {k: v["f1"] for k, v in entry["head"].items()})

    # 5. the choice per language and type, and the stage with it (scored on the same left-out splits)
    serve = choose(loso) if systems else {"zh": [], "en": []}
    for source, entry in loso.items():
        lang, types = entry["lang"], entry["types"]
        if "_served" in entry:
            head_pred = entry.pop("_head")
            both = combined(entry.pop("_served"), head_pred, serve[lang])
            entry["served_with_head"] = score(both, data[source]["test"].gold, types)
            alone = combined(entry.pop("_served_no_base"), head_pred, serve[lang])
            entry["served_with_head_no_base"] = score(alone, data[source]["test"].gold, types)
        for key in [k for k in entry if k.startswith("_")]:
            entry.pop(key)

    no_base = replaces_base(loso, serve) if systems else []

    # 6. the served head, on every source
    final, final_s = train_head([data[s]["train"] for s in LOSO_SOURCES], cfg)
    in_source = {
        source: score(head_spans(final, data[source]["test"]), data[source]["test"].gold, types)
        for source, (_, types) in LOSO_SOURCES.items()
    }

    # 7. write
    timings = {
        "encoder_s": round(encode_s, 1),
        "prepare_s": round(prepared_s, 1),
        "loso_train_s": round(loso_train_s, 1),
        "final_train_s": round(final_s, 1),
        "total_s": round(time.perf_counter() - started, 1),
    }
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    from safetensors.numpy import save_file

    save_file({name: np.ascontiguousarray(getattr(final, name)) for name in ARRAYS}, str(out / WEIGHTS_FILE))
    config = {
        "labels": list(LABELS),
        "temperature": round(final.temperature, 4),
        "serve": serve,
        "replaces_base": no_base,
        "input": f"[layer 8 | last layer] token states of {encoder.name}/{encoder.version}, window of 3 tokens",
        "head": asdict(cfg),
        "sources": {
            s: {
                "lang": LOSO_SOURCES[s][0],
                "types": list(LOSO_SOURCES[s][1]),
                "licence": LICENCES[s],
                "train": len(data[s]["train"].rows),
                "test": len(data[s]["test"].rows),
            }
            for s in LOSO_SOURCES
        },
        "sizes_cap": LOSO_SIZES,
    }
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    metrics = {
        "loso": loso,
        "in_source": in_source,
        "serve": serve,
        "replaces_base": no_base,
        "timings": timings,
        "machine": model_card.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    summary = {
        source: {
            name: entry[name]["all"]["f1"]
            for name in ("head", "raw", "served", "served_with_head", "served_with_head_no_base")
            if name in entry
        }
        for source, entry in loso.items()
    }
    print(json.dumps({"loso_f1": summary, "serve": serve, "replaces_base": no_base, "timings": timings}, indent=2))
    return 0
