"""Writing an evaluation's report: ``<stem>.json`` (the numbers) beside ``<stem>.md`` (for people)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write(stem: Path, data: dict[str, Any], markdown: str) -> None:
    """Write ``stem.json`` and ``stem.md`` (UTF-8, parents created)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(markdown.rstrip("\n") + "\n", encoding="utf-8")


#: CPU features int8 inference speed depends on (VNNI: int8 dot products in one instruction).
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_model() -> str:
    """ "<model name> (<the ISA_FLAGS it has>)" from /proc/cpuinfo; the same machine class can differ here
    between runs, and int8 speed with it (an int8 encoder is ~2x slower without VNNI)."""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "unknown"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((set(line.split(":", 1)[1].split()) for line in info.splitlines() if line.startswith("flags")), set())
    return f"{name} ({', '.join(f for f in ISA_FLAGS if f in flags) or 'none of ' + '/'.join(ISA_FLAGS)})"


def machine_load(load: Sequence[float], cpus: int | None = None) -> str:
    """One sentence on whether timings were taken on a quiet machine (1-minute load average vs cores)."""
    cpus = cpus or os.cpu_count() or 1
    shown = ", ".join(f"{x:.2f}" for x in load)
    if load and load[0] > 1.5 * cpus:
        return (
            f"**The cores were shared with other work while this ran** (load average {shown} on {cpus} cores), "
            "so the times are pessimistic; rerun on a quiet machine."
        )
    return f"The machine was otherwise idle (load average {shown} on {cpus} cores at start)."
