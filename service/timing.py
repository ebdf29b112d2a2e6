"""The outermost middleware: request metrics, ``x-compute-time-ms``, and no stack trace in any answer.

A plain ASGI middleware rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware``
runs every request through an extra task group and memory streams, which cost more server CPU per
request than the rest of the framework on a short message (see Starlette's middleware docs on "pure
ASGI middleware"). The time is taken when the response starts, as ``call_next`` returning was before.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import ApiError, ErrorType, error_response
from service.metrics import Metrics

logger = logging.getLogger("tousu.service")


class TimingMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                elapsed = time.perf_counter() - start
                MutableHeaders(scope=message).append("x-compute-time-ms", f"{elapsed * 1000:.2f}")
                route = scope.get("route")
                name = getattr(route, "path", "unmatched")
                self.metrics.requests.labels(name, str(status)).inc()
                self.metrics.latency.labels(name).observe(elapsed)
                logger.debug("%s %s %d %.1fms", scope.get("method"), name, status, elapsed * 1000)
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        except Exception:  # never a stack trace or request text in the answer
            logger.exception("unhandled error on %s", scope.get("path"))
            if status:  # the answer has started: nothing else can be sent
                raise
            await error_response(ApiError(ErrorType.INTERNAL, "internal error"))(scope, receive, timed_send)
