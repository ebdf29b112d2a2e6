"""Reading a JSON request body: one place for the 4xx answers every JSON endpoint gives."""

from __future__ import annotations

from typing import TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from service.errors import ApiError, ErrorType

M = TypeVar("M", bound=BaseModel)


async def parse_json_body(request: Request, model: type[M], max_bytes: int, too_large: str = "") -> M:
    """Read an ``application/json`` body of at most ``max_bytes`` into ``model``; every way it can be bad
    is an :class:`ApiError` with its ``error_type`` (415, 413, invalid UTF-8, invalid JSON, validation)."""
    too_large = too_large or f"body over {max_bytes} bytes"
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(ErrorType.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(ErrorType.PAYLOAD_TOO_LARGE, too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise ApiError(ErrorType.PAYLOAD_TOO_LARGE, too_large)
    try:
        bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(ErrorType.INVALID_UTF8, f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "surrogate" in str(exc):
            raise ApiError(ErrorType.INVALID_UTF8, "body contains unpaired surrogate escapes") from None
        raise ApiError(ErrorType.INVALID_JSON, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ApiError(ErrorType.VALIDATION, "the body must be a JSON object")
    try:  # strict: a boolean option is true or false, not 0 or "yes"; dates stay ISO 8601 strings in JSON
        return model.model_validate_json(bytes(body), strict=True)
    except ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: ValidationError) -> ApiError:
    first = exc.errors(include_url=False, include_input=False)[0]
    loc = ".".join(str(p) for p in first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        if "options" in first["loc"]:
            return ApiError(ErrorType.UNKNOWN_OPTION, f"unknown option: {loc}")
        return ApiError(ErrorType.VALIDATION, f"unknown field: {loc}")
    if kind == "too_short" and first["loc"] == ("items",):
        return ApiError(ErrorType.VALIDATION, "items must not be empty")
    return ApiError(ErrorType.VALIDATION, f"{loc}: {first['msg']}")
