"""The served OpenAPI document, complete enough to generate clients from.

Request bodies are read by the routes themselves (``service/routes/body.py``), so FastAPI does not see
their models: they are added to ``components`` here, with the models they refer to, and the routes point
at them with :func:`request_body`. FastAPI's default 422 (``HTTPValidationError``, a shape this service
never answers) is replaced by :class:`service.errors.ErrorResponse`, and every operation documents 500.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from service.errors import STATUS, ErrorResponse, ErrorType

REF = "#/components/schemas/{model}"
_ERROR_REF = {"$ref": REF.format(model=ErrorResponse.__name__)}
_FASTAPI_422 = ("HTTPValidationError", "ValidationError")


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` of a route whose JSON body is ``model`` (listed in :func:`install`'s ``bodies``)."""
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def install(app: FastAPI, bodies: Sequence[type[BaseModel]]) -> None:
    """Make ``app.openapi()`` return the completed document (built once, like FastAPI's)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            complete(build(), bodies)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(schema: dict[str, Any], bodies: Sequence[type[BaseModel]]) -> dict[str, Any]:
    components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    models: list[type[BaseModel]] = [*bodies, ErrorResponse]
    for model in models:
        model_schema = model.model_json_schema(ref_template=REF)
        components.update(model_schema.pop("$defs", {}))
        components[model.__name__] = model_schema
    for path, operation in _operations(schema):
        responses: dict[str, Any] = operation.setdefault("responses", {})
        if path.startswith("/v1/"):  # service/auth.py: keys and per-tenant limits apply to every /v1/* route
            _add_error(responses, ErrorType.UNAUTHORIZED, {"WWW-Authenticate": _WWW_AUTHENTICATE})
            _add_error(responses, ErrorType.RATE_LIMITED, {"Retry-After": _RETRY_AFTER})
        for status, response in responses.items():
            if status[0] in "45":
                _error_content(response, int(status))
        if "500" not in responses:
            responses["500"] = {"description": "error_type: `internal_error`"}
            _error_content(responses["500"], 500)
    for name in _FASTAPI_422:
        components.pop(name, None)
    return schema


def _operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    methods = ("get", "put", "post", "delete", "patch", "head", "options")
    return [(path, op) for path, item in schema.get("paths", {}).items() for m, op in item.items() if m in methods]


_RETRY_AFTER = {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
_WWW_AUTHENTICATE = {"description": "`Bearer`: send `Authorization: Bearer <key>`.", "schema": {"type": "string"}}


def _add_error(responses: dict[str, Any], kind: ErrorType, headers: dict[str, Any]) -> None:
    """Document ``kind`` on its status, next to the error types the route already lists there."""
    status = str(STATUS[kind])
    response = responses.setdefault(status, {"description": "error_type: "})
    description = response.get("description") or "error_type: "
    listed = description.removeprefix("error_type: ")
    response["description"] = "error_type: " + ", ".join(k for k in (listed, f"`{kind.value}`") if k)
    examples = response.setdefault("content", {}).setdefault("application/json", {}).setdefault("examples", {})
    example: dict[str, Any] = {"error": "...", "error_type": kind.value}
    if kind == ErrorType.RATE_LIMITED:
        example["limit"] = "requests_per_second"
    examples[kind.value] = {"value": example}
    response.setdefault("headers", {}).update(headers)


def _error_content(response: dict[str, Any], status: int) -> None:
    """The ``{error, error_type}`` schema for an error response (FastAPI's 422 or one declared without it)."""
    content = response.setdefault("content", {}).setdefault("application/json", {})
    content["schema"] = _ERROR_REF
    if response.get("description") in (None, "", "Validation Error"):
        kinds = [k.value for k, code in STATUS.items() if code == status]
        if status == 422:
            kinds = [ErrorType.VALIDATION.value]
        response["description"] = "error_type: " + ", ".join(f"`{k}`" for k in kinds)
