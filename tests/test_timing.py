"""The outermost middleware: timing header and metrics on every answer, a typed 500 for an unhandled error."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from service.metrics import Metrics
from service.timing import TimingMiddleware


def _app(metrics: Metrics) -> Starlette:
    async def fine(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def broken(_: Request) -> JSONResponse:
        raise RuntimeError("secret text of the request")

    app = Starlette(routes=[Route("/fine", fine), Route("/broken", broken)])
    app.add_middleware(TimingMiddleware, metrics=metrics)
    return app


async def test_answers_carry_the_time_and_are_counted_by_route_and_status() -> None:
    metrics = Metrics()
    transport = httpx.ASGITransport(app=_app(metrics), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        ok = await client.get("/fine")
        missing = await client.get("/nowhere")
        failed = await client.get("/broken")
    assert ok.status_code == 200 and ok.json() == {"ok": True} and float(ok.headers["x-compute-time-ms"]) >= 0
    assert missing.status_code == 404 and "x-compute-time-ms" in missing.headers
    assert failed.status_code == 500 and "x-compute-time-ms" in failed.headers
    assert failed.json()["error_type"] == "internal_error" and "secret" not in failed.text
    count = metrics.registry.get_sample_value
    assert count("tousu_http_requests_total", {"route": "/fine", "status": "200"}) == 1
    assert count("tousu_http_requests_total", {"route": "unmatched", "status": "404"}) == 1
    assert count("tousu_http_requests_total", {"route": "/broken", "status": "500"}) == 1
