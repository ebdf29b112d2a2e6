"""PRODUCT by pattern: known product names, and a known brand or product line followed by a model designation.

LAC has no product type and generic product words (手机, 冰箱) are not entities here, so the
pipeline names products the way complaints do: 华为Mate60 Pro, iPhone 15, 小米14 Ultra, 戴森V12.
Brands that are also ordinary words (苹果, 小米, 美的) need a model after them. Lexicon:
``models/resources/entities/products.json``.

English (the lexicon's ``en`` part, written from general knowledge, not from an evaluation set) adds what
customers name in English, in the case user-generated text writes it:

- product names that are neither ordinary words nor the maker's own name, in any case (``iphone 8``,
  ``PS4``, ``WhatsApp``, ``Minecraft``), with a version or designation after them (``iOS 11.2``,
  ``Xbox One X``); names that are also words or names only capitalised (``Kindle``, ``Chrome``);
- a brand with a product line or a model designation after it (``Samsung Galaxy S9``, ``Canon EOS 80D``,
  ``BMW X5``, ``Ford Focus``); the brand alone stays an organisation (``Samsung``, ``Apple``), and a number
  that is a quantity is no model (``Samsung 2 years ago``);
- a product line before a designation (``Galaxy S9``, ``Pixel 2 XL``, ``Surface Pro``, ``Model 3``);
- a capitalised name before a software cue (``the Venmo app``, ``the Uber Eats app``: the name) or with a
  version (``Signal v4.2``, ``Plex version 3``: name and version). "update" and "version" alone are no cue:
  news and sports write "Q4 update", "the PC version".
"""

from __future__ import annotations

import re
from typing import Any

from models.entities.lexicon import alternation, load, longest_first, trie_alternation

_P = load("products")
# letters before the number: capitalised ones may stand apart (Mate 60), lower-case ones only glued to it (mate60),
# so that words are no model (Samsung for 2 years)
_MODEL = r"(?:[A-Z][A-Za-z]{0,7}\s?|[A-Za-z]{0,8})\d{1,5}[A-Za-z]{0,3}"
_SUFFIX = alternation(_P["model_suffixes"], lead=False)
_QUANTITY = rf"(?!\s?{alternation(_P['en']['units'])})"  # Samsung 2 years ago: no model
PRODUCT_RE = re.compile(
    rf"(?<![A-Za-z0-9])(?:{trie_alternation(_P['brands'], trail=False)}\s?{_MODEL}{_QUANTITY}(?:\s?{_SUFFIX})*"
    rf"|{trie_alternation(_P['alone'], trail=False)}(?:\s?{_MODEL})?(?:\s?{_SUFFIX})*)(?![A-Za-z0-9])"
)


def _english(en: dict[str, Any]) -> tuple[re.Pattern[str], ...]:
    """The English patterns, most specific first (``find_products`` keeps the longest of overlapping matches)."""
    units = alternation(en["units"])
    # a number that is a quantity (2 years, 3 times, 10 bucks) or a range (2-3, 4/5) is no model
    quantity = rf"(?!\s?(?:{units}|%|[-/:]\d))"
    number = rf"\d{{1,4}}(?:\.\d{{1,3}}){{0,2}}[A-Za-z]{{0,2}}(?![A-Za-z0-9.,]*\d){quantity}"
    # a model designation: letters + digits (S9, X5, 80D, EOS 80D, F-150, G6), a number, or one capital (X, G)
    model = rf"(?:[A-Za-z]{{1,3}}-?\d{{1,4}}[A-Za-z]{{0,3}}{quantity}|{number}|[B-HJ-Z](?![A-Za-z0-9'’]))"
    # plus / pro / max ... in any case (iphone 8 plus); one / go / show ... only as written (not "my iphone one day")
    words = rf"(?:(?i:{alternation(en['designations_any_case'])})|{alternation(en['designations'])})"
    letter = r"\s[B-HJ-Z](?![A-Za-z0-9'’])"
    # iPhone 8 Plus, Pixel 2 XL, Xbox One X, Surface Pro 4; not a list of models (iPhone 7 6S Plus)
    numbered = rf"\s(?!(?:19|20)\d\d(?!\d)){model}"  # a year after a name is no model
    # one model number, then designation words, then one more number after them (Surface Pro 4)
    tail = rf"(?:{numbered})?(?:(?:\s{words})+(?:{numbered})?)?(?:{letter})?"
    # prefix trees (trie_alternation): hundreds of names are tried at every word start of a text
    any_case = trie_alternation(en["names"], fold_case=True)
    cased_names = trie_alternation(en["cased_names"])
    brands = trie_alternation(en["brands"], fold_case=True)
    cased_brands = trie_alternation(en["cased_brands"])
    lines = trie_alternation(en["lines"], fold_case=True)
    standalone = trie_alternation(en["standalone_lines"])
    not_names = trie_alternation(en["not_names"], lead=False, trail=False)
    # a capitalised, all-caps or camel-case word that is not a function word or a generic one (The, New, Mobile)
    shape = r"(?:[A-Z][a-z]*[A-Z0-9][A-Za-z0-9]*|[a-z]+[A-Z][A-Za-z0-9]*|[A-Z][a-z]{2,})"
    name = rf"(?!(?:{not_names})(?![A-Za-z])){shape}"
    cues = alternation(en["cues"])
    # a match starts a word: not after a Latin letter, digit or _@#- (a Chinese character is a boundary)
    start = r"(?<![A-Za-z0-9_@#\-])(?=[A-Za-z0-9])"
    return (
        # known names, any case (iphone 8 plus, Xbox One X) or capitalised as written (Kindle)
        re.compile(rf"{start}(?:(?i:{any_case})|{cased_names}){tail}"),
        # brand + line and / or model (Samsung Galaxy S9, samsung s9, Ford Focus, Apple Watch 3, Windows 98)
        re.compile(
            rf"{start}(?:(?:(?i:{brands})|{cased_brands})\s(?:(?:(?i:{lines}){tail})|{model}{tail})"
            rf"|(?:(?i:{brands})|{cased_brands})-?{model}{tail})"
        ),
        # a product line before a designation, no brand (Galaxy S9, Pixel 2 XL, Surface Pro 4, Model 3)
        re.compile(rf"{start}{standalone}(?:\s?{model}(?:\s{words})*|(?:\s{words})+)"),
        # <Name> version (Signal v4.2, Plex version 3)
        re.compile(rf"{start}{name}\s(?:v|version\s)\d{{1,3}}(?:\.\d{{1,3}}){{0,3}}(?![A-Za-z0-9])"),
        # <Name> app / firmware: the name alone (the Venmo app, Uber Eats app)
        re.compile(rf"{start}{name}(?:\s{name})?(?=\s(?i:{cues})(?![A-Za-z]))"),
    )


_EN = _english(_P["en"])
_CODE_AFTER = re.compile(r"[A-Za-z0-9]|[-_/.][A-Za-z0-9]")


def find_products(text: str) -> list[tuple[int, int]]:
    """PRODUCT spans: the Chinese / brand + model pattern, then the English ones; of overlapping matches the
    longest (then the first) stays."""
    found = [(m.start(), m.end()) for m in PRODUCT_RE.finditer(text)]
    for pattern in _EN:
        for m in pattern.finditer(text):
            # each pattern starts at a word start; it must also end one: not inside a longer word or model code
            if not _CODE_AFTER.match(text, m.end()):  # (HP-15-DY2795)
                found.append((m.start(), m.end()))
    return longest_first(found)
