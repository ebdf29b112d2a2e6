"""One id per responsible party and brand (``models/entities/parties.py``, ``resources/entities/parties.json``)."""

from __future__ import annotations

from collections import defaultdict

import pytest

from models.entities.lexicon import load
from models.entities.parties import find_party_spans, fold, gazetteer_names, org_value, product_value


def test_alias_table_is_unambiguous() -> None:
    """No alias (folded) names two parties, and every party has an id, a kind and its own name as an alias."""
    owners: dict[str, set[str]] = defaultdict(set)
    ids = []
    for party in load("parties")["parties"]:
        ids.append(party["id"])
        assert party["kind"] in {"platform", "carrier", "company", "government", "brand"}
        assert party["name"] in party["aliases"]
        assert set(party.get("not_alone", ())) <= set(party["aliases"])
        for alias in party["aliases"]:
            owners[fold(alias)].add(party["id"])
    assert len(ids) == len(set(ids))
    assert {a: o for a, o in owners.items() if len(o) > 1} == {}


@pytest.mark.parametrize(
    ("text", "party"),
    [
        ("京东", "jd"),
        ("京東", "jd"),
        ("JD", "jd"),
        ("JD.com", "jd"),
        ("ＪＤ", "jd"),  # full-width
        ("京东自营", "jd"),
        ("京东客服", "jd"),
        ("京东物流", "jd_logistics"),  # the carrier is not the platform
        ("順豐", "sf"),
        ("顺丰速运", "sf"),
        ("深圳市顺丰速运有限公司", "sf"),
        ("SF Express", "sf"),
        ("淘寶", "taobao"),
        ("天貓", "tmall"),
        ("蝦皮", "shopee"),
        ("Shopee", "shopee"),
        ("Uber Eats", "ubereats"),
        ("UberEats", "ubereats"),
        ("中國移動", "china_mobile"),
        ("消協", "cca"),
        ("市场监管局", "samr"),
        ("華為", "huawei"),
        ("苹果公司", "apple"),
        ("Apple", "apple"),
    ],
)
def test_every_spelling_of_a_party_has_one_id(text: str, party: str) -> None:
    value = org_value(text)
    assert value["id"] == party
    assert value["known"] is True


def test_shop_of_a_party_and_unknown_organisations() -> None:
    shop = org_value("华为官方旗舰店")
    assert (shop["id"], shop.get("shop")) == ("huawei", True)
    unknown = org_value("阿福 小店")
    assert unknown == {"id": "x:阿福小店", "name": "阿福 小店", "kind": None, "known": False}
    # a Latin alias inside a longer code is not the party (JD + a tracking number, MI in MIUI)
    assert org_value("JDVB123")["known"] is False
    assert org_value("MIUI")["known"] is False


@pytest.mark.parametrize(
    ("text", "brand", "pid"),
    [
        ("华为Mate60 Pro", "huawei", "huawei:mate60pro"),
        ("華為 Mate 60 Pro", "huawei", "huawei:mate60pro"),
        ("iPhone 15", "apple", "apple:iphone15"),
        ("iPhone15", "apple", "apple:iphone15"),
        ("Galaxy S24", "samsung", "samsung:galaxys24"),
        ("小米14 Ultra", "xiaomi", "xiaomi:14ultra"),
        ("戴森V12", "dyson", "dyson:v12"),
        ("Foo X1", None, "x:foox1"),
    ],
)
def test_products_name_their_brand(text: str, brand: str | None, pid: str) -> None:
    value = product_value(text)
    assert (value["brand"], value["id"]) == (brand, pid)


def test_gazetteer_leaves_ordinary_words_alone() -> None:
    names = set(gazetteer_names())
    assert {"京東", "JD", "順豐", "中國郵政", "Shopee"} <= names
    assert not {"苹果", "小米", "美的", "RED", "HP"} & names


@pytest.mark.parametrize(
    ("text", "span", "party", "unit"),
    [
        ("我在华为官方旗舰店买的手机", "华为官方旗舰店", "huawei", {"shop": True}),
        ("京东客服中心一直不回", "京东客服中心", "jd", {"department": "客服中心"}),
        ("Anker旗舰店发错货了", "Anker旗舰店", "x:anker旗舰店", {"kind": "shop"}),
        ("售后部说不管", "售后部", "x:售后部", {"kind": "department"}),
    ],
)
def test_shops_and_departments_are_parties(text: str, span: str, party: str, unit: dict[str, object]) -> None:
    [(start, end, _)] = find_party_spans(text)
    assert text[start:end] == span
    value = org_value(span)
    assert value["id"] == party
    assert unit.items() <= value.items()


def test_pipeline_gives_each_spelling_one_party_id() -> None:
    """Through the served pipelines: 京東 (Traditional, normalised first), 京东 and JD are one id."""
    from models.entities.pipeline import EntityConfig, EntityPipelines, EntityRequest
    from models.text import normalize

    pipelines = EntityPipelines.build(EntityConfig())
    texts = [("在京東買的耳機壞了", "zh"), ("京东的客服不理人", "zh"), ("JD never refunded my order", "en")]
    found = pipelines.extract([EntityRequest(normalize(t), lang) for t, lang in texts])
    ids = [{e.normalized["id"] for e in ents if e.type == "ORG" and isinstance(e.normalized, dict)} for ents in found]
    assert all("jd" in i for i in ids), ids


@pytest.mark.parametrize(
    ("text", "carrier"),
    [
        ("Why did my top ups fail?", False),  # BANKING77: "top ups" made UPS the party of a dozen card questions
        ("I have two pending top-ups", False),
        ("follow ups never happen", False),
        ("ups lost my package", True),
        ("shipped it via ups last week", True),
        ("The UPS guy never came", True),
        ("Top UPS driver threw my parcel", True),  # written as the name
    ],
)
def test_a_lowercase_name_closing_an_english_compound_is_no_carrier(text: str, carrier: bool) -> None:
    from models.entities.components import in_lowercase_compound

    start = text.lower().index("ups")
    assert in_lowercase_compound(text, start, start + 3) is not carrier
