"""The frozen description of one served model, as listed by ``/v1/models``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str
    path: str
    version: str
    sha256: str
    metrics: dict[str, Any]


def files_digest(*paths: Path) -> str:
    """sha256 over data files (a directory stands for its files, sorted by name): part of a stage's
    version wherever edited data changes answers, so that cached answers follow the edit."""
    digest = hashlib.sha256()
    for path in paths:
        for file in sorted(path.iterdir()) if path.is_dir() else [path]:
            if file.is_file():
                digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()
