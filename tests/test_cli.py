"""`tousu analyze` writes the same answer object as the API, one JSON line per record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.model


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_analyze_jsonl(tmp_path: Path, artifacts: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(
            json.dumps(r, ensure_ascii=False)
            for r in [
                {"id": "1", "text": "物流很快，非常满意！"},
                {"id": "2", "text": "   "},
                {"id": "3", "text": "The refund never arrived, terrible service."},
            ]
        )
    )
    out = tmp_path / "out.jsonl"
    proc = run("analyze", "--input", str(src), "--output", str(out), cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["1", "2", "3"]
    assert lines[0]["sentiment"]["label"] == "positive" and lines[0]["schema_version"] == "1.0"
    assert lines[1]["error_type"] == "empty_text" and lines[1]["line"] == 2
    assert lines[2]["sentiment"]["label"] == "negative" and lines[2]["language"] == "en"


def test_analyze_csv(tmp_path: Path, artifacts: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text('id,text\na,客服态度太差了\nb,"Thanks, all good"\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    proc = run("analyze", "--input", str(src), "--output", str(out), cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["a", "b"]
    assert lines[0]["sentiment"]["label"] == "negative"


def test_bad_records_are_reported_per_line_and_do_not_stop_the_run(tmp_path: Path, artifacts: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": 1, "text": "ok"}\n{not json}\n{"id": 3}\n{"id": 4, "text": "fine"}\n{"text": "\xff"}\n')
    out = tmp_path / "o.jsonl"
    proc = run("analyze", "--input", str(src), "--output", str(out), cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x.get("error_type") for x in lines] == [None, "invalid_json", "missing_text", None, "invalid_utf8"]
    assert [x.get("line") for x in lines[1:3]] == [2, 3]
    assert "3 record(s) could not be analysed" in proc.stderr


def test_csv_without_text_column_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,body\n1,hello\n")
    proc = run("analyze", "--input", str(src), "--output", str(tmp_path / "o.jsonl"), cwd=Path(__file__).parent.parent)
    assert proc.returncode == 2
    assert "needs a 'text' column" in proc.stderr and "Traceback" not in proc.stderr


def test_serving_imports_no_torch() -> None:
    code = (
        "import sys; import service.app, service.cli, models.pipeline, models.registry, models.encoder;"
        "from tests.conftest import fake_registry; service.app.create_app(registry_loader=lambda s: fake_registry());"
        "print('torch' in sys.modules, 'sklearn' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False False"
