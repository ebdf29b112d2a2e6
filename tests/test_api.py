"""HTTP plumbing through the real lifespan with the deterministic fake model."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from models.fake import FakeEncoder
from service.app import create_app
from service.settings import Settings
from tests.conftest import fake_registry, start_client


async def test_analyze_returns_the_versioned_schema(fake_client: httpx.AsyncClient) -> None:
    r = await fake_client.post("/v1/analyze", json={"text": "快递三天了还没到", "id": "t-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["schema_version"] == "1.0"
    assert body["id"] == "t-1"
    assert body["language"] == "zh"
    assert body["cached"] is False
    s = body["sentiment"]
    assert s["label"] in ("negative", "neutral", "positive")
    assert abs(sum(s["probabilities"].values()) - 1) < 1e-3
    assert 0 <= s["intensity"] <= 1
    for later in ("hidden_dissatisfaction", "entities", "topic", "risk"):
        assert later in body
    assert body["model_versions"]["encoder/fake-encoder"] == "fake-1"
    assert float(r.headers["x-compute-time-ms"]) >= 0


async def test_second_identical_request_is_cached(fake_client: httpx.AsyncClient) -> None:
    first = (await fake_client.post("/v1/analyze", json={"text": "退款还没到", "id": "a"})).json()
    second = (await fake_client.post("/v1/analyze", json={"text": "退款还没到", "id": "b"})).json()
    assert first["cached"] is False and second["cached"] is True
    assert second["id"] == "b"
    assert first["sentiment"] == second["sentiment"]
    bypass = (await fake_client.post("/v1/analyze", json={"text": "退款还没到", "options": {"cache": False}})).json()
    assert bypass["cached"] is False


async def test_batch_keeps_order_ids_and_dedupes_work(settings: Settings) -> None:
    encoder = FakeEncoder()
    client, ctx = await start_client(settings, encoder)
    try:
        encoder.calls.clear()
        items = [{"text": t, "id": str(i)} for i, t in enumerate(["a1", "b2", "a1", "c3"])]
        r = await client.post("/v1/analyze/batch", json={"items": items})
        assert r.status_code == 200
        out = r.json()["items"]
        assert [o["id"] for o in out] == ["0", "1", "2", "3"]
        assert out[0]["sentiment"] == out[2]["sentiment"]
        assert sum(encoder.calls) == 3  # the duplicate text was computed once
    finally:
        await client.aclose()
        await ctx.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def test_concurrent_http_requests_share_a_model_batch(tmp_path: object) -> None:
    encoder = FakeEncoder(delay_s=0.05)
    settings = Settings(batch_max_wait_ms=30, batch_max_size=16)
    client, ctx = await start_client(settings, encoder)
    try:
        encoder.calls.clear()
        responses = await asyncio.gather(*(client.post("/v1/analyze", json={"text": f"消息 {i}"}) for i in range(8)))
        assert all(r.status_code == 200 for r in responses)
        assert sum(encoder.calls) == 8
        assert max(encoder.calls) > 1, encoder.calls
    finally:
        await client.aclose()
        await ctx.__aexit__(None, None, None)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "headers", "status", "error_type"),
    [
        ({"text": ""}, None, 422, "empty_text"),
        ({"text": "   \n\t "}, None, 422, "empty_text"),
        ({"text": "x" * 5001}, None, 413, "text_too_long"),
        ({"text": "ok", "options": {"colour": "red"}}, None, 422, "unknown_option"),
        ({"text": "ok", "lang": "zh"}, None, 422, "validation_error"),
        ({"text": 12}, None, 422, "validation_error"),
        ({}, None, 422, "validation_error"),
        (b'{"text": "unterminated', {"content-type": "application/json"}, 400, "invalid_json"),
        (b'{"text": "\xff\xfe bad"}', {"content-type": "application/json"}, 400, "invalid_utf8"),
        (b'{"text": "\\ud800 lone"}', {"content-type": "application/json"}, 400, "invalid_utf8"),
        (b"text=hello", {"content-type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
        (b"[1, 2]", {"content-type": "application/json"}, 422, "validation_error"),
    ],
)
async def test_bad_input_is_a_typed_4xx(
    fake_client: httpx.AsyncClient, body: object, headers: dict[str, str] | None, status: int, error_type: str
) -> None:
    if isinstance(body, bytes):
        r = await fake_client.post("/v1/analyze", content=body, headers=headers)
    else:
        r = await fake_client.post("/v1/analyze", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error_type"] == error_type
    assert set(r.json()) == {"error", "error_type"}


async def test_batch_limits(fake_client: httpx.AsyncClient) -> None:
    too_many = {"items": [{"text": "x"}] * 257}
    r = await fake_client.post("/v1/analyze/batch", json=too_many)
    assert (r.status_code, r.json()["error_type"]) == (413, "too_many_items")
    r = await fake_client.post("/v1/analyze/batch", json={"items": []})
    assert (r.status_code, r.json()["error_type"]) == (422, "validation_error")
    r = await fake_client.post("/v1/analyze/batch", json={"items": [{"text": "ok"}, {"text": " "}]})
    assert (r.status_code, r.json()["error_type"]) == (422, "empty_text")
    assert "items[1]" in r.json()["error"]


async def test_full_queue_answers_429(tmp_path: object) -> None:
    encoder = FakeEncoder(delay_s=0.3)
    settings = Settings(batch_queue_size=2, batch_max_size=1, batch_max_wait_ms=0)
    client, ctx = await start_client(settings, encoder)
    try:
        responses = await asyncio.gather(
            *(client.post("/v1/analyze", json={"text": f"m{i}", "options": {"cache": False}}) for i in range(6))
        )
        codes = sorted(r.status_code for r in responses)
        assert 429 in codes and 200 in codes
        refused = next(r for r in responses if r.status_code == 429)
        assert refused.json()["error_type"] == "queue_full" and refused.headers["retry-after"] == "1"
    finally:
        await client.aclose()
        await ctx.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def test_health_is_503_until_models_are_ready(settings: Settings) -> None:
    app = create_app(settings, registry_loader=lambda _: fake_registry())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        r = await client.get("/health")  # lifespan not started: nothing loaded
        assert (r.status_code, r.json()["error_type"]) == (503, "not_ready")
        r = await client.post("/v1/analyze", json={"text": "hi"})
        assert r.status_code == 503
        async with app.router.lifespan_context(app):
            r = await client.get("/health")
            assert r.status_code == 200 and r.json()["status"] == "ok"


async def test_models_metrics_and_openapi(fake_client: httpx.AsyncClient) -> None:
    await fake_client.post("/v1/analyze", json={"text": "hello there"})
    models = (await fake_client.get("/v1/models")).json()["models"]
    assert models[0]["name"] == "encoder/fake-encoder"
    metrics = (await fake_client.get("/metrics")).text
    assert "tousu_http_requests_total" in metrics and "tousu_batch_size_bucket" in metrics
    assert 'tousu_cache_total{result="miss"}' in metrics
    for phase in ("encoder", "sentiment"):  # every phase of the model batch is timed
        assert f'tousu_stage_seconds_count{{stage="{phase}"}} 1.0' in metrics
    spec = (await fake_client.get("/openapi.json")).json()
    body_ref = spec["paths"]["/v1/analyze"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "text" in spec["components"]["schemas"][body_ref.rsplit("/", 1)[1]]["properties"]
    assert "Analysis" in spec["components"]["schemas"]
