"""One id per responsible party and brand: the normalised value of ORG and PRODUCT entities.

Reports count complaints per party (shop, platform, carrier, bank, regulator, brand), so every way a
customer writes one organisation must land on one id: 京东 / 京東 / JD / JD.com / 京东自营 -> ``jd``.
The alias table is ``models/resources/entities/parties.json`` (Simplified, Traditional and English
aliases per canonical id). Matching folds width, case and spaces; a span that is not an alias
itself resolves to the longest alias it starts with (京东客服, 顺丰速运有限公司) or, for Chinese
aliases, contains (深圳市顺丰速运有限公司). Unknown organisations get an id from their folded
surface (``x:`` prefix) so that they still group, one id per spelling.

Shops and departments are found by pattern (:func:`find_party_spans`): a party or a Latin brand
name + 旗舰店 / 专卖店 / 自营店... (华为官方旗舰店, Anker旗舰店) and an optional party + a department
word (京东客服中心, 售后部, 物业中心); they resolve to the party they name (``shop`` / ``department``
say which unit), or to their own ``x:`` id.

``normalized`` of an ORG: ``{"id", "name", "kind", "known"}`` (kind: platform, carrier, company,
government, brand, shop, department; ``shop`` / ``department``: the unit of the party the span names). Of a
PRODUCT: ``{"id", "name", "brand", "model"}`` (``brand`` null when no known brand or product line
starts it; id ``<brand>:<folded model>``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

from models.entities.lexicon import load, longest_first, trie_alternation

#: What follows a party's name inside an ORG span without changing who the party is.
SHOP_SUFFIX = re.compile(
    r"(?:官方)?(?:旗舰店|旗艦店|专卖店|專賣店|专营店|專營店|自营店|自營店|官方店|网店|網店|门店|門店|店铺|店鋪)$"
)
_SPACES = re.compile(r"[\s\u00b7\u30fb·]+")
_SHOP_WORDS = r"(?:官方)?(?:旗舰店|旗艦店|专卖店|專賣店|专营店|專營店|自营店|自營店|官方店)"
_DEPARTMENT = re.compile(
    r"(?:售后|售後|客服|物业|物業|财务|財務|技术支持|技術支持|质检|質檢|投诉|投訴|维修|維修|配送|仓储|倉儲)"
    r"(?:服务|服務)?(?:部门|部門|中心|部|组|組|站|点|點)$"
)


def fold(text: str) -> str:
    """Width, case and spaces folded: the key ids and exact aliases are compared by."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text)).casefold()


def _spaced(text: str) -> str:
    """Width and case folded, spaces kept as one (prefix matching needs to see where a word ends)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).casefold().strip()


@dataclass(frozen=True)
class Party:
    id: str
    kind: str
    name: str


@dataclass(frozen=True)
class _Index:
    exact: dict[str, Party]
    by_length: tuple[tuple[str, Party], ...]  # folded aliases and product lines, longest first
    lines: frozenset[str]  # folded product-line aliases (iPhone): kept in the model name


@cache
def _index() -> _Index:
    exact: dict[str, Party] = {}
    pairs: list[tuple[str, Party]] = []
    lines: set[str] = set()
    for entry in load("parties")["parties"]:
        party = Party(entry["id"], entry["kind"], entry["name"])
        for alias in entry["aliases"]:
            exact.setdefault(fold(alias), party)
            pairs.append((_spaced(alias), party))
        for line in entry.get("lines", ()):
            lines.add(_spaced(line))
            pairs.append((_spaced(line), party))
    pairs.sort(key=lambda p: -len(p[0]))
    return _Index(exact, tuple(pairs), frozenset(lines))


def gazetteer_names() -> list[str]:
    """Aliases the ORG gazetteer matches on their own (not the ``not_alone`` ones)."""
    names: set[str] = set()
    for entry in load("parties")["parties"]:
        skip = set(entry.get("not_alone", ()))
        names.update(a for a in entry["aliases"] if a not in skip)
    return sorted(names)


def _boundary(key: str, alias: str, at: int, digits_after: bool = False) -> bool:
    """A Latin alias must not run into other Latin letters or digits (JD in JDVB..., MI in MIUI); with
    ``digits_after`` a model number may follow it directly (iPhone15, Mate60)."""
    if not alias[:1].isascii() or not alias[-1:].isascii():
        return True
    before = key[at - 1] if at > 0 else ""
    after = key[at + len(alias)] if at + len(alias) < len(key) else ""
    glued_after = after.isascii() and (after.isalpha() if digits_after else after.isalnum())
    return not (before.isascii() and before.isalnum()) and not glued_after


def preload() -> None:
    """Build the party index and its patterns now (start-up), not inside the first request that names a party,
    which would pay ~15 ms for it."""
    _index()
    _patterns()


def find_party(text: str) -> tuple[Party, str] | None:
    """The party a span names and the folded rest after its alias, or None."""
    index = _index()
    if fold(text) in index.exact and _spaced(text) not in index.lines:
        return index.exact[fold(text)], ""
    key = _spaced(text)
    if not key:
        return None
    for alias, party in index.by_length:
        if len(alias) < 2 or alias in index.lines:
            continue
        if key.startswith(alias) and _boundary(key, alias, 0):
            return party, key[len(alias) :]
    for alias, party in index.by_length:  # contained: Chinese aliases only (深圳市顺丰速运有限公司)
        if len(alias) >= 2 and not alias.isascii() and alias not in index.lines and alias in key:
            return party, key[key.index(alias) + len(alias) :]
    return None


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    # a prefix tree: the aliases are tried at every position of a message
    names = trie_alternation({a for entry in load("parties")["parties"] for a in entry["aliases"]})
    shop = re.compile(rf"(?:{names}|(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9&'\-]{{1,24}})\s?{_SHOP_WORDS}")
    dept = re.compile(rf"(?:{names}\s?)?{_DEPARTMENT.pattern[:-1]}")
    return shop, dept


#: A social-media mention names the party it is addressed to ("@united").
_MENTION = re.compile(r"(?<![\w@])@(\w{2,30})")


def mentions(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, "@handle")`` of each @-mention, the handle lower-cased: one party id per account."""
    return [(m.start(), m.end(), "@" + m.group(1).lower()) for m in _MENTION.finditer(text)]


def find_party_spans(text: str) -> list[tuple[int, int, str]]:
    """Shops and departments by pattern: ``(start, end, "shop" | "department")`` in ``text``."""
    shop, dept = _patterns()
    found = [(m.start(), m.end(), "shop") for m in shop.finditer(text)]
    found += [(m.start(), m.end(), "department") for m in dept.finditer(text)]
    return longest_first(found)


def org_value(text: str) -> dict[str, Any]:
    """``normalized`` of an ORG span (``text``: its normalised-text surface)."""
    found = find_party(text)
    key = fold(text)
    shop = bool(SHOP_SUFFIX.search(key))
    department = _DEPARTMENT.search(key)
    unit = "shop" if shop else "department" if department else None
    if found is None:
        surface = _SPACES.sub(" ", text).strip()
        return {"id": "x:" + key, "name": surface, "kind": unit, "known": False}
    party, _ = found
    out: dict[str, Any] = {"id": party.id, "name": party.name, "kind": party.kind, "known": True}
    if shop:
        out["shop"] = True
    elif department:
        out["department"] = department.group(0)
    return out


def product_value(text: str) -> dict[str, Any]:
    """``normalized`` of a PRODUCT span: its brand's id (from a brand alias or a product line) and the model."""
    key = _spaced(text)
    surface = _SPACES.sub(" ", text).strip()
    index = _index()
    for alias, party in index.by_length:
        if len(alias) < 2 or not key.startswith(alias) or not _boundary(key, alias, 0, digits_after=True):
            continue
        # a product line stays in the model name (iPhone 15); a brand name does not (华为 Mate60 -> Mate60)
        model_key = fold(key if alias in index.lines else key[len(alias) :])
        model = surface
        if alias not in index.lines:
            model = _strip_alias(surface, alias)
        return {
            "id": f"{party.id}:{model_key}" if model_key else party.id,
            "name": f"{party.name} {model}".strip() if model else party.name,
            "brand": party.id,
            "model": model or None,
        }
    return {"id": "x:" + fold(key), "name": surface, "brand": None, "model": surface}


def _strip_alias(surface: str, alias: str) -> str:
    """``surface`` without its leading ``alias`` (compared folded, character by character)."""
    taken = ""
    for i, ch in enumerate(surface):
        if _spaced(taken) == alias:
            return surface[i:].strip()
        taken += ch
    return "" if _spaced(taken) == alias else surface
