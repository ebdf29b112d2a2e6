"""Topic model with the real encoder: fitting, determinism, BERTopic parity, stable ids, the served stage."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import pytest

from models.pipeline import AnalysisInput, Analyzer
from models.registry import Registry
from models.settings import DEFAULT_HEADS_DIR, ModelSettings
from models.stages import StageEnv
from models.topics.model import OUTLIER_ID, TopicModel
from models.topics.stage import load_topic_stage
from models.topics.taxonomy import DEFAULT_TAXONOMY
from training import data

pytestmark = pytest.mark.model

INTENTS = ("card_arrival", "request_refund", "pin_blocked", "exchange_rate")
PRODUCTS = ("水果", "酒店", "计算机", "书籍")
PHONE = "13812345678"


def _corpus() -> list[dict[str, str]]:
    rng = random.Random(5)
    bank = [(t, c) for t, c in data.banking77("train") if c in INTENTS]
    shop = [(e.text[:120], e.group) for e in data.online_shopping() if e.label == "negative" and e.group in PRODUCTS]
    picked = []
    for label in INTENTS:
        picked += rng.sample([t for t, c in bank if c == label], 90)
    for label in PRODUCTS:
        picked += rng.sample([t for t, c in shop if c == label], 90)
    rng.shuffle(picked)
    picked[3] = f"水果全烂了，请打我电话 {PHONE} 处理退款"  # PII must never reach reports or the manifest
    days = [f"2026-10-{d:02d}" for d in range(1, 29)]
    return [{"id": f"m{i}", "text": t, "timestamp": days[i % len(days)]} for i, t in enumerate(picked)]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in _corpus()]
    lines.insert(10, "{broken json")
    lines.insert(20, json.dumps({"id": "empty", "text": "  "}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _train(corpus: Path, out: Path, artifacts: Path, *extra: str) -> None:
    from training.topics.recipe import main

    args = ["--input", str(corpus), "--output", str(out), "--artifacts", str(artifacts)]
    assert main([*args, "--category-temperature", "0.02", "--no-progress", *extra]) == 0


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory, corpus_file: Path, artifacts: Path) -> Path:
    out = tmp_path_factory.mktemp("topics") / "a"
    _train(corpus_file, out, artifacts)
    return out


def _texts(corpus: Path) -> list[str]:
    from training.topics.data import read_corpus

    return [r.text for r in read_corpus(corpus) if r.error is None]


def test_fit_writes_bertopic_files_manifest_and_masked_examples(fitted: Path) -> None:
    for name in ("topic_embeddings.safetensors", "topics.json", "config.json", "ctfidf.safetensors", "manifest.json"):
        assert (fitted / name).is_file(), name
    manifest = json.loads((fitted / "manifest.json").read_text(encoding="utf-8"))
    topics = [t for t in manifest["topics"] if t["id"] != OUTLIER_ID]
    assert len(topics) >= 4
    assert sorted(t["id"] for t in topics) == list(range(len(topics)))  # first fit: 0..K-1
    for t in topics:
        assert t["keywords"] and t["label"] == " / ".join(t["keywords"][:3])
        # jieba words, not characters: every Chinese keyword has at least two characters
        assert all(len(k) >= 2 for k in t["keywords"])
        assert len(t["representative"]) == 3
    assert PHONE not in (fitted / "manifest.json").read_text(encoding="utf-8")
    config = json.loads((fitted / "config.json").read_text(encoding="utf-8"))
    assert config["embedding_model"].startswith("tousu-onnx:")  # a tag, not a hub id
    labels = " ".join(t["label"] for t in topics)
    assert any(w in labels for w in ("card", "refund", "pin", "exchange", "rate"))  # English themes found
    assert any("\u4e00" <= ch <= "\u9fff" for ch in labels)  # and Chinese ones


def test_assignments_jsonl_has_one_line_per_record_in_input_order(fitted: Path, corpus_file: Path) -> None:
    records = corpus_file.read_text(encoding="utf-8").splitlines()
    lines = [json.loads(x) for x in (fitted / "assignments.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(records)
    assert lines[10] == {"id": None, "line": 11, "topic": None, "category": None, "error_type": "invalid_json"}
    assert lines[20]["id"] == "empty" and lines[20]["error_type"] == "empty_text"
    good = [x for x in lines if x.get("error_type") is None]
    assert [x["id"] for x in good] == [json.loads(r)["id"] for r in records if r.startswith('{"id": "m')]
    model = TopicModel.load(fitted)
    known = {t.id: t.label for t in model.topics}
    for x in good:
        assert set(x) == {"id", "topic", "category"}
        assert x["topic"]["id"] in known
        assert 0.0 < x["category"]["score"] <= 1.0


def test_same_corpus_and_seed_give_the_same_topics(
    fitted: Path, corpus_file: Path, artifacts: Path, tmp_path: Path
) -> None:
    again = tmp_path / "b"
    _train(corpus_file, again, artifacts)
    assert (again / "topic_embeddings.safetensors").read_bytes() == (
        fitted / "topic_embeddings.safetensors"
    ).read_bytes()
    a = json.loads((fitted / "topics.json").read_text(encoding="utf-8"))
    b = json.loads((again / "topics.json").read_text(encoding="utf-8"))
    assert a["topics"] == b["topics"] and a["topic_representations"] == b["topic_representations"]
    assert (again / "assignments.jsonl").read_text(encoding="utf-8") == (fitted / "assignments.jsonl").read_text(
        encoding="utf-8"
    )


def test_served_assignment_equals_bertopic_transform(
    fitted: Path, corpus_file: Path, artifacts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from bertopic import BERTopic

    from training.topics.recipe import embed

    texts = [*_texts(corpus_file)[:200], "快递一个星期都没到", "The app keeps crashing", "你好"]
    emb, _ = embed(texts, artifacts, progress=False)
    predictions, probabilities = BERTopic.load(str(fitted)).transform(texts, emb)
    ours = TopicModel.load(fitted).assign(emb)
    assert [a.topic.bertopic_id for a in ours] == list(predictions)
    np.testing.assert_allclose([a.similarity for a in ours], probabilities, atol=1e-5)
    assert all(0.0 < a.probability <= 1.0 for a in ours)


def test_refit_keeps_ids_of_the_same_themes(fitted: Path, corpus_file: Path, artifacts: Path, tmp_path: Path) -> None:
    refit = tmp_path / "refit"
    _train(corpus_file, refit, artifacts, "--previous", str(fitted), "--seed", "21")
    before = json.loads((fitted / "manifest.json").read_text(encoding="utf-8"))
    after = json.loads((refit / "manifest.json").read_text(encoding="utf-8"))
    prev_ids = {t["id"] for t in before["topics"]} - {OUTLIER_ID}
    align = after["alignment"]
    matched = {m["id"] for m in align["matched"]}
    # A different seed on the same corpus finds mostly the same themes: they keep their ids.
    assert len(matched) >= len(prev_ids) // 2
    assert matched | set(align["vanished"]) == prev_ids
    assert all(i >= before["next_id"] for i in align["new"])
    ids_now = {t["id"] for t in after["topics"]} - {OUTLIER_ID}
    assert ids_now == matched | set(align["new"])
    assert {v["id"] for v in after["vanished"]} == set(align["vanished"])
    # Labels of matched themes agree on at least one keyword (the same theme, not just the same id).
    kw_before = {t["id"]: set(t["keywords"]) for t in before["topics"]}
    kw_after = {t["id"]: set(t["keywords"]) for t in after["topics"]}
    assert all(kw_before[i] & kw_after[i] for i in matched)


def _analyze(registry: Registry, texts: list[str], analyzer: Analyzer | None = None) -> list[object]:
    analyzer = analyzer or registry.analyzer
    return list(analyzer.analyze_batch([AnalysisInput.prepare(t) for t in texts]))


def test_served_stage_answers_topic_and_category(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from bertopic import BERTopic

    texts = ["我下单十天了快递还没到，物流信息一直不更新", "My card still hasn't arrived after two weeks"]
    answers = registry.analyzer.analyze_batch([AnalysisInput.prepare(t) for t in texts])
    served = TopicModel.load(DEFAULT_HEADS_DIR / "topics")
    emb = registry.analyzer.encoder.forward(registry.analyzer.encoder.preprocess(texts))
    embeddings = np.stack([o.embedding for o in emb])
    predictions, _ = BERTopic.load(str(DEFAULT_HEADS_DIR / "topics")).transform(texts, embeddings)
    by_bid = {t.bertopic_id: t for t in served.topics}
    for answer, bid in zip(answers, predictions, strict=True):
        assert answer.category is not None and answer.category.name == "delivery_and_logistics"
        assert answer.topic is not None
        assert answer.topic.id == by_bid[int(bid)].id  # the same topic BERTopic itself assigns
        assert 0.0 < answer.topic.probability <= 1.0
        if answer.topic.id != OUTLIER_ID:
            assert answer.topic.keywords and answer.topic.label
    assert "topic" in registry.analyzer.model_versions


def test_taxonomy_edit_takes_effect_without_retraining(registry: Registry, artifacts: Path, tmp_path: Path) -> None:
    taxonomy = json.loads(DEFAULT_TAXONOMY.read_text(encoding="utf-8"))
    taxonomy["categories"].insert(
        0,
        {
            "name": "accessibility",
            "description": {
                "zh": "无障碍：轮椅进不去、没有无障碍通道或电梯、不照顾残障人士和老人",
                "en": "Accessibility: no step-free access, no wheelchair assistance, disabled customers ignored",
            },
            "examples": {
                "zh": ["店门口全是台阶，轮椅根本进不去", "没有无障碍电梯", "盲人朋友没法使用你们的点餐系统"],
                "en": ["There was no wheelchair assistance at the gate", "No step-free access to the platform"],
            },
        },
    )
    path = tmp_path / "taxonomy.json"
    path.write_text(json.dumps(taxonomy, ensure_ascii=False), encoding="utf-8")
    encoder = registry.analyzer.encoder
    env = StageEnv(heads_dir=DEFAULT_HEADS_DIR, artifacts_dir=artifacts, encoder=encoder)
    default = load_topic_stage(env)
    edited = load_topic_stage(dataclasses.replace(env, settings=ModelSettings(taxonomy_path=path)))
    assert default is not None and edited is not None
    assert edited[0].version != default[0].version  # cached answers do not survive the edit
    analyzer = Analyzer(encoder, registry.analyzer.sentiment, (edited[0],))
    text = "我坐轮椅，你们门店连一个坡道都没有，只能在门外等"
    before = registry.analyzer.analyze_batch([AnalysisInput.prepare(text)])[0]
    after = analyzer.analyze_batch([AnalysisInput.prepare(text)])[0]
    assert before.category is not None and before.category.name != "accessibility"
    assert after.category is not None and after.category.name == "accessibility"
    assert after.topic == before.topic  # topics do not depend on the taxonomy


def test_report_is_offline_html_with_masked_examples(
    fitted: Path, corpus_file: Path, artifacts: Path, tmp_path: Path
) -> None:
    from training.topics.report import main

    out = tmp_path / "report"
    args = ["--input", str(corpus_file), "--model", str(fitted), "--output", str(out), "--artifacts", str(artifacts)]
    assert main(args) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    from plotly.offline import get_plotlyjs

    bundle = get_plotlyjs()
    assert page.count(bundle) == 1  # plotly.js inlined exactly once
    outside = page.replace(bundle, "")
    assert "<script src=" not in outside and "cdn.plot.ly" not in outside  # nothing fetched from the network
    for title in ("Topic map", "Keywords per topic", "Topics over time", "Topic hierarchy"):
        start = page.index(f"<h2>{title}</h2>")
        assert "plotly-graph-div" in page[start : start + 5000], title
    assert PHONE not in page and PHONE not in json.dumps(summary, ensure_ascii=False)
    assert summary["messages"] == summary["records"] - 2
    assert sum(t["messages"] for t in summary["topics"]) == summary["messages"]
    names = {c["name"] for c in json.loads(DEFAULT_TAXONOMY.read_text(encoding="utf-8"))["categories"]}
    assert {c["name"] for c in summary["categories"]} <= names
