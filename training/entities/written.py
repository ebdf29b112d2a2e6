"""Build the hand-written entity set (``tests/data/entities_written.jsonl``) from its marked-up sources.

The messages are written by hand in ``tests/data/entities_written_<part>.txt`` (dev, blind, blind2 ... blind17) (rules:
``tests/data/entities_guideline.md``), one message per line with inline marks, so that nobody
has to count character offsets::

    @ 2025-06-25T14:30+08:00                    received_at of the lines below
    cn 顺丰⟦O SF1402876533291⟧，⟦D 昨天下午四点|d-1@16:00⟧显示派送

``cn`` / ``hk`` / ``tw`` / ``en`` is the region (mainland simplified, Hong Kong / Cantonese, Taiwan
traditional, English); ``⟦T surface|norm⟧`` marks one entity: ``O`` ORDER_ID, ``P`` PHONE, ``E``
EMAIL, ``U`` URL, ``I`` ID_NUMBER, ``M`` MONEY, ``D`` DATETIME. ``norm`` is the expected normalised
value in a short notation that this script expands WITHOUT calling ``models.entities`` (the date
arithmetic below is the guideline's, written separately from the resolver it checks):

- ``M``: ``amount [CUR]`` (currency by region when left out: cn CNY, hk HKD, tw TWD, en USD);
- ``P``: the E.164 number;  ``O`` / ``E`` / ``U``: default = the surface (ORDER_ID without spaces,
  EMAIL lower-cased);  ``I``: ``rid`` / ``card`` / ``hkid`` / ``twid`` (the kind);
- ``D``: ``P...`` a duration; ``dN`` anchor date + N days; ``w-1:5`` Friday of last week (Monday
  weeks); ``wd:5`` the latest Friday, today included; ``last:5`` the latest Friday before today;
  ``W-2`` the week two weeks back; ``m-1`` last month; ``m-1:20`` the 20th of last month; ``day:12``
  the 12th of the anchor's month (the previous month when that is over 7 days ahead or does not exist); ``md:6-18``
  June 18 of the anchor's year (the year before when over 31 days ahead); ``yN``; a literal ISO
  value; any day form may end in ``@HH:MM``.

Run ``python -m training.entities.written`` after editing a source file.
"""

from __future__ import annotations

import calendar
import json
import re
import unicodedata
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SOURCES = {
    "blind": DATA / "entities_written_blind.txt",
    "dev": DATA / "entities_written_dev.txt",
    "blind2": DATA / "entities_written_blind2.txt",
    "blind3": DATA / "entities_written_blind3.txt",
    "blind4": DATA / "entities_written_blind4.txt",
    "blind5": DATA / "entities_written_blind5.txt",
    "blind6": DATA / "entities_written_blind6.txt",
    "blind7": DATA / "entities_written_blind7.txt",
    "blind8": DATA / "entities_written_blind8.txt",
    "blind9": DATA / "entities_written_blind9.txt",
    "blind10": DATA / "entities_written_blind10.txt",
    "blind11": DATA / "entities_written_blind11.txt",
    "blind12": DATA / "entities_written_blind12.txt",
    "blind13": DATA / "entities_written_blind13.txt",
    "blind14": DATA / "entities_written_blind14.txt",
    "blind15": DATA / "entities_written_blind15.txt",
    "blind16": DATA / "entities_written_blind16.txt",
    "blind17": DATA / "entities_written_blind17.txt",
}
#: The blind parts, in the order they were written (each scored once before it was fixed).
BLIND_PARTS = tuple(part for part in SOURCES if part != "dev")
OUTPUT = DATA / "entities_written.jsonl"
TYPES = {"O": "ORDER_ID", "P": "PHONE", "E": "EMAIL", "U": "URL", "I": "ID_NUMBER", "M": "MONEY", "D": "DATETIME"}
CURRENCY = {"cn": "CNY", "hk": "HKD", "tw": "TWD", "en": "USD"}
ID_KINDS = {"rid": "resident_id", "card": "bank_card", "hkid": "hk_id", "twid": "tw_id"}
MARK_RE = re.compile(r"⟦([A-Z]) ([^⟦⟧|]+)(?:\|([^⟦⟧]*))?⟧")
LINE_RE = re.compile(r"^(cn|hk|tw|en) (.+)$")


def _add_months(d: date, months: int, day: int | None = None) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    return date(y, m + 1, day or 1)


def _day(spec: str, today: date) -> str:
    """A point (date, week, month or year) in the guideline's notation -> its ISO value."""
    if m := re.fullmatch(r"d([+-]?\d+)", spec):
        return (today + timedelta(days=int(m[1]))).isoformat()
    if m := re.fullmatch(r"w([+-]?\d+):(\d)", spec):
        monday = today - timedelta(days=today.weekday())
        return (monday + timedelta(weeks=int(m[1]), days=int(m[2]) - 1)).isoformat()
    if m := re.fullmatch(r"wd:(\d)", spec):
        return (today - timedelta(days=(today.isoweekday() - int(m[1])) % 7)).isoformat()
    if m := re.fullmatch(r"last:(\d)", spec):
        return (today - timedelta(days=(today.isoweekday() - int(m[1]) - 1) % 7 + 1)).isoformat()
    if m := re.fullmatch(r"W([+-]?\d+)", spec):
        year, week, _ = (today + timedelta(weeks=int(m[1]))).isocalendar()
        return f"{year}-W{week:02d}"
    if m := re.fullmatch(r"m([+-]?\d+)", spec):
        return _add_months(today, int(m[1])).isoformat()[:7]
    if m := re.fullmatch(r"m([+-]?\d+):(\d+)", spec):
        return _add_months(today, int(m[1]), int(m[2])).isoformat()
    if m := re.fullmatch(r"day:(\d+)", spec):
        day = int(m[1])
        if day <= calendar.monthrange(today.year, today.month)[1] and today.replace(day=day) <= today + timedelta(7):
            return today.replace(day=day).isoformat()
        return _add_months(today, -1, day).isoformat()
    if m := re.fullmatch(r"md:(\d+)-(\d+)", spec):
        d = date(today.year, int(m[1]), int(m[2]))
        return (d.replace(year=d.year - 1) if d > today + timedelta(days=31) else d).isoformat()
    if m := re.fullmatch(r"y([+-]?\d+)", spec):
        return str(today.year + int(m[1]))
    if re.fullmatch(r"\d{4}(?:-\d{2}(?:-\d{2})?)?|\d{4}-W\d{2}", spec):
        return spec
    raise ValueError(f"unknown date notation {spec!r}")


def _datetime(spec: str, anchor: datetime) -> dict[str, Any]:
    if spec.startswith("P"):
        return {"duration": spec}
    if "T" in spec:  # a literal ISO date-time, with or without its offset (the anchor's when left out)
        point = datetime.fromisoformat(spec)
        return {"value": (point if point.tzinfo else point.replace(tzinfo=anchor.tzinfo)).isoformat()}
    day, _, clock = spec.partition("@")
    value = _day(day, anchor.date())
    if clock:
        hour, minute = (int(x) for x in clock.split(":"))
        value = datetime.fromisoformat(value).replace(hour=hour, minute=minute, tzinfo=anchor.tzinfo).isoformat()
    return {"value": value}


def _normalized(kind: str, surface: str, norm: str | None, region: str, anchor: datetime) -> Any:
    folded = unicodedata.normalize("NFKC", surface)
    if kind == "O":
        return {"value": norm or re.sub(r"\s", "", folded)}
    if kind == "E":
        return norm or folded.lower()
    if kind == "U":
        return norm or surface
    if kind == "P":
        if not norm:
            raise ValueError(f"phone {surface!r} needs its E.164 value")
        return {"e164": norm}
    if kind == "I":
        value = re.sub(r"[^0-9A-Za-z]", "", folded).upper()
        return {"kind": ID_KINDS[norm or "rid"], "value": value}
    if kind == "M":
        if not norm:
            raise ValueError(f"money {surface!r} needs its amount")
        amount, _, currency = norm.partition(" ")
        return {"amount": float(amount), "currency": currency or CURRENCY[region]}
    if not norm:
        raise ValueError(f"datetime {surface!r} needs its value")
    return _datetime(norm, anchor)


def parse(path: Path, split: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    anchor: datetime | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("@ "):
            anchor = datetime.fromisoformat(line[2:].strip())
            continue
        m = LINE_RE.match(line)
        if m is None or anchor is None:
            raise ValueError(f"{path.name}:{number}: cannot read {line!r}")
        region, marked = m[1], m[2]
        text, entities, pos = [], [], 0
        length = 0
        for mark in MARK_RE.finditer(marked):
            plain = marked[pos : mark.start()]
            text.append(plain)
            length += len(plain)
            kind, surface, norm = mark[1], mark[2], mark[3]
            entities.append(
                {
                    "type": TYPES[kind],
                    "start": length,
                    "end": length + len(surface),
                    "normalized": _normalized(kind, surface, norm, region, anchor),
                }
            )
            text.append(surface)
            length += len(surface)
            pos = mark.end()
        text.append(marked[pos:])
        full = "".join(text)
        if "⟦" in full or "⟧" in full:
            raise ValueError(f"{path.name}:{number}: unbalanced mark")
        records.append(
            {
                "id": f"{split}-{len(records):03d}",
                "lang": "en" if region == "en" else "zh",
                "region": region,
                "split": split,
                "received_at": anchor.isoformat(),
                "text": full,
                "entities": entities,
            }
        )
    return records


def build() -> list[dict[str, Any]]:
    return [r for split, path in SOURCES.items() if path.is_file() for r in parse(path, split)]


def main() -> int:
    records = build()
    OUTPUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    counts: dict[str, int] = {}
    for r in records:
        counts[f"{r['split']}/{r['region']}"] = counts.get(f"{r['split']}/{r['region']}", 0) + 1
    print(json.dumps({"messages": len(records), "by_split_region": counts}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
