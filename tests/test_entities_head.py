"""The token head on the real encoder pass: real predictions, the served choice, and its place in the pipelines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.encoder import EncoderOutput, OnnxEncoder
from models.entities.pipeline import EntityConfig, EntityPipelines, EntityRequest, head_types
from models.entities.token_head import TokenHead, token_states
from models.settings import DEFAULT_HEADS_DIR
from models.text import normalize

pytestmark = pytest.mark.model
HEAD_DIR = DEFAULT_HEADS_DIR / "entities" / "token_head"


@pytest.fixture(scope="module")
def encoder(artifacts: Path) -> OnnxEncoder:
    return OnnxEncoder(artifacts / "e5-small", precision="int8", threads=2)


@pytest.fixture(scope="module")
def head() -> TokenHead:
    return TokenHead.load(HEAD_DIR)


def _pass(encoder: OnnxEncoder, text: str) -> tuple[str, EncoderOutput]:
    norm = normalize(text).text
    return norm, encoder.forward(encoder.preprocess([norm]))[0]


def _spans(head: TokenHead, encoder: OnnxEncoder, text: str) -> set[tuple[str, str]]:
    norm, out = _pass(encoder, text)
    return {(norm[s.start : s.end], s.type) for s in head.spans(out, norm)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the types it serves: English names, organisations and places; Chinese products and model numbers
        (
            "Tim Cook said Apple will open a new store in London",
            {("Tim Cook", "PERSON"), ("Apple", "ORG"), ("London", "LOCATION")},
        ),
        ("Called Comcast support, agent Maria Lopez hung up on me", {("Comcast", "ORG"), ("Maria Lopez", "PERSON")}),
        ("我在京东买的华为Mate60 Pro屏幕坏了", {("华为Mate60 Pro", "PRODUCT")}),
        ("海尔冰箱BCD-510WKPZM漏水", {("BCD-510WKPZM", "PRODUCT")}),
        ("昨天张伟在北京的华为门店等了两个小时", {("张伟", "PERSON")}),
    ],
)
def test_head_finds_names_places_and_organisations(
    head: TokenHead, encoder: OnnxEncoder, text: str, expected: set[tuple[str, str]]
) -> None:
    assert expected <= _spans(head, encoder, text)


def test_head_reads_the_served_states(head: TokenHead, encoder: OnnxEncoder) -> None:
    """One row of [layer 8 | last layer] per content token, the width the head was trained on."""
    _, out = _pass(encoder, "顺丰快递把我的包裹弄丢了")
    states = token_states(out)
    assert states.shape == (len(out.offsets), head.width)
    probs = head.proba(states)
    assert probs.shape == (len(out.offsets), len(head.labels))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_served_types_are_the_ones_that_won_on_left_out_sources() -> None:
    """``config.json`` ``serve`` is what the recipe's rule gives on its own leave-one-source-out table."""
    import json

    from training.entities.recipe import choose

    metrics = json.loads((HEAD_DIR / "metrics.json").read_text(encoding="utf-8"))
    assert {k: list(v) for k, v in choose(metrics["loso"]).items()} == {
        "zh": list(head_types(HEAD_DIR, "zh")),
        "en": list(head_types(HEAD_DIR, "en")),
    }


def test_the_base_model_is_left_out_where_the_recipe_rule_says() -> None:
    """``replaces_base`` is what the recipe's rule gives on its own left-out table, and the served build follows it."""
    import json

    from models.entities.pipeline import head_replaces_base
    from training.entities.recipe import replaces_base

    metrics = json.loads((HEAD_DIR / "metrics.json").read_text(encoding="utf-8"))
    config = json.loads((HEAD_DIR / "config.json").read_text(encoding="utf-8"))
    assert replaces_base(metrics["loso"], metrics["serve"]) == config.get("replaces_base", [])
    for lang in ("zh", "en"):
        assert head_replaces_base(HEAD_DIR, lang) == (lang in config.get("replaces_base", []))
    pipelines = EntityPipelines.build(EntityConfig(), head_dir=HEAD_DIR)
    assert ("ner" in pipelines.en.pipe_names) is not head_replaces_base(HEAD_DIR, "en")
    assert ("tousu_lac_ner" in pipelines.zh.pipe_names) is not head_replaces_base(HEAD_DIR, "zh")


def test_english_without_spacy_keeps_names_places_organisations_and_patterns(encoder: OnnxEncoder) -> None:
    if set(head_types(HEAD_DIR, "en")) != {"PERSON", "ORG", "LOCATION"}:
        pytest.skip("the head does not serve every English name type")
    pipelines = EntityPipelines.build(EntityConfig(), head_dir=HEAD_DIR, without_base=("en",))
    assert "ner" not in pipelines.en.pipe_names and "tousu_token_head" in pipelines.en.pipe_names
    text = "Agent Maria Lopez at Comcast in Denver hung up on me, order 889120034, I paid $45.99 on March 3"
    norm = normalize(text)
    out = encoder.forward(encoder.preprocess([norm.text]))[0]
    [entities] = pipelines.extract([EntityRequest(norm, "en", trunk=out)])
    found = {(e.type, e.text) for e in entities}
    assert {("PERSON", "Maria Lopez"), ("ORG", "Comcast"), ("LOCATION", "Denver")} <= found
    assert {("ORDER_ID", "889120034"), ("MONEY", "$45.99"), ("DATETIME", "March 3")} <= found


def test_pipeline_serves_the_head_types_and_keeps_the_rest(encoder: OnnxEncoder) -> None:
    served = set(head_types(HEAD_DIR, "zh")) | set(head_types(HEAD_DIR, "en"))
    if not served:
        pytest.skip("the head serves no type: LAC / spaCy won every type on left-out sources")
    pipelines = EntityPipelines.build(EntityConfig(), head_dir=HEAD_DIR)
    assert pipelines.needs_trunk
    text = "我在京東买的华为Mate60 Pro屏幕坏了，张伟说找顺丰，订单号3456712345678901234"
    norm = normalize(text)
    out = encoder.forward(encoder.preprocess([norm.text]))[0]
    [doc] = pipelines.docs([EntityRequest(norm, "zh", trunk=out)])
    sources = {ent.label_: ent._.entity.source for ent in doc.ents}
    for kind in head_types(HEAD_DIR, "zh"):
        assert sources.get(kind, "token_head") in {"token_head", "gazetteer", "products"}
    [entities] = pipelines.extract([EntityRequest(norm, "zh", trunk=out)])
    by_type = {e.type: e for e in entities}
    assert by_type["ORDER_ID"].text == "3456712345678901234"  # structured patterns still win their spans
    orgs = {e.normalized["id"] for e in entities if e.type == "ORG" and isinstance(e.normalized, dict)}
    assert "jd" in orgs  # 京東, Traditional, is the platform jd
    # without an encoder pass (or with another encoder's width) the head steps aside: LAC / spaCy spans stay
    [plain] = pipelines.extract([EntityRequest(norm, "zh")])
    assert {e.type for e in plain} >= {"ORDER_ID", "ORG"}


def test_served_onnx_graph_gives_the_numpy_probabilities(head: TokenHead, encoder: OnnxEncoder) -> None:
    """The pipeline runs the head as a small ONNX graph; it must compute what the trained head does."""
    from models.entities.token_head import OrtTokenHead

    served = OrtTokenHead(head, threads=1)
    for text in ("a", "顺丰快递把我的包裹弄丢了，客服小王说明天再查", "My Samsung Galaxy S23 stopped charging " * 5):
        _, out = _pass(encoder, text)
        states = token_states(out)
        assert np.allclose(served.proba(states), head.proba(states), atol=1e-5)
