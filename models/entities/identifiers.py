"""ORDER_ID, PHONE, EMAIL, ID_NUMBER: identifier patterns, validators and context words.

One source of truth: the entity pipeline's pattern component and :func:`models.pii.redact` both
call :func:`find_identifiers`. Patterns run on the NORMALISED text (full-width digits folded,
whitespace runs collapsed), so ``１３８ ００１３ ８０００`` and ``138-0013-8000`` look alike.

A bare digit run can be an order number, a phone, a bank card or an ID number. Validation
decides first (GB 11643 checksum and birth date for resident IDs, Luhn + issuer prefix for bank
cards, numbering plans for phones), then the words right before the number (订单号 / 电话 /
银行卡 / 身份证 / "tracking" ...) settle conflicts: a number after 订单号 is an order number even
when it happens to pass Luhn. Bank cards are ``ID_NUMBER`` with ``normalized.kind ==
"bank_card"`` (resident IDs: ``"resident_id"``): both identify a person's account or identity
and are masked alike. Formats and words: ``models/resources/entities/identifiers.json``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from models.entities.lexicon import alternation, load

_ID = load("identifiers")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def valid_resident_id(value: str) -> bool:
    """GB 11643-1999: 17 digits + check character (ISO 7064 MOD 11-2), with a real birth date."""
    digits = re.sub(r"\s", "", value)
    if len(digits) != 18 or not digits[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != digits[17].upper():
        return False
    try:
        born = date(int(digits[6:10]), int(digits[10:12]), int(digits[12:14]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date(2030, 12, 31)


def luhn_valid(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return len(digits) >= 12 and total % 10 == 0


def card_issuer(digits: str) -> str | None:
    """Issuer network of a card number by prefix and length (None: not a card number)."""
    n = len(digits)
    if digits.startswith("62") and 16 <= n <= 19:
        return "unionpay"
    if digits.startswith("4") and n == 16:
        return "visa"
    if (digits[:2] in {"51", "52", "53", "54", "55"} or "2221" <= digits[:4] <= "2720") and n == 16:
        return "mastercard"
    if digits[:2] in {"34", "37"} and n == 15:
        return "amex"
    if digits.startswith("35") and n == 16:
        return "jcb"
    return None


def valid_s10(value: str) -> bool:
    """UPU S10 item identifier check digit (EMS, China Post and other postal operators)."""
    serial, check = value[2:10], int(value[10])
    expected = 11 - sum(int(d) * w for d, w in zip(serial, _S10_WEIGHTS, strict=True)) % 11
    return check == (5 if expected == 11 else 0 if expected == 10 else expected)


@dataclass(frozen=True)
class IdMatch:
    type: str  # ORDER_ID | PHONE | EMAIL | ID_NUMBER
    start: int
    end: int
    subtype: str  # mobile / landline / ..., resident_id / bank_card, the order format name, email
    confidence: float
    value: str  # digits only (ID numbers), E.164 or national number (phones), the text (others)

    @property
    def pii(self) -> bool:
        """Company hotlines (95588, 400-...) identify no person."""
        return self.type in PII_TYPES and self.subtype not in ("service", "toll_free")


PII_TYPES = frozenset({"PHONE", "EMAIL", "ID_NUMBER"})

_B = r"(?<![A-Za-z0-9])"  # no letter/digit right before
_E = r"(?![A-Za-z0-9])"  # ... or right after
_SEP = r"[\s-]?"

EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])"
)
MOBILE_RE = re.compile(
    rf"(?<![A-Za-z0-9+])(?P<cc>(?:\+|00)\s?86{_SEP}|\(\+?86\)\s?|86-)?(?P<num>1[3-9]\d(?:{_SEP}\d{{4}}){{2}}){_E}"
)
LANDLINE_RE = re.compile(
    rf"(?<![A-Za-z0-9+])(?:(?P<cc>(?:\+|00)\s?86){_SEP}\(?(?P<area1>10|2\d|[3-9]\d{{2}})\)?"
    rf"|\((?P<area2>0(?:10|2\d|[3-9]\d{{2}}))\)|(?P<area3>0(?:10|2\d|[3-9]\d{{2}})))"
    rf"{_SEP}(?P<local>[2-9]\d{{2,3}}{_SEP}\d{{4}}){_E}"
)
TOLLFREE_RE = re.compile(
    rf"(?<![A-Za-z0-9+])(?P<num>[48]00{_SEP}\d{{3}}{_SEP}\d{{4}}|[48]00\d{_SEP}\d{{3}}{_SEP}\d{{3}}){_E}"
)
SERVICE_RE = re.compile(rf"{_B}(?P<num>{alternation(_ID['service_numbers'])}|95\d{{3}}){_E}")
INTL_RE = re.compile(
    rf"(?<![A-Za-z0-9+])(?:\+|00)(?!86)(?P<cc>[1-9]\d{{0,2}})[\s.-]?(?P<rest>\(?\d{{1,4}}\)?(?:[\s.-]?\d{{2,4}}){{1,4}}){_E}"
)
US_RE = re.compile(
    rf"(?<![A-Za-z0-9+])(?:(?P<cc>\+?1)[\s.-]?)?(?:\((?P<a1>[2-9]\d{{2}})\)\s?|(?P<a2>[2-9]\d{{2}})[\s.-])"
    rf"(?P<b>[2-9]\d{{2}})[\s.-](?P<c>\d{{4}}){_E}"
)
RESIDENT_RE = re.compile(
    rf"{_B}[1-8]\d{{5}}\s?(?:18|19|20)\d{{2}}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\s?\d{{3}}[\dXx]{_E}"
)
CARD_RE = re.compile(
    rf"{_B}(?:\d{{4}}(?:[\s-]\d{{4}}){{3}}(?:[\s-]\d{{1,3}})?|\d{{4}}[\s-]\d{{6}}[\s-]\d{{5}}|\d{{15,19}}){_E}"
)
DIGITS_RE = re.compile(rf"{_B}(?:\d{{4,24}}|\d{{4}}(?:\s\d{{4}}){{2,5}}(?:\s\d{{1,4}})?){_E}")
ALNUM_RE = re.compile(rf"{_B}[A-Za-z]{{1,5}}-?\d{{5,22}}{_E}")
HYPHENATED_RE = re.compile(rf"{_B}\d{{3,8}}(?:-\d{{3,12}}){{1,3}}{_E}")  # Ref: 4829-1134 (with a context word)
FORMATS = tuple(
    (f["name"], re.compile(rf"{_B}(?:{f['regex']}){_E}" if not f["regex"].startswith("#") else f["regex"] + _E), f)
    for f in _ID["formats"]
)

_FILLER = r"\s*(?:[:：#]|是|为|號|号码是|號碼是|number is|no\.?|is|了)?\s*(?:[:：#]\s*)?(?:\(|（)?$"
_CONTEXT_RE = re.compile(
    "(?:"
    + "|".join(
        f"(?P<{name}>{alternation(w.lower() for w in words)})"
        for name, words in (
            ("order", _ID["order_keywords"] + _ID["carriers"]),
            ("phone", _ID["phone_keywords"]),
            ("card", _ID["card_keywords"]),
            ("id", _ID["id_keywords"]),
        )
    )
    + ")"
    + _FILLER
)
_CARRIER_RE = re.compile(alternation(w.lower() for w in _ID["carriers"] + _ID["platforms"]))
_CLASS_OF = {"ORDER_ID": "order", "PHONE": "phone", "EMAIL": "email"}


def context_class(text: str, start: int) -> str | None:
    """Which kind of number the words right before ``start`` announce (order / phone / card / id).

    A keyword right before the number decides; failing that, a carrier or platform name earlier in
    the same clause ("FedEx says 7894391261 ...") announces a tracking or order number.
    """
    window = text[max(0, start - 24) : start].lower()
    m = _CONTEXT_RE.search(window)
    if m is not None:
        return next(name for name in ("order", "phone", "card", "id") if m.group(name) is not None)
    clause = re.split(r"[,.;!?，。；！？]", window)[-1]
    return "order_weak" if _CARRIER_RE.search(clause) else None


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _candidates(text: str, lang: str) -> list[IdMatch]:
    out: list[IdMatch] = []
    for m in EMAIL_RE.finditer(text):
        out.append(IdMatch("EMAIL", m.start(), m.end(), "email", 0.99, m.group()))
    for m in MOBILE_RE.finditer(text):
        num = _digits(m.group("num"))
        out.append(IdMatch("PHONE", m.start(), m.end(), "mobile", 0.97 if m.group("cc") else 0.95, "+86" + num))
    for m in LANDLINE_RE.finditer(text):
        area = (m.group("area1") or (m.group("area2") or m.group("area3") or "")[1:]).strip()
        local = _digits(m.group("local"))
        if len(area) == 3 and len(local) != 7 and len(local) != 8:
            continue
        separated = m.group("cc") or m.group("area2") or not m.group().isdigit()
        out.append(IdMatch("PHONE", m.start(), m.end(), "landline", 0.92 if separated else 0.7, f"+86{area}{local}"))
    for m in TOLLFREE_RE.finditer(text):
        if lang == "en" and text[m.start() : m.start() + 3] != "400":
            continue  # 800-555-0199 in English is a North American number (US_RE)
        out.append(IdMatch("PHONE", m.start(), m.end(), "toll_free", 0.93, "+86" + _digits(m.group())))
    for m in SERVICE_RE.finditer(text):
        known = m.group("num") in _ID["service_numbers"]
        if known or context_class(text, m.start()) == "phone":
            out.append(IdMatch("PHONE", m.start(), m.end(), "service", 0.9 if known else 0.8, m.group("num")))
    for m in INTL_RE.finditer(text):
        digits = _digits(m.group())
        if 8 <= len(digits) <= 15 and not m.group("cc").startswith("1"):
            out.append(IdMatch("PHONE", m.start(), m.end(), "international", 0.93, "+" + digits.removeprefix("00")))
    for m in US_RE.finditer(text):
        national = (m.group("a1") or m.group("a2")) + m.group("b") + m.group("c")
        if lang != "en" and not m.group("cc"):
            continue
        out.append(IdMatch("PHONE", m.start(), m.end(), "nanp", 0.9, "+1" + national))
    for m in RESIDENT_RE.finditer(text):
        if valid_resident_id(m.group()):
            out.append(
                IdMatch(
                    "ID_NUMBER",
                    m.start(),
                    m.end(),
                    "resident_id",
                    0.98,
                    _digits(m.group()[:-1]) + m.group()[-1].upper(),
                )
            )
    for m in CARD_RE.finditer(text):
        digits = _digits(m.group())
        issuer = card_issuer(digits)
        if issuer is not None and luhn_valid(digits):
            out.append(IdMatch("ID_NUMBER", m.start(), m.end(), "bank_card", 0.85, digits))
    for name, regex, spec in FORMATS:
        for m in regex.finditer(text):
            value = m.group()
            if spec.get("check") == "s10" and not valid_s10(value):
                continue
            if spec.get("context") and context_class(text, m.start()) != "order":
                continue
            start = m.start() + (1 if value.startswith("#") else 0)
            out.append(
                IdMatch(
                    "ORDER_ID", start, m.end(), name, 0.97 if name not in ("ebay_order",) else 0.9, value.lstrip("#")
                )
            )
    for m in DIGITS_RE.finditer(text):
        digits = _digits(m.group())
        out.append(IdMatch("ORDER_ID", m.start(), m.end(), "number", 0.6 if len(digits) >= 12 else 0.0, digits))
    for m in ALNUM_RE.finditer(text):
        out.append(IdMatch("ORDER_ID", m.start(), m.end(), "code", 0.0, m.group()))
    for m in HYPHENATED_RE.finditer(text):
        out.append(IdMatch("ORDER_ID", m.start(), m.end(), "number", 0.0, m.group()))
    return out


def _score(match: IdMatch, ctx: str | None) -> float:
    """Confidence after the context words: the announced kind wins a conflict."""
    own = {"ORDER_ID": "order", "PHONE": "phone", "EMAIL": "email"}.get(match.type)
    if match.type == "ID_NUMBER":
        own = "card" if match.subtype == "bank_card" else "id"
    if ctx == "order_weak":  # a carrier named earlier in the clause: only long numbers are its waybills
        ctx = "order" if sum(c.isdigit() for c in match.value) >= 8 else None
    if ctx is None:
        return match.confidence
    if ctx == own or (ctx == "card" and own == "id" and match.subtype == "resident_id"):
        return max(match.confidence, 0.97 if match.confidence > 0 else 0.95)
    if own == "email":
        return match.confidence
    return match.confidence - 0.3


def find_identifiers(text: str, lang: str = "zh", types: frozenset[str] | None = None) -> list[IdMatch]:
    """Order/tracking/ticket numbers, phones, e-mails and ID numbers in a normalised text, without overlaps."""
    scored = []
    for match in _candidates(text, lang):
        score = _score(match, context_class(text, match.start))
        if score >= 0.5:
            scored.append((score, match))
    chosen: list[IdMatch] = []
    for score, match in sorted(scored, key=lambda x: (-x[0], -(x[1].end - x[1].start), x[1].start)):
        if all(match.end <= c.start or match.start >= c.end for c in chosen):
            chosen.append(
                IdMatch(match.type, match.start, match.end, match.subtype, round(min(score, 0.99), 3), match.value)
            )
    # Filter after resolving, so that a number claimed by a stronger reading never changes type.
    return sorted((m for m in chosen if types is None or m.type in types), key=lambda m: m.start)
