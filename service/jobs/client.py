"""``tousu analyze --server URL``: send a file to a running service as a batch job and fetch the results.

Upload (progress in bytes), poll the job (progress in messages, with the server's ETA), then
download the results to ``--output`` (CSV when it ends in ``.csv``, JSONL otherwise). The job
keeps running on the server if this command is interrupted; its id is printed first.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TERMINAL = ("completed", "failed", "cancelled")


def _content_type(path: Path) -> tuple[str, str | None]:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        inner = suffixes[-2] if len(suffixes) > 1 else ""
        return "application/gzip", "csv" if inner == ".csv" else ("jsonl" if inner in (".jsonl", ".json") else None)
    if suffixes and suffixes[-1] == ".csv":
        return "text/csv", "csv"
    return "application/x-ndjson", "jsonl"


def _error(response: Any) -> str:
    try:
        body = response.json()
        return f"{body.get('error')} ({body.get('error_type')})"
    except ValueError:
        return f"HTTP {response.status_code}"


def analyze_remote(
    server: str,
    src: Path,
    dst: Path,
    dataset: str | None = None,
    progress: bool = True,
    poll_s: float = 1.0,
    api_key: str | None = None,
) -> int:
    """``api_key``: sent as ``Authorization: Bearer`` (``tousu analyze`` reads it from ``TOUSU_API_KEY``)."""
    import httpx
    from tqdm import tqdm

    show = progress and sys.stderr.isatty()
    content_type, fmt = _content_type(src)
    params = {k: v for k, v in {"dataset": dataset, "format": fmt}.items() if v}
    size = src.stat().st_size
    timeout = httpx.Timeout(60.0, read=600.0)
    auth = {"authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=server.rstrip("/"), timeout=timeout, headers=auth) as client:
        with tqdm(total=size, unit="B", unit_scale=True, desc="upload", disable=not show) as bar:

            def body() -> Iterator[bytes]:
                with src.open("rb") as fh:
                    while block := fh.read(1024 * 1024):
                        bar.update(len(block))
                        yield block

            try:
                r = client.post(
                    "/v1/jobs",
                    content=body(),
                    params=params,
                    headers={"content-type": content_type, "content-length": str(size)},
                )
            except httpx.HTTPError as exc:
                print(f"tousu analyze: cannot reach {server}: {type(exc).__name__}", file=sys.stderr)
                return 2
        if r.status_code != 202:
            print(f"tousu analyze: the server refused the file: {_error(r)}", file=sys.stderr)
            return 2
        job_id = r.json()["id"]
        print(f"job {job_id} accepted by {server}", file=sys.stderr)
        status = _wait(client, job_id, show, poll_s)
        if status["state"] != "completed":
            print(f"tousu analyze: job {job_id} {status['state']}: {status.get('error') or ''}", file=sys.stderr)
            return 1
        out_fmt = "csv" if dst.suffix.lower() == ".csv" else "jsonl"
        tmp = dst.with_name(f".{dst.name}.part")
        with (
            client.stream("GET", f"/v1/jobs/{job_id}/results", params={"format": out_fmt}) as response,
            tqdm(unit="B", unit_scale=True, desc="download", disable=not show) as bar,
        ):
            if response.status_code != 200:
                response.read()
                print(f"tousu analyze: cannot download the results: {_error(response)}", file=sys.stderr)
                return 2
            with tmp.open("wb") as out:
                for block in response.iter_bytes():
                    out.write(block)
                    bar.update(len(block))
        tmp.replace(dst)
    counts = status["counts"]
    print(
        f"{counts['done']} analysed, {counts['failed']} bad record(s) (see error_type lines) -> {dst}; "
        f"report: {server.rstrip('/')}/v1/jobs/{job_id}/report?format=html",
        file=sys.stderr,
    )
    return 0


def _wait(client: Any, job_id: str, show: bool, poll_s: float) -> dict[str, Any]:
    from tqdm import tqdm

    with tqdm(unit="msg", desc="analyse", disable=not show) as bar:
        while True:
            r = client.get(f"/v1/jobs/{job_id}")
            r.raise_for_status()
            status: dict[str, Any] = r.json()
            counts = status["counts"]
            if counts["total"] is not None and bar.total != counts["total"]:
                bar.total = counts["total"]
                bar.refresh()
            bar.update(counts["done"] + counts["failed"] - bar.n)
            if status["eta_s"] is not None:
                bar.set_postfix_str(f"server ETA {status['eta_s']:.0f}s", refresh=False)
            if status["state"] in TERMINAL:
                return status
            time.sleep(poll_s)
