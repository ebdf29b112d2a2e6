"""Typed API errors: a machine-readable ``error_type`` mapped to one status code.

Bodies are ``{"error": <message>, "error_type": <type>}``; messages never echo the
request text or an exception's internals.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match


class ErrorType(StrEnum):
    EMPTY_TEXT = "empty_text"
    TEXT_TOO_LONG = "text_too_long"
    TOO_MANY_ITEMS = "too_many_items"
    INVALID_JSON = "invalid_json"
    INVALID_UTF8 = "invalid_utf8"
    UNKNOWN_OPTION = "unknown_option"
    VALIDATION = "validation_error"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    QUEUE_FULL = "queue_full"
    COST_LIMIT_EXCEEDED = "cost_limit_exceeded"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    NOT_READY = "not_ready"
    NOT_FOUND = "not_found"
    INVALID_UPLOAD = "invalid_upload"
    SOURCE_NOT_ALLOWED = "source_not_allowed"
    JOB_NOT_FINISHED = "job_not_finished"
    JOB_FINISHED = "job_finished"
    RESULTS_EXPIRED = "results_expired"
    STORE_UNAVAILABLE = "store_unavailable"
    ANALYSIS_FAILED = "analysis_failed"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNAUTHORIZED = "unauthorized"
    RATE_LIMITED = "rate_limited"
    FORBIDDEN = "forbidden"
    INTERNAL = "internal_error"


STATUS = {
    ErrorType.EMPTY_TEXT: 422,
    ErrorType.TEXT_TOO_LONG: 413,
    ErrorType.TOO_MANY_ITEMS: 413,
    ErrorType.INVALID_JSON: 400,
    ErrorType.INVALID_UTF8: 400,
    ErrorType.UNKNOWN_OPTION: 422,
    ErrorType.VALIDATION: 422,
    ErrorType.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorType.PAYLOAD_TOO_LARGE: 413,
    ErrorType.QUEUE_FULL: 429,
    ErrorType.COST_LIMIT_EXCEEDED: 413,
    ErrorType.DEADLINE_EXCEEDED: 503,
    ErrorType.NOT_READY: 503,
    ErrorType.NOT_FOUND: 404,
    ErrorType.INVALID_UPLOAD: 422,
    ErrorType.SOURCE_NOT_ALLOWED: 403,
    ErrorType.JOB_NOT_FINISHED: 409,
    ErrorType.JOB_FINISHED: 409,
    ErrorType.RESULTS_EXPIRED: 410,
    ErrorType.STORE_UNAVAILABLE: 503,
    ErrorType.ANALYSIS_FAILED: 422,
    ErrorType.METHOD_NOT_ALLOWED: 405,
    ErrorType.UNAUTHORIZED: 401,
    ErrorType.RATE_LIMITED: 429,
    ErrorType.FORBIDDEN: 403,
    ErrorType.INTERNAL: 500,
}


class ApiError(Exception):
    def __init__(
        self, error_type: ErrorType, message: str, headers: dict[str, str] | None = None, limit: str | None = None
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}
        self.limit = limit  # rate_limited: which limit was hit (ErrorResponse.limit)

    @property
    def status_code(self) -> int:
        return STATUS[self.error_type]


def error_response(error: ApiError) -> JSONResponse:
    body = {"error": error.message, "error_type": error.error_type.value}
    if error.limit is not None:
        body["limit"] = error.limit
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


async def api_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def request_validation_handler(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own parameter validation (path and query parameters) answers in the same shape."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    loc = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "header", "body"))
    return error_response(ApiError(ErrorType.VALIDATION, f"{loc}: {first.get('msg', 'invalid')}"))


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's errors (no such route, wrong method) in the same shape. A 405's ``Allow`` lists the methods
    of every route of the path (Starlette names only the first route's, and GET and DELETE are two routes)."""
    assert isinstance(exc, HTTPException)
    kinds = {404: ErrorType.NOT_FOUND, 405: ErrorType.METHOD_NOT_ALLOWED}
    kind = kinds.get(exc.status_code) or next(
        (t for t, code in STATUS.items() if code == exc.status_code), ErrorType.INTERNAL
    )
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    body = {"error": str(exc.detail), "error_type": kind.value}
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route answers at this path (asked of the router as it would route them)."""
    allowed = []
    for method in ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


class ErrorResponse(BaseModel):
    """Every error answer of the API."""

    error: str = Field(description="What went wrong, for people; never echoes the request text.")
    error_type: ErrorType = Field(description="What went wrong, for programs (each status lists its values).")
    limit: Literal["requests_per_second", "messages_per_minute", "concurrent_jobs"] | None = Field(
        None, description="`rate_limited` only: the per-tenant limit that was hit (wait `Retry-After` seconds)."
    )


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}


def error_responses(*types: ErrorType) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: each status its ``error_type`` values map to (and 500 ``internal_error``),
    with the ``{error, error_type}`` schema and the values that status takes."""
    by_status: dict[int, list[str]] = {}
    for kind in dict.fromkeys((*types, ErrorType.INTERNAL)):
        by_status.setdefault(STATUS[kind], []).append(kind.value)
    out: dict[int | str, dict[str, Any]] = {}
    for status, kinds in sorted(by_status.items()):
        examples = {k: {"value": {"error": "...", "error_type": k}} for k in kinds}
        out[status] = {
            "model": ErrorResponse,
            "description": "error_type: " + ", ".join(f"`{k}`" for k in kinds),
            "content": {"application/json": {"examples": examples}},
        }
        if status in (429, 503):
            out[status]["headers"] = _RETRY_AFTER
    return out
