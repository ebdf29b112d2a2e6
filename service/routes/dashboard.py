"""``GET /dashboard``: one page over the complaint store (volumes and negative rate per channel, category and
topic shares with their trend, the open red queue, top parties and products, recent alerts), drawn in the
browser with plotly.js from the service itself (``/dashboard/plotly.min.js``, no CDN) and the JSON routes
of ``service/routes/complaints.py``.

plotly is the ``[dashboard]`` extra: without it the script is a 404 naming the extra and the page shows the error.
"""

from __future__ import annotations

from importlib import util
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from service.errors import ApiError, ErrorType, error_responses

router = APIRouter(tags=["dashboard"])

PAGE = Path(__file__).resolve().parent.parent / "store" / "resources" / "dashboard.html"


def _plotly_js() -> Path | None:
    spec = util.find_spec("plotly")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


@router.get(
    "/dashboard",
    response_class=HTMLResponse,
    summary="The complaints dashboard (HTML; ?dataset=&since=&until=)",
    responses=error_responses(),
)
async def dashboard() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={"cache-control": "no-cache"})


@router.get(
    "/dashboard/plotly.min.js",
    summary="plotly.js, served by the service (no CDN)",
    response_class=FileResponse,
    responses=error_responses(ErrorType.NOT_FOUND),
)
async def plotly_js() -> FileResponse:
    path = _plotly_js()
    if path is None:
        raise ApiError(ErrorType.NOT_FOUND, "plotly is not installed here: pip install 'tousu[dashboard]'")
    return FileResponse(path, media_type="text/javascript", headers={"cache-control": "public, max-age=86400"})
