"""Which stages run after sentiment, in order, and how each is loaded at start-up.

Each task adds one loader here. A loader returns the stage and its :class:`ModelSpec`
(for ``/v1/models``), reading only from ``StageEnv`` so that nothing loads at import.
Order matters: later stages read earlier stages' fields (risk reads all of them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models.encoder import Encoder
from models.pipeline import Stage
from models.spec import ModelSpec


@dataclass(frozen=True)
class StageEnv:
    heads_dir: Path
    artifacts_dir: Path
    encoder: Encoder


# A loader may return None when its task is not configured (e.g. no topic model trained yet).
StageLoader = Callable[[StageEnv], tuple[Stage, ModelSpec] | None]

STAGE_LOADERS: tuple[StageLoader, ...] = ()
