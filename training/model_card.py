"""Render a model card (Markdown) from a recipe's metrics, beside the head it describes."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any


def machine() -> str:
    import os

    return f"{os.cpu_count()} CPU cores ({platform.machine()}), no GPU"


def table(rows: list[list[Any]], header: list[str]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def write(directory: Path, text: str) -> None:
    (directory / "MODEL_CARD.md").write_text(text.strip() + "\n", encoding="utf-8")


def dump(data: dict[str, Any]) -> str:
    return "```json\n" + json.dumps(data, indent=2, ensure_ascii=False) + "\n```"
