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

from models.entities.lexicon import alternation, load, may_start, trie_alternation
from models.entities.region import english_country, region_of

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
    value = value.replace(" ", "")
    serial, check = value[2:10], int(value[10])
    expected = 11 - sum(int(d) * w for d, w in zip(serial, _S10_WEIGHTS, strict=True)) % 11
    return check == (5 if expected == 11 else 0 if expected == 10 else expected)


def valid_hkid(value: str) -> bool:
    """Hong Kong identity card: 1-2 letters, 6 digits, check character (mod 11) usually in brackets."""
    m = re.fullmatch(r"([A-Z]{1,2})(\d{6})\(?([0-9A])\)?", value.upper())
    if m is None:
        return False
    letters = m[1].rjust(2, " ")
    total = sum((36 if c == " " else ord(c) - 55) * w for c, w in zip(letters, (9, 8), strict=True))
    total += sum(int(d) * w for d, w in zip(m[2], (7, 6, 5, 4, 3, 2), strict=True))
    check = (11 - total % 11) % 11
    return m[3] == ("A" if check == 10 else str(check))


_TW_LETTERS = "ABCDEFGHJKLMNPQRSTUVXYWZIO"


def valid_twid(value: str) -> bool:
    """Taiwan national ID: a letter (the place of registration), 1 or 2 (sex), 8 digits, the last a check."""
    value = value.upper()
    if not re.fullmatch(r"[A-Z][12]\d{8}", value):
        return False
    code = _TW_LETTERS.index(value[0]) + 10
    total = code // 10 + (code % 10) * 9 + sum(int(d) * w for d, w in zip(value[1:9], range(8, 0, -1), strict=True))
    return (total + int(value[9])) % 10 == 0


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
#: ``+86(0)898-8856-2317``: the trunk 0 in brackets after the country code (as hotels print it) is not dialled.
_TRUNK = r"(?:\(0\)\s?)?"
LANDLINE_RE = re.compile(
    rf"(?<![A-Za-z0-9+])(?:(?P<cc>(?:\+|00)\s?86){_SEP}{_TRUNK}\(?(?P<area1>10|2\d|[3-9]\d{{2}})\)?"
    rf"|\((?P<area2>0(?:10|2\d|[3-9]\d{{2}}))\)|(?P<area3>0(?:10|2\d|[3-9]\d{{2}})))"
    rf"{_SEP}(?P<local>[2-9]\d{{2,3}}{_SEP}\d{{4}}){_E}"
)
TOLLFREE_RE = re.compile(
    rf"(?<![A-Za-z0-9+])(?P<num>[48]00{_SEP}\d{{3}}{_SEP}\d{{4}}|[48]00\d{_SEP}\d{{3}}{_SEP}\d{{3}}){_E}"
)
#: Short service numbers (95588, 10086); 10000毫安 or 12306元 are quantities and amounts, not the hotline.
SERVICE_RE = re.compile(
    rf"{_B}(?P<num>{alternation(_ID['service_numbers'])}|95\d{{3}}){_E}(?!\s?(?:{alternation(_ID['quantity_units'])}))"
)
INTL_RE = re.compile(
    rf"(?<![A-Za-z0-9+])(?:\+|00)(?!86)(?P<cc>[1-9]\d{{0,2}})[\s.-]?(?P<trunk>\(0\)\s?)?"
    rf"(?P<rest>\(?\d{{1,4}}\)?(?:[\s.-]?\d{{2,4}}){{1,4}}){_E}"
)
US_RE = re.compile(
    rf"(?<![A-Za-z0-9+])(?:(?P<cc>\+?1)[\s.-]?)?(?:\((?P<a1>[2-9]\d{{2}})\)\s?|(?P<a2>[2-9]\d{{2}})[\s.-])"
    rf"(?P<b>[2-9]\d{{2}})[\s.-](?P<c>\d{{4}}){_E}"
)
RESIDENT_RE = re.compile(
    rf"{_B}[1-8]\d{{5}}\s?(?:18|19|20)\d{{2}}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\s?\d{{3}}[\dXx]{_E}"
)
#: A date glued to the end of a number (4041-5988-2736-10452月8日): the digits of the date are not the number's.
_GLUED_DATE = r"(?=(?:1[0-2]|0?[1-9])月\d{1,2}[日号]|(?:1[0-2]|0?[1-9])/\d{1,2}(?![\d/]))"
CARD_RE = re.compile(
    rf"{_B}(?:\d{{4}}(?:[\s-]\d{{4}}){{3}}(?:[\s-]\d{{1,3}}(?![\d月年号日点:/.]))?(?:{_E}|{_GLUED_DATE})"
    rf"|(?:\d{{4}}[\s-]\d{{6}}[\s-]\d{{5}}|\d{{15,19}}){_E})"
)
#: Carrier codes customers glue to the front of a waybill number (``ZTO7521...``, ``EMSEA12...``); the code
#: is not part of the number. A fixed-width look-behind per code, as ``re`` needs.
#: "email" / "e-mail" typed straight after Chinese and before the address (請emailka.man.chan@gmail.com).
_GLUED_MAIL_WORD = re.compile(r"(?i:e-?mail)(?=[A-Za-z0-9])")
_DECIMAL = re.compile(r"\d+(?:\.\d+)?")
_GLUED = "".join(f"|(?<={code})" for code in ("EMS", "ZTO", "STO", "YTO", "ems", "zto", "sto", "yto"))
_B_ORDER = rf"(?:(?<![A-Za-z0-9]){_GLUED})"
DIGITS_RE = re.compile(rf"{_B_ORDER}\d{{4,32}}{_E}")
#: Digits written in groups (``3068 2217 5509 8812``, ``4312 8876 5501 2``) or one by one (``2 0 2 5 0 6 ...``).
SPACED_DIGITS_RE = re.compile(rf"{_B}(?:\d{{2,6}}(?: \d{{1,6}}){{1,7}}|\d(?: \d){{7,31}}){_E}(?!\s?[号日月])")
ALNUM_RE = re.compile(rf"{_B}[A-Za-z]{{1,5}}-?\d{{5,22}}{_E}")
#: Booking codes, platform order numbers with letters (``K7XQ2P``, ``250301KQ7HX2UD``): letters and digits mixed.
CODE_RE = re.compile(
    # booking refTBL7X93KQ: a lower-case "ref" / "no" glued before a code in capitals is no part of it
    rf"(?:{_B}(?!(?:ref|no)[A-Z0-9])|(?<=[^A-Za-z0-9]ref)(?=[A-Z0-9])|(?<=[^A-Za-z0-9]no)(?=[A-Z0-9]))"
    rf"(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{{5,24}}{_E}"
)
#: A messaging app's name glued to the number that reaches someone on it (賣家WhatsApp5307 2216).
_GLUED_CHAT = "".join(f"|(?<={app})" for app in ("WhatsApp", "Whatsapp", "whatsapp", "WHATSAPP"))
#: Hong Kong: 8 digits starting 2/3 (fixed), 5/6/7/9 (mobile), usually written 4 + 4, the country code as +852,
#: (852) or 852 before a space. Not the last groups of a longer number written in groups (運單號碼8817 6340 2295).
HK_PHONE_RE = re.compile(
    rf"(?:(?<![A-Za-z0-9+]){_GLUED_CHAT})(?<!\d[\s-])(?:(?P<cc>(?:\+|00)\s?852|\(\+?852\)|852(?=[\s-]))[\s-]?)?"
    rf"(?P<num>[235679]\d{{3}}(?P<sep>[\s-]?)\d{{4}}){_E}(?![\s-]\d)"
)
#: Taiwan mobiles 09xx-xxx-xxx / +886 9xx xxx xxx.
TW_MOBILE_RE = re.compile(
    rf"(?<![A-Za-z0-9+])(?:(?P<cc>(?:\+|00)\s?886)[\s-]?|0)(?P<num>9\d{{2}}(?P<sep>[\s-]?)\d{{3}}[\s-]?\d{{3}}){_E}"
)
#: Taiwan landlines (02) 2712-3456 / 07-3345678 / +886 2 2712 3456: the area code is set off by brackets or a hyphen.
TW_LANDLINE_RE = re.compile(
    rf"(?<![A-Za-z0-9+])(?:(?P<cc>(?:\+|00)\s?886)[\s-]?\(?(?P<area1>[2-8]\d{{0,2}})\)?[\s-]?"
    rf"|\((?P<area2>0[2-8]\d{{0,2}})\)\s?|(?P<area3>0[2-8]\d{{0,2}})-)(?P<local>\d{{3,4}}-?\s?\d{{4}}){_E}"
)
_TW_AREAS = frozenset({"2", "3", "37", "4", "49", "5", "6", "7", "8", "89", "82", "826", "836"})
#: A mainland mobile read out in Chinese digits: 一三九一二三四五六七八 / 幺三八… (幺 = 1 when spoken).
_CN_PHONE_DIGITS = {**{c: str(v) for c, v in load("numerals")["digits"].items() if c not in "两俩"}, "幺": "1"}
_CN_D = "[" + "".join(_CN_PHONE_DIGITS) + "]"


def _read_out(number: str) -> str:
    """Arabic digits of a number read out in Chinese digits (一三九 幺二 -> 13912)."""
    return "".join(_CN_PHONE_DIGITS[c] for c in number if not c.isspace())


#: The number may run into a word that starts with 一 (…七三九五一直不接: 一直), but not into another digit.
CN_DIGIT_MOBILE_RE = re.compile(
    rf"(?<![{''.join(_CN_PHONE_DIGITS)}])[一壹幺]{_CN_D}(?:\s?{_CN_D}){{9}}(?:(?!{_CN_D})|(?=一(?!\s?{_CN_D})))"
)
#: UK numbers in national format (07700 900412, 020 7946 0321, 0345 734 5345, 0161 496 0000), read in English
#: messages only: 10 digits after the 0.
UK_RE = re.compile(
    rf"(?<![A-Za-z0-9+])0(?P<num>7\d{{3}}\s?\d{{3}}\s?\d{{3}}|20\s?\d{{4}}\s?\d{{4}}|[1389]\d{{2,3}}\s?\d{{3}}\s?\d{{3,4}}){_E}"
)
#: Australian numbers in national format, read in English messages only: mobiles 04xx xxx xxx, landlines
#: (02) 9xxx xxxx: 9 digits after the 0 (UK numbers have 10).
AU_RE = re.compile(rf"(?<![A-Za-z0-9+])(?:04\d{{2}}[\s-]?\d{{3}}[\s-]?\d{{3}}|\(0[2378]\)\s?\d{{4}}[\s-]?\d{{4}}){_E}")
#: Australian hotlines, 1300 (local rate) and 1800 (free): 4 + 3 + 3 digits, no country code in the number. The
#: North American 1-800 has seven digits after it, so the two never read the same.
AU_HOTLINE_RE = re.compile(rf"(?<![A-Za-z0-9+\-])1[38]00[\s-]?\d{{3}}[\s-]?\d{{3}}{_E}(?![\s-]\d)")
#: A Hong Kong number read out in Chinese digits (九一二三 四五六七), in Cantonese messages only.
HK_DIGIT_PHONE_RE = re.compile(rf"(?<![{''.join(_CN_PHONE_DIGITS)}])[二三五六七九](?:\s?{_CN_D}){{7}}(?!\s?{_CN_D})")
#: A mainland landline read out in Chinese digits (零二一六四八七三三零九), after a phone word only.
CN_DIGIT_LANDLINE_RE = re.compile(rf"(?<![{''.join(_CN_PHONE_DIGITS)}])[零〇](?:\s?{_CN_D}){{9,11}}(?!\s?{_CN_D})")
#: National formats of English-speaking countries, read where the message names the country's currency
#: (:func:`models.entities.region.english_country`): the leading 0 is dropped for the country code.
_NATIONAL: dict[str, tuple[re.Pattern[str], str]] = {
    "ie": (re.compile(rf"(?<![A-Za-z0-9+])08[35679][\s-]?\d{{3}}[\s-]?\d{{4}}{_E}"), "+353"),
    "nz": (re.compile(rf"(?<![A-Za-z0-9+])02[0-9][\s-]?\d{{3}}[\s-]?\d{{3,4}}{_E}"), "+64"),
    "my": (
        re.compile(rf"(?<![A-Za-z0-9+])(?:01\d-?\s?\d{{3,4}}\s?\d{{4}}|0[3-9]-\d{{4}}\s?\d{{4}}){_E}"),
        "+60",
    ),
    "sg": (re.compile(rf"(?<![A-Za-z0-9+])[689]\d{{3}}\s?\d{{4}}{_E}"), "+65"),
    # 09845012377: trunk 0; landlines 0 + an STD code set off by a separator (080-4718 2250, 0484-2345678)
    "in": (
        re.compile(
            rf"(?<![A-Za-z0-9+])(?:0?[6-9]\d{{4}}\s?\d{{5}}|0[1-9]\d[\s-]\d{{4}}[\s-]?\d{{4}}"
            rf"|0[1-9]\d\d[\s-]\d{{3}}[\s-]?\d{{4}}|0[1-9]\d{{3}}[\s-]\d{{6}}){_E}"
        ),
        "+91",
    ),
    # the Philippines: mobiles 0917 845 2231 (11 digits), Metro Manila (02) 8123 4567
    "ph": (
        re.compile(rf"(?<![A-Za-z0-9+])(?:09\d{{2}}[\s-]?\d{{3}}[\s-]?\d{{4}}|\(02\)\s?\d{{4}}[\s-]?\d{{4}}){_E}"),
        "+63",
    ),
    # South Africa: 10 digits, 082 441 9076 / 021 123 4567, and the share-call 0860 / 0861 numbers in 4-3-3
    "za": (
        re.compile(rf"(?<![A-Za-z0-9+])0(?:[1-8]\d[\s-]?\d{{3}}[\s-]?\d{{4}}|8[06]\d[\s-]?\d{{3}}[\s-]?\d{{3}}){_E}"),
        "+27",
    ),
}
#: Digits read out one by one (voice transcripts).
SPOKEN_DIGITS_RE = re.compile(rf"{_B}\d(?: \d){{9}}{_E}")
#: A North American number read out in words (call and voicemail transcripts): "four one five, double five two, zero
#: one nine eight"; "double" / "triple" repeat the next digit.
_EN_DIGITS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6"}
_EN_DIGITS |= {"seven": "7", "eight": "8", "nine": "9"}
_EN_DIGIT_WORD = rf"(?:(?:double|triple)\s)?(?:{'|'.join(_EN_DIGITS)})"
WORD_DIGITS_RE = re.compile(rf"\b{_EN_DIGIT_WORD}(?:(?:,?\s|-){_EN_DIGIT_WORD}){{6,}}\b", re.IGNORECASE)


def read_digit_words(text: str) -> str:
    """ "four one five, double five two" -> "415552"."""
    out, repeat = [], 1
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in ("double", "triple"):
            repeat = 2 if word == "double" else 3
            continue
        out.append(_EN_DIGITS[word] * repeat)
        repeat = 1
    return "".join(out)


#: Taiwan toll-free 0800-012-345 / 0809-...
TW_TOLLFREE_RE = re.compile(rf"(?<![A-Za-z0-9+])(?P<num>080[09][\s-]?\d{{3}}[\s-]?\d{{3}}){_E}")
#: A Taiwan mobile read out in Chinese digits: 零九二一三三五七零八.
TW_DIGIT_MOBILE_RE = re.compile(rf"(?<![{''.join(_CN_PHONE_DIGITS)}])[零〇]九(?:\s?{_CN_D}){{8}}(?!{_CN_D})")
HKID_RE = re.compile(rf"{_B}[A-Z]{{1,2}}\d{{6}}(?:\([0-9A]\)|[0-9A]){_E}")
TWID_RE = re.compile(rf"{_B}[A-Z][12]\d{{8}}{_E}")
#: Ref: 4829-1134 (with a context word); not the last groups of a number whose first group is shorter
#: (02-2712-9903 is a Taiwan landline, 2712-9903 no reference of its own)
HYPHENATED_RE = re.compile(rf"{_B}(?<!\d-)\d{{3,8}}(?:-\d{{3,12}}){{1,3}}{_E}")
#: Case, claim and booking codes in groups of letters and digits (SO-HK-1228-0457, CL11408-0072, x7kp-2qm9,
#: 4187.552.093): with an order word right before them only.
GROUPED_CODE_RE = re.compile(
    # not "no.RF88301762": the abbreviation of "number" before the code is no group of it
    rf"{_B}(?!(?i:no|nr|num|ref|id|tel)\.)(?=[A-Za-z0-9.-]*\d)[A-Za-z0-9]{{1,20}}(?:[-.][A-Za-z0-9]{{2,16}}){{1,4}}{_E}(?!\.\d)"
)
#: Tracking numbers in groups whose first group mixes capitals and digits (Australia Post 7XZ4 0188 2261), the rest
#: digits: with an order word right before them only; not a plate (LB19 XKD) or a postcode (SW1A 1AA), whose later
#: groups have letters.
GROUPED_ALNUM_RE = re.compile(
    rf"{_B}(?=[A-Z0-9]*[A-Z])(?=[A-Z0-9]*\d)[A-Z0-9]{{3,6}}(?: \d{{3,6}}){{2,4}}{_E}(?![\s-]\d)"
)
#: Claim and file numbers in slash-separated groups after a letter prefix (CLM/2025/0417732); not inside a path.
SLASHED_CODE_RE = re.compile(
    r"(?<![A-Za-z0-9/.])[A-Za-z]{2,6}(?=[A-Za-z0-9/]*\d)(?:/[A-Za-z0-9]{2,16}){1,4}(?![A-Za-z0-9/])"
)
#: Letter-prefixed waybills written with spaces among the digits (SF1427 8803 5512 6, JDVB 3881 4260 937): the
#: prefix, then digit groups; how many digits the format has is checked on the match. A date right after the last
#: group (SF1398 2276 4410 3月5日) is not one of its groups.
GROUPED_FORMATS = tuple(
    (
        f["name"],
        re.compile(
            rf"{_B_ORDER}(?:{f['grouped']['prefix']})\s?\d{{1,15}}(?:\s\d{{1,6}})*{_E}(?![月日号点年时:/]|\.\d)"
        ),
        (int(f["grouped"]["digits"][0]), int(f["grouped"]["digits"][1])),
    )
    for f in _ID["formats"]
    if "grouped" in f
)
FORMATS = tuple(
    (
        f["name"],
        re.compile(
            f["regex"] + _E
            if f["regex"].startswith("#")
            else rf"{_B_ORDER}(?:{f['regex']})" + (r"(?![A-Za-z])" if f.get("letters_at_end") else _E)
        ),
        f,
    )
    for f in _ID["formats"]
)

_FILLER = (
    # 单号明明系…: the filler before the number; case号: an English word + 号
    r"\s*(?:明明|其实|应该|分别)?(?:[:：#]|是|系|为|號|号码是|号码系|号码|号|number is|no\.?|is|了|咗)?\s*"
    # 订单是M开头的 M2026… / 单号以JD开头 / 訂單係W開頭嘅: the words say how the number starts, then the number
    r"(?:以?[A-Za-z0-9]{1,4}\s?(?:开头|打头)[的嘅]?\s*[,，:：]?\s*"
    r"|(?:starts?|starting|begins?|beginning) with [A-Za-z0-9]{1,4}\s?[,:]?\s*)?"
    r"(?:[:：#]\s*)?(?:\(|（)?"
    r"(?:(?:they|you|he|she) (?:gave|sent) (?:me|us) (?:is|was) )?"  # voice: "the reference number they gave me is"
    r"(?:(?:of|for) (?:my|the|our|this|that) [a-z]+ (?:is|was) )?$"  # "Ref no. of my payment is"
)
_CONTEXT_WORDS: tuple[tuple[str, list[str]], ...] = tuple(
    (name, [w.lower() for w in words])
    for name, words in (
        ("order", _ID["order_keywords"] + _ID["carriers"]),
        ("phone", _ID["phone_keywords"]),
        ("card", _ID["card_keywords"]),
        ("id", _ID["id_keywords"]),
        ("device", _ID["device_keywords"] + _ID["product_keywords"]),
    )
)
#: A keyword of each kind, then the filler up to the number. Only which kind's group matched is read, never which
#: word: so each kind's words are a prefix tree (a position that starts no word fails at its first character,
#: and the tree still tries every word there), and the look-ahead skips the positions that start no keyword at
#: all. The leftmost match and, at its position, the first kind in this order are the alternation's.
_CONTEXT_RE = re.compile(
    may_start(w for _, words in _CONTEXT_WORDS for w in words)
    + "(?:"
    + "|".join(f"(?P<{name}>{trie_alternation(words)})" for name, words in _CONTEXT_WORDS)
    + ")"
    + _FILLER
)
#: Only whether a carrier or platform is named is read: a prefix tree finds one where the alternation does.
_CARRIER_RE = re.compile(trie_alternation(w.lower() for w in _ID["carriers"] + _ID["platforms"]))
_CLAUSE_BREAK = re.compile(r"[,.;!?，。；！？]")
_CLASS_OF = {"ORDER_ID": "order", "PHONE": "phone", "EMAIL": "email"}


def context_class(text: str, start: int) -> str | None:
    """Which kind of number the words right before ``start`` announce (order / phone / card / id / device).

    A keyword right before the number decides; failing that, a carrier or platform name earlier in
    the same clause ("FedEx says 7894391261 ...") announces a tracking or order number. ``device``: an
    IMEI or serial number (IMEI 356938035643809), which is none of the identifier types.
    """
    window = text[max(0, start - 40) : start].lower()
    m = _CONTEXT_RE.search(window)
    if m is not None:
        return next(name for name in ("order", "phone", "card", "id", "device") if m.group(name) is not None)
    clause = _CLAUSE_BREAK.split(window)[-1]
    return "order_weak" if _CARRIER_RE.search(clause) else None


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _candidates(text: str, lang: str, region: str) -> list[IdMatch]:
    out: list[IdMatch] = []
    out += _regional_phones(text, lang, region)
    out += _regional_ids(text)
    for m in EMAIL_RE.finditer(text):
        start = m.start()
        glued = _GLUED_MAIL_WORD.match(m.group())
        if glued and start > 0 and "\u4e00" <= text[start - 1] <= "\u9fff":
            start += glued.end()  # 請emailka.man.chan@gmail.com
        out.append(IdMatch("EMAIL", start, m.end(), "email", 0.99, text[start : m.end()]))
    for m in MOBILE_RE.finditer(text):
        num = _digits(m.group("num"))
        out.append(IdMatch("PHONE", m.start(), m.end(), "mobile", 0.97 if m.group("cc") else 0.95, "+86" + num))
    for m in LANDLINE_RE.finditer(text):
        if lang == "en" and not m.group("cc"):
            continue  # 020 7946 0382 in English is London (UK_RE), not Guangzhou
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
        known = m.group("num") in _ID["service_numbers"] and m.group("num") not in _ID["service_names"]
        if known or context_class(text, m.start()) == "phone":
            out.append(IdMatch("PHONE", m.start(), m.end(), "service", 0.9 if known else 0.8, m.group("num")))
    for m in INTL_RE.finditer(text):
        digits = _digits(m.group("cc") + m.group("rest"))  # +44 (0)20 …: the trunk 0 is not dialled
        if 8 <= len(digits) <= 15 and not m.group("cc").startswith("1"):
            out.append(IdMatch("PHONE", m.start(), m.end(), "international", 0.93, "+" + digits))
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
            if spec.get("check") == "s10" and not valid_s10(value) and context_class(text, m.start()) != "order":
                continue
            if spec.get("context") and context_class(text, m.start()) != "order":
                continue
            start = m.start() + (1 if value.startswith("#") else 0)
            out.append(
                IdMatch(
                    "ORDER_ID", start, m.end(), name, 0.97 if name not in ("ebay_order",) else 0.9, value.lstrip("#")
                )
            )
    for name, regex, (fewest, most) in GROUPED_FORMATS:
        for m in regex.finditer(text):
            if fewest <= len(_digits(m.group())) <= most:
                out.append(IdMatch("ORDER_ID", m.start(), m.end(), name, 0.97, m.group()))
    for m in DIGITS_RE.finditer(text):
        digits = _digits(m.group())
        if len(set(digits)) == 1:
            continue  # 6666666666666666 is applause, not an order
        out.append(IdMatch("ORDER_ID", m.start(), m.end(), "number", 0.6 if len(digits) >= 12 else 0.0, digits))
    for m in SPACED_DIGITS_RE.finditer(text):
        digits = _digits(m.group())
        if len(digits) >= 8:  # shorter groups are amounts, dates and counts far more often
            # like an unspaced run: from 12 digits on an order number even without a word before it
            out.append(IdMatch("ORDER_ID", m.start(), m.end(), "number", 0.6 if len(digits) >= 12 else 0.0, digits))
    for m in ALNUM_RE.finditer(text):
        out.append(IdMatch("ORDER_ID", m.start(), m.end(), "code", 0.0, m.group()))
    for m in CODE_RE.finditer(text):
        out.append(IdMatch("ORDER_ID", m.start(), m.end(), "code", 0.0, m.group()))
    for m in HYPHENATED_RE.finditer(text):
        out.append(IdMatch("ORDER_ID", m.start(), m.end(), "number", 0.0, m.group()))
    for m in GROUPED_CODE_RE.finditer(text):
        if not _DECIMAL.fullmatch(m.group()):
            out.append(IdMatch("ORDER_ID", m.start(), m.end(), "code", 0.0, m.group()))
    for m in SLASHED_CODE_RE.finditer(text):
        out.append(IdMatch("ORDER_ID", m.start(), m.end(), "code", 0.0, m.group()))
    for m in GROUPED_ALNUM_RE.finditer(text):
        out.append(IdMatch("ORDER_ID", m.start(), m.end(), "code", 0.0, m.group()))
    return out


def _regional_phones(text: str, lang: str, region: str) -> list[IdMatch]:
    """Hong Kong, Taiwan and UK numbers, and mainland mobiles written in Chinese digits."""
    out: list[IdMatch] = []
    for m in HK_PHONE_RE.finditer(text):
        # With +852 it is certain; in a Cantonese message a 4 + 4 number is a phone unless an order word
        # comes before it (the context score decides); elsewhere only a phone word makes it one.
        confidence = 0.97 if m.group("cc") else 0.9 if region == "hk" and m.group("sep") else 0.0
        out.append(IdMatch("PHONE", m.start(), m.end(), "hk", confidence, "+852" + _digits(m.group("num"))))
    for m in TW_MOBILE_RE.finditer(text):
        confidence = 0.97 if m.group("cc") else 0.93
        out.append(IdMatch("PHONE", m.start(), m.end(), "tw_mobile", confidence, "+886" + _digits(m.group("num"))))
    for m in TW_LANDLINE_RE.finditer(text):
        if lang == "en" and not m.group("cc"):
            continue  # (02) 9251 7730 in English is Sydney (AU_RE)
        area = (m.group("area1") or (m.group("area2") or m.group("area3") or "")[1:]).strip()
        local = _digits(m.group("local"))
        if area not in _TW_AREAS or not 6 <= len(local) <= 8 or len(area) + len(local) not in (8, 9):
            continue
        confidence = 0.95 if m.group("cc") or region == "tw" else 0.85
        out.append(IdMatch("PHONE", m.start(), m.end(), "tw_landline", confidence, f"+886{area}{local}"))
    for m in CN_DIGIT_MOBILE_RE.finditer(text):
        digits = _read_out(m.group())
        if digits[1] in "3456789":
            out.append(IdMatch("PHONE", m.start(), m.end(), "mobile", 0.9, "+86" + digits))
    for m in TW_TOLLFREE_RE.finditer(text):
        out.append(IdMatch("PHONE", m.start(), m.end(), "toll_free", 0.93, "+886" + _digits(m.group("num"))[1:]))
    for m in TW_DIGIT_MOBILE_RE.finditer(text):
        digits = _read_out(m.group())
        out.append(IdMatch("PHONE", m.start(), m.end(), "tw_mobile", 0.9, "+886" + digits[1:]))
    if region == "hk":
        for m in HK_DIGIT_PHONE_RE.finditer(text):
            digits = _read_out(m.group())
            out.append(IdMatch("PHONE", m.start(), m.end(), "hk", 0.9, "+852" + digits))
    for m in CN_DIGIT_LANDLINE_RE.finditer(text):
        digits = _read_out(m.group())
        area = digits[1:3] if digits[1] in "12" else digits[1:4]
        if len(digits) - 1 - len(area) in (7, 8) and context_class(text, m.start()) == "phone":
            out.append(IdMatch("PHONE", m.start(), m.end(), "landline", 0.9, f"+86{digits[1:]}"))
    if lang == "en":
        country = english_country(text)
        if country in _NATIONAL:
            pattern, cc = _NATIONAL[country]
            for m in pattern.finditer(text):
                digits = _digits(m.group())
                national = digits[1:] if digits.startswith("0") else digits  # SG and IN have no trunk 0
                # 0.9: the message's own country reads its national numbers before the UK reading (0.88) does
                out.append(IdMatch("PHONE", m.start(), m.end(), country or "", 0.9, cc + national))
        for m in SPOKEN_DIGITS_RE.finditer(text):  # voice transcripts: 9 8 7 0 1 2 4 4 5 6 after a phone word
            digits = _digits(m.group())
            if (
                country == "in"
                and len(digits) == 10
                and digits[0] in "6789"
                and context_class(text, m.start()) == "phone"
            ):
                out.append(IdMatch("PHONE", m.start(), m.end(), "in", 0.9, "+91" + digits))
        for m in WORD_DIGITS_RE.finditer(text) if country is None else ():  # North America: no other country named
            digits = read_digit_words(m.group())
            if len(digits) == 11 and digits[0] == "1":
                digits = digits[1:]
            if len(digits) == 10 and digits[0] in "23456789" and digits[3] in "23456789":
                out.append(IdMatch("PHONE", m.start(), m.end(), "nanp", 0.9, "+1" + digits))
        for m in AU_RE.finditer(text):
            out.append(IdMatch("PHONE", m.start(), m.end(), "au", 0.9, "+61" + _digits(m.group())[1:]))
        for m in AU_HOTLINE_RE.finditer(text):  # a company's line, not a person's
            out.append(IdMatch("PHONE", m.start(), m.end(), "toll_free", 0.9, "+61" + _digits(m.group())))
        for m in UK_RE.finditer(text):
            out.append(IdMatch("PHONE", m.start(), m.end(), "uk", 0.88, "+44" + _digits(m.group("num"))))
    else:  # 澳洲网站…客服电话1300 881 247: an Australian hotline in a Chinese message, where a phone word says so
        for m in AU_HOTLINE_RE.finditer(text):
            if context_class(text, m.start()) == "phone":
                out.append(IdMatch("PHONE", m.start(), m.end(), "toll_free", 0.9, "+61" + _digits(m.group())))
    return out


def _regional_ids(text: str) -> list[IdMatch]:
    """Hong Kong and Taiwan identity cards (check characters verified)."""
    out: list[IdMatch] = []
    for m in HKID_RE.finditer(text):
        if valid_hkid(m.group()):
            value = re.sub(r"[()]", "", m.group()).upper()
            out.append(IdMatch("ID_NUMBER", m.start(), m.end(), "hk_id", 0.95 if "(" in m.group() else 0.8, value))
    for m in TWID_RE.finditer(text):
        if valid_twid(m.group()):
            out.append(IdMatch("ID_NUMBER", m.start(), m.end(), "tw_id", 0.95, m.group().upper()))
    return out


def _score(match: IdMatch, ctx: str | None) -> float:
    """Confidence after the context words: the announced kind wins a conflict."""
    own = {"ORDER_ID": "order", "PHONE": "phone", "EMAIL": "email"}.get(match.type)
    if match.type == "ID_NUMBER":
        own = "card" if match.subtype == "bank_card" else "id"
    if match.subtype == "code" and ctx == "order_weak":  # letter codes need an order word right before them
        return match.confidence
    if ctx == "order_weak":  # a carrier named earlier in the clause: only long numbers are its waybills
        ctx = "order" if sum(c.isdigit() for c in match.value) >= 8 else None
    if ctx is None:
        return match.confidence
    if ctx == "device" and own != "email":  # IMEI 3569…: a device's number, not an order, a phone or a card
        return 0.0
    if ctx == own or (ctx == "card" and own == "id" and match.subtype == "resident_id"):
        return max(match.confidence, 0.97 if match.confidence > 0 else 0.95)
    if own == "email":
        return match.confidence
    return match.confidence - 0.3


def _part_of(inner: IdMatch, outer: IdMatch, text: str) -> bool:
    """Whether ``inner`` is a part of the order code ``outer``: its start (20260618113452 of 20260618113452-01) or
    its groups after a separator (GD-250619-4417 of JD-GD-250619-4417); not a number a carrier code is glued to."""
    if inner.type != "ORDER_ID" or inner.end > outer.end or inner == outer:
        return False
    if inner.start == outer.start:
        return inner.end < outer.end
    return inner.start > outer.start and text[inner.start - 1] in "-./"


#: A month and day right after a candidate's last digits (SF163882507910411月18日: the waybill, then 11月18日).
_DATE_AFTER = re.compile(r"月\d{1,2}[日号]")


def _unglue_dates(text: str, candidates: list[IdMatch]) -> list[IdMatch]:
    """An ORDER_ID candidate glued to a date gives the date its month: the last one or two digits, 1-12.

    Of the cuts, the one that leaves a known format (SF + 13 digits) wins, then the longer month (11 over 1).
    """
    out: list[IdMatch] = []
    for m in candidates:
        if m.type != "ORDER_ID" or not _DATE_AFTER.match(text, m.end):
            out.append(m)
            continue
        cuts = [k for k in (2, 1) if text[m.end - k : m.end].isdigit() and 1 <= int(text[m.end - k : m.end]) <= 12]
        known = [k for k in cuts if any(r.fullmatch(text, m.start, m.end - k) for _, r, _ in FORMATS)]
        k = (known or cuts or [0])[0]
        if k and m.end - k - m.start >= 6 and m.value.endswith(text[m.end - k : m.end]):
            m = IdMatch(m.type, m.start, m.end - k, m.subtype, m.confidence, m.value[:-k])
        out.append(m)
    return out


#: Between two numbers of one list after one order word: 服务单1987654321和1988023417, CR…、CR…同CR…, "case numbers
#: 00482917 and 00490366" (not a comma: 订单号…，电话… starts the next thing).
_LIST_SEP = re.compile(r"\s*(?:和|、|及|与|同|跟|或|以及|and|or|&)\s*", re.IGNORECASE)


def _shape(value: str) -> tuple[str, int]:
    """The letters a code starts with and how many digits it has (CR26120455 -> ("CR", 8))."""
    return re.match(r"[A-Za-z]*", value).group().upper(), sum(c.isdigit() for c in value)  # type: ignore[union-attr]


def _list_contexts(text: str, candidates: list[IdMatch]) -> list[str | None]:
    """:func:`context_class` of each candidate; an order number listed right after another one of the same shape
    (the same letters, about as many digits) that an order word announced is announced by the same word."""
    contexts = [context_class(text, m.start) for m in candidates]
    announced: list[IdMatch] = []
    for i in sorted(range(len(candidates)), key=lambda k: candidates[k].start):
        m = candidates[i]
        if m.type != "ORDER_ID":
            continue
        if contexts[i] == "order":
            announced.append(m)
            continue
        letters, digits = _shape(m.value)
        for prev in announced:
            prev_letters, prev_digits = _shape(prev.value)
            if (
                prev.end <= m.start
                and _LIST_SEP.fullmatch(text, prev.end, m.start)
                and letters == prev_letters
                and abs(digits - prev_digits) <= 2
            ):
                contexts[i] = "order"
                announced.append(m)
                break
    return contexts


def find_identifiers(
    text: str, lang: str = "zh", types: frozenset[str] | None = None, region: str | None = None
) -> list[IdMatch]:
    """Order/tracking/ticket numbers, phones, e-mails and ID numbers in a normalised text, without overlaps.

    ``region`` (:func:`models.entities.region.region_of`; guessed from the text when left out) decides
    whether an 8-digit ``9187 2634`` reads as a Hong Kong phone without a phone word before it.
    """
    region = region or region_of(text, lang)
    candidates = _unglue_dates(text, _candidates(text, lang, region))
    contexts = _list_contexts(text, candidates)
    scored = []
    for match, ctx in zip(candidates, contexts, strict=True):
        score = _score(match, ctx)
        if score >= 0.5:
            scored.append((score, match))
    # An order word announces the whole code: 20260618113452-01 over its first 14 digits, JD-GD-250619-4417 over
    # the ticket number GD-250619-4417 after its hyphen (but ZTO7521… is a carrier code glued to the number).
    for i, (score, match) in enumerate(scored):
        if match.type == "ORDER_ID" and score >= 0.9:
            inner = [s for s, m in scored if _part_of(m, match, text)]
            if inner:
                scored[i] = (max(score, *inner), match)
    chosen: list[IdMatch] = []
    for score, match in sorted(scored, key=lambda x: (-x[0], -(x[1].end - x[1].start), x[1].start)):
        if all(match.end <= c.start or match.start >= c.end for c in chosen):
            chosen.append(
                IdMatch(match.type, match.start, match.end, match.subtype, round(min(score, 0.99), 3), match.value)
            )
    # Filter after resolving, so that a number claimed by a stronger reading never changes type.
    return sorted((m for m in chosen if types is None or m.type in types), key=lambda m: m.start)
