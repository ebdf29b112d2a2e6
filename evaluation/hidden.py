"""``tousu evaluate hidden``: the served hidden-dissatisfaction stage next to two baselines, end to end.

Every message goes through the served path (``Analyzer.analyze_batch``: normalisation, the int8 encoder
pass over all windows, sentiment, the hidden stage, with the conversation ``context`` of the example), on
the held-out splits of ``training/hidden/data.py`` (seed 13): ``test`` (in-domain, per pool) and
``test_ood`` (SemEval-2018 irony, a source never seen in training). Systems, scored on the same analyses:

- ``served``: ``hidden_dissatisfaction.score`` / ``detected``;
- ``baseline_sentiment``: the sentiment model alone (negative = dissatisfied; PR-AUC from P(negative));
- ``baseline_lexicon``: the cue lexicon alone (any cue and no explicit negative word; PR-AUC from the
  number of cue types found).

Also: what context adds (the messages that have earlier turns, scored with and without them), the stage's
own latency, and 20 example predictions (true/false positives/negatives, both languages).
Primary metric: PR-AUC on ``test``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.report import write as write_report
from metrics.binary import binary_report, by_group
from models.hidden.cues import ExplicitLexicon
from models.hidden.stage import HiddenStage, load_hidden_stage
from models.pipeline import AnalysisInput, Analyzer, Context, Turn
from models.pooled import load_pooled
from models.schema import Analysis
from models.sentiment import SentimentModel
from models.settings import DEFAULT_HEADS_DIR
from models.stages import StageEnv
from training.features import PooledFeatureCache, load_encoder
from training.hidden.card import LOSO_HEADER, loso_table_rows
from training.hidden.data import HiddenExample, build, pool_of
from training.hidden.recipe import leave_one_pool_out
from training.model_card import table

REPORTS = Path(__file__).resolve().parent / "reports"
SYSTEMS = ("served", "baseline_sentiment", "baseline_lexicon")
_ASKED = Turn("customer", "我的快递一周了还没到，到底什么时候发货？")
#: Clear cases shown one by one (the issue's examples, angry and happy messages, one message in three contexts).
CLEAR: tuple[tuple[str, tuple[Turn, ...], str], ...] = (
    ("好的，谢谢，那就这样吧，反正也没办法", (), "hidden"),
    ("你们的效率真是让人佩服，一周了还没发货", (), "hidden"),
    ("你們的效率真是讓人佩服，一週了還沒發貨", (), "hidden"),
    ("这就是你们的售后？", (), "hidden"),
    ("Thanks for sending the wrong shirt.", (), "hidden"),
    ("Great, another week of waiting for my refund.", (), "hidden"),
    ("太慢了，客服态度也很差，非常失望！垃圾！", (), "explicit"),
    ("This is the worst service I have ever had. I am furious.", (), "explicit"),
    ("物流很快，包装完好，非常满意，好评！", (), "none"),
    ("Great product, fast delivery, I love it!", (), "none"),
    ("哦，好吧", (), "?"),
    ("哦，好吧", (_ASKED, Turn("agent", "已发")), "hidden"),
    ("哦，好吧", (_ASKED, Turn("agent", "已为您加急处理，快递明天上午送达，运费我们也退给您了。")), "?"),
    ("OK, thanks.", (), "none"),
    ("OK, thanks.", (Turn("agent", "Sorry, there are no rooms available on those dates."),), "?"),
    ("OK, thanks.", (Turn("agent", "Your room is booked for Friday, the confirmation number is 4821."),), "none"),
)


class _Timed:
    """Wraps the stage to measure its own time (the encoder pass and sentiment are shared by every task)."""

    def __init__(self, stage: HiddenStage) -> None:
        self.stage = stage
        self.name = stage.name
        self.version = stage.version
        self.seconds = 0.0
        self.messages = 0

    def run(self, batch: list[Context]) -> None:
        t0 = time.perf_counter()
        self.stage.run(batch)
        self.seconds += time.perf_counter() - t0
        self.messages += len(batch)


def _analyze(analyzer: Analyzer, examples: list[HiddenExample], with_context: bool, batch: int = 32) -> list[Analysis]:
    out: list[Analysis] = []
    for i in range(0, len(examples), batch):
        items = [
            AnalysisInput.prepare(e.text, context=e.context if with_context else ()) for e in examples[i : i + batch]
        ]
        out += analyzer.analyze_batch(items)
    return out


def _systems(results: list[Analysis], explicit: ExplicitLexicon, examples: list[HiddenExample]) -> dict[str, Any]:
    """Scores and decisions of the served stage and of both baselines, from the same analyses."""
    from models.text import normalize

    score, detected, neg, neg_label, lexicon = [], [], [], [], []
    for r, e in zip(results, examples, strict=True):
        h, s = r.hidden_dissatisfaction, r.sentiment
        assert h is not None and s is not None
        score.append(h.score)
        detected.append(h.detected)
        neg.append(s.probabilities.negative)
        neg_label.append(s.label == "negative")
        lexicon.append(0.0 if explicit.has(normalize(e.text).text) else float(len({c.type for c in h.cues})))
    return {
        "score": np.array(score),
        "detected": np.array(detected),
        "neg": np.array(neg),
        "neg_label": np.array(neg_label),
        "lexicon": np.array(lexicon),
    }


def _metrics(s: dict[str, Any], y: np.ndarray, threshold: float, examples: list[HiddenExample]) -> dict[str, Any]:
    return {
        "served": binary_report(s["score"], y, None, pred=s["detected"]),
        "baseline_sentiment": binary_report(s["neg"], y, None, pred=s["neg_label"]),
        "baseline_lexicon": binary_report(s["lexicon"], y, None, pred=s["lexicon"] > 0),
        "per_source": by_group(s["score"], y, threshold, [pool_of(e) for e in examples]),
        "per_language": by_group(s["score"], y, threshold, [e.lang for e in examples]),
    }


def _examples(
    examples: list[HiddenExample], results: list[Analysis], y: np.ndarray, seed: int = 13
) -> list[dict[str, Any]]:
    """20 predictions: 5 each of TP, FP, FN, TN, mixing Chinese and English."""
    rng = random.Random(seed)
    buckets: dict[tuple[str, str], list[int]] = {}
    for i, (e, r) in enumerate(zip(examples, results, strict=True)):
        h = r.hidden_dissatisfaction
        assert h is not None
        kind = ("T" if h.detected == bool(y[i]) else "F") + ("P" if h.detected else "N")
        buckets.setdefault((kind, e.lang), []).append(i)
    picked: list[dict[str, Any]] = []
    for kind in ("TP", "FP", "FN", "TN"):
        chosen: list[int] = []
        for lang, n in (("zh", 3), ("en", 2)):
            pool = buckets.get((kind, lang), [])
            chosen += rng.sample(pool, min(n, len(pool)))
        others = [i for lang in ("zh", "en") for i in buckets.get((kind, lang), []) if i not in chosen]
        chosen += rng.sample(others, min(5 - len(chosen), len(others)))
        for i in chosen:
            e, r = examples[i], results[i]
            h = r.hidden_dissatisfaction
            assert h is not None and r.sentiment is not None
            picked.append(
                {
                    "kind": kind,
                    "lang": e.lang,
                    "source": e.source,
                    "label": e.label,
                    "text": e.text,
                    "context": [f"{t.role}: {t.text}" for t in e.context[-2:]],
                    "score": h.score,
                    "sentiment": r.sentiment.label,
                    "cues": [f"{c.type}: {c.text}" for c in h.cues],
                }
            )
    return picked


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(prog="tousu evaluate hidden")
    ap.add_argument("--artifacts", default="artifacts")
    ap.add_argument("--heads", default=str(DEFAULT_HEADS_DIR), help="directory with sentiment/ and hidden/")
    ap.add_argument("--report", default=str(REPORTS / "hidden"))
    args = ap.parse_args(argv)
    artifacts, heads = Path(args.artifacts), Path(args.heads)

    # 1. the served pieces: int8 encoder (all windows), sentiment head, hidden stage; nothing else
    encoder = load_encoder(artifacts, "int8")
    sentiment_head, sentiment_spec = load_pooled("sentiment", heads / "sentiment", encoder.name, encoder.version)
    loaded = load_hidden_stage(StageEnv(heads_dir=heads, artifacts_dir=artifacts, encoder=encoder))
    if loaded is None:
        raise SystemExit(f"no hidden head in {heads / 'hidden'}: run `tousu train hidden`")
    stage, spec = loaded
    timed = _Timed(stage)
    analyzer = Analyzer(encoder, SentimentModel(sentiment_head, sentiment_spec.version), [timed])
    explicit = ExplicitLexicon.load()

    # 2. held-out splits through the served path
    splits, _ = build()
    results: dict[str, Any] = {"head": spec.version, "threshold": stage.threshold}
    analyses: dict[str, list[Analysis]] = {}
    t0 = time.perf_counter()
    for split in ("test", "test_ood"):
        examples = splits[split]
        y = np.array([e.hidden for e in examples])
        analyses[split] = _analyze(analyzer, examples, with_context=True)
        s = _systems(analyses[split], explicit, examples)
        results[split] = {"n": len(examples), "positives": int(y.sum()), **_metrics(s, y, stage.threshold, examples)}
    elapsed = time.perf_counter() - t0
    stage_ms = 1000 * timed.seconds / max(1, timed.messages)

    # 3. what context adds: the test messages that have earlier turns, with and without them
    with_ctx = [i for i, e in enumerate(splits["test"]) if e.context]
    subset = [splits["test"][i] for i in with_ctx]
    y_sub = np.array([e.hidden for e in subset])
    bare = _analyze(analyzer, subset, with_context=False)
    ctx_scores = np.array([analyses["test"][i].hidden_dissatisfaction.score for i in with_ctx])  # type: ignore[union-attr]
    bare_scores = np.array([r.hidden_dissatisfaction.score for r in bare])  # type: ignore[union-attr]
    results["context"] = {
        "n": len(subset),
        "sources": sorted({pool_of(e) for e in subset}),
        "with_context": binary_report(ctx_scores, y_sub, stage.threshold),
        "without_context": binary_report(bare_scores, y_sub, stage.threshold),
        "mean_shift_hidden": round(float((ctx_scores - bare_scores)[y_sub == 1].mean()), 4) if y_sub.any() else None,
        "mean_shift_not_hidden": round(float((ctx_scores - bare_scores)[y_sub == 0].mean()), 4),
    }
    results["timing"] = {
        "messages": timed.messages,
        "wall_s": round(elapsed, 1),
        "hidden_stage_ms_per_message": round(stage_ms, 2),
    }
    # 4. leave-one-pool-out: the head refitted without each pool, scored on it (the generalisation headline)
    cache = PooledFeatureCache(encoder)
    features = {n: cache.get([e.text for e in splits[n]], progress=False) for n in ("train", "dev", "test")}
    results["loso"] = leave_one_pool_out(splits, features, sentiment_head)
    y_test = np.array([e.hidden for e in splits["test"]])
    results["examples"] = _examples(splits["test"], analyses["test"], y_test)
    clear = analyzer.analyze_batch([AnalysisInput.prepare(t, context=c) for t, c, _ in CLEAR])
    results["clear_cases"] = [
        {
            "text": t,
            "context": [f"{turn.role}: {turn.text}" for turn in c],
            "expected": expected,
            "score": r.hidden_dissatisfaction.score,  # type: ignore[union-attr]
            "detected": r.hidden_dissatisfaction.detected,  # type: ignore[union-attr]
            "sentiment": r.sentiment.label,  # type: ignore[union-attr]
            "cues": [f"{q.type}: {q.text}" for q in r.hidden_dissatisfaction.cues],  # type: ignore[union-attr]
        }
        for (t, c, expected), r in zip(CLEAR, clear, strict=True)
    ]

    write_report(Path(args.report), results, _markdown(results))
    print(_markdown(results))
    return 0


def _cell(text: str, limit: int = 110) -> str:
    text = text.replace("|", "/").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _markdown(r: dict[str, Any]) -> str:
    lines = [
        "# Hidden dissatisfaction: served stage vs baselines",
        "",
        f"Generated by `tousu evaluate hidden` (head `{r['head']}`, threshold {r['threshold']}). Every message",
        "goes through the served path (normalisation, int8 encoder over all windows, sentiment, the hidden stage,",
        "with the example's conversation context). Splits from `training/hidden/data.py` (seed 13): `test` is",
        "in-domain (per pool), `test_ood` is SemEval-2018 irony, a source never seen in training. Truth: hidden",
        "(dissatisfied without explicit negative words) vs not. Primary metric: PR-AUC on `test`.",
        "",
    ]
    lines += [
        "## Pools left out of training (headline)",
        "",
        "The pooled head refitted without each pool (temperature and threshold from the other pools' dev split),",
        "scored on that pool's test split; `route` = `sentiment == negative or detected` against dissatisfied",
        "(hidden or explicit). The score layer (lexicon, context) is not refitted per pool.",
        "",
        table(loso_table_rows(r["loso"]), LOSO_HEADER),
        "",
        "## Served stage, in-source test and SemEval irony",
        "",
    ]
    rows = []
    for split in ("test", "test_ood"):
        for name in SYSTEMS:
            m = r[split][name]
            head = f"{split} (n={r[split]['n']}, hidden={r[split]['positives']})"
            rows.append([head, name, m["precision"], m["recall"], m["f1"], m["pr_auc"], m["ece"]])
    lines.append(table(rows, ["split", "system", "precision", "recall", "F1", "PR-AUC", "ECE"]))
    lines += [
        "",
        "ECE of the baselines reads P(negative) / the cue count as if it were P(hidden): only `served` is meant",
        "to be calibrated.",
        "",
    ]
    lines += ["## Per source and language (served)", ""]
    rows = [
        [split, g, m["n"], m["positives"], m["precision"], m["recall"], m["f1"], m["pr_auc"], m["ece"]]
        for split in ("test", "test_ood")
        for key in ("per_source", "per_language")
        for g, m in r[split][key].items()
    ]
    lines.append(table(rows, ["split", "group", "n", "hidden", "precision", "recall", "F1", "PR-AUC", "ECE"]))
    c = r["context"]
    lines += [
        "",
        "## What conversation context adds",
        "",
        f"The {c['n']} test messages with earlier turns ({', '.join(c['sources'])}), scored with and without them.",
        f"Mean score shift from context: {c['mean_shift_hidden']} on hidden messages, "
        f"{c['mean_shift_not_hidden']} on the others.",
        "",
    ]
    lines.append(
        table(
            [
                [k, c[k]["precision"], c[k]["recall"], c[k]["f1"], c[k]["pr_auc"], c[k]["ece"]]
                for k in ("with_context", "without_context")
            ],
            ["scoring", "precision", "recall", "F1", "PR-AUC", "ECE"],
        )
    )
    t = r["timing"]
    lines += [
        "",
        f"Hidden stage alone (after the shared encoder pass and sentiment): {t['hidden_stage_ms_per_message']} ms per",
        f"message in batches of 32 ({t['messages']} messages, {t['wall_s']} s for the whole served path).",
        "",
        "## Clear cases",
        "",
        "The issue's examples, plainly angry and happy messages, and one short reply in three conversations",
        "(`expected` ? = no fixed answer; the score should move with the agent's turn).",
        "",
    ]
    rows = [
        [
            _cell(e["text"], 40) + (f" (after: {_cell(' / '.join(e['context']), 70)})" if e["context"] else ""),
            e["expected"],
            e["score"],
            "yes" if e["detected"] else "no",
            e["sentiment"],
            _cell("; ".join(e["cues"]), 60) or "-",
        ]
        for e in r["clear_cases"]
    ]
    lines.append(table(rows, ["text", "expected", "score", "detected", "sentiment", "cues"]))
    lines += [
        "",
        "## 20 example predictions (test)",
        "",
        "Drawn at random (seed 13) from the held-out test split: 5 each of true positives, false positives,",
        "false negatives and true negatives, 3 Chinese and 2 English where available.",
        "",
    ]
    rows = [
        [
            e["kind"],
            e["lang"],
            e["source"],
            e["label"],
            e["score"],
            e["sentiment"],
            _cell(e["text"]) + (f" (after: {_cell(' / '.join(e['context']), 60)})" if e["context"] else ""),
            _cell("; ".join(e["cues"]), 60) or "-",
        ]
        for e in r["examples"]
    ]
    lines.append(table(rows, ["kind", "lang", "source", "truth", "score", "sentiment", "text", "cues"]))
    return "\n".join(lines) + "\n"
