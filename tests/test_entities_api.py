"""The entity stage behind the HTTP API: masking, redaction, include_pii and the cache, HTML view, no PII in logs/Redis.

The stage is the real one (spaCy pipelines, patterns, LAC); the encoder is the fake one unless the
served configuration reads the encoder pass (the token head or the token branch).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from models.encoder import Encoder
from models.entities.stage import load_entity_stage
from models.fake import FakeEncoder, fake_sentiment
from models.pipeline import Analyzer
from models.registry import Registry
from models.settings import DEFAULT_HEADS_DIR
from models.spec import ModelSpec
from models.stages import StageEnv
from service.app import create_app
from service.settings import Settings
from tests.conftest import ARTIFACTS, REDIS_URL

PHONE = "13800138000"
EMAIL = "zhang.san@qq.com"
RESIDENT_ID = "11010519491231002X"
CARD = "4111111111111111"
NAME = "张伟"
TEXT = f"我是{NAME}，电话{PHONE}，邮箱{EMAIL}，身份证{RESIDENT_ID}，退款请打到卡号{CARD}，订单号3456712345678901234"
RAW = (PHONE, EMAIL, RESIDENT_ID, CARD, NAME, "8613800138000")


@pytest.fixture(scope="module")
def entity_registry() -> Registry:
    encoder: Encoder = FakeEncoder()
    from models.entities.pipeline import EntityConfig, head_types

    config = EntityConfig.load(DEFAULT_HEADS_DIR / "entities" / "config.json")
    head_dir = DEFAULT_HEADS_DIR / "entities" / "token_head"
    if "branch" in (config.zh, config.en) or head_types(head_dir, "zh") or head_types(head_dir, "en"):
        from models.encoder import OnnxEncoder

        encoder = OnnxEncoder(ARTIFACTS / "e5-small", precision="int8", threads=2)
    stage, spec = load_entity_stage(StageEnv(DEFAULT_HEADS_DIR, ARTIFACTS, encoder))
    encoder_spec = ModelSpec(f"encoder/{encoder.name}", "encoder", "-", encoder.version, "0" * 64, {})
    return Registry(Analyzer(encoder, fake_sentiment(encoder.hidden_size), (stage,)), (encoder_spec, spec))


async def _client(settings: Settings, registry: Registry) -> tuple[httpx.AsyncClient, Any]:
    app = create_app(settings, registry_loader=lambda _: registry)
    ctx = app.router.lifespan_context(app)
    await ctx.__aenter__()
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test"), ctx


@pytest.fixture
async def client(settings: Settings, entity_registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    c, ctx = await _client(settings, entity_registry)
    yield c
    await c.aclose()
    await ctx.__aexit__(None, None, None)


def _entities(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in body["entities"] if e["type"] == kind]


async def test_default_answer_masks_personal_data(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/analyze", json={"text": TEXT})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["redacted_text"] is None
    [phone] = _entities(body, "PHONE")
    assert phone["text"] == "138****8000" and phone["normalized"] == {"e164": "+86138****8000", "kind": "mobile"}
    assert TEXT[phone["start"] : phone["end"]] == PHONE and phone["pii"]
    assert [e["text"] for e in _entities(body, "PERSON")] == ["张*"]
    assert [e["text"] for e in _entities(body, "EMAIL")] == ["z***@qq.com"]
    kinds = {e["normalized"]["kind"]: e["text"] for e in _entities(body, "ID_NUMBER")}
    assert kinds == {"resident_id": "110***********002X", "bank_card": "************1111"}
    [order] = _entities(body, "ORDER_ID")
    assert order["text"] == "3456712345678901234" and not order["pii"]  # order numbers are kept: tickets need them
    assert not any(raw in r.text for raw in RAW)


async def test_redact_returns_typed_placeholders(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/analyze", json={"text": TEXT, "options": {"redact": True}})
    assert r.json()["redacted_text"] == (
        "我是[PERSON]，电话[PHONE]，邮箱[EMAIL]，身份证[ID_NUMBER]，退款请打到卡号[BANK_CARD]，订单号3456712345678901234"
    )


async def test_include_pii_returns_raw_values_and_is_not_cached(client: httpx.AsyncClient) -> None:
    first = (await client.post("/v1/analyze", json={"text": TEXT, "options": {"include_pii": True}})).json()
    assert [e["text"] for e in _entities(first, "PHONE")] == [PHONE]
    assert _entities(first, "PHONE")[0]["normalized"]["e164"] == "+86" + PHONE
    assert [e["text"] for e in _entities(first, "PERSON")] == [NAME]
    second = (await client.post("/v1/analyze", json={"text": TEXT, "options": {"include_pii": True}})).json()
    assert second["cached"] is False
    masked_first = (await client.post("/v1/analyze", json={"text": TEXT})).json()
    masked_again = (await client.post("/v1/analyze", json={"text": TEXT})).json()
    assert masked_first["cached"] is False and masked_again["cached"] is True


async def test_unknown_options_are_still_refused(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/analyze", json={"text": TEXT, "options": {"include_pi": True}})
    assert r.status_code == 422 and r.json()["error_type"] == "unknown_option"


async def test_html_view_renders_masked_entities(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/analyze?format=html", json={"text": TEXT, "id": "T-1"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "138****8000" in page and "ORDER_ID" in page and "PERSON" in page and "T-1" in page
    assert not any(raw in page for raw in RAW)
    assert "http://" not in page and "https://" not in page  # offline: no CDN
    bad = await client.post("/v1/analyze?format=xml", json={"text": TEXT})
    assert bad.status_code == 422 and bad.json()["error_type"] == "validation_error"


@pytest.mark.redis
async def test_no_raw_pii_in_logs_or_redis(
    tmp_path: Path, entity_registry: Registry, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(artifacts_dir=tmp_path, redis_url=REDIS_URL, batch_max_wait_ms=5, jobs_dir=tmp_path / "jobs")
    c, ctx = await _client(settings, entity_registry)
    try:
        for options in ({}, {"redact": True}, {"include_pii": True}):
            r = await c.post("/v1/analyze", json={"text": TEXT, "id": "pii-1", "options": options})
            assert r.status_code == 200
        r = await c.post("/v1/analyze/batch", json={"items": [{"text": TEXT}, {"text": TEXT + "。"}]})
        assert r.status_code == 200
    finally:
        await c.aclose()
        await ctx.__aexit__(None, None, None)
    stored = []
    for key in redis_client.scan_iter("*"):
        kind = redis_client.type(key).decode()
        if kind == "string":
            value = redis_client.get(key) or b""
        elif kind == "hash":
            value = json.dumps(
                {k.decode(): v.decode("utf-8", "replace") for k, v in redis_client.hgetall(key).items()}
            ).encode()
        elif kind == "list":
            value = b"".join(redis_client.lrange(key, 0, -1))
        elif kind in ("set", "zset"):
            value = b"".join(redis_client.smembers(key) if kind == "set" else redis_client.zrange(key, 0, -1))
        else:
            value = b""
        stored.append(key + b" " + value)
    assert stored, "the service should have cached the masked answers in Redis"
    blob = b"\n".join(stored).decode("utf-8", "replace")
    assert "138****8000" in blob  # the masked answers are there ...
    for raw in RAW:  # ... and none of the raw values, nor in the logs
        assert raw not in blob, raw
        assert raw not in caplog.text, raw


def test_analyze_cli_writes_an_html_view(
    tmp_path: Path, entity_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.local

    monkeypatch.setattr(service.local, "default_registry", lambda settings: entity_registry)
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": TEXT}, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert service.local.analyze_file(src, out, progress=False, html=True) == 0
    page = (tmp_path / "out.html").read_text(encoding="utf-8")
    assert "138****8000" in page and "ORDER_ID" in page
    assert not any(raw in page for raw in RAW)
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])["entities"]
