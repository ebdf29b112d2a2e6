"""Normalisation keeps offsets into the original text; language is detected per message."""

from __future__ import annotations

import pytest

from models.text import URL_PLACEHOLDER, detect_language, normalize


def test_traditional_is_converted_and_offsets_point_at_original() -> None:
    original = "你們的效率真是讓人佩服，一週了還沒發貨"
    n = normalize(original)
    assert n.traditional
    assert n.text.startswith("你们的效率真是让人佩服")
    i = n.text.index("一周")
    start, end = n.to_original(i, i + 2)
    assert original[start:end] == "一週"


def test_fullwidth_folds_to_ascii_with_one_to_one_offsets() -> None:
    original = "订单ＡＢ１２３！"
    n = normalize(original)
    assert n.text == "订单AB123!"
    start, end = n.to_original(2, 7)
    assert original[start:end] == "ＡＢ１２３"


def test_urls_become_a_placeholder_spanning_the_url() -> None:
    original = "看这里https://shop.example.com/item?id=9 很差"
    n = normalize(original)
    assert URL_PLACEHOLDER in n.text and "https" not in n.text
    i = n.text.index(URL_PLACEHOLDER)
    start, end = n.to_original(i, i + len(URL_PLACEHOLDER))
    assert original[start:end] == "https://shop.example.com/item?id=9"


def test_whitespace_and_control_characters() -> None:
    original = "  太慢了\x00   真的\u200b太慢 \n"
    n = normalize(original)
    assert n.text == "太慢了 真的太慢"
    i = n.text.index("真的")
    assert original[slice(*n.to_original(i, i + 2))] == "真的"


def test_emoji_are_kept() -> None:
    assert "😡" in normalize("退款还没到😡").text


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("快递三天了还没到", "zh"),
        ("你們的效率真是讓人佩服", "zh"),
        ("Thanks for sending the wrong shirt.", "en"),
        ("我的iPhone 15 Pro Max屏幕坏了", "zh"),
        ("Order 12345 never arrived, 客服不回", "zh"),
        ("12345 !!!", "und"),
    ],
)
def test_language_detection(text: str, lang: str) -> None:
    assert detect_language(normalize(text).text) == lang
