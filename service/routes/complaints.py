"""The complaint store over HTTP: ``/v1/complaints`` (list, export, one, status), ``/v1/stats``, ``/v1/alerts``.

Query strings are validated here by pydantic models (documented in OpenAPI from the same models) so that
every bad parameter is a ``validation_error`` in the service's error shape, never FastAPI's own 422 body.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models.schema import Analysis
from service.auth import tenant_of
from service.errors import ApiError, ErrorType, error_responses
from service.jobs.schemas import DATASET_PATTERN
from service.routes.body import parse_json_body, validation_error
from service.schemas import MessageFields
from service.store.queries import CursorError, Filters, GroupBy
from service.store.rows import Message
from service.store.runtime import ComplaintStore, StoreRuntime

router = APIRouter(prefix="/v1", tags=["complaints"])

Status = Literal["open", "acknowledged", "resolved"]
Level = Literal["red", "yellow", "blue"]


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("NUL characters are not allowed")
        return value


class FilterQuery(_Query):
    dataset: str | None = Field(None, pattern=DATASET_PATTERN, description="Dataset (a job's, or /v1/analyze's).")
    since: datetime | None = Field(None, description="Received at or after (ISO 8601; no zone = UTC).")
    until: datetime | None = Field(None, description="Received before (ISO 8601; no zone = UTC).")
    sentiment: Literal["negative", "neutral", "positive"] | None = None
    risk_level: Level | None = Field(None, description="The level now (red after an escalation for waiting time).")
    category: str | None = Field(None, max_length=64, description="Root-cause category, e.g. delivery_and_logistics.")
    topic: int | None = Field(None, ge=-1, le=2**31 - 1, description="Topic id (-1: outliers).")
    product: str | None = Field(None, max_length=256, description="A PRODUCT entity's normalised value.")
    party: str | None = Field(None, max_length=256, description="Responsible party: an ORG entity (shop, company).")
    identifier: str | None = Field(None, max_length=256, description="An order number (or other identifier).")
    channel: str | None = Field(None, max_length=64)
    status: Status | None = None
    dissatisfied: bool | None = Field(None, description="Hidden dissatisfaction detected.")

    def filters(self) -> Filters:
        return Filters(
            dataset=self.dataset,
            since=_ts(self.since),
            until=_ts(self.until),
            sentiment=self.sentiment,
            risk_level=self.risk_level,
            category=self.category,
            topic=self.topic,
            product=self.product,
            party=self.party,
            channel=self.channel,
            identifier=self.identifier,
            status=self.status,
            dissatisfied=self.dissatisfied,
        )


class ListQuery(FilterQuery):
    limit: int = Field(50, ge=1, le=1000, description="Items per page.")
    cursor: str | None = Field(None, max_length=200, description="`next_cursor` of the previous page.")
    format: Literal["json", "csv", "jsonl"] = Field(
        "json", description="json: one page; csv / jsonl: every matching complaint (no paging), newest first."
    )


class StatsQuery(FilterQuery):
    group_by: GroupBy = Field("day", description="Time bucket (day, week) or dimension.")
    utc_offset_minutes: int = Field(0, ge=-840, le=840, description="Days and weeks in this time zone (480: UTC+8).")
    limit: int = Field(100, ge=1, le=1000, description="Most groups for a dimension (largest first).")


class AlertQuery(_Query):
    dataset: str | None = Field(None, pattern=DATASET_PATTERN)
    rule: str | None = Field(None, max_length=64, description="Rule name: new_red, waiting_time, or one of the file.")
    since: datetime | None = Field(None, description="Raised at or after (ISO 8601).")
    limit: int = Field(50, ge=1, le=1000)
    cursor: str | None = Field(None, max_length=200)


class EntityOut(BaseModel):
    type: str
    role: str | None = Field(description="product, party (responsible), identifier, or null.")
    value: str = Field(description="Normalised value; personal data masked.")


class ComplaintItem(BaseModel):
    id: str = Field(description="The message id (given, or a content hash `h:...` when none was).")
    dataset: str
    received_at: str | None
    channel: str | None
    language: str | None
    sentiment: str | None
    intensity: float | None
    dissatisfied: bool | None
    hidden_score: float | None
    risk_level: str | None = Field(description="The level now: the model's, or red after waiting too long.")
    model_risk_level: str | None = Field(description="The level the model gave.")
    risk_score: float | None
    risk_reasons: list[str] = Field(description="Signals, largest first; `waiting_time` after an escalation.")
    category: str | None
    topic_id: int | None
    topic_label: str | None
    status: Status
    text: str | None = Field(description="The message with personal data replaced by placeholders.")
    entities: list[EntityOut]
    job_id: str | None
    escalated_at: str | None
    created_at: str | None
    updated_at: str | None


class ComplaintPage(BaseModel):
    items: list[ComplaintItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class StatsGroup(BaseModel):
    key: str | int | None = Field(description="Day or week (its Monday) as YYYY-MM-DD, or the dimension's value.")
    count: int
    negative: int
    negative_rate: float
    dissatisfied: int
    dissatisfied_rate: float
    red: int
    open: int


class StatsResponse(BaseModel):
    groups: list[StatsGroup]


class StatusUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Status


class AlertItem(BaseModel):
    id: int
    rule: str
    dataset: str | None
    message_id: str | None
    level: str | None
    details: dict[str, Any] = Field(description="The numbers that fired it.")
    created_at: str
    delivered_at: str | None = Field(description="When the webhook accepted it (null: none configured, or pending).")


class AlertPage(BaseModel):
    items: list[AlertItem]
    next_cursor: str | None


Q = TypeVar("Q", bound=BaseModel)


def _ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _params(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI query parameters from a query model (the route validates them itself)."""
    schema = model.model_json_schema()
    params = []
    for name, prop in schema["properties"].items():
        description = prop.pop("description", None)
        prop.pop("title", None)
        params.append({"name": name, "in": "query", "required": False, "schema": prop, "description": description})
    return {"parameters": params}


def _parse(request: Request, model: type[Q]) -> Q:
    values = dict(request.query_params)
    unknown = sorted(set(values) - set(model.model_fields))
    if unknown:
        raise ApiError(ErrorType.VALIDATION, f"unknown query parameter: {unknown[0][:40]}")
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise validation_error(exc) from None


def _check_key(dataset: str, message_id: str) -> None:
    if "\x00" in dataset + message_id or len(dataset) > 128 or len(message_id) > 256:
        raise ApiError(ErrorType.NOT_FOUND, "no such complaint")


def _runtime(request: Request) -> StoreRuntime:
    runtime: StoreRuntime | None = getattr(request.app.state, "store", None)
    if runtime is None:
        raise ApiError(ErrorType.STORE_UNAVAILABLE, "the complaint store is disabled (TOUSU_STORE_ENABLED)")
    return runtime


def _check_tenant(request: Request) -> None:
    """The store holds one organisation's complaints, not split by tenant: with API keys, only the tenants of
    ``TOUSU_STORE_TENANTS`` may write (``dataset`` on /v1/analyze), read or update it."""
    tenant = tenant_of(request)
    if tenant is not None and tenant not in request.app.state.settings.store_tenants:
        raise ApiError(ErrorType.FORBIDDEN, "this key's tenant may not use the complaint store (TOUSU_STORE_TENANTS)")


async def _store(request: Request) -> ComplaintStore:
    _check_tenant(request)
    runtime = _runtime(request)
    try:
        return await asyncio.to_thread(runtime.get)
    except Exception:
        raise ApiError(
            ErrorType.STORE_UNAVAILABLE, "the complaint store's database cannot be reached", {"Retry-After": "5"}
        ) from None


async def store_answers(
    request: Request, dataset: str, messages: list[MessageFields], answers: list[bytes], include_pii: bool
) -> None:
    """``/v1/analyze`` with a ``dataset``: one row per message, written before the answer goes out."""
    store = await _store(request)
    rows = [
        Message(
            dataset,
            Analysis.model_validate_json(answer),
            m.text,
            id=m.id,
            received_at=m.received_at,
            channel=m.channel,
            customer_id=m.customer_id,
            include_pii=include_pii,
        )
        for m, answer in zip(messages, answers, strict=True)
    ]
    try:
        await asyncio.to_thread(store.write, rows)
    except Exception:
        raise ApiError(
            ErrorType.STORE_UNAVAILABLE, "the answer could not be stored; retry", {"Retry-After": "5"}
        ) from None


# -- routes ----------------------------------------------------------------------------------------
_CSV_COLUMNS = (
    "id",
    "dataset",
    "received_at",
    "channel",
    "language",
    "sentiment",
    "intensity",
    "dissatisfied",
    "hidden_score",
    "risk_level",
    "model_risk_level",
    "risk_score",
    "risk_reasons",
    "category",
    "topic_id",
    "topic_label",
    "status",
    "products",
    "parties",
    "identifiers",
    "text",
    "job_id",
    "escalated_at",
    "created_at",
    "updated_at",
)


def _cell(value: Any) -> Any:
    """Spreadsheets run a cell that starts with = + - @ as a formula: quote such text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _csv_row(item: dict[str, Any]) -> list[Any]:
    by_role: dict[str, list[str]] = {"product": [], "party": [], "identifier": []}
    for e in item["entities"]:
        if e["role"] in by_role:
            by_role[e["role"]].append(e["value"])
    values = {
        **item,
        "risk_reasons": "|".join(item["risk_reasons"]),
        "products": "|".join(by_role["product"]),
        "parties": "|".join(by_role["party"]),
        "identifiers": "|".join(by_role["identifier"]),
    }
    return [_cell(values[c]) for c in _CSV_COLUMNS]


def _iter_csv(items: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    buffer.write("\ufeff")
    writer.writerow(_CSV_COLUMNS)
    for n, item in enumerate(items, start=1):
        writer.writerow(_csv_row(item))
        if n % 1000 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _iter_jsonl(items: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for item in items:
        yield orjson.dumps(item) + b"\n"


@router.get(
    "/complaints",
    response_model=ComplaintPage,
    summary="Stored complaints, newest first, filtered; keyset pages (`next_cursor`) or a CSV / JSONL export",
    openapi_extra=_params(ListQuery),
    responses={
        200: {"content": {"text/csv": {}, "application/x-ndjson": {}}},
        **error_responses(ErrorType.VALIDATION, ErrorType.STORE_UNAVAILABLE, ErrorType.FORBIDDEN),
    },
)
async def list_complaints(request: Request) -> Response:
    query = _parse(request, ListQuery)
    store = await _store(request)
    filters = query.filters()
    if query.format != "json":
        if query.cursor is not None:
            raise ApiError(ErrorType.VALIDATION, "cursor: an export has no pages")
        items = store.queries.export(filters)
        if query.format == "csv":
            headers = {"content-disposition": 'attachment; filename="complaints.csv"'}
            return StreamingResponse(_iter_csv(items), media_type="text/csv; charset=utf-8", headers=headers)
        return StreamingResponse(_iter_jsonl(items), media_type="application/x-ndjson")
    try:
        page = await asyncio.to_thread(store.queries.page, filters, query.limit, query.cursor)
    except CursorError as exc:
        raise ApiError(ErrorType.VALIDATION, f"cursor: {exc}") from None
    return Response(orjson.dumps({"items": page.items, "next_cursor": page.next_cursor}), media_type="application/json")


@router.get(
    "/complaints/{dataset}/{message_id:path}",
    response_model=ComplaintItem,
    summary="One stored complaint",
    responses=error_responses(ErrorType.NOT_FOUND, ErrorType.STORE_UNAVAILABLE, ErrorType.FORBIDDEN),
)
async def get_complaint(request: Request, dataset: str, message_id: str) -> Response:
    _check_key(dataset, message_id)
    store = await _store(request)
    item = await asyncio.to_thread(store.queries.get, dataset, message_id)
    if item is None:
        raise ApiError(ErrorType.NOT_FOUND, "no such complaint")
    return Response(orjson.dumps(item), media_type="application/json")


@router.patch(
    "/complaints/{dataset}/{message_id:path}",
    response_model=ComplaintItem,
    summary="Set a complaint's status (open / acknowledged / resolved)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": StatusUpdate.model_json_schema()}},
        }
    },
    responses=error_responses(
        ErrorType.INVALID_JSON,
        ErrorType.INVALID_UTF8,
        ErrorType.PAYLOAD_TOO_LARGE,
        ErrorType.UNSUPPORTED_MEDIA_TYPE,
        ErrorType.VALIDATION,
        ErrorType.NOT_FOUND,
        ErrorType.STORE_UNAVAILABLE,
        ErrorType.FORBIDDEN,
    ),
)
async def set_status(request: Request, dataset: str, message_id: str) -> Response:
    _check_key(dataset, message_id)
    body = await parse_json_body(request, StatusUpdate, 4096)
    store = await _store(request)
    item = await asyncio.to_thread(store.queries.set_status, dataset, message_id, body.status, time.time())
    if item is None:
        raise ApiError(ErrorType.NOT_FOUND, "no such complaint")
    return Response(orjson.dumps(item), media_type="application/json")


@router.get(
    "/stats",
    response_model=StatsResponse,
    summary="Counts and rates (negative, dissatisfied, red, open) by day, week or a dimension",
    openapi_extra=_params(StatsQuery),
    responses=error_responses(ErrorType.VALIDATION, ErrorType.STORE_UNAVAILABLE, ErrorType.FORBIDDEN),
)
async def stats(request: Request) -> Response:
    query = _parse(request, StatsQuery)
    store = await _store(request)
    groups = await asyncio.to_thread(
        store.queries.stats, query.filters(), query.group_by, query.utc_offset_minutes * 60, query.limit
    )
    return Response(orjson.dumps({"groups": groups}), media_type="application/json")


@router.get(
    "/alerts",
    response_model=AlertPage,
    summary="Stored alerts, newest first, with the numbers that fired them",
    openapi_extra=_params(AlertQuery),
    responses=error_responses(ErrorType.VALIDATION, ErrorType.STORE_UNAVAILABLE, ErrorType.FORBIDDEN),
)
async def list_alerts(request: Request) -> Response:
    query = _parse(request, AlertQuery)
    store = await _store(request)
    try:
        items, cursor = await asyncio.to_thread(
            store.queries.alerts, query.dataset, query.rule, _ts(query.since), query.limit, query.cursor
        )
    except CursorError as exc:
        raise ApiError(ErrorType.VALIDATION, f"cursor: {exc}") from None
    return Response(orjson.dumps({"items": items, "next_cursor": cursor}), media_type="application/json")
