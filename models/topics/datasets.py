"""Where each dataset's own topic models live, and which one is the latest.

A batch job of a ``dataset`` fits that dataset's topic model at its end (``models/topics/fit.py``)
and saves it under ``<root>/<key>/<job id>/``; once the job has completed, ``<root>/<key>/LATEST``
names that job (written atomically). ``<key>`` is a hash of the dataset name (a name may hold
``..`` or spaces; the folder never does), and ``<root>/<key>/NAME`` holds the name itself.

``/v1/analyze`` with a ``dataset`` assigns topics with :meth:`DatasetTopicModels.latest` (loaded
once per refit and kept in memory), and the shipped generic model only when the dataset has none.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

from models.topics.model import MANIFEST_FILE, TopicModel, TopicModelError

logger = logging.getLogger(__name__)
LATEST_FILE = "LATEST"


def dataset_key(dataset: str) -> str:
    return hashlib.sha256(dataset.encode("utf-8")).hexdigest()[:24]


class DatasetTopicModels:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._loaded: dict[str, tuple[str, TopicModel]] = {}  # dataset -> (job id, model)

    def folder(self, dataset: str) -> Path:
        return self.root / dataset_key(dataset)

    def directory(self, dataset: str, job_id: str) -> Path:
        if not job_id.isalnum():
            raise ValueError("job ids are alphanumeric")
        return self.folder(dataset) / job_id

    def prepare(self, dataset: str) -> None:
        folder = self.folder(dataset)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "NAME").write_text(dataset, encoding="utf-8")

    def publish(self, dataset: str, job_id: str) -> None:
        """Make the model fitted by ``job_id`` the dataset's latest (after the job completed)."""
        if not (self.directory(dataset, job_id) / MANIFEST_FILE).is_file():
            raise TopicModelError(f"no topic model saved by job {job_id}")
        tmp = self.folder(dataset) / f".{LATEST_FILE}.{os.getpid()}.{threading.get_ident()}"
        tmp.write_text(job_id, encoding="utf-8")
        tmp.replace(self.folder(dataset) / LATEST_FILE)

    def latest_job(self, dataset: str) -> str | None:
        try:
            job_id = (self.folder(dataset) / LATEST_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return job_id if job_id.isalnum() else None

    def latest(self, dataset: str) -> TopicModel | None:
        """The dataset's latest topic model, or None (no job of it has fitted one, or it is unreadable)."""
        job_id = self.latest_job(dataset)
        return None if job_id is None else self.load(dataset, job_id)

    def load(self, dataset: str, job_id: str) -> TopicModel | None:
        """The model ``job_id`` fitted for ``dataset`` (kept in memory: the latest one per dataset)."""
        if not job_id.isalnum():
            return None
        with self._lock:
            cached = self._loaded.get(dataset)
            if cached is not None and cached[0] == job_id:
                return cached[1]
        try:
            model = TopicModel.load(self.directory(dataset, job_id))
        except (OSError, ValueError) as exc:  # TopicModelError is a ValueError
            logger.warning("dataset topic model of job %s unreadable (%s)", job_id, type(exc).__name__)
            return None
        with self._lock:
            self._loaded[dataset] = (job_id, model)
        return model
