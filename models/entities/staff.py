"""Staff a customer names: the agent, manager, courier or technician a complaint is about.

Reports count complaints per responsible party; besides shops, carriers and departments (``parties``) a
customer often names the person who served them: 客服小王, 工号8823的客服, 王经理, 快递员李师傅,
"agent Sarah", "rep #4521", "Tom from customer service". Each becomes a PERSON entity whose ``normalized``
says who it is without the name in clear::

    {"kind": "staff", "role": "agent", "party": "jd", "staff_no": "8823", "id": "jd/agent/8823",
     "name": "京东 客服 #8823"}

- ``role``: agent, manager, courier, technician, driver, sales or staff (``staff.json``);
- ``party``: the party id of the organisation named just before it in the same sentence (京东客服小王,
  "@united agent Mike"), else null;
- ``id``: one key per person for the reports: ``<party or ->/<role>/<staff number or masked name>``.
  A staff number is the operator's own key and is kept; a name only masked (小王 -> 小*, Sarah -> S****),
  so ids never hold a name in clear (two agents with one initial share an id: the price of that rule).

Found by pattern on the normalised text (Simplified, width-folded) and by a role word right before a
PERSON the statistical NER found (客服张伟, "manager Tom Hill"). The surface is personal data when it holds
a name (masked by :func:`mask_staff`: role words and numbers stay), not when it is a staff number alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from models.entities.lexicon import load, longest_first, trie_alternation

#: Between an organisation and the staff member it employs: nothing that ends a sentence.
_SENTENCE_END = re.compile(r"[。！？!?;；\n]|\.\s")
_PARTY_GAP = 24  # characters at most between the organisation and the staff mention
_NUMBER = r"(?P<num>[A-Za-z]{0,2}\d{2,8})"
#: "Sarah from customer service": desks whose people are agents.
_DESKS = ("customer service", "customer care", "support", "the help desk", "help desk", "front desk", "billing")


@dataclass(frozen=True)
class StaffMatch:
    start: int
    end: int
    role: str
    role_text: str  # the role word as written ("" for a bare staff number)
    number: str | None = None  # staff number, agent id
    name: tuple[int, int] | None = None  # offsets of the name part in the text
    titled: bool = False  # a surname + title (王经理): the title belongs to the name

    @property
    def entity(self) -> tuple[int, int]:
        """The PERSON span. Beside a role word it is the name alone, as NER corpora label names (客服[小王],
        [Sarah] from support); a surname + title (王经理) or a staff number (工号8823的客服) is the whole mention."""
        if self.name is not None and not self.titled:
            return self.name
        return self.start, self.end


@dataclass(frozen=True)
class _Lexicon:
    role_of: dict[str, str]  # folded role word / title -> role
    zh: tuple[re.Pattern[str], ...]
    en: tuple[re.Pattern[str], ...]
    not_names: frozenset[str]
    keep: re.Pattern[str]  # what mask_staff leaves readable
    before_zh: re.Pattern[str]  # a role word (or title) ending right before a name: 客服[张伟]
    before_en: re.Pattern[str]  # ... "manager [Tom Hill]", "rep, [Jake]"


def preload() -> None:
    """Build the cached patterns now (start-up), not inside the first request that needs them (see
    :func:`models.entities.parties.preload`)."""
    _lexicon()


@cache
def _lexicon() -> _Lexicon:
    data = load("staff")
    role_of: dict[str, str] = {}
    for key in ("roles_zh", "titles_zh", "roles_en"):
        for role, words in data[key].items():
            for word in words:
                role_of.setdefault(word.lower(), role)
    zh_roles = trie_alternation(w for ws in data["roles_zh"].values() for w in ws)
    titles = trie_alternation(w for ws in data["titles_zh"].values() for w in ws)
    surnames = "[" + data["surnames_zh"] + "]"
    staff_no = rf"(?:工号|编号|员工号|员工编号)(?:是|为|:|：)?\s?{_NUMBER}"
    not_before_surname = r"(?<![上下这本每一两几那前当次整半担主信责现继新关由属基鉴至支交应预对感答致多工])"
    zh = (
        # 客服工号8823, 客服(工号 8823)
        re.compile(rf"(?P<role>{zh_roles})[\s,，(（]{{0,2}}{staff_no}"),
        # 工号8823的客服
        re.compile(rf"{staff_no}\s?(?:的)?(?P<role>{zh_roles})"),
        # 8823号客服
        re.compile(rf"(?<![0-9A-Za-z]){_NUMBER}号(?P<role>{zh_roles})"),
        # 客服小王, 快递员老李, 骑手叫阿张
        re.compile(rf"(?P<role>{zh_roles})(?:叫|名叫|是)?(?P<name>[小老阿]{surnames})"),
        # 快递员李师傅, 客服王经理: the role word says the role, the title only that a name is there
        re.compile(rf"(?P<role>{zh_roles})(?P<name>[小老]?{surnames}{titles})"),
        # 王经理, 李师傅, 小陈主管
        re.compile(rf"{not_before_surname}(?P<tname>[小老]?{surnames})(?P<role>{titles})"),
    )
    en_roles = trie_alternation((w for ws in data["roles_en"].values() for w in ws), fold_case=True)
    name = r"[A-Z][a-z]+(?:[A-Z][a-z]+)?(?:-[A-Z][a-z]+)?"  # Sarah, McLarren, Smith-Jones
    en = (
        # agent ID 4521, rep #4521, employee number 3310
        re.compile(rf"(?i:(?P<role>{en_roles}))\s?(?i:id|number|no\.?|badge|#)\s?(?::\s?)?#?{_NUMBER}\b"),
        # agent Sarah, your rep, Jake, a manager named Tom Hill, supervisor Ms. Lopez
        re.compile(
            rf"(?i:(?P<role>{en_roles}))(?:,?\s(?i:named|called|by the name of))?,?\s"
            rf"(?:(?:Mr|Ms|Mrs|Miss)\.?\s)?(?P<name>{name}(?:\s{name})?)"
        ),
        # Sarah from customer service, Tom at the front desk
        re.compile(
            rf"(?<![A-Za-z])(?P<name>{name})\s(?:from|at|in)\s(?:the\s|your\s)?"
            rf"(?P<role>{'|'.join(_DESKS)})\b"
        ),
    )
    zh_keep = sorted([w for w in role_of if not w.isascii()] + ["工号", "编号", "员工号", "员工编号"], key=len)[::-1]
    en_keep = [w for w in role_of if w.isascii()] + [
        *_DESKS,
        "named",
        "called",
        "from",
        "at",
        "in",
        "the",
        "your",
        "by",
    ]
    keep = re.compile(
        "|".join(map(re.escape, zh_keep))
        + r"|\b(?i:"
        + "|".join(map(re.escape, sorted(en_keep, key=len, reverse=True)))
        + r")\b|[0-9]+|[^\w]+"
    )
    # One pattern per language for role_before: the earliest role word that ends where the name starts.
    before_zh = re.compile(
        rf"(?P<role>{trie_alternation((w for w in role_of if not w.isascii()), trail=False)})(?:叫|名叫|是|的)?\s?$"
    )
    before_en = re.compile(
        rf"(?<![^\W\d_])(?i:(?P<role>{trie_alternation((w for w in role_of if w.isascii()), False, False, True)}))"
        r",?\s(?:(?i:named|called)\s)?$"
    )
    not_names = frozenset(w.lower() for w in data["not_names_en"])
    return _Lexicon(role_of, zh, en, not_names, keep, before_zh, before_en)


def _role(word: str) -> str:
    lex = _lexicon()
    key = word.lower()
    if key in lex.role_of:
        return lex.role_of[key]
    if key in _DESKS:
        return "agent"
    return "staff"


def find_staff(text: str, lang: str) -> list[StaffMatch]:
    """Staff mentions found by pattern, longest first among overlaps, in text order."""
    lex = _lexicon()
    found: list[tuple[int, int, StaffMatch]] = []
    for pattern in lex.zh if lang != "en" else lex.en:
        for m in pattern.finditer(text):
            groups = m.groupdict()
            titled = bool(groups.get("tname"))
            name = m.span("tname") if titled else m.span("name") if groups.get("name") else None
            if name is not None and lang == "en":
                first = text[name[0] : name[1]].split()[0]
                if first.lower() in lex.not_names:
                    continue
            role_text = groups.get("role") or ""
            match = StaffMatch(m.start(), m.end(), _role(role_text), role_text, groups.get("num"), name, titled)
            found.append((match.start, match.end, match))
    return [m for _, _, m in longest_first(found)]


def role_before(text: str, start: int, end: int, lang: str) -> StaffMatch | None:
    """A staff mention made of a role word right before the name ``text[start:end]`` (客服张伟, manager Tom)."""
    lex = _lexicon()
    pattern = lex.before_en if lang == "en" else lex.before_zh
    m = pattern.search(text, max(0, start - 16), start)  # the look-behind still sees the text before the window
    if m is None:
        return None
    return StaffMatch(m.start(), end, _role(m.group("role")), m.group("role"), None, (start, end))


def mask_staff(text: str) -> str:
    """Role words, staff numbers and punctuation readable; of each name its first character (客服小王 -> 客服小*)."""
    out = []
    pos = 0
    for m in _lexicon().keep.finditer(text):
        out.append(_mask_word(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_mask_word(text[pos:]))
    return "".join(out)


def _mask_word(word: str) -> str:
    return word[:1] + "*" * (len(word) - 1)


def party_before(text: str, start: int, orgs: list[tuple[int, int, str, str]]) -> tuple[str, str] | None:
    """``(id, name)`` of the last organisation ``(start, end, id, name)`` that ends before ``start`` in the same
    sentence and at most ``_PARTY_GAP`` characters before it."""
    best = None
    for _, o_end, party_id, name in orgs:
        near = o_end <= start and start - o_end <= _PARTY_GAP and not _SENTENCE_END.search(text[o_end:start])
        if near and (best is None or o_end > best[0]):
            best = (o_end, party_id, name)
    return (best[1], best[2]) if best else None


def staff_value(text: str, match: StaffMatch, party: tuple[str, str] | None) -> dict[str, object]:
    """``normalized`` of a staff mention (no name in clear: see the module docstring)."""
    if match.number:
        ident = match.number.upper()
        shown = f"{match.role_text} #{ident}".strip()
    else:
        name = text[match.name[0] : match.name[1]] if match.name else ""
        ident = mask_staff(name) if name else "?"
        shown = mask_staff(text[match.start : match.end])
    party_id = party[0] if party else None
    label = " ".join(p for p in (party[1] if party else "", shown) if p)
    return {
        "kind": "staff",
        "role": match.role,
        "party": party_id,
        "staff_no": match.number.upper() if match.number else None,
        "id": f"{party_id or '-'}/{match.role}/{ident}",
        "name": label,
    }


def is_staff(entity_type: str, normalized: object) -> bool:
    """Whether an answer entity is a staff mention (a PERSON with a ``staff`` value)."""
    return entity_type == "PERSON" and isinstance(normalized, dict) and normalized.get("kind") == "staff"


def facet(entity_type: str, text: str, normalized: object, pii: bool) -> tuple[str, str] | None:
    """``(ORG | PRODUCT, name)`` a report counts an entity under, or None.

    Responsible parties are ORG: a known organisation by its canonical name whatever the spelling (京東 / JD ->
    京东), a staff mention by its masked label (京东 客服小*); products by their surface. Other personal data
    never becomes a facet.
    """
    if is_staff(entity_type, normalized) and isinstance(normalized, dict):
        return "ORG", str(normalized.get("name") or "")
    if pii or entity_type not in ("ORG", "PRODUCT"):
        return None
    if isinstance(normalized, str):
        name = normalized
    elif entity_type == "ORG" and isinstance(normalized, dict) and normalized.get("known") and normalized.get("name"):
        name = str(normalized["name"])
    else:
        name = text
    return entity_type, " ".join(name.split())
