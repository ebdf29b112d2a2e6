"""One id per responsible party and brand (``models/entities/parties.py``, ``resources/entities/parties.json``)."""

from __future__ import annotations

from collections import defaultdict

import pytest

from models.entities.lexicon import load
from models.entities.parties import fold, gazetteer_names, org_value, product_value


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
