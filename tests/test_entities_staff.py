"""The staff a customer names (``models/entities/staff.py``): found, tied to their organisation, masked, counted."""

from __future__ import annotations

import pytest

from models.entities.pipeline import EntityConfig, EntityPipelines, EntityRequest
from models.entities.staff import facet, find_staff, mask_staff
from models.pii import mask
from models.schema import Entity
from models.settings import DEFAULT_HEADS_DIR
from models.text import detect_language, normalize
from tests.conftest import ARTIFACTS


@pytest.fixture(scope="module")
def pipelines() -> EntityPipelines:
    config = EntityConfig.load(DEFAULT_HEADS_DIR / "entities" / "config.json")
    return EntityPipelines.build(config, DEFAULT_HEADS_DIR / "entities" / "branch", ARTIFACTS / "e5-small")


def staff_of(pipelines: EntityPipelines, text: str) -> list[Entity]:
    norm = normalize(text)
    if pipelines.needs_trunk:  # pragma: no cover - the served NER is LAC / spaCy
        pytest.skip("the served NER reads the encoder pass")
    [entities] = pipelines.extract([EntityRequest(norm, detect_language(norm.text))])
    for e in entities:
        assert text[e.start : e.end] == e.text
    return [e for e in entities if isinstance(e.normalized, dict) and e.normalized.get("kind") == "staff"]


@pytest.mark.parametrize(
    ("text", "surface", "role", "party", "staff_no", "pii"),
    [
        ("京东客服小王态度太差了，挂我电话", "小王", "agent", "jd", None, True),
        ("淘寶客服小陳說不能退", "小陳", "agent", "taobao", None, True),  # Traditional: offsets into the original
        ("工号8823的客服说三天内退款，到现在没动静", "工号8823的客服", "agent", None, "8823", False),
        ("8823号客服一直让我等", "8823号客服", "agent", None, "8823", False),
        ("王经理答应给我换货，结果不认账", "王经理", "manager", None, None, True),
        ("快递员李师傅把包裹放在门口就走了", "李师傅", "courier", None, None, True),
        ("顺丰的快递员张伟根本没打电话", "张伟", "courier", "sf", None, True),  # LAC's PERSON + the role word
        ("The agent Sarah hung up on me twice", "Sarah", "agent", None, None, True),
        ("agent ID 4521 promised a refund", "agent ID 4521", "agent", None, "4521", False),
        ("Tom from customer service never called back", "Tom", "agent", None, None, True),
        ("Comcast technician Mike never showed up", "Mike", "technician", "comcast", None, True),
        ("@united your rep, Jake, was rude", "Jake", "agent", "@united", None, True),
    ],
)
def test_staff_mentions_are_found_with_role_party_and_number(
    pipelines: EntityPipelines, text: str, surface: str, role: str, party: str | None, staff_no: str | None, pii: bool
) -> None:
    [e] = staff_of(pipelines, text)
    assert (e.type, e.text, e.pii) == ("PERSON", surface, pii)
    assert isinstance(e.normalized, dict)
    assert (e.normalized["role"], e.normalized["party"], e.normalized["staff_no"]) == (role, party, staff_no)


@pytest.mark.parametrize(
    "text",
    [
        "客服态度很差，一直踢皮球",  # a role word alone names no one
        "上周经理说会处理",  # 周 is a surname, 上周 a week
        "这周师傅没来",
        "感谢师傅一早送货",  # 谢 is a surname, 感谢 thanks
        "有工程师傅来房间修理",
        "担任经理的人不管事",
        "I asked the agent to escalate and she said no",
        "the store manager told me to call Apple",
    ],
)
def test_role_words_without_a_person_are_not_staff(pipelines: EntityPipelines, text: str) -> None:
    assert staff_of(pipelines, text) == []


def test_ids_group_one_person_and_never_hold_a_name_in_clear(pipelines: EntityPipelines) -> None:
    first = staff_of(pipelines, "京东客服小王说今天一定回电")
    again = staff_of(pipelines, "昨天又找了京东客服小王，还是没结果")
    number = staff_of(pipelines, "京东的工号8823客服挂我电话")
    assert first[0].normalized == again[0].normalized  # one id, one label for the same person
    value = first[0].normalized
    assert isinstance(value, dict)
    assert value["id"] == "jd/agent/小*"
    assert "王" not in str(value)
    assert isinstance(number[0].normalized, dict)
    assert number[0].normalized["id"] == "jd/agent/8823"


@pytest.mark.parametrize(
    ("surface", "masked"),
    [
        ("客服小王", "客服小*"),
        ("快递员张伟", "快递员张*"),
        ("工号8823的客服", "工号8823的客服"),
        ("agent Sarah", "agent S****"),
        ("manager named Tom Hill", "manager named T** H***"),
        ("Tom from customer service", "T** from customer service"),
    ],
)
def test_masks_keep_the_role_and_the_number_and_hide_the_name(surface: str, masked: str) -> None:
    assert mask_staff(surface) == masked
    assert mask("PERSON", "staff", surface) == masked
    assert mask("PERSON", "", "张伟") == "张*"  # other names keep their own mask


def test_staff_count_as_responsible_parties_and_known_orgs_by_their_canonical_name() -> None:
    staff = {"kind": "staff", "role": "agent", "name": "京东 客服小*"}
    assert facet("PERSON", "客服小王", staff, True) == ("ORG", "京东 客服小*")
    assert facet("PERSON", "张伟", None, True) is None  # a name that is not staff never becomes a facet
    known = {"id": "jd", "name": "京东", "kind": "platform", "known": True}
    assert facet("ORG", "京東", known, False) == ("ORG", "京东")
    unknown = {"id": "x:老王  杂货", "name": "老王 杂货", "kind": None, "known": False}
    assert facet("ORG", "老王  杂货", unknown, False) == ("ORG", "老王 杂货")
    assert facet("PRODUCT", "iPhone 15", {"id": "apple:iphone15"}, False) == ("PRODUCT", "iPhone 15")


def test_patterns_alone_on_plain_strings() -> None:
    [m] = find_staff("工号为006的服务员答复我没有房", "zh")
    assert (m.role, m.number) == ("staff", "006")
    [m] = find_staff("account manager #22 Brent", "en")
    assert (m.role, m.number) == ("manager", "22")
    assert find_staff("DRIVER Since yesterday nothing", "en") == []
