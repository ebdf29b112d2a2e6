"""The evaluation report writer and the machine-load sentence every timing report carries."""

from __future__ import annotations

import json
from pathlib import Path

from evaluation.report import machine_load, write


def test_write_puts_numbers_and_markdown_side_by_side(tmp_path: Path) -> None:
    stem = tmp_path / "reports" / "speed"
    write(stem, {"p50_ms": 16.8, "text": "投诉"}, "# Speed\n\n| a |\n\n\n")
    assert json.loads(stem.with_suffix(".json").read_text(encoding="utf-8")) == {"p50_ms": 16.8, "text": "投诉"}
    assert "投诉" in stem.with_suffix(".json").read_text(encoding="utf-8")  # not \\u-escaped
    assert stem.with_suffix(".md").read_text(encoding="utf-8") == "# Speed\n\n| a |\n"


def test_machine_load_says_whether_timings_are_trustworthy() -> None:
    assert "otherwise idle" in machine_load([0.4, 0.3, 0.2], cpus=2)
    shared = machine_load([12.1, 12.6, 11.5], cpus=2)
    assert "shared with other work" in shared and "12.10" in shared
