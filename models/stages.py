"""Which stages run after sentiment, in order, and how each is loaded at start-up.

Each task adds one loader here. A loader returns the stage and its :class:`ModelSpec`
(for ``/v1/models``), reading only from ``StageEnv`` so that nothing loads at import.
Order matters: later stages read earlier stages' fields (risk reads all of them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from models.encoder import Encoder
from models.pipeline import Stage
from models.settings import ModelSettings
from models.spec import ModelSpec


@dataclass(frozen=True)
class StageEnv:
    heads_dir: Path
    artifacts_dir: Path
    encoder: Encoder
    #: The process's settings (``service.settings.Settings`` is a subclass); default: from the environment.
    settings: ModelSettings = field(default_factory=ModelSettings)


# A loader may return None when its task is not configured (e.g. no topic model trained yet).
StageLoader = Callable[[StageEnv], tuple[Stage, ModelSpec] | None]


def load_hidden_dissatisfaction(env: StageEnv) -> tuple[Stage, ModelSpec] | None:
    """Hidden dissatisfaction (``models/hidden/``), first: risk reads it; None until `tousu train hidden` has run."""
    from models.hidden.stage import load_hidden_stage

    return load_hidden_stage(env)


def load_entities(env: StageEnv) -> tuple[Stage, ModelSpec] | None:
    """Entities (``models/entities/``): spaCy pipelines built once here; risk reads them."""
    from models.entities.stage import load_entity_stage

    return load_entity_stage(env)


def load_topic(env: StageEnv) -> tuple[Stage, ModelSpec] | None:
    """Topic + root-cause category (``models/topics/``); None until `tousu train topics` has run."""
    from models.topics.stage import load_topic_stage

    return load_topic_stage(env)


def load_risk(env: StageEnv) -> tuple[Stage, ModelSpec] | None:
    """Escalation risk (``models/risk/``), last: it reads every earlier block; None without a risk config."""
    from models.risk.stage import load_risk_stage

    return load_risk_stage(env)


STAGE_LOADERS: tuple[StageLoader, ...] = (load_hidden_dissatisfaction, load_entities, load_topic, load_risk)
