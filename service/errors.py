"""Typed API errors: a machine-readable ``error_type`` mapped to one status code.

Bodies are ``{"error": <message>, "error_type": <type>}``; messages never echo the
request text or an exception's internals.
"""

from __future__ import annotations

from enum import StrEnum

from fastapi import Request
from fastapi.responses import JSONResponse


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
    NOT_READY = "not_ready"
    NOT_FOUND = "not_found"
    INVALID_UPLOAD = "invalid_upload"
    SOURCE_NOT_ALLOWED = "source_not_allowed"
    JOB_NOT_FINISHED = "job_not_finished"
    JOB_FINISHED = "job_finished"
    RESULTS_EXPIRED = "results_expired"
    STORE_UNAVAILABLE = "store_unavailable"
    ANALYSIS_FAILED = "analysis_failed"
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
    ErrorType.NOT_READY: 503,
    ErrorType.NOT_FOUND: 404,
    ErrorType.INVALID_UPLOAD: 422,
    ErrorType.SOURCE_NOT_ALLOWED: 403,
    ErrorType.JOB_NOT_FINISHED: 409,
    ErrorType.JOB_FINISHED: 409,
    ErrorType.RESULTS_EXPIRED: 410,
    ErrorType.STORE_UNAVAILABLE: 503,
    ErrorType.ANALYSIS_FAILED: 422,
    ErrorType.INTERNAL: 500,
}


class ApiError(Exception):
    def __init__(self, error_type: ErrorType, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}

    @property
    def status_code(self) -> int:
        return STATUS[self.error_type]


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(
        {"error": error.message, "error_type": error.error_type.value},
        status_code=error.status_code,
        headers=error.headers,
    )


async def api_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc)
