"""``/v1/jobs``: submit a dump, follow it, stream its results, read its report, cancel it.

The upload is the raw request body (``curl --data-binary @dump.jsonl.gz``), streamed to disk in
1 MB writes and never held in memory; ``dataset``, ``format`` and the per-message options are
query parameters. Parameters are parsed here rather than by FastAPI so that every mistake is a
typed ``{"error", "error_type"}`` answer like the rest of the API.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel

from service.auth import tenant_of
from service.errors import ApiError, ErrorType, error_responses
from service.jobs.export import iter_csv, iter_jsonl
from service.jobs.records import FORMATS, Format
from service.jobs.report import render_html
from service.jobs.runtime import JobRuntime
from service.jobs.schemas import DATASET_PATTERN, JobReport, JobSourceRequest, JobStatus
from service.jobs.service import JobService, new_job_id, parse_options
from service.openapi import request_body
from service.routes.body import parse_json_body
from service.schemas import AnalyzeOptions
from service.settings import Settings

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
logger = logging.getLogger(__name__)

# Content types of an upload and the format they imply (None: detected from the content).
UPLOAD_TYPES: dict[str, Format | None] = {
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/jsonlines": "jsonl",
    "application/x-jsonlines": "jsonl",
    "text/csv": "csv",
    "application/csv": "csv",
    "application/gzip": None,
    "application/x-gzip": None,
    "application/octet-stream": None,
    "text/plain": None,
    "": None,
}
RESERVED_QUERY = ("dataset", "format")
_WRITE_BYTES = 1024 * 1024
_DATASET = re.compile(DATASET_PATTERN)


def _option_params() -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": "dataset",
            "in": "query",
            "required": False,
            "description": "Name shared by the runs of one feed; the report compares with its previous completed job.",
            "schema": {"type": "string", "pattern": DATASET_PATTERN},
        },
        {
            "name": "format",
            "in": "query",
            "required": False,
            "description": "jsonl or csv; default from Content-Type, else detected (gzip: by its magic bytes).",
            "schema": {"type": "string", "enum": list(FORMATS)},
        },
    ]
    for name, field in AnalyzeOptions.model_fields.items():
        if name != "cache":
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": f"Option: {field.description or ''}",
                    "schema": {"type": "boolean", "default": field.default},
                }
            )
    return params


_BINARY = {"schema": {"type": "string", "format": "binary"}}
_CREATE_DOC: dict[str, Any] = {
    "parameters": _option_params(),
    "requestBody": {
        "required": True,
        "description": "The dump as the body: JSON Lines (`{text, id?, received_at?, customer_id?, channel?}` per "
        "line) or CSV with a header and a `text` column, optionally gzip-compressed (up to "
        "TOUSU_JOBS_MAX_UPLOAD_BYTES, 2 GB by default). Or `application/json` naming a server `path` or a `url`.",
        "content": {
            "application/x-ndjson": _BINARY,
            "text/csv": _BINARY,
            "application/gzip": _BINARY,
            "application/octet-stream": _BINARY,
            "application/json": request_body(JobSourceRequest)["requestBody"]["content"]["application/json"],
        },
    },
}
_RESULTS_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": "format",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": ["jsonl", "csv"], "default": "jsonl"},
        }
    ],
    "responses": {
        "200": {
            "description": "One line per input record, in input order: the `Analysis` of /v1/analyze (with the "
            "record's `id`), or `{id, line, error_type, error}` for a bad record.",
            "content": {"application/x-ndjson": _BINARY, "text/csv": _BINARY},
        }
    },
}
_REPORT_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": "format",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": ["json", "html"], "default": "json"},
        }
    ],
    "responses": {"200": {"content": {"text/html": {"schema": {"type": "string"}}}}},
}

_LIST_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": "dataset",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "pattern": DATASET_PATTERN},
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 20},
        },
    ]
}
#: Request bodies read by these routes themselves; ``service.openapi`` adds them to the spec's components.
BODIES: tuple[type[BaseModel], ...] = (JobSourceRequest,)
_JOB = (ErrorType.NOT_FOUND, ErrorType.NOT_READY)


def _runtime(request: Request) -> JobRuntime:
    runtime: JobRuntime | None = getattr(request.app.state, "jobs", None)
    if runtime is None or not getattr(request.app.state, "ready", False):
        raise ApiError(ErrorType.NOT_READY, "the service is starting", headers={"Retry-After": "5"})
    return runtime


async def _open(request: Request, create: bool = True) -> JobService | None:
    """The job service; ``create=False`` gives None when no job database exists yet (no job was ever accepted)."""
    runtime = _runtime(request)
    try:
        return await asyncio.to_thread(runtime.service if create else runtime.existing)
    except Exception as exc:
        logger.error("job database unavailable (%s)", type(exc).__name__)
        raise ApiError(ErrorType.NOT_READY, "the job database is unavailable", {"Retry-After": "10"}) from None


async def _existing(request: Request) -> JobService:
    service = await _open(request, create=False)
    if service is None:
        raise ApiError(ErrorType.NOT_FOUND, "no such job")
    return service


def _quota(request: Request) -> int:
    """The caller's concurrent-jobs quota (``TOUSU_JOBS_MAX_CONCURRENT``; 0: none, as without keys)."""
    most: int = request.app.state.settings.jobs_max_concurrent
    return most if tenant_of(request) is not None else 0


async def _check_quota(request: Request, service: JobService) -> None:
    """The quota checked early, before anything is received; ``JobService.accept`` checks it again atomically."""
    tenant = tenant_of(request)
    if tenant is not None and _quota(request) > 0:
        request.app.state.limiter.check_jobs(tenant, await asyncio.to_thread(service.active_jobs, tenant))


def _status_response(status: JobStatus, code: int = 200) -> JSONResponse:
    headers = {"Location": status.links["self"]} if code == 202 else None
    return JSONResponse(status.model_dump(mode="json"), status_code=code, headers=headers)


def _query(request: Request) -> tuple[str | None, Format | None, dict[str, Any]]:
    params = request.query_params
    for key in params:
        if len(params.getlist(key)) > 1:
            raise ApiError(ErrorType.VALIDATION, f"query parameter {key} given twice")
    dataset = params.get("dataset")
    if dataset is not None and not _DATASET.match(dataset):
        raise ApiError(ErrorType.VALIDATION, "dataset: 1-128 letters, digits, spaces or . _ : -")
    fmt = params.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise ApiError(ErrorType.VALIDATION, "format must be jsonl or csv")
    options = parse_options({k: v for k, v in params.items() if k not in RESERVED_QUERY})
    return dataset, fmt, options  # type: ignore[return-value]


@router.post(
    "",
    status_code=202,
    response_model=JobStatus,
    summary="Submit a dump (upload, server path or URL); answers at once with the job",
    openapi_extra=_CREATE_DOC,
    responses=error_responses(
        ErrorType.INVALID_JSON,
        ErrorType.INVALID_UTF8,
        ErrorType.PAYLOAD_TOO_LARGE,
        ErrorType.UNSUPPORTED_MEDIA_TYPE,
        ErrorType.SOURCE_NOT_ALLOWED,
        ErrorType.VALIDATION,
        ErrorType.UNKNOWN_OPTION,
        ErrorType.INVALID_UPLOAD,
        ErrorType.NOT_READY,
    ),
)
async def create_job(request: Request) -> Response:
    _runtime(request)
    settings: Settings = request.app.state.settings
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        source = await parse_json_body(
            request, JobSourceRequest, 64 * 1024, "a JSON job request is at most 64 KB; upload files as the body"
        )
        service = await _open(request)
        assert service is not None
        await _check_quota(request, service)
        status = await asyncio.to_thread(service.create_from_source, source, tenant_of(request), _quota(request))
        return _status_response(status, 202)
    if content_type.startswith("multipart/"):
        raise ApiError(
            ErrorType.UNSUPPORTED_MEDIA_TYPE,
            "send the file as the request body (curl --data-binary @file), not multipart",
        )
    if content_type not in UPLOAD_TYPES:
        raise ApiError(
            ErrorType.UNSUPPORTED_MEDIA_TYPE, "send JSON Lines, CSV, gzip, or application/json with a path/url"
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise ApiError(ErrorType.UNSUPPORTED_MEDIA_TYPE, "Content-Encoding must be gzip or identity")
    dataset, fmt, options = _query(request)
    limit = settings.jobs_max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(ErrorType.PAYLOAD_TOO_LARGE, f"upload over {limit} bytes")
    service = await _open(request)
    assert service is not None
    await _check_quota(request, service)
    job_id = new_job_id()
    await _receive(request, service, job_id, limit)
    checked = await asyncio.to_thread(service.check_upload, job_id, fmt or UPLOAD_TYPES[content_type])
    try:
        status = await asyncio.to_thread(
            service.accept, job_id, "upload", None, checked, dataset, options, tenant_of(request), _quota(request)
        )
    except BaseException:  # not recorded (database down): keep no orphan upload
        service.files.delete_job(job_id)
        raise
    return _status_response(status, 202)


async def _receive(request: Request, service: JobService, job_id: str, limit: int) -> None:
    """Body -> ``input.raw`` through a temporary file, 1 MB per write, in a thread."""
    target = service.files.input_path(job_id)
    written = 0
    try:
        with service.files.atomic_writer(target) as fh:
            pending = bytearray()
            async for block in request.stream():
                written += len(block)
                if written > limit:
                    raise ApiError(ErrorType.PAYLOAD_TOO_LARGE, f"upload over {limit} bytes")
                pending += block
                if len(pending) >= _WRITE_BYTES:
                    await asyncio.to_thread(fh.write, bytes(pending))
                    pending.clear()
            if pending:
                await asyncio.to_thread(fh.write, bytes(pending))
            if written == 0:
                raise ApiError(ErrorType.INVALID_UPLOAD, "the upload is empty")
    except BaseException:  # too large, empty, or the client went away: keep nothing
        service.files.delete_job(job_id)
        raise


@router.get(
    "",
    response_model=list[JobStatus],
    summary="Recent jobs, newest first (?dataset=, ?limit=)",
    openapi_extra=_LIST_DOC,
    responses=error_responses(ErrorType.VALIDATION, ErrorType.NOT_READY),
)
async def list_jobs(request: Request) -> Response:
    service = await _open(request, create=False)
    dataset = request.query_params.get("dataset")
    if dataset is not None and not _DATASET.match(dataset):
        raise ApiError(ErrorType.VALIDATION, "dataset: 1-128 letters, digits, spaces or . _ : -")
    raw_limit = request.query_params.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 500:
        raise ApiError(ErrorType.VALIDATION, "limit must be 1-500")
    tenant = tenant_of(request)
    jobs = [] if service is None else await asyncio.to_thread(service.recent, dataset, int(raw_limit), tenant)
    return JSONResponse([j.model_dump(mode="json") for j in jobs])


@router.get(
    "/{job_id}", response_model=JobStatus, summary="State, counts, progress and ETA", responses=error_responses(*_JOB)
)
async def get_job(request: Request, job_id: str) -> Response:
    service = await _existing(request)
    return _status_response(await asyncio.to_thread(service.status, job_id, tenant_of(request)))


@router.delete(
    "/{job_id}",
    response_model=JobStatus,
    summary="Cancel: chunks not yet run are skipped",
    responses=error_responses(*_JOB, ErrorType.JOB_FINISHED),
)
async def cancel_job(request: Request, job_id: str) -> Response:
    service = await _existing(request)
    return _status_response(await asyncio.to_thread(service.cancel, job_id, tenant_of(request)))


@router.get(
    "/{job_id}/results",
    summary="Per-message analyses in input order (JSONL or CSV)",
    openapi_extra=_RESULTS_DOC,
    responses=error_responses(*_JOB, ErrorType.VALIDATION, ErrorType.JOB_NOT_FINISHED, ErrorType.RESULTS_EXPIRED),
)
async def get_results(request: Request, job_id: str) -> Response:
    service = await _existing(request)
    fmt = request.query_params.get("format", "jsonl")
    if fmt not in FORMATS:
        raise ApiError(ErrorType.VALIDATION, "format must be jsonl or csv")
    outputs = await asyncio.to_thread(service.result_outputs, job_id, tenant_of(request))
    disposition = {"Content-Disposition": f'attachment; filename="{job_id}.{fmt}"'}
    if fmt == "csv":
        return StreamingResponse(
            iter_csv(service.files, job_id, outputs), media_type="text/csv; charset=utf-8", headers=disposition
        )
    return StreamingResponse(
        iter_jsonl(service.files, job_id, outputs), media_type="application/x-ndjson", headers=disposition
    )


@router.get(
    "/{job_id}/report",
    response_model=JobReport,
    summary="End-of-job report (JSON or HTML)",
    openapi_extra=_REPORT_DOC,
    responses=error_responses(*_JOB, ErrorType.VALIDATION, ErrorType.JOB_NOT_FINISHED, ErrorType.RESULTS_EXPIRED),
)
async def get_report(request: Request, job_id: str) -> Response:
    service = await _existing(request)
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "html"):
        raise ApiError(ErrorType.VALIDATION, "format must be json or html")
    report = await asyncio.to_thread(service.report, job_id, tenant_of(request))
    if fmt == "html":
        return HTMLResponse(render_html(report))
    return JSONResponse(report.model_dump(mode="json"))
