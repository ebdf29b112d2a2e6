"""Application factory: models are loaded in the lifespan, never at import."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.batcher import DynamicBatcher, text_windows
from models.ort_options import limit_malloc_arenas, release_memory
from models.pipeline import AnalysisFailure, AnalysisInput
from models.registry import Registry, load_registry
from models.schema import Analysis
from service import auth, openapi
from service.analysis import AnalysisService
from service.cache import make_cache
from service.errors import (
    ApiError,
    api_error_handler,
    http_error_handler,
    request_validation_handler,
)
from service.jobs.runtime import JobRuntime
from service.metrics import Metrics
from service.routes import analyze, complaints, dashboard, jobs, system
from service.settings import Settings
from service.store.runtime import StoreRuntime
from service.timing import TimingMiddleware

logger = logging.getLogger("tousu.service")

RegistryLoader = Callable[[Settings], Registry]

WARMUP_TEXTS = ("你好，我的订单还没有到。", "Thanks, the refund arrived.")
#: Repeated to ``max_text_chars``: one token per character, so a message of the longest shape (every encoder
#: window full, as many windows as a message is read in), one Chinese and one English (both entity pipelines).
LONGEST_PATTERNS = ("退1款a。", "a1")


def longest_texts(max_chars: int) -> list[str]:
    return [(pattern * (max_chars // len(pattern) + 1))[:max_chars] for pattern in LONGEST_PATTERNS]


def default_registry(settings: Settings) -> Registry:
    return load_registry(settings)


def create_app(settings: Settings | None = None, registry_loader: RegistryLoader | None = None) -> FastAPI:
    settings = settings or Settings()
    loader = registry_loader or default_registry
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ready = False
        limit_malloc_arenas()  # before the model and batcher threads: memory they free is reused, not kept
        registry = await asyncio.to_thread(loader, settings)
        analyzer = registry.analyzer
        batcher: DynamicBatcher[AnalysisInput, Analysis | AnalysisFailure] = DynamicBatcher(
            analyzer.analyze_each,
            max_batch=settings.batch_max_size,
            max_wait_ms=settings.batch_max_wait_ms,
            max_queue=settings.batch_queue_size,
            on_batch=metrics.observe_batch,
            cost=lambda item: text_windows(len(item.normalized.text), settings.max_tokens),
            max_batch_cost=settings.batch_max_windows,
            express_cost=settings.batch_express_windows,
            deadline_s=settings.request_deadline_s,
            on_drained=_trim_after(settings.memory_trim_windows, analyzer.release_caches),
        )
        cache = make_cache(settings.redis_url, settings.cache_namespace, settings.cache_max_items)
        app.state.registry = registry
        app.state.service = AnalysisService(analyzer, batcher, cache, settings.cache_ttl_s, metrics)
        batcher.start()
        await asyncio.to_thread(_warm_up, registry, settings.batch_max_size, settings.max_text_chars)
        analyzer.observers.append(metrics.observe_stage)  # after warm-up: the metric describes traffic
        store = StoreRuntime(settings) if settings.store_enabled else None
        app.state.store = store
        if store is not None:
            await asyncio.to_thread(store.start)  # migrates; sweeps escalation and retention in the background
        app.state.jobs = JobRuntime(
            settings,
            analyzer,
            store.write_job if store is not None else None,
            store.relabel_job if store is not None else None,
        )
        await asyncio.to_thread(app.state.jobs.start)  # resumes unfinished jobs (in-process without Redis)
        app.state.ready = True
        logger.info("ready: %s (cache=%s)", registry.analyzer.model_versions, cache.backend)
        try:
            yield
        finally:
            app.state.ready = False
            analyzer.observers.remove(metrics.observe_stage)
            await asyncio.to_thread(app.state.jobs.stop)
            if store is not None:
                await asyncio.to_thread(store.stop)
            await batcher.stop()
            await cache.close()
            await limiter.close()

    app = FastAPI(
        title="tousu",
        summary="Complaint mining: sentiment, quiet dissatisfaction, entities, topics, escalation risk.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.ready = False
    app.state.store = None
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.include_router(analyze.router)
    app.include_router(system.router)
    app.include_router(jobs.router)
    app.include_router(complaints.router)
    app.include_router(dashboard.router)
    openapi.install(app, bodies=(*analyze.BODIES, *jobs.BODIES))
    limiter = auth.install(app, settings)  # keys, exposure check, limits: refuses unsafe settings here

    app.add_middleware(TimingMiddleware, metrics=metrics)  # outermost of ours: it times and counts the 401s too

    return app


def _trim_after(windows: int, release_caches: Callable[[], None]) -> Callable[[int], None] | None:
    """The batcher's ``on_drained``: once ``windows`` or more were computed, empty the caches that grow with
    the texts seen and give freed memory back."""
    if windows <= 0:
        return None

    def trim(spent: int) -> None:
        if spent >= windows:
            release_caches()
            release_memory()

    return trim


def _warm_up(registry: Registry, max_batch: int, max_chars: int) -> None:
    """Run batch 1 and the largest batch once so first requests do not pay for it, then one message of the
    longest shape per language.

    ONNX Runtime's CPU arena grows to the largest tensors it has served and keeps that memory: the first long
    message took the API process from 1054 to 1168 MB after start-up. Grown here, it is part of the memory
    measured once the service is ready (the steady working set), and big requests no longer leave it behind.
    Freed memory goes back to the system at the end.
    """
    analyzer = registry.analyzer
    analyzer.analyze_batch([AnalysisInput.prepare(WARMUP_TEXTS[0])])
    texts = [WARMUP_TEXTS[i % 2] for i in range(max_batch)]
    analyzer.analyze_batch([AnalysisInput.prepare(t) for t in texts])
    for text in longest_texts(max_chars):
        analyzer.analyze_batch([AnalysisInput.prepare(text)])
    analyzer.release_caches()
    release_memory()
