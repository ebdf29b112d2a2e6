"""Topic plumbing without the encoder: id alignment, taxonomy validation, corpus reading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.topics.align import align_topics, assign_fresh
from models.topics.taxonomy import Taxonomy, TaxonomyError
from training.topics.data import read_corpus


def _unit(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_alignment_keeps_ids_of_the_same_themes_and_issues_fresh_ids() -> None:
    rng = np.random.default_rng(0)
    previous = _unit(rng, 5)
    previous_ids = [0, 1, 2, 7, 9]  # ids 3..6 and 8 vanished in earlier refits
    # New fit: themes of previous ids 9, 0, 2 (slightly moved, new order), one brand-new theme.
    noise = 0.05 * _unit(rng, 3)
    moved = previous[[4, 0, 2]] + noise
    new = np.vstack([moved, _unit(rng, 1)])
    al = align_topics(new, previous_ids, previous, next_id=10, threshold=0.9)
    assert al.ids[:3] == (9, 0, 2)
    assert al.ids[3] == 10  # above every id ever issued, never a reused vanished id
    assert al.new == (10,)
    assert al.vanished == (1, 7)
    assert al.next_id == 11
    assert {pid for _, pid, _ in al.matched} == {9, 0, 2}


def test_alignment_threshold_refuses_weak_matches() -> None:
    rng = np.random.default_rng(1)
    previous = _unit(rng, 3)
    new = _unit(rng, 3)  # unrelated random directions: cosines near 0
    al = align_topics(new, [0, 1, 2], previous, next_id=3, threshold=0.5)
    assert al.matched == ()
    assert al.ids == (3, 4, 5)
    assert al.vanished == (0, 1, 2)
    # The same pairs pass with a threshold below their similarity.
    low = align_topics(previous + 0.01, [0, 1, 2], previous, next_id=3, threshold=0.5)
    assert low.ids == (0, 1, 2) and low.vanished == ()


def test_alignment_is_one_to_one() -> None:
    rng = np.random.default_rng(2)
    previous = _unit(rng, 2)
    # Two new topics both closest to previous topic 0: only one may inherit its id.
    new = np.vstack([previous[0] + 0.01, previous[0] + 0.02])
    al = align_topics(new, [4, 5], previous, next_id=6, threshold=0.8)
    assert sorted(al.ids) == [4, 6]
    assert al.vanished == (5,)


def test_first_fit_numbers_by_size() -> None:
    al = assign_fresh(4)
    assert al.ids == (0, 1, 2, 3) and al.next_id == 4


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not valid UTF-8 JSON"),
        ('{"categories": [{"name": "a", "description": "x"}]}', "at least two"),
        ('{"categories": [{"name": "a", "description": "x"}, {"description": "y"}]}', "needs a non-empty 'name'"),
        ('{"categories": [{"name": "a", "description": "x"}, {"name": "b"}]}', "needs a 'description'"),
        ('{"categories": [{"name": "a", "description": "x"}, {"name": "a", "examples": ["y"]}]}', "duplicate"),
    ],
)
def test_malformed_taxonomy_is_refused_with_a_clear_message(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "taxonomy.json"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(TaxonomyError, match=message):
        Taxonomy.load(path)


def test_corpus_reader_keeps_every_record_in_input_order(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    lines = [
        json.dumps({"id": "a", "text": "快递太慢了", "timestamp": "2026-11-01"}, ensure_ascii=False),
        "{not json",
        json.dumps({"id": "c", "text": "   "}),
        json.dumps({"id": "d"}),
        "",
        json.dumps({"text": "refund please"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = read_corpus(path)
    assert [(r.id, r.error) for r in records] == [
        ("a", None),
        (None, "invalid_json"),
        ("c", "empty_text"),
        ("d", "missing_text"),
        (None, None),
    ]
    assert records[0].timestamp == "2026-11-01"
    assert [r.line for r in records] == [1, 2, 3, 4, 6]

    csv_path = tmp_path / "corpus.csv"
    csv_path.write_text("id,text\n1,物流慢\n2,\n", encoding="utf-8")
    assert [(r.id, r.text, r.error) for r in read_corpus(csv_path)] == [("1", "物流慢", None), ("2", "", "empty_text")]


def _tiny_model(directory: Path, outliers: bool) -> np.ndarray:
    """A hand-written model directory in BERTopic's safetensors layout plus the project's manifest."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(3)
    bids = ([-1] if outliers else []) + [0, 1, 2]
    emb = _unit(rng, len(bids), 16)
    directory.mkdir(parents=True, exist_ok=True)
    save_file({"topic_embeddings": emb}, str(directory / "topic_embeddings.safetensors"))
    sizes = {str(b): 10 for b in bids}
    (directory / "topics.json").write_text(json.dumps({"topic_sizes": sizes, "_outliers": int(outliers)}))
    topics = [
        {"bertopic_id": b, "id": -1 if b == -1 else 10 + b, "label": f"t{b}", "keywords": [f"w{b}"], "size": 10}
        for b in bids
    ]
    manifest = {"topics": topics, "probability_temperature": 0.05, "next_id": 13}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return emb


@pytest.mark.parametrize("outliers", [True, False])
def test_served_assignment_is_the_nearest_topic_embedding(tmp_path: Path, outliers: bool) -> None:
    from models.topics.model import TopicModel

    emb = _tiny_model(tmp_path, outliers)
    model = TopicModel.load(tmp_path)
    # Messages that are (noisy) copies of each topic embedding go to that topic, outlier row included.
    queries = emb + 0.01 * _unit(np.random.default_rng(4), len(emb), 16)
    out = model.assign(queries)
    expected = ([-1] if outliers else []) + [10, 11, 12]
    assert [a.topic.id for a in out] == expected
    assert [a.topic.bertopic_id for a in out] == [e - 10 if e >= 0 else -1 for e in expected]
    sims = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ emb.T
    np.testing.assert_allclose([a.similarity for a in out], sims.max(axis=1), atol=1e-6)
    z = np.exp((sims - sims.max(axis=1, keepdims=True)) / 0.05)
    np.testing.assert_allclose([a.probability for a in out], (z / z.sum(axis=1, keepdims=True)).max(axis=1), atol=1e-5)


def test_served_topic_model_needs_no_training_libraries(tmp_path: Path) -> None:
    import subprocess
    import sys

    _tiny_model(tmp_path, True)
    code = (
        "import sys, numpy as np; from pathlib import Path; from models.topics.model import TopicModel;"
        f"m = TopicModel.load(Path({str(tmp_path)!r})); m.assign(np.ones((2, 16), np.float32));"
        "print(any(k in sys.modules for k in ('bertopic', 'sklearn', 'torch', 'umap', 'hdbscan', 'scipy')))"
    )
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_incomplete_model_directory_is_refused(tmp_path: Path) -> None:
    from models.topics.model import TopicModel, TopicModelError

    _tiny_model(tmp_path, False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["topics"] = manifest["topics"][:-1]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TopicModelError, match="no entry for BERTopic topic 2"):
        TopicModel.load(tmp_path)
    (tmp_path / "topics.json").unlink()
    with pytest.raises(TopicModelError, match=r"topics\.json not found"):
        TopicModel.load(tmp_path)
