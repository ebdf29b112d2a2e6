"""Recipe: ``tousu train risk``: fit the escalation-risk weights and thresholds on labelled messages.

1. Read the labelled messages (``training/resources/risk_labelled.jsonl``, guideline beside it) and
   split them, stratified by level x language: 70 % to fit, 30 % held out and never used to fit
   or to choose anything (fixed seed).
2. Run the REAL served pipeline (``service.app.default_registry``: encoder, sentiment and every
   stage that is served) on all messages, without its risk stage, and extract the risk signals
   from the answers exactly as the stage does (``training/risk_data.py``).
3. Fit an ordinal logistic model with non-negative weights, L2-regularised toward the prior
   weights (``models/resources/risk/prior.json``); the penalty is chosen by 5-fold CV on the fit
   part (``training/risk_fit.py`` says why this model); the two level thresholds are then tuned
   for macro-F1 on the fit part (CV compares this with the model's own cut points).
4. Evaluate the served config on the held-out part: confusion matrix, per language, baselines
   (prior weights, sentiment only, lexicons only) and one ablation per signal.
5. Write ``models/heads/risk/risk.json`` (versioned), ``metrics.json`` and ``MODEL_CARD.md``.

Re-runnable: when hidden dissatisfaction, entities or topics become served, run it again and
their signals enter the fit (until then they are 0 and keep their prior weights).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from metrics.scores import classification_scores
from models.risk.config import DEFAULT_CONFIG_NAME, SIGNALS, RiskConfig, load_prior, resources_digest
from models.risk.scorer import RiskScorer, Signal
from models.settings import DEFAULT_HEADS_DIR
from training import model_card
from training.risk_data import (
    DATA_FILE,
    LEVELS,
    Message,
    analyse,
    extract,
    load,
    matrix,
    served_blocks,
    split,
    without_risk,
)
from training.risk_fit import (
    OrdinalFit,
    cross_validate,
    cv_threshold_rules,
    fit_ordinal,
    level_metrics,
    tune_thresholds,
)

logger = logging.getLogger(__name__)
SEED = 7
LAMBDAS = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
N_FOLDS = 5
MAJOR = "1.0"
WEIGHT_HEADER = ["signal", "prior", "fitted", "fires (fit)", "fires (held out)", "ablation: macro-F1 / red recall"]


def fitted(X: np.ndarray, y: np.ndarray, prior: np.ndarray, lam: float, **kw: Any) -> OrdinalFit:
    """Ordinal fit, then decision thresholds tuned for macro-F1 on the same (fit-part) data."""
    return tune_thresholds(fit_ordinal(X, y, prior, lam, **kw), X, y)


def category_agreement(messages: Sequence[Message], answers: Sequence[Any]) -> dict[str, int] | None:
    """How often a customer's follow-up gets the category of the customer's first message (topic stage served)."""
    first: dict[str, str] = {}
    follow_ups = same = 0
    for m, a in zip(messages, answers, strict=True):
        if not m.customer_id or a.category is None:
            continue
        if m.customer_id not in first:
            first[m.customer_id] = a.category.name
            continue
        follow_ups += 1
        same += int(a.category.name == first[m.customer_id])
    return {"follow_ups": follow_ups, "same_category_as_first": same} if follow_ups else None


def build_config(fit: OrdinalFit, prior: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    yellow, red = fit.thresholds
    return {
        "version": f"{MAJOR}.{datetime.now(UTC):%Y%m%d}",
        "kind": "risk",
        "model": "ordinal logistic (proportional odds), weights >= 0, L2 toward prior weights",
        "score": "score = sigmoid(bias + sum_i weight_i * signal_i); red if score >= thresholds.red, "
        "yellow if score >= thresholds.yellow, else blue; contribution_i = weight_i * signal_i",
        "bias": round(fit.bias, 4),
        "weights": {name: round(float(w), 4) for name, w in zip(SIGNALS, fit.weights, strict=True)},
        "thresholds": {"yellow": round(yellow, 4), "red": round(red, 4)},
        "cut_points": {"yellow": round(fit.cut_yellow, 4), "red": round(fit.cut_red, 4)},
        "decision_thresholds_on_logit_sum": {"yellow": round(fit.decide_yellow, 4), "red": round(fit.decide_red, 4)},
        "prior_weights": prior["prior_weights"],
        "transforms": prior["transforms"],
        "handoff": prior["handoff"],
        **extra,
    }


def served_levels(config: RiskConfig, signals: Sequence[dict[str, Signal]]) -> np.ndarray:
    scorer = RiskScorer(config)
    return np.array([LEVELS.index(scorer.score(s).level) for s in signals])


def per_group(y: np.ndarray, pred: np.ndarray, groups: Sequence[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for g in sorted(set(groups)):
        idx = [i for i, x in enumerate(groups) if x == g]
        out[g] = {"n": len(idx), **classification_scores(y[idx], pred[idx], 3)}
    return out


def main(argv: Sequence[str] = ()) -> int:
    from service.app import default_registry
    from service.settings import Settings

    ap = argparse.ArgumentParser(prog="tousu train risk")
    ap.add_argument("--artifacts", help="encoder artifacts (default: TOUSU_ARTIFACTS_DIR or ./artifacts)")
    ap.add_argument("--heads", help="heads directory the pipeline is loaded from (default: the served one)")
    ap.add_argument("--output", default=str(DEFAULT_HEADS_DIR / "risk"))
    ap.add_argument("--data", default=str(DATA_FILE))
    args = ap.parse_args(argv)
    started = time.perf_counter()

    # 1. data and split
    messages = load(Path(args.data))
    fit_idx, hold_idx = split(messages, SEED)
    y = np.array([m.y for m in messages])
    logger.info("%d messages: %d to fit, %d held out", len(messages), len(fit_idx), len(hold_idx))

    # 2. the real pipeline, then the signals
    overrides: dict[str, Any] = {}
    if args.artifacts:
        overrides["artifacts_dir"] = Path(args.artifacts)
    if args.heads:
        overrides["heads_dir"] = Path(args.heads)
    registry = default_registry(Settings(**overrides))
    analyzer = without_risk(registry)
    answers, pipeline_s = analyse(analyzer, messages)
    served = served_blocks(answers)
    prior = load_prior()
    signals = extract(messages, answers, prior["transforms"])
    X = matrix(signals)
    logger.info("pipeline: %.1f s for %d messages; served blocks %s", pipeline_s, len(messages), served)

    # 3. fit: penalty by CV on the fit part, then the final fit on the whole fit part
    t0 = time.perf_counter()
    p = np.array([float(prior["prior_weights"][s]) for s in SIGNALS])
    Xf, yf, Xh, yh = X[fit_idx], y[fit_idx], X[hold_idx], y[hold_idx]
    cv = cross_validate(Xf, yf, p, LAMBDAS, N_FOLDS, SEED)
    lam = min(LAMBDAS, key=lambda lam_: (cv[lam_]["nll"], -cv[lam_]["macro_f1"]))
    rules = cv_threshold_rules(Xf, yf, p, lam, N_FOLDS, SEED)
    fit = fitted(Xf, yf, p, lam)
    fit_s = time.perf_counter() - t0

    # 4. held-out evaluation of what will be served, baselines, ablations
    support = {
        s: {"fit": int((Xf[:, j] > 0).sum()), "held_out": int((Xh[:, j] > 0).sum())} for j, s in enumerate(SIGNALS)
    }
    no_support = [s for s in SIGNALS if support[s]["fit"] == 0]
    extra: dict[str, Any] = {
        "fit": {
            "data": "training/resources/risk_labelled.jsonl",
            "data_sha256": hashlib.sha256(Path(args.data).read_bytes()).hexdigest(),
            "seed": SEED,
            "n_fit": len(fit_idx),
            "n_held_out": len(hold_idx),
            "held_out_ids": [messages[i].id for i in hold_idx],
            "lambda": lam,
            "cv": {str(k): v for k, v in cv.items()},
            "cv_decision_rule_macro_f1": rules,
            "pipeline": analyzer.model_versions,
            "served_blocks": served,
            "signals_without_support": no_support,
            "resources_sha256": resources_digest(),
        }
    }
    config_dict = build_config(fit, prior, extra)
    config = RiskConfig.from_dict(config_dict)
    pred = served_levels(config, signals)
    if not np.array_equal(pred[hold_idx], fit.predict(Xh)):
        logger.warning(
            "rounded served config and the fit disagree on %d held-out messages",
            int((pred[hold_idx] != fit.predict(Xh)).sum()),
        )
    held = level_metrics(yh, pred[hold_idx])
    held["by_language"] = per_group(yh, pred[hold_idx], [messages[i].language for i in hold_idx])
    held["by_channel"] = per_group(yh, pred[hold_idx], [messages[i].channel for i in hold_idx])
    held["handoff_rate"] = _handoff_rate(config, [signals[i] for i in hold_idx])
    baselines = {
        "prior weights (only thresholds fitted)": fitted(Xf, yf, p, lam, fixed=range(len(SIGNALS))),
        "sentiment only (negative_intensity)": fitted(
            Xf, yf, p, lam, zero=[j for j, s in enumerate(SIGNALS) if s != "negative_intensity"]
        ),
        "lexicons and history only (no sentiment, no hidden)": fitted(Xf, yf, p, lam, zero=[0, 1]),
    }
    baseline_metrics = {name: level_metrics(yh, b.predict(Xh)) for name, b in baselines.items()}
    ablations = {}
    for j, s in enumerate(SIGNALS):
        if s in no_support:
            continue
        ablated = fitted(Xf, yf, p, lam, zero=[j])
        m = level_metrics(yh, ablated.predict(Xh))
        ablations[s] = {"macro_f1": m["macro_f1"], "red_recall": m["red_recall"], "accuracy": m["accuracy"]}
    fitted_part = level_metrics(yf, pred[fit_idx])
    metrics = {
        "held_out": held,
        "fit_part": {k: fitted_part[k] for k in ("n", "accuracy", "macro_f1", "red_recall")},
        "baselines_held_out": baseline_metrics,
        "ablations_held_out": ablations,
        "support": support,
        "repetition_category_agreement": category_agreement(messages, answers),
        "timing_s": {"pipeline": round(pipeline_s, 1), "fit": round(fit_s, 2)},
    }
    config_dict["metrics"] = {"held_out": {k: held[k] for k in ("n", "accuracy", "macro_f1", "red_recall")}}

    # 5. write the config, metrics and the card
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / DEFAULT_CONFIG_NAME).write_text(
        json.dumps(config_dict, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    total_s = time.perf_counter() - started
    metrics["timing_s"]["total"] = round(total_s, 1)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    errors = [i for i in hold_idx if pred[i] != y[i]]
    model_card.write(out, render_card(config_dict, metrics, messages, signals, errors, pred, prior))
    print(
        f"risk: held-out accuracy {held['accuracy']}, macro-F1 {held['macro_f1']}, red recall {held['red_recall']} "
        f"(n={held['n']}); lambda={lam}; {total_s:.0f} s; config {out / DEFAULT_CONFIG_NAME}"
    )
    return 0


def _agreement(a: dict[str, int] | None) -> str:
    if a is None:
        return "the topic stage was not served, so there was no category to compare."
    return (
        f"the zero-shot category of a customer's follow-up matched the category of the customer's first "
        f"message in {a['same_category_as_first']} of {a['follow_ups']} follow-ups of the labelled sequences "
        f'("still not delivered" becomes "refund me"), so per-category counts would have missed '
        f"{a['follow_ups'] - a['same_category_as_first']} of them."
    )


def _handoff_rate(config: RiskConfig, signals: Sequence[dict[str, Signal]]) -> float:
    scorer = RiskScorer(config)
    return round(sum(scorer.score(s).handoff for s in signals) / max(1, len(signals)), 4)


def _confusion_table(m: list[list[int]]) -> str:
    rows = [[f"**{LEVELS[i]}**", *row] for i, row in enumerate(m)]
    return model_card.table(rows, ["true \\ predicted", *LEVELS])


def render_card(
    config: dict[str, Any],
    metrics: dict[str, Any],
    messages: Sequence[Message],
    signals: Sequence[dict[str, Signal]],
    errors: Sequence[int],
    pred: np.ndarray,
    prior: dict[str, Any],
) -> str:
    fit = config["fit"]
    held = metrics["held_out"]
    support = metrics["support"]
    ablations = metrics["ablations_held_out"]
    weight_rows = []
    for s in SIGNALS:
        ab = ablations.get(s)
        delta = (
            f"{ab['macro_f1'] - held['macro_f1']:+.3f} / {ab['red_recall'] - held['red_recall']:+.3f}"
            if ab
            else "not fitted (no support)"
        )
        weight_rows.append(
            [s, prior["prior_weights"][s], config["weights"][s], support[s]["fit"], support[s]["held_out"], delta]
        )
    baseline_rows = [
        [name, m["accuracy"], m["macro_f1"], m["red_recall"], m["red_as_blue"]]
        for name, m in metrics["baselines_held_out"].items()
    ]
    baseline_rows.append(
        ["**served config (this card)**", held["accuracy"], held["macro_f1"], held["red_recall"], held["red_as_blue"]]
    )
    lang_rows = [[g, v["n"], v["accuracy"], v["macro_f1"]] for g, v in held["by_language"].items()]
    channel_rows = [[g, v["n"], v["accuracy"], v["macro_f1"]] for g, v in held["by_channel"].items()]
    cv_rows = [[k, v["nll"], v["macro_f1"]] for k, v in fit["cv"].items()]
    error_rows = []
    for i in errors[:15]:
        m = messages[i]
        fired = ", ".join(f"{k} {v.value:.2f}" for k, v in signals[i].items()) or "none"
        text = m.text if len(m.text) <= 70 else m.text[:67] + "..."
        history = " (+context)" if m.context else " (+customer history)" if m.customer_id else ""
        error_rows.append([m.id, text.replace("|", "/") + history, m.level, LEVELS[int(pred[i])], fired])
    served = ", ".join(k for k, v in fit["served_blocks"].items() if v) or "none"
    missing = ", ".join(k for k, v in fit["served_blocks"].items() if not v)
    unsupported = ", ".join(fit["signals_without_support"]) or "none"
    if missing:
        coverage = (
            f"Not served when this was trained: {missing}: their signals were 0 and keep their prior weight "
            f"({unsupported} had no support); re-run `tousu train risk` once those stages are served."
        )
    else:
        coverage = f"Every stage risk reads was served; signals without support (prior weight kept): {unsupported}."
    timing = metrics["timing_s"]
    return f"""
# Escalation risk (red / yellow / blue) and hand-off

A monotone, auditable logistic model over ten signals (`models/risk/`), fitted on labelled
messages by `tousu train risk` (recipe `training/risk.py`, seed {fit["seed"]}). Config version
`{config["version"]}` (`risk.json`; the served version adds a digest of the config and lexicons).

```
score  = sigmoid(bias + sum_i weight_i * signal_i)     every signal_i in [0, 1], every weight_i >= 0
level  = red if score >= {config["thresholds"]["red"]}, yellow if score >= {config["thresholds"]["yellow"]}, else blue
reason = each signal with weight_i * signal_i > 0 ("contribution", logit units), largest first
handoff = red, or yellow with a repetition, rising-intensity or safety/legal reason
```

bias = {config["bias"]}. The model is an ordinal (proportional-odds) logistic regression with
non-negative weights (a signal can only raise risk: no word can lower the risk of a threat, and a
weight cannot flip sign through collinearity on a few hundred messages), L2-regularised toward
documented prior weights (`models/resources/risk/prior.json`) with lambda = {fit["lambda"]} chosen
by {N_FOLDS}-fold CV on the fit part (balanced log-loss). The two decision thresholds on the
weighted sum are then tuned for macro-F1 on the fit part and written as score thresholds with the
bias centred between them (score 0.5 is the middle of the yellow band). How each signal is computed:
`models/risk/signals.py` and `transforms` in the config.

## Data
{len(messages)} messages written and labelled by the project (`training/resources/risk_labelled.jsonl`,
guideline `training/resources/risk_labelling.md`): Chinese and English; e-commerce, logistics,
banking/fintech, insurance, telecom, food delivery, travel, appliances; 26 with conversation context
and 32 in 12 customer sequences (repetition). Split stratified by level x language:
{fit["n_fit"]} to fit, {fit["n_held_out"]} held out (never used to fit or to choose lambda).

Signals were extracted by the REAL served pipeline: {", ".join(f"{k} `{v}`" for k, v in fit["pipeline"].items())}.
Blocks served: {served}. {coverage}

## Weights (which signals mattered)
Ablation = refit without the signal, change of held-out macro-F1 / red recall.

{model_card.table(weight_rows, WEIGHT_HEADER)}

## Held-out results (n = {held["n"]})
Accuracy {held["accuracy"]}, macro-F1 {held["macro_f1"]}, red recall {held["red_recall"]}, red precision
{held["red_precision"]}; red messages predicted blue: {held["red_as_blue"]}; blue predicted red:
{held["blue_as_red"]}; handoff recommended for {held["handoff_rate"]:.0%} of held-out messages.

{_confusion_table(held["confusion"])}

By language:

{model_card.table(lang_rows, ["language", "n", "accuracy", "macro-F1"])}

By channel:

{model_card.table(channel_rows, ["channel", "n", "accuracy", "macro-F1"])}

Baselines (same data, same fit, held out):

{model_card.table(baseline_rows, ["model", "accuracy", "macro-F1", "red recall", "red as blue"])}

Fit part (in-sample, for reference): accuracy {metrics["fit_part"]["accuracy"]}, macro-F1
{metrics["fit_part"]["macro_f1"]}.

Cross-validation of the penalty (fit part):

{model_card.table(cv_rows, ["lambda", "CV balanced log-loss", "CV macro-F1"])}

Decision thresholds: the model's cut points (predict a level when its cumulative probability
passes 1/2) against thresholds tuned for macro-F1 on the training folds, CV macro-F1 at the chosen
lambda: {", ".join(f"{k} {v}" for k, v in fit["cv_decision_rule_macro_f1"].items())}. The served
thresholds are tuned on the whole fit part.

Held-out errors (first 15 of {len(errors)}):

{model_card.table(error_rows, ["id", "text", "label", "predicted", "signals"])}

## Training time
{timing["total"]} s in total on {model_card.machine()}: the served pipeline over {len(messages)}
messages took {timing["pipeline"]} s, the CV + fit + baselines {timing["fit"]} s.

## Limits
- The messages were written and labelled by one annotator following the guideline; they are
  cleaner than real traffic, and the held-out part comes from the same hand. Read the held-out
  numbers as a check of the fit, not as performance on other domains
  (`tousu evaluate risk` adds an out-of-domain check on USS dialogues).
- Escalation, churn, safety and urgency are lexicon signals: a threat the lexicons do not name
  (消基會, "Filing with the DOT", "the local news") is missed unless the sentiment is strongly
  negative, and false friends (律师事务所, 退订 SMS, "fire rating") fire; no negation handling.
- Repetition counts every message of a customer within the window (`transforms.repetition.issue` =
  "any"), so a calm follow-up ("好的，谢谢") counts as a repeat. Counting per category instead
  ("category") was measured and not chosen: {_agreement(metrics["repetition_category_agreement"])}
- Signals that never fired in the fit part ({", ".join(fit["signals_without_support"]) or "none"}) keep their
  prior weights until their stages are served and the recipe is re-run.
"""


if __name__ == "__main__":
    raise SystemExit(main())
