"""Health, model listing and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.errors import ApiError, ErrorType, error_responses

router = APIRouter(tags=["system"])


@router.get(
    "/health",
    summary="200 once models are loaded and warmed up, 503 before",
    responses=error_responses(ErrorType.NOT_READY),
)
async def health(request: Request) -> dict[str, Any]:
    if not getattr(request.app.state, "ready", False):
        raise ApiError(ErrorType.NOT_READY, "models are loading", headers={"Retry-After": "5"})
    service = request.app.state.service
    return {
        "status": "ok",
        "cache": service.cache.backend,
        "queue_depth": service.batcher.depth,
        "model_versions": service.analyzer.model_versions,
    }


@router.get(
    "/v1/models",
    summary="Served models with versions, hashes and metrics",
    responses=error_responses(ErrorType.NOT_READY),
)
async def list_models(request: Request) -> dict[str, Any]:
    if not getattr(request.app.state, "ready", False):
        raise ApiError(ErrorType.NOT_READY, "models are loading", headers={"Retry-After": "5"})
    return {"models": request.app.state.registry.describe()}


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
