"""Root-cause categories with the real encoder: the shipped taxonomy, ``other``, few-shot examples."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from models.encoder import OnnxEncoder
from models.topics.taxonomy import (
    DEFAULT_TAXONOMY,
    CategoryMapper,
    Taxonomy,
    TaxonomyError,
    embed_texts,
    load_examples,
    read_bank,
)

ISSUE_CATEGORIES = (  # the issue's taxonomy, in the shipped order
    "delivery_and_logistics",
    "product_quality",
    "installation_and_repair",
    "refund_and_returns",
    "billing_and_charges",
    "price_and_promotion",
    "misleading_sales",
    "service_attitude",
    "account_and_login",
    "app_and_website",
    "safety_and_health",
    "privacy_and_data",
    "other",
)


@pytest.fixture(scope="module")
def encoder(artifacts: Path) -> OnnxEncoder:
    return OnnxEncoder(artifacts / "e5-small", precision="int8", threads=2)


@pytest.fixture(scope="module")
def served(encoder: OnnxEncoder) -> CategoryMapper:
    return CategoryMapper.build(Taxonomy.load(DEFAULT_TAXONOMY), encoder)


def _names(mapper: CategoryMapper, encoder: OnnxEncoder, texts: list[str]) -> list[str]:
    return [c.name for c in mapper.categorize(embed_texts(encoder, texts))]


def test_shipped_taxonomy_covers_the_complaint_categories_in_both_languages() -> None:
    taxonomy = Taxonomy.load(DEFAULT_TAXONOMY)
    assert taxonomy.names == ISSUE_CATEGORIES
    for category in taxonomy.categories:
        assert len(category.texts) >= 6  # description (zh, en) + examples
        assert {"zh", "en"} <= set(category.label)
    assert taxonomy.fallback == "other"
    assert taxonomy.scoring is not None
    assert taxonomy.bank is not None and taxonomy.bank.is_file()
    raw = json.loads(DEFAULT_TAXONOMY.read_text(encoding="utf-8"))
    for entry in raw["categories"]:
        assert {"zh", "en"} <= set(entry["label"]) and {"zh", "en"} <= set(entry["description"])
        assert {"zh", "en"} <= set(entry["examples"])


def test_the_head_uses_the_shipped_bank(served: CategoryMapper) -> None:
    assert served.head is not None
    assert served.bank_counts["bank"] >= 200 and served.bank_counts["taxonomy"] >= 100
    assert served.bank_counts["examples"] == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("下单十天了快递还没到，物流信息一直不更新", "delivery_and_logistics"),
        ("Our flight was cancelled last minute and we missed the connection", "delivery_and_logistics"),
        ("手机才用了三天屏幕就出现花屏，质量太差了", "product_quality"),
        ("The engine knocks and the gearbox jerks when shifting from second to third", "product_quality"),
        ("空調師傅約好週六來安裝，結果放鴿子", "installation_and_repair"),
        ("退货寄回去两周了，退款还没到账", "refund_and_returns"),
        ("I was charged twice for a single order", "billing_and_charges"),
        ("刚买完第二天就降价两百，还不给保价", "price_and_promotion"),
        ("The salesman promised free servicing for three years and the dealer now denies it", "misleading_sales"),
        ("客服态度恶劣，说两句就直接挂我电话", "service_attitude"),
        ("I can't log in to my account, the verification code never arrives", "account_and_login"),
        ("App 更新以后一打开就闪退", "app_and_website"),
        ("吃了他们家的外卖，全家上吐下泻", "safety_and_health"),
        ("Since I ordered from you I get spam calls every day, who did you sell my number to?", "privacy_and_data"),
    ],
)
def test_clear_complaints_get_their_category(
    served: CategoryMapper, encoder: OnnxEncoder, text: str, expected: str
) -> None:
    (category,) = served.categorize(embed_texts(encoder, [text]))
    assert category.name == expected
    assert 0.0 < category.score <= 1.0


def test_complaints_without_a_cause_are_other(served: CategoryMapper, encoder: OnnxEncoder) -> None:
    texts = ["太失望了，再也不来了", "You are the worst company I have ever dealt with"]
    assert _names(served, encoder, texts) == ["other", "other"]


def test_other_threshold_sends_unsure_messages_to_the_fallback(encoder: OnnxEncoder, tmp_path: Path) -> None:
    raw = json.loads(DEFAULT_TAXONOMY.read_text(encoding="utf-8"))
    texts = ["下单十天了快递还没到，物流信息一直不更新", "这个东西有点一般吧"]
    answers = {}
    for threshold in (0.0, 0.99):
        raw["scoring"]["other_threshold"] = threshold
        path = tmp_path / f"taxonomy-{threshold}.json"
        path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
        mapper = CategoryMapper.build(Taxonomy.load(path), encoder)
        assert mapper.bank_counts["bank"] >= 200  # an edited copy elsewhere still finds the shipped bank
        answers[threshold] = mapper.categorize(embed_texts(encoder, texts))
    assert answers[0.0][0].name == "delivery_and_logistics"
    assert [c.name for c in answers[0.99]] == ["other", "other"]
    # The fallback's score is one minus the best category's probability.
    assert answers[0.99][0].score == pytest.approx(1.0 - answers[0.0][0].score, abs=2e-4)


def test_few_shot_examples_move_a_users_convention_and_nothing_else(
    served: CategoryMapper, encoder: OnnxEncoder, tmp_path: Path
) -> None:
    """A user files in-flight wifi under app_and_website; the shipped head says product_quality."""
    wifi = [
        "The wifi on board never connected",
        "Inflight wifi was down the whole trip",
        "Paid for wifi on the plane and it did not work",
        "No working internet on a six hour flight",
        "The onboard wifi portal kept failing",
        "Wifi on flight 212 was useless",
        "Could not get the in-flight internet to load anything",
        "機上Wi-Fi完全連不上",
        "飞机上的无线网一直连不上",
        "航班上的WiFi付了钱也用不了",
        "Onboard wifi dropped every five minutes",
        "The plane's internet service never worked",
    ]
    unseen = ["The inflight wifi kept dropping out all flight", "飞机上的WiFi一直断线"]
    others = [
        "下单十天了快递还没到，物流信息一直不更新",
        "I was charged twice for a single order",
        "客服态度恶劣，说两句就直接挂我电话",
    ]
    before = _names(served, encoder, unseen + others)
    assert before[:2] != ["app_and_website", "app_and_website"]

    path = tmp_path / "examples.jsonl"
    path.write_text(
        "\n".join(json.dumps({"text": t, "category": "app_and_website"}, ensure_ascii=False) for t in wifi) + "\n",
        encoding="utf-8",
    )
    tuned = CategoryMapper.build(Taxonomy.load(DEFAULT_TAXONOMY), encoder, examples=path)
    assert tuned.bank_counts["examples"] == len(wifi)
    after = _names(tuned, encoder, unseen + others)
    assert after[:2] == ["app_and_website", "app_and_website"]
    assert after[2:] == before[2:]  # the rest of the taxonomy keeps its answers
    assert tuned.version != served.version  # cached answers do not survive a change of examples


def test_example_file_errors_name_the_line(tmp_path: Path) -> None:
    taxonomy = Taxonomy.load(DEFAULT_TAXONOMY)
    path = tmp_path / "examples.jsonl"
    good = '{"text": "快递太慢", "category": "delivery_and_logistics"}'
    path.write_text(good + '\n\n{"text": "x", "category": "shipping"}\n')
    with pytest.raises(TaxonomyError, match=r"examples.jsonl:3: unknown category 'shipping'"):
        load_examples(path, taxonomy)
    path.write_text('{"text": "", "label": "other"}\n')
    with pytest.raises(TaxonomyError, match=r":1: needs a non-empty 'text'"):
        load_examples(path, taxonomy)
    path.write_text('{"text": "fine", "label": "other"}\n{oops\n')
    with pytest.raises(TaxonomyError, match=r":2: not valid JSON"):
        load_examples(path, taxonomy)


def test_a_bank_from_another_encoder_is_not_used(
    encoder: OnnxEncoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    taxonomy = Taxonomy.load(DEFAULT_TAXONOMY)
    path = tmp_path / "bank.npz"
    np.savez(path, embeddings=np.zeros((2, 384), np.float16), labels=np.asarray(["other", "other"]), encoder="x-1")
    with caplog.at_level(logging.WARNING):
        assert read_bank(path, taxonomy, encoder) is None
    assert "not used" in caplog.text
    assert taxonomy.bank is not None
    shipped = read_bank(taxonomy.bank, taxonomy, encoder)
    assert shipped is not None and len(shipped[1]) == len(shipped[0]) >= 200


@pytest.mark.parametrize(
    ("scoring", "message"),
    [
        ({"other_threshold": 1.5}, "other_threshold"),
        ({"regularization": 0}, "positive regularization"),
        ({"temperature": 1}, "unknown 'scoring' keys"),
    ],
)
def test_malformed_scoring_is_refused(tmp_path: Path, scoring: dict[str, float], message: str) -> None:
    raw = {"categories": [{"name": "a", "description": "x"}, {"name": "b", "description": "y"}], "scoring": scoring}
    path = tmp_path / "taxonomy.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(TaxonomyError, match=message):
        Taxonomy.load(path)
