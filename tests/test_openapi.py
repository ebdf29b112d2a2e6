"""The served OpenAPI document is one a client can be generated from, and errors answer in its shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.errors import STATUS, ErrorType

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

#: The error statuses each route answers (from the error types its code raises), besides 500.
EXPECTED = {
    ("post", "/v1/analyze"): {400, 413, 415, 422, 429, 503},
    ("post", "/v1/analyze/batch"): {400, 413, 415, 422, 429, 503},
    ("get", "/health"): {503},
    ("get", "/v1/models"): {503},
    ("post", "/v1/jobs"): {400, 403, 413, 415, 422, 503},
    ("get", "/v1/jobs"): {422, 503},
    ("get", "/v1/jobs/{job_id}"): {404, 422, 503},  # 422: FastAPI's path-parameter validation
    ("delete", "/v1/jobs/{job_id}"): {404, 409, 422, 503},
    ("get", "/v1/jobs/{job_id}/results"): {404, 409, 410, 422, 503},
    ("get", "/v1/jobs/{job_id}/report"): {404, 409, 410, 422, 503},
    ("get", "/v1/complaints"): {422, 503},
    ("get", "/v1/complaints/{dataset}/{message_id}"): {404, 422, 503},
    ("patch", "/v1/complaints/{dataset}/{message_id}"): {400, 404, 413, 415, 422, 503},
    ("get", "/v1/stats"): {422, 503},
    ("get", "/v1/alerts"): {422, 503},
    ("get", "/dashboard"): set(),
    ("get", "/dashboard/plotly.min.js"): {404},
}
#: API keys and per-tenant limits (service/auth.py, service/ratelimit.py) apply to every /v1/* route.
EXPECTED = {op: codes | {401, 429} if op[1].startswith("/v1/") else codes for op, codes in EXPECTED.items()}
#: ... and the complaint store only to the tenants of TOUSU_STORE_TENANTS (403 forbidden), /v1/analyze's `dataset` too.
STORE = ("/v1/analyze", "/v1/complaints", "/v1/stats", "/v1/alerts")
EXPECTED = {op: codes | {403} if op[1].startswith(STORE) else codes for op, codes in EXPECTED.items()}


@pytest.fixture
async def spec(fake_client: httpx.AsyncClient) -> dict[str, Any]:
    r = await fake_client.get("/openapi.json")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method, path, op


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node[part]
    return node


async def test_every_ref_resolves(spec: dict[str, Any]) -> None:
    refs = set(_refs(spec))
    assert "#/components/schemas/ContextTurn" in refs and "#/components/schemas/AnalyzeOptions" in refs
    for ref in refs:
        assert isinstance(_resolve(spec, ref), dict), ref
    request = spec["paths"]["/v1/analyze/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert _resolve(spec, request["$ref"])["properties"]["items"]["items"] == {"$ref": "#/components/schemas/BatchItem"}


async def test_every_parameter_has_a_schema(spec: dict[str, Any]) -> None:
    for method, path, op in _operations(spec):
        for param in op.get("parameters", []):
            assert "schema" in param, (method, path, param["name"])
    names = {p["name"]: p["schema"] for p in spec["paths"]["/v1/jobs"]["post"]["parameters"]}
    assert names["redact"]["type"] == names["include_pii"]["type"] == "boolean"


async def test_every_route_documents_its_errors_in_the_service_shape(spec: dict[str, Any]) -> None:
    error = "#/components/schemas/ErrorResponse"
    shape = _resolve(spec, error)
    assert set(shape["required"]) == {"error", "error_type"}
    assert set(_resolve(spec, shape["properties"]["error_type"]["$ref"])["enum"]) == {t.value for t in ErrorType}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    documented: set[str] = set()
    for method, path, op in _operations(spec):
        errors = {int(s): r for s, r in op["responses"].items() if s[0] in "45"}
        assert 500 in errors, (method, path)
        declare = f"{method.upper()} {path}: declare its errors (service.errors.error_responses), list them here"
        assert (method, path) in EXPECTED, declare
        assert set(errors) - {500} == EXPECTED[method, path], declare
        for status, response in errors.items():
            assert response["content"]["application/json"]["schema"] == {"$ref": error}, (method, path, status)
            kinds = {k.strip("`") for k in response["description"].removeprefix("error_type: ").split(", ")}
            assert kinds and all(STATUS[ErrorType(k)] == status for k in kinds), (method, path, status)
            documented |= kinds
            if status in (429, 503):
                assert "Retry-After" in response["headers"], (method, path, status)
    route_level = {t.value for t in ErrorType} - {ErrorType.METHOD_NOT_ALLOWED.value}
    assert route_level <= documented  # every error the service answers is documented somewhere


async def test_framework_errors_answer_in_the_service_shape(fake_client: httpx.AsyncClient) -> None:
    bad_format = await fake_client.post("/v1/analyze?format=xml", json={"text": "好"})
    assert bad_format.status_code == 422
    assert bad_format.json() == {"error": bad_format.json()["error"], "error_type": "validation_error"}
    assert bad_format.json()["error"].startswith("format: ")
    missing = await fake_client.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error_type"] == "not_found"
    wrong = await fake_client.put("/v1/analyze", json={"text": "好"})
    assert wrong.status_code == 405 and wrong.json()["error_type"] == "method_not_allowed"
    assert wrong.headers["allow"] == "POST"
    two_routes = await fake_client.put("/v1/jobs/0123abcd")  # GET and DELETE are separate routes of one path
    assert two_routes.status_code == 405 and two_routes.headers["allow"] == "DELETE, GET"


async def test_what_schemathesis_found_is_refused(fake_client: httpx.AsyncClient) -> None:
    """Requests the spec calls invalid are 4xx, not silently coerced or accepted."""
    items = [{"text": "好"}]
    coerced = await fake_client.post("/v1/analyze/batch", json={"items": items, "options": {"include_pii": 0}})
    assert coerced.status_code == 422 and coerced.json()["error_type"] == "validation_error"
    dated = await fake_client.post("/v1/analyze", json={"text": "好", "received_at": "2024-05-01T08:00:00+08:00"})
    assert dated.status_code == 200  # strict, yet ISO 8601 dates in JSON are still dates
    listed = await fake_client.get("/v1/jobs", params={"dataset": ""})
    assert listed.status_code == 422 and listed.json()["error_type"] == "validation_error"
