"""Masking of personal data before anything is logged, cached, reported or written to job files.

Personal data here: phones, e-mails, ID numbers (resident IDs and bank cards), person names and
street addresses. Order and tracking numbers, money, dates and organisations are not: a ticket
system needs them to act, and they identify no one without the platform's own records.

- :func:`redact` replaces the structured personal data of any text (phones, e-mails, resident
  IDs, bank cards) with typed placeholders such as ``[PHONE]``. It needs no model, so logs,
  reports and job files can always call it. Its patterns are the entity pipeline's own
  (:func:`models.entities.identifiers.find_identifiers`): one source of truth.
- :func:`redact_spans` does the same for spans the entity stage found, names and addresses
  included (``redacted_text`` of the answer with ``options.redact``).
- :func:`mask` keeps an entity recognisable without its value (``138****8000``, ``张*``,
  ``z***@qq.com``): what the answer carries unless the caller sets ``options.include_pii``.
- :func:`mask_evidence` applies the same masks to every evidence span of an answer (hidden
  dissatisfaction cues, risk reasons) that overlaps personal data: a cue such as
  ``难道要我再打13800138000吗`` must not carry the number the entities block masks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from models.entities.identifiers import IdMatch, find_identifiers
from models.entities.region import region_of
from models.schema import Entity
from models.text import detect_language, normalize

__all__ = ["mask", "mask_evidence", "mask_normalized", "placeholder", "redact", "redact_spans", "redacted_text"]

_PII_IDENTIFIERS = frozenset({"PHONE", "EMAIL", "ID_NUMBER"})
_THREE_DIGIT_CC = re.compile(r"^(?:8[0-9]|3[5-8]|42|50|59|67|68|69|96|97|99)\d")


def placeholder(kind: str, subtype: str = "") -> str:
    """``[PHONE]``, ``[EMAIL]``, ``[ID_NUMBER]``, ``[BANK_CARD]``, ``[PERSON]``, ``[ADDRESS]``."""
    if kind == "ID_NUMBER" and subtype == "bank_card":
        return "[BANK_CARD]"
    if kind == "LOCATION":
        return "[ADDRESS]"
    return f"[{kind}]"


def redact_spans(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """Replace ``(start, end, placeholder)`` spans of ``text`` (non-overlapping after sorting)."""
    out = []
    pos = 0
    for start, end, token in sorted(spans):
        if start < pos:
            continue
        out.append(text[pos:start])
        out.append(token)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def redacted_text(original: str, entities: Iterable[Entity]) -> str:
    """``original`` with every PII entity (masked or not: only type and offsets are read) replaced by its
    typed placeholder; names and addresses included."""
    spans = []
    for e in entities:
        if e.pii:
            subtype = e.normalized.get("kind", "") if isinstance(e.normalized, dict) else ""
            spans.append((e.start, e.end, placeholder(e.type, str(subtype))))
    return redact_spans(original, spans)


def _spans(text: str) -> list[tuple[int, int, IdMatch]]:
    norm = normalize(text)
    lang = detect_language(norm.text)
    found = []
    for m in find_identifiers(norm.text, lang, _PII_IDENTIFIERS, region_of(norm.text, lang, norm.traditional)):
        if not m.pii:
            continue
        start, end = norm.to_original(m.start, m.end)
        found.append((start, end, m))
    return found


def pattern_pii(text: str) -> list[tuple[int, int, str]]:
    """Structured personal data the patterns find (no names or addresses) as ``(start, end, masked value)``
    in ``text`` offsets: what evidence masking falls back to when the entity stage failed on a message."""
    return [(s, e, mask(m.type, m.subtype, text[s:e])) for s, e, m in _spans(text)]


def redact(text: str) -> str:
    """Replace structured personal data with ``[EMAIL]``, ``[ID_NUMBER]``, ``[BANK_CARD]``, ``[PHONE]``."""
    if not text:
        return text
    return redact_spans(text, [(s, e, placeholder(m.type, m.subtype)) for s, e, m in _spans(text)])


# -- masking ----------------------------------------------------------------------------------------------
#: Digits as a phone number is read out in Chinese (一三八…, 幺 = 1): masked like Arabic ones.
_CHINESE_DIGITS = frozenset("零〇一二三四五六七八九幺壹贰叁肆伍陆柒捌玖貳參陸")


def _mask_digits(text: str, head: int, tail: int, skip: int = 0) -> str:
    """Replace digits with ``*`` except the first ``head`` and last ``tail`` (after ``skip`` leading digits)."""
    positions = [i for i, c in enumerate(text) if c.isdigit() or c in "Xx" or c in _CHINESE_DIGITS]
    positions = positions[skip:]
    keep = set(positions[:head]) | set(positions[len(positions) - tail :] if tail else [])
    if len(positions) <= head + tail:
        keep = set(positions[len(positions) - min(tail, max(0, len(positions) - 2)) :])
    hidden = set(positions) - keep
    return "".join("*" if i in hidden else c for i, c in enumerate(text))


def _country_digits(text: str) -> int:
    stripped = text.lstrip()
    if not stripped.startswith(("+", "00", "(+")):
        return 0
    digits = re.sub(r"\D", "", stripped)
    if stripped.startswith("00"):
        digits = digits[2:]
    if digits.startswith("86") or not digits:
        return (2 if stripped.startswith("00") else 0) + 2
    if digits[0] in "17":
        return (2 if stripped.startswith("00") else 0) + 1
    return (2 if stripped.startswith("00") else 0) + (3 if _THREE_DIGIT_CC.match(digits) else 2)


def _mask_phone(text: str) -> str:
    skip = _country_digits(text)
    national = sum(c.isdigit() for c in text) - skip
    return _mask_digits(text, 3 if national >= 10 else 0, 4, skip)


def _mask_email(text: str) -> str:
    local, _, domain = text.partition("@")
    if not domain:
        local, _, domain = text.partition("＠")
    return (local[:1] + "***" if local else "***") + ("@" + domain if domain else "")


def _mask_name(text: str) -> str:
    """张伟 -> 张*, 王经理 -> 王**, John Smith -> J*** S****."""
    words = text.split(" ")
    return " ".join(w[:1] + "*" * (len(w) - 1) for w in words)


def _mask_address(text: str) -> str:
    """House, building and room numbers hidden; the city and street stay readable."""
    return re.sub(r"[0-9０-９A-Za-zＡ-Ｚａ-ｚ]", "*", text)


def mask(kind: str, subtype: str, text: str) -> str:
    """The masked surface of a PII entity (its offsets still point at the original)."""
    if kind == "PHONE":
        return _mask_phone(text)
    if kind == "EMAIL":
        return _mask_email(text)
    if kind == "ID_NUMBER":
        if subtype == "bank_card":
            return _mask_digits(text, 0, 4)
        if subtype in ("hk_id", "tw_id"):  # 7 or 9 digits: the last two only (the check character among them)
            return _mask_digits(text, 0, 2)
        return _mask_digits(text, 3, 4)
    if kind == "PERSON":
        if subtype == "staff":  # role words and staff numbers stay readable: 客服小王 -> 客服小*
            from models.entities.staff import mask_staff

            return mask_staff(text)
        return _mask_name(text)
    if kind == "LOCATION":
        return _mask_address(text)
    return "*" * len(text)


def mask_normalized(kind: str, subtype: str, value: Any) -> Any:
    """The normalised value with the same masking (E.164 keeps its country code)."""
    if value is None:
        return None
    if isinstance(value, str):
        return mask(kind, subtype, value)
    if isinstance(value, dict):
        out = dict(value)
        if kind == "PHONE":
            for key in ("e164", "national"):
                if out.get(key):
                    out[key] = _mask_phone(str(out[key]))
        elif kind == "ID_NUMBER" and out.get("value"):
            out["value"] = mask(kind, subtype, str(out["value"]))
        return out
    return value


def _masked_slice(original: str, start: int, end: int, pii: list[tuple[int, int, str]]) -> str:
    """``original[start:end]`` with each personal-data span inside it replaced by its masked value
    (and the characters of a span it only partly covers by ``*``)."""
    out = []
    pos = start
    for p_start, p_end, masked in sorted(pii):
        if p_end <= pos or p_start >= end:
            continue
        out.append(original[pos : max(pos, p_start)])
        if p_start >= start and p_end <= end:
            out.append(masked)
        else:
            out.append("*" * (min(end, p_end) - max(pos, p_start)))
        pos = min(end, p_end)
    out.append(original[pos:end])
    return "".join(out)


def mask_evidence(value: Any, original: str, pii: list[tuple[int, int, str]]) -> Any:
    """``value`` (an answer block, a list of them, or anything else) with the ``text`` of every
    evidence span (a model with ``text``, ``start``, ``end`` in original-text offsets) that overlaps
    ``pii`` masked; untouched objects are returned as they are."""
    if isinstance(value, list):
        return [mask_evidence(v, original, pii) for v in value]
    if not isinstance(value, BaseModel):
        return value
    updates = {}
    for name in type(value).model_fields:
        current = getattr(value, name)
        if isinstance(current, BaseModel | list):
            masked = mask_evidence(current, original, pii)
            if masked is not current:
                updates[name] = masked
    start, end, text = (getattr(value, k, None) for k in ("start", "end", "text"))
    if (
        isinstance(start, int)
        and isinstance(end, int)
        and isinstance(text, str)
        and any(p_start < end and p_end > start for p_start, p_end, _ in pii)
    ):
        updates["text"] = _masked_slice(original, start, end, pii)
    return value.model_copy(update=updates) if updates else value
