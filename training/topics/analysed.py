"""A labelled corpus run through the served pipeline, as a batch job would run it, cached on disk.

The dataset topic fit (``models/topics/fit.py``) reads what a job keeps of each message: its e5
embedding, its language and the ORG / PRODUCT spans of the entities stage. Evaluations get the
same inputs here: ``Analyzer.analyze_with_embeddings`` over the corpus (batches of 32, as the job
executor), cached under ``~/.cache/tousu/topics/`` by the texts' hash and the encoder version (the
spans of the first run are kept), so a re-run of ``tousu evaluate topics`` does not analyse again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.topics.fit import Message, build_message, message_from_analysis
from training.features import cache_root

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalysedCorpus:
    messages: list[Message]
    embeddings: np.ndarray  # (N, H) float32, the served e5 embeddings
    analyse_s: float  # 0 when read from the cache


def _key(texts: list[str], versions: dict[str, str]) -> str:
    h = hashlib.sha256(json.dumps(versions, sort_keys=True).encode())
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    return h.hexdigest()[:20]


def analysed(texts: list[str], artifacts: Path | None = None, batch: int = 32) -> AnalysedCorpus:
    """Every text through the served pipeline (entities, language, embedding), from the cache when possible."""
    from models.pipeline import AnalysisFailure, AnalysisInput
    from models.registry import load_registry
    from models.settings import ModelSettings

    settings = ModelSettings() if artifacts is None else ModelSettings(artifacts_dir=artifacts)
    registry = load_registry(settings)
    analyzer = registry.analyzer
    folder = cache_root() / "topics"
    folder.mkdir(parents=True, exist_ok=True)
    # The encoder decides the embeddings; the entity spans are kept as the entities stage of the first run
    # found them (the entities stage changes often; re-analysing for each of its versions is not worth it).
    key = _key(texts, {k: v for k, v in analyzer.model_versions.items() if k.startswith("encoder/")})
    meta_path, emb_path = folder / f"analysed-{key}.json", folder / f"analysed-{key}.npy"
    if meta_path.is_file() and emb_path.is_file():
        rows = json.loads(meta_path.read_text(encoding="utf-8"))
        cached = [
            build_message(t, r["language"], [(s[0], s[1], s[2], s[3]) for s in r["entities"]])
            for t, r in zip(texts, rows, strict=True)
        ]
        return AnalysedCorpus(cached, np.load(emb_path).astype(np.float32), 0.0)
    t0 = time.perf_counter()
    messages: list[Message] = []
    embeddings: list[np.ndarray] = []
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding, as the executor
    by_index: dict[int, tuple[Message, list[tuple[int, int, str, str]], np.ndarray]] = {}
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        results, embs = analyzer.analyze_with_embeddings([AnalysisInput.prepare(texts[i]) for i in idx])
        for i, result, emb in zip(idx, results, embs, strict=True):
            if isinstance(result, AnalysisFailure) or emb is None:
                raise RuntimeError(f"message {i} could not be analysed")
            # stored without the @-mentions, which build_message adds back (as it does when reading the cache)
            spans = [s for s in message_from_analysis(texts[i], result).spans if not s[3].startswith("@")]
            by_index[i] = (build_message(texts[i], result.language, spans), spans, emb)
        if start % (batch * 20) == 0:
            logger.info("analysed %d / %d", start + len(idx), len(texts))
    stored: list[list[tuple[int, int, str, str]]] = []
    for i in range(len(texts)):
        m, spans, e = by_index[i]
        messages.append(m)
        stored.append(spans)
        embeddings.append(e)
    matrix = np.stack(embeddings).astype(np.float32)
    np.save(emb_path, matrix)
    meta_path.write_text(
        json.dumps(
            [
                {"language": m.language, "entities": [list(s) for s in sp]}
                for m, sp in zip(messages, stored, strict=True)
            ]
        ),
        encoding="utf-8",
    )
    return AnalysedCorpus(messages, matrix, time.perf_counter() - t0)
