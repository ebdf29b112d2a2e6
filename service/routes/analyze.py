"""``POST /v1/analyze`` and ``POST /v1/analyze/batch``.

Bodies are read and validated here rather than by FastAPI's implicit parsing so that
every bad input maps to a typed 4xx (invalid UTF-8, invalid JSON, unknown options,
limits from the settings) and never to a 500.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from models.batcher import DeadlineExceededError, QueueFullError, text_windows
from models.pipeline import AnalysisInput, Turn
from models.schema import Analysis
from models.text import is_blank
from models.topics.stage import DATASET_OPTION, TopicStage
from service.analysis import MessageFailedError
from service.auth import tenant_of
from service.errors import ApiError, ErrorType, error_responses
from service.openapi import request_body
from service.routes.body import parse_json_body
from service.routes.complaints import store_answers
from service.schemas import AnalyzeOptions, AnalyzeRequest, BatchRequest, BatchResponse, MessageFields
from service.settings import Settings

router = APIRouter(prefix="/v1", tags=["analysis"])


_BYTES_PER_CHAR = 4
_BODY_OVERHEAD = 64 * 1024


#: Errors every message route answers (the body reader's, the models', the queue's).
_MESSAGE_ERRORS = (
    ErrorType.INVALID_JSON,
    ErrorType.INVALID_UTF8,
    ErrorType.TEXT_TOO_LONG,
    ErrorType.PAYLOAD_TOO_LARGE,
    ErrorType.UNSUPPORTED_MEDIA_TYPE,
    ErrorType.EMPTY_TEXT,
    ErrorType.UNKNOWN_OPTION,
    ErrorType.VALIDATION,
    ErrorType.ANALYSIS_FAILED,
    ErrorType.QUEUE_FULL,
    ErrorType.DEADLINE_EXCEEDED,
    ErrorType.NOT_READY,
    ErrorType.STORE_UNAVAILABLE,
    ErrorType.FORBIDDEN,  # a `dataset` from a tenant outside TOUSU_STORE_TENANTS
)
#: Request bodies these routes read themselves; ``service.openapi`` adds them to the spec's components.
BODIES: tuple[type[BaseModel], ...] = (AnalyzeRequest, BatchRequest)

#: Status logged for a request whose client went away before its answer (nginx's convention; nobody reads it).
CLIENT_CLOSED = 499


class ClientGoneError(Exception):
    """The client disconnected while its messages waited or ran; their remaining work was dropped."""


def _check_text(text: str, settings: Settings, where: str) -> None:
    if is_blank(text):  # also zero-width characters, BOM, bidi marks: nothing for the models to read
        raise ApiError(ErrorType.EMPTY_TEXT, f"{where}text is empty or has no visible character")
    if len(text) > settings.max_text_chars:
        raise ApiError(
            ErrorType.TEXT_TOO_LONG, f"{where}text has {len(text)} characters; the limit is {settings.max_text_chars}"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from JSON escapes
        raise ApiError(ErrorType.INVALID_UTF8, f"{where}text contains unpaired surrogates") from None


def _input(message: MessageFields, options: dict[str, Any]) -> AnalysisInput:
    return AnalysisInput.prepare(
        message.text,
        options,
        message.id,
        context=tuple(Turn(t.role, t.text) for t in message.context),
        received_at=message.received_at,
        customer_id=message.customer_id,
    )


def _options(request: Request, options: AnalyzeOptions, dataset: str | None) -> dict[str, Any]:
    """The per-message options; a request that names a ``dataset`` gets that dataset's latest topic model
    (fitted by its last job), named with the job that fitted it so that cached answers follow refits."""
    out = options.model_dump(exclude={"cache"})
    if dataset is not None:
        for stage in request.app.state.service.analyzer.stages:
            if isinstance(stage, TopicStage):
                chosen = stage.dataset_option(dataset)
                if chosen is not None:
                    out[DATASET_OPTION] = chosen
    return out


def _ready(request: Request) -> None:
    if not getattr(request.app.state, "ready", False):
        raise ApiError(ErrorType.NOT_READY, "models are loading", headers={"Retry-After": "5"})


async def _client_gone(request: Request) -> None:
    """Returns when the client disconnects. The body has been read, so the next ASGI message is
    ``http.disconnect`` (``request.is_disconnected()`` cannot see it through the HTTP middleware: it
    only peeks, and the middleware's receive always has to wait)."""
    while (await request.receive())["type"] != "http.disconnect":
        continue


async def _unless_disconnected(request: Request, items: list[AnalysisInput], use_cache: bool) -> list[bytes]:
    """The answers, unless the client goes away first: then the work is cancelled (the batcher skips
    the messages not yet computed) and :class:`ClientGoneError` is raised."""
    work = asyncio.ensure_future(request.app.state.service.analyze(items, use_cache))
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        if work.done():
            result: list[bytes] = work.result()
            return result
        raise ClientGoneError
    finally:
        for task in (work, gone):
            if not task.done():
                task.cancel()


async def _run(request: Request, items: list[AnalysisInput], use_cache: bool, batch: bool) -> list[bytes]:
    try:
        return await _unless_disconnected(request, items, use_cache)
    except QueueFullError:
        raise ApiError(
            ErrorType.QUEUE_FULL, "too many messages in flight; retry shortly", {"Retry-After": "1"}
        ) from None
    except DeadlineExceededError:
        raise ApiError(
            ErrorType.DEADLINE_EXCEEDED, "the service is overloaded; the request waited too long", {"Retry-After": "5"}
        ) from None
    except MessageFailedError as exc:  # this request's message only; the requests batched with it were answered
        where = f"items[{exc.index}]: " if batch else ""
        raise ApiError(ErrorType.ANALYSIS_FAILED, f"{where}{exc.failure.message}") from None


@router.post(
    "/analyze",
    response_model=Analysis,
    summary="Analyse one message",
    openapi_extra=request_body(AnalyzeRequest),
    responses={
        200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "JSON; HTML with format=html"},
        **error_responses(*_MESSAGE_ERRORS),
    },
)
async def analyze_one(request: Request, format: Literal["json", "html"] = "json") -> Response:
    """``?format=html`` returns the entities highlighted by displacy (masked unless ``include_pii``)."""
    settings: Settings = request.app.state.settings
    body = await parse_json_body(request, AnalyzeRequest, settings.max_text_chars * _BYTES_PER_CHAR + _BODY_OVERHEAD)
    _check_text(body.text, settings, "")
    await request.app.state.limiter.charge_messages(tenant_of(request), 1)  # the tenant's messages per minute
    _ready(request)
    options = _options(request, body.options, body.dataset)
    try:
        [answer] = await _run(request, [_input(body, options)], body.options.cache, batch=False)
    except ClientGoneError:
        return Response(status_code=CLIENT_CLOSED)
    if body.dataset is not None:
        await store_answers(request, body.dataset, [body], [answer], bool(options.get("include_pii")))
    if format == "html":
        from models.entities.render import displacy_doc, render_html

        analysis = Analysis.model_validate_json(answer)
        page = render_html([displacy_doc(body.text, analysis.entities or [], body.id)])
        return Response(page, media_type="text/html; charset=utf-8")
    return Response(answer, media_type="application/json")


@router.post(
    "/analyze/batch",
    response_model=BatchResponse,
    summary="Analyse up to `max_batch_items` messages in one call",
    openapi_extra=request_body(BatchRequest),
    responses=error_responses(*_MESSAGE_ERRORS, ErrorType.TOO_MANY_ITEMS, ErrorType.COST_LIMIT_EXCEEDED),
)
async def analyze_batch(request: Request) -> Response:
    """Work is counted in encoder windows (up to 248 characters of a message each, at most 16 per
    message): a request over `request_max_windows` is refused up front (413 `cost_limit_exceeded`);
    send it as a job (`POST /v1/jobs`). Admitted requests are computed in slices interleaved with
    other clients' requests."""
    settings: Settings = request.app.state.settings
    limit = settings.max_batch_items * (settings.max_text_chars * _BYTES_PER_CHAR + 512) + _BODY_OVERHEAD
    body = await parse_json_body(request, BatchRequest, limit)
    if len(body.items) > settings.max_batch_items:
        raise ApiError(ErrorType.TOO_MANY_ITEMS, f"{len(body.items)} items; the limit is {settings.max_batch_items}")
    for i, item in enumerate(body.items):
        _check_text(item.text, settings, f"items[{i}]: ")
    cost = sum(text_windows(len(item.text), settings.max_tokens) for item in body.items)  # before any work
    if cost > settings.request_max_windows:
        raise ApiError(
            ErrorType.COST_LIMIT_EXCEEDED,
            f"the batch costs {cost} encoder windows; the limit per request is {settings.request_max_windows} "
            "(request_max_windows): send it as a job with POST /v1/jobs",
        )
    await request.app.state.limiter.charge_messages(tenant_of(request), len(body.items))
    _ready(request)
    options = _options(request, body.options, body.dataset)
    inputs = [_input(item, options) for item in body.items]
    try:
        answers = await _run(request, inputs, body.options.cache, batch=True)
    except ClientGoneError:
        return Response(status_code=CLIENT_CLOSED)
    if body.dataset is not None:
        await store_answers(request, body.dataset, list(body.items), answers, bool(options.get("include_pii")))
    return Response(b'{"items":[' + b",".join(answers) + b"]}", media_type="application/json")
