"""PRODUCT by pattern: a known brand or product line followed by a model designation.

LAC has no product type and generic product words (手机, 冰箱) are not entities here, so the
pipeline names products the way complaints do: 华为Mate60 Pro, iPhone 15, 小米14 Ultra, 戴森V12.
Brands that are also ordinary words (苹果, 小米, 美的) need a model after them. Lexicon:
``models/resources/entities/products.json``.
"""

from __future__ import annotations

import re

from models.entities.lexicon import alternation, load

_P = load("products")
_MODEL = r"[A-Za-z]{0,8}\s?\d{1,5}[A-Za-z]{0,3}"
_SUFFIX = alternation(_P["model_suffixes"], lead=False)
PRODUCT_RE = re.compile(
    rf"(?<![A-Za-z0-9])(?:{alternation(_P['brands'], trail=False)}\s?{_MODEL}(?:\s?{_SUFFIX})*"
    rf"|{alternation(_P['alone'], trail=False)}(?:\s?{_MODEL})?(?:\s?{_SUFFIX})*)(?![A-Za-z0-9])"
)


def find_products(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in PRODUCT_RE.finditer(text)]
