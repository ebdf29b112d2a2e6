"""``tousu analyze --server`` against a running service, and ``tousu worker`` refusing to start without Redis."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.jobs_support import ROOT, Processes, free_port


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    env = {
        "TOUSU_REDIS_URL": "",
        "TOUSU_DATABASE_URL": "",
        "TOUSU_JOBS_DIR": str(tmp_path / "jobs"),
        "TOUSU_ARTIFACTS_DIR": str(tmp_path),
        "TOUSU_JOBS_CHUNK_SIZE": "7",
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = Processes(env, logs)
    port = free_port()
    try:
        procs.api(port, "api")
        yield f"http://127.0.0.1:{port}"
    finally:
        procs.close()


def test_analyze_submits_to_a_server_and_downloads_the_results(tmp_path: Path, server: str) -> None:
    src = tmp_path / "night.jsonl.gz"
    lines = [json.dumps({"id": f"m{i}", "text": f"退款第{i}次催了"}, ensure_ascii=False) for i in range(20)]
    lines.insert(4, "{oops")
    src.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    out = tmp_path / "out.jsonl"
    proc = run("analyze", "--server", server, "--input", str(src), "--output", str(out), "--dataset", "cli")
    assert proc.returncode == 0, proc.stderr
    assert "accepted by" in proc.stderr and "20 analysed, 1 bad record(s)" in proc.stderr
    results = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r.get("id") for r in results] == [f"m{i}" for i in range(4)] + [None] + [f"m{i}" for i in range(4, 20)]
    assert results[4]["error_type"] == "invalid_json" and results[4]["line"] == 5
    assert results[0]["sentiment"] is not None and results[0]["schema_version"] == "1.0"

    csv_out = tmp_path / "out.csv"
    proc = run("analyze", "--server", server, "--input", str(src), "--output", str(csv_out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(csv_out.read_text(encoding="utf-8-sig"))))
    assert [r["id"] for r in rows][:5] == ["m0", "m1", "m2", "m3", ""] and len(rows) == 21


def test_analyze_reports_a_refused_file_without_a_traceback(tmp_path: Path, server: str) -> None:
    src = tmp_path / "bad.csv"
    src.write_text("id,body\n1,hello\n")
    proc = run("analyze", "--server", server, "--input", str(src), "--output", str(tmp_path / "o.jsonl"))
    assert proc.returncode == 2
    assert "refused the file" in proc.stderr and "invalid_upload" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o.jsonl").exists()

    proc = run("analyze", "--server", "http://127.0.0.1:9", "--input", str(src), "--output", str(tmp_path / "o"))
    assert proc.returncode == 2 and "cannot reach" in proc.stderr and "Traceback" not in proc.stderr


def test_worker_needs_redis(tmp_path: Path) -> None:
    proc = run("worker", env={"TOUSU_REDIS_URL": "", "TOUSU_JOBS_DIR": str(tmp_path)})
    assert proc.returncode == 2 and "needs TOUSU_REDIS_URL" in proc.stderr
