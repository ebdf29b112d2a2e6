"""The "topics" step at the end of a job of a ``dataset``: fit the dataset's own topic model, relabel.

Every chunk keeps the e5 embeddings of its analysed records next to its results
(``<results>.emb.npy``, float16, in record order), so the fit needs no second encoder pass.
When the last chunk is done, :meth:`DatasetTopicFitter.fit` (called by ``JobExecutor.finalize``
before the inputs are deleted):

1. reads each chunk's input records, results and embeddings (texts from the inputs; language and
   ORG / PRODUCT spans from the answers);
2. fits the dataset's model (``models/topics/fit.py``) with ids aligned to the dataset's latest
   model, and saves it under ``TOUSU_DATASET_TOPICS_DIR/<dataset key>/<job id>/``;
3. rewrites every result file (temp file + rename) with the fitted topic of each answer, and
   rebuilds the job's topic groups (counts, names, facets, PII-masked examples) from them;
4. hands each relabelled chunk to the complaint store (``on_relabelled``: only the topic columns of
   its stored rows change), so the store's rows, its stats and its topic alerts use the dataset's
   topics too. A store that fails here costs a warning in the report, never the fit or the job.

The finaliser publishes the model as the dataset's latest once the job has completed. Whatever
goes wrong in the fit (too few messages, BERTopic not installed, an exception) leaves the results
and the generic model's topics as they were: the job still completes, with a warning in its report.
Re-running it (a second finaliser, the reaper) gives the same fit: the inputs are the same and
UMAP's seed is fixed.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from models.encoder import FloatArray
from models.pipeline import Analyzer
from models.schema import Analysis
from models.topics.datasets import DatasetTopicModels
from models.topics.fit import (
    DatasetFit,
    FitParams,
    Message,
    TopicFitError,
    fit_dataset_topics,
    message_from_analysis,
    save_model,
)
from service.jobs.aggregate import EXAMPLES_PER_KEY, Aggregate, Group
from service.jobs.db import ChunkRow, JobRow
from service.jobs.files import JobFiles
from service.jobs.records import Record, record_from_json
from service.settings import Settings

logger = logging.getLogger(__name__)

# The complaint store's hooks: ``JobExecutor(on_analysed=...)`` gets a chunk's analysed records before the chunk
# is checkpointed, ``on_relabelled`` the same records once the dataset's topics relabelled them.
AnalysedHook = Callable[[JobRow, list[tuple[Record, Analysis]]], None]


def embeddings_path(output: Path) -> Path:
    return output.with_name(output.name.removesuffix(".out.jsonl") + ".emb.npy")


class DatasetTopicFitter:
    def __init__(
        self,
        settings: Settings,
        files: JobFiles,
        analyzer: Analyzer | None,
        on_relabelled: AnalysedHook | None = None,
    ) -> None:
        self.settings = settings
        self.files = files
        self.analyzer = analyzer
        self.on_relabelled = on_relabelled
        self.models = DatasetTopicModels(settings.dataset_topics_root)

    def fit(self, job: JobRow, chunks: list[ChunkRow], agg: Aggregate) -> tuple[dict[str, Any] | None, str | None]:
        """(what the report says of the fitted model, None) or (None, a warning); never raises."""
        assert job.dataset is not None
        started = time.perf_counter()
        try:
            messages, matrix = self._gather(job.id, chunks)
            if len(messages) < self.settings.jobs_topic_min_messages:
                return None, (
                    f"{len(messages)} messages: too few to fit the dataset's own topics "
                    f"(TOUSU_JOBS_TOPIC_MIN_MESSAGES={self.settings.jobs_topic_min_messages}); "
                    "topics are the shipped model's"
                )
            previous = self.models.latest(job.dataset)
            params = FitParams(
                min_cluster_size=self.settings.jobs_topic_min_cluster_size,
                max_fit_messages=self.settings.jobs_topic_fit_max_messages,
            )
            fit, manifest, centroids, basis = fit_dataset_topics(
                messages, matrix, params, previous=previous, embed=self._phrase_embedder()
            )
            manifest["dataset"] = job.dataset
            manifest["job_id"] = job.id
            self.models.prepare(job.dataset)
            model = save_model(self.models.directory(job.dataset, job.id), manifest, centroids, basis)
            fit.model = model
            version = f"dataset-{model.version}"
            store_error = self._relabel(job, chunks, fit, version, agg)
        except TopicFitError as exc:
            logger.warning("job %s: dataset topics not fitted (%s)", job.id, exc)
            return None, f"the dataset's own topics were not fitted ({exc}); topics are the shipped model's"
        except Exception as exc:  # never sink the job: its results stand with the generic topics
            logger.exception("job %s: dataset topic fit failed (%s)", job.id, type(exc).__name__)
            return None, (
                f"the dataset's own topics were not fitted ({type(exc).__name__}); topics are the shipped model's"
            )
        finally:
            for chunk in chunks:
                if chunk.output:
                    embeddings_path(self.files.output_path(job.id, chunk.output)).unlink(missing_ok=True)
        stats = dict(fit.stats)
        stats["total_s"] = round(time.perf_counter() - started, 1)
        stats["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        logger.info("job %s: %d dataset topics fitted in %.1fs", job.id, stats["n_topics"], stats["total_s"])
        warning = None
        if store_error is not None:
            warning = (
                f"the complaint store kept the shipped model's topics for this job's messages ({store_error}); "
                "the results, the report and its alerts use the dataset's own"
            )
        return {
            "version": version,
            "previous": manifest["alignment"]["previous"],
            "matched": len(manifest["alignment"]["matched"]),
            "new": manifest["alignment"]["new"],
            "vanished": manifest["alignment"]["vanished"],
            "stats": stats,
        }, warning

    def publish(self, dataset: str, job_id: str) -> None:
        try:
            self.models.publish(dataset, job_id)
        except Exception as exc:  # the job is complete; the next one fits again
            logger.warning("job %s: topic model not published (%s)", job_id, type(exc).__name__)

    def _phrase_embedder(self) -> Any:
        analyzer = self.analyzer
        if analyzer is None:
            return None
        encoder = analyzer.encoder

        def embed(texts: list[str]) -> FloatArray:
            return np.stack([o.embedding for o in encoder.forward(encoder.preprocess(texts))])

        return embed

    def _pairs(self, job_id: str, chunk: ChunkRow) -> list[tuple[int, Record, bytes]]:
        """(line index, record, answer line) of every analysed record of the chunk, in record order."""
        with self.files.chunk_input(job_id, chunk.idx).open("rb") as fh:
            records = [record_from_json(orjson.loads(line)) for line in fh if line.strip()]
        with self.files.output_path(job_id, chunk.output or "").open("rb") as fh:
            lines = [line for line in fh if line.strip()]
        if len(lines) != len(records):
            raise TopicFitError(f"chunk {chunk.idx}: {len(lines)} results for {len(records)} records")
        out = []
        for n, (record, line) in enumerate(zip(records, lines, strict=True)):
            if isinstance(record, Record) and b'"model_versions"' in line:
                out.append((n, record, line))
        return out

    def _gather(self, job_id: str, chunks: list[ChunkRow]) -> tuple[list[Message], np.ndarray]:
        """Messages and their embeddings as the chunks stored them (float16: the fit makes its one float32 copy)."""
        messages: list[Message] = []
        parts: list[np.ndarray] = []
        for chunk in chunks:
            pairs = self._pairs(job_id, chunk)
            if not pairs:
                continue
            path = embeddings_path(self.files.output_path(job_id, chunk.output or ""))
            if not path.is_file():
                raise TopicFitError(f"chunk {chunk.idx} kept no embeddings (a run of an older version?)")
            vectors = np.load(path, allow_pickle=False)
            if vectors.shape[0] != len(pairs):
                raise TopicFitError(f"chunk {chunk.idx}: {vectors.shape[0]} embeddings for {len(pairs)} answers")
            for _, record, line in pairs:
                messages.append(message_from_analysis(record.text, Analysis.model_validate_json(line)))
            parts.append(vectors)
        if not parts:
            raise TopicFitError("no analysed message")
        return messages, np.concatenate(parts)

    def _relabel(
        self, job: JobRow, chunks: list[ChunkRow], fit: DatasetFit, version: str, agg: Aggregate
    ) -> str | None:
        """Every answer gets its fitted topic; the job's topic groups are rebuilt from them; the store is told.

        Returns None, or the name of the error that stopped the store's update (the files are relabelled anyway).
        """
        job_id = job.id
        store_error: str | None = None
        by_id = {t.id: t for t in fit.topics}
        groups: dict[str, Group] = {}
        for t in fit.topics:
            groups[str(t.id)] = Group(
                label=t.label,
                keywords=list(t.keywords),
                names=dict(t.names),
                facets={k: [[n, c] for n, c in v] for k, v in t.facets.items()},
            )
        k = 0
        for chunk in chunks:
            pairs = self._pairs(job_id, chunk)
            if not pairs:
                continue
            path = self.files.output_path(job_id, chunk.output or "")
            with path.open("rb") as fh:
                lines = [line for line in fh if line.strip()]
            relabelled: list[tuple[Record, Analysis]] = []
            for n, record, line in pairs:
                topic = by_id[int(fit.ids[k])]
                answer = orjson.loads(line)
                outlier = topic.id < 0
                answer["topic"] = {
                    "id": topic.id,
                    "label": "outlier" if outlier else topic.label,
                    "keywords": [] if outlier else list(topic.keywords),
                    "probability": round(float(fit.probabilities[k]), 4),
                    "similarity": round(float(fit.similarities[k]), 4),
                }
                answer.setdefault("model_versions", {})["topic"] = version
                lines[n] = orjson.dumps(answer) + b"\n"
                group = groups[str(topic.id)]
                group.count += 1
                score = round(float(fit.probabilities[k]), 4)
                analysis = Analysis.model_validate(answer) if self.on_relabelled is not None else None
                if len(group.examples) < EXAMPLES_PER_KEY or score > group.examples[-1]["score"]:
                    group.offer(score, record.line, record.text, analysis or Analysis.model_validate(answer))
                if analysis is not None:
                    relabelled.append((record, analysis))
                k += 1
            with self.files.atomic_writer(path, create_dirs=False) as fh:
                for line in lines:
                    fh.write(line)
            if self.on_relabelled is not None and store_error is None and relabelled:
                try:
                    self.on_relabelled(job, relabelled)
                except Exception as exc:  # the store is down or refuses: the job's own results stand
                    store_error = type(exc).__name__
                    logger.warning("job %s: complaint store not relabelled (%s)", job_id, store_error)
        agg.topics = {key: g for key, g in groups.items() if g.count}
        agg.versions["topic"] = [version]
        return store_error
