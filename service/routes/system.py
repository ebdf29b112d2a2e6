"""Health, model listing and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.errors import ApiError, ErrorType, error_responses
from service.settings import Settings

router = APIRouter(tags=["system"])


@router.get(
    "/health",
    summary="200 once models are loaded and warmed up (`ok`, or `degraded` with a reason), 503 before",
    responses=error_responses(ErrorType.NOT_READY),
)
async def health(request: Request) -> dict[str, Any]:
    """``degraded`` (still 200: the process is alive and answers) while a queued request has gone longer
    than ``health_max_queue_wait_s`` without service (a big batch computed slice after slice is being
    served): a load balancer may prefer another replica, an alert may fire, but a liveness probe must not
    restart a process that is only busy."""
    if not getattr(request.app.state, "ready", False):
        raise ApiError(ErrorType.NOT_READY, "models are loading", headers={"Retry-After": "5"})
    settings: Settings = request.app.state.settings
    service = request.app.state.service
    batcher = service.batcher
    wait = batcher.oldest_wait_s()
    body: dict[str, Any] = {"status": "ok"}
    if wait > settings.health_max_queue_wait_s:
        body = {
            "status": "degraded",
            "reason": f"queue wait {wait:.1f}s exceeds health_max_queue_wait_s={settings.health_max_queue_wait_s:g}s",
        }
    return {
        **body,
        "cache": service.cache.backend,
        "queue_depth": batcher.depth,
        "queue_windows": batcher.queued_cost,
        "queue_wait_s": round(wait, 3),
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
