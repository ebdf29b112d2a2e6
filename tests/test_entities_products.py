"""English PRODUCT patterns (``models/entities/products.py``, lexicon ``products.json`` ``en``): the products
customers name in complaints are found, ordinary words and the makers' own names are not."""

from __future__ import annotations

import pytest

from models.entities.pipeline import EntityConfig, EntityPipelines, EntityRequest
from models.entities.products import find_products
from models.settings import DEFAULT_HEADS_DIR
from models.text import normalize
from tests.conftest import ARTIFACTS


def products(text: str) -> list[str]:
    return [text[a:b] for a, b in find_products(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My iphone 8 plus keeps restarting since the iOS 11.2 update", ["iphone 8 plus", "iOS 11.2"]),
        ("The screen of my Samsung Galaxy S9 cracked after two weeks", ["Samsung Galaxy S9"]),
        ("samsung s8 won't charge anymore", ["samsung s8"]),
        ("Returned a PS4 Pro and an Xbox One X, still no refund", ["PS4 Pro", "Xbox One X"]),
        ("Pixel 2 XL mic stopped working, Google support is useless", ["Pixel 2 XL"]),
        ("Windows 10 broke my printer driver again", ["Windows 10"]),
        ("the Venmo app charged me twice for one order", ["Venmo"]),
        ("Your Uber Eats app keeps crashing at checkout", ["Uber Eats"]),
        ("My Ford Focus transmission failed at 40k miles", ["Ford Focus"]),
        ("Still waiting for my Tesla Model 3 delivery", ["Tesla Model 3"]),
        ("The Kindle Paperwhite I ordered arrived with a dead pixel", ["Kindle Paperwhite"]),
        ("microsoft surface pro 4 fan is so loud", ["microsoft surface pro 4"]),
        ("bought minecraft for my son and the code doesn't work", ["minecraft"]),
        ("my whatsapp messages disappeared after the backup", ["whatsapp"]),
        ("Signal v4.2 broke notifications", ["Signal v4.2"]),
        ("我在淘宝买的iPhone 15 Pro，还有华为Mate60 Pro", ["iPhone 15 Pro", "华为Mate60 Pro"]),
    ],
)
def test_products_customers_name_are_found(text: str, expected: list[str]) -> None:
    assert products(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I made an apple pie and closed the windows",
        "Office hours are 9 to 5, please switch it off and on again",
        "Apple refused a refund and Samsung never answered",  # the makers alone are organisations
        "I've had my Samsung for 2 years",  # a brand and a quantity are no model
        "Amazon 2 days late again",
        "there was a traitor among us, above and beyond the call of duty",  # game titles as ordinary phrases
        "The app keeps crashing and the new update is worse",  # generic words before a cue
        "Q4 update tomorrow, the PC version is great",  # "update" / "version" alone are no cue
        "Costs 3.50 per item, see Chapter 3.2.1",
        "Model number HP-15-DY2795 overheats",  # part of a model code, not a product span
        "a galaxy far far away, take note of it",
        "The MacBook Pro I bought stopped working",  # a pronoun is no model letter
    ],
)
def test_ordinary_words_are_not_products(text: str) -> None:
    found = products(text)
    # the last sentence has one product, without the pronoun after it
    assert found == (["MacBook Pro"] if "MacBook" in text else [])


@pytest.fixture(scope="module")
def pipelines() -> EntityPipelines:
    config = EntityConfig.load(DEFAULT_HEADS_DIR / "entities" / "config.json")
    return EntityPipelines.build(config, DEFAULT_HEADS_DIR / "entities" / "branch", ARTIFACTS / "e5-small")


def _entities(pipelines: EntityPipelines, text: str) -> list[tuple[str, str]]:
    [entities] = pipelines.extract([EntityRequest(normalize(text), "en")])
    return [(e.type, e.text) for e in entities]


def test_product_does_not_take_the_makers_name(pipelines: EntityPipelines) -> None:
    found = _entities(pipelines, "Apple refused to replace my Apple Watch even though it is under warranty")
    assert ("PRODUCT", "Apple Watch") in found
    assert ("PRODUCT", "Apple") not in found
    found = _entities(pipelines, "Samsung told me my Galaxy S9 is out of warranty")
    assert ("PRODUCT", "Galaxy S9") in found
    assert not [t for kind, t in found if kind == "PRODUCT" and t.startswith("Samsung")]


def test_product_normalises_to_its_brand(pipelines: EntityPipelines) -> None:
    [entities] = pipelines.extract([EntityRequest(normalize("My iphone 8 plus will not turn on"), "en")])
    [product] = [e for e in entities if e.type == "PRODUCT"]
    assert product.text == "iphone 8 plus"
    assert isinstance(product.normalized, dict) and product.normalized["brand"] == "apple"
