"""The frozen description of one served model, as listed by ``/v1/models``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str
    path: str
    version: str
    sha256: str
    metrics: dict[str, Any]
