"""Counts a report needs, computed per chunk and merged per job.

Every block of the answer is read defensively: a task that is not served yet leaves its block
``None`` and simply contributes nothing, so the report fills in as stages land. Example messages
are masked here, before they reach the database: every personal-data entity of the answer (names
and addresses included) replaced by its placeholder, and :func:`models.pii.redact` over that.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from models.entities.staff import facet
from models.pii import redact, redacted_text
from models.schema import Analysis

EXAMPLES_PER_KEY = 3
EXAMPLE_CHARS = 160
ENTITY_TYPES = ("PRODUCT", "ORG")  # ORG: responsible parties, the staff a customer names included
MAX_ENTITY_KEYS = 500  # per type, kept after each merge (the report shows the top 20)
MAX_CHANNELS = 100


def mask_example(text: str, answer: Analysis) -> str:
    base = answer.redacted_text if answer.redacted_text is not None else redacted_text(text, answer.entities or ())
    masked = redact(base)
    masked = " ".join(masked.split())
    return masked if len(masked) <= EXAMPLE_CHARS else masked[: EXAMPLE_CHARS - 1] + "…"


@dataclass
class Group:
    """A category or topic: how many messages, and the most confident masked examples."""

    count: int = 0
    label: str | None = None
    keywords: list[str] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)  # {"score", "pos", "id", "text"}
    names: dict[str, str] = field(default_factory=dict)  # a dataset topic's name per language
    facets: dict[str, list[list[Any]]] = field(default_factory=dict)  # ORG / PRODUCT -> [[name, count], ...]

    def offer(self, score: float, pos: int, text: str, answer: Analysis) -> None:
        if len(self.examples) >= EXAMPLES_PER_KEY and score <= self.examples[-1]["score"]:
            return  # not among the best: skip the masking work
        example = {"score": round(score, 4), "pos": pos, "id": answer.id, "text": mask_example(text, answer)}
        self.examples.append(example)
        self._trim()

    def merge(self, other: Group) -> None:
        self.count += other.count
        self.label = self.label or other.label
        self.keywords = self.keywords or other.keywords
        self.names = self.names or other.names
        self.facets = self.facets or other.facets
        self.examples.extend(other.examples)
        self._trim()

    def _trim(self) -> None:
        self.examples.sort(key=lambda e: (-e["score"], e["pos"]))
        del self.examples[EXAMPLES_PER_KEY:]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "count": self.count,
            "label": self.label,
            "keywords": self.keywords,
            "examples": self.examples,
        }
        if self.names:
            out["names"] = self.names
        if self.facets:
            out["facets"] = self.facets
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Group:
        return cls(
            data["count"],
            data.get("label"),
            list(data.get("keywords") or []),
            list(data["examples"]),
            dict(data.get("names") or {}),
            dict(data.get("facets") or {}),
        )


@dataclass
class Aggregate:
    analyzed: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    sentiment: Counter[str] = field(default_factory=Counter)
    hidden_detected: int = 0
    hidden_evaluated: int = 0
    risk: Counter[str] = field(default_factory=Counter)
    handoff: int = 0
    categories: dict[str, Group] = field(default_factory=dict)
    topics: dict[str, Group] = field(default_factory=dict)  # key: str(topic id)
    entities: dict[str, Counter[str]] = field(default_factory=dict)
    channels: dict[str, Counter[str]] = field(default_factory=dict)  # channel -> {"count", "negative"}
    languages: Counter[str] = field(default_factory=Counter)
    versions: dict[str, list[str]] = field(default_factory=dict)  # more than one: a mixed-model job

    def add_error(self, error_type: str) -> None:
        self.failed += 1
        self.errors[error_type] += 1

    def add(self, pos: int, text: str, channel: str | None, a: Analysis) -> None:
        self.analyzed += 1
        self.languages[a.language] += 1
        for name, version in a.model_versions.items():
            seen = self.versions.setdefault(name, [])
            if version not in seen:
                seen.append(version)
        negative = False
        if a.sentiment is not None:
            self.sentiment[a.sentiment.label] += 1
            negative = a.sentiment.label == "negative"
        if a.hidden_dissatisfaction is not None:
            self.hidden_evaluated += 1
            self.hidden_detected += int(bool(a.hidden_dissatisfaction.detected))
        if a.risk is not None:
            self.risk[a.risk.level] += 1
            self.handoff += int(bool(a.risk.handoff))
        if a.category is not None:
            group = self.categories.setdefault(a.category.name, Group())
            group.count += 1
            group.offer(a.category.score, pos, text, a)
        if a.topic is not None:
            group = self.topics.setdefault(str(a.topic.id), Group(label=a.topic.label, keywords=list(a.topic.keywords)))
            group.count += 1
            group.offer(a.topic.probability, pos, text, a)
        for entity in a.entities or ():
            found = facet(entity.type.upper(), entity.text, entity.normalized, entity.pii)
            if found is not None and found[0] in ENTITY_TYPES:
                self.entities.setdefault(found[0], Counter())[found[1]] += 1
        if channel is not None:
            counts = self.channels.setdefault(channel, Counter())
            counts["count"] += 1
            counts["negative"] += int(negative)

    def merge(self, other: Aggregate) -> None:
        self.analyzed += other.analyzed
        self.failed += other.failed
        self.errors.update(other.errors)
        self.sentiment.update(other.sentiment)
        self.hidden_detected += other.hidden_detected
        self.hidden_evaluated += other.hidden_evaluated
        self.risk.update(other.risk)
        self.handoff += other.handoff
        for groups, others in ((self.categories, other.categories), (self.topics, other.topics)):
            for key, group in others.items():
                groups.setdefault(key, Group()).merge(group)
        for kind, counts in other.entities.items():
            mine = self.entities.setdefault(kind, Counter())
            mine.update(counts)
            if len(mine) > MAX_ENTITY_KEYS:
                self.entities[kind] = Counter(dict(mine.most_common(MAX_ENTITY_KEYS)))
        for channel, counts in other.channels.items():
            self.channels.setdefault(channel, Counter()).update(counts)
        if len(self.channels) > MAX_CHANNELS:
            top = sorted(self.channels.items(), key=lambda kv: -kv[1]["count"])[:MAX_CHANNELS]
            self.channels = dict(top)
        self.languages.update(other.languages)
        for name, versions in other.versions.items():
            seen = self.versions.setdefault(name, [])
            seen.extend(v for v in versions if v not in seen)

    def to_json(self) -> dict[str, Any]:
        return {
            "analyzed": self.analyzed,
            "failed": self.failed,
            "errors": dict(self.errors),
            "sentiment": dict(self.sentiment),
            "hidden_detected": self.hidden_detected,
            "hidden_evaluated": self.hidden_evaluated,
            "risk": dict(self.risk),
            "handoff": self.handoff,
            "categories": {k: g.to_json() for k, g in self.categories.items()},
            "topics": {k: g.to_json() for k, g in self.topics.items()},
            "entities": {k: dict(c) for k, c in self.entities.items()},
            "channels": {k: dict(c) for k, c in self.channels.items()},
            "languages": dict(self.languages),
            "versions": self.versions,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Aggregate:
        return cls(
            analyzed=data["analyzed"],
            failed=data["failed"],
            errors=Counter(data["errors"]),
            sentiment=Counter(data["sentiment"]),
            hidden_detected=data["hidden_detected"],
            hidden_evaluated=data["hidden_evaluated"],
            risk=Counter(data["risk"]),
            handoff=data["handoff"],
            categories={k: Group.from_json(g) for k, g in data["categories"].items()},
            topics={k: Group.from_json(g) for k, g in data["topics"].items()},
            entities={k: Counter(c) for k, c in data["entities"].items()},
            channels={k: Counter(c) for k, c in data["channels"].items()},
            languages=Counter(data["languages"]),
            versions={k: list(v) for k, v in data["versions"].items()},
        )
