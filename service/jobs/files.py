"""The job directory: where uploads, chunk inputs and chunk results live, and how they are written.

Layout under ``jobs_dir`` (a volume every worker mounts)::

    <job>/input.raw                      the upload as sent (gzip or not); deleted once split
    <job>/chunks/000042.in.jsonl         validated records of chunk 42; deleted when the job ends
    <job>/chunks/000042.<token>.out.jsonl   results of one run of chunk 42; the chunk row names the one that counts

Every file is written to a temporary name, flushed, fsynced and renamed, so a reader (or a
worker resuming after a crash) sees a whole file or none. They hold customers' messages and
answers: files are created 0600 and folders 0700 (owner only), whatever the process umask.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

INPUT = "input.raw"
FILE_MODE = 0o600
DIR_MODE = 0o700


def make_private_dirs(path: Path) -> None:
    """``mkdir -p`` whose new folders are 0700 (``Path.mkdir(parents=True)`` gives parents the umask's mode)."""
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another worker made it first
            continue
        os.chmod(folder, DIR_MODE)  # mkdir's mode is masked by the umask


class JobFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def job_dir(self, job_id: str) -> Path:
        if not job_id.isalnum():  # ids are uuid4 hex; never let one escape the root
            raise ValueError("bad job id")
        return self.root / job_id

    def chunks_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "chunks"

    def input_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / INPUT

    def chunk_input(self, job_id: str, idx: int) -> Path:
        return self.chunks_dir(job_id) / f"{idx:06d}.in.jsonl"

    def new_chunk_output(self, job_id: str, idx: int) -> Path:
        """A fresh results name per run, so two runs of one chunk never write the same file."""
        return self.chunks_dir(job_id) / f"{idx:06d}.{uuid.uuid4().hex[:12]}.out.jsonl"

    def output_path(self, job_id: str, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise ValueError("bad output name")
        return self.chunks_dir(job_id) / name

    @contextlib.contextmanager
    def atomic_writer(self, path: Path, create_dirs: bool = True) -> Iterator[IO[bytes]]:
        """Write ``path`` (0600) through a temporary file renamed into place only when complete.

        ``create_dirs=False``: a missing folder (the job was cancelled and its folder deleted) is a
        ``FileNotFoundError`` instead of a new folder holding data of a job that no longer exists.
        """
        if create_dirs:
            make_private_dirs(path.parent)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)

    def delete_inputs(self, job_id: str) -> None:
        """Retention: the customer's messages are kept only until every chunk is analysed."""
        self.input_path(job_id).unlink(missing_ok=True)
        chunks = self.chunks_dir(job_id)
        if chunks.is_dir():
            for path in chunks.glob("*.in.jsonl"):
                path.unlink(missing_ok=True)
            for path in chunks.glob("*.emb.npy"):  # embeddings kept for the dataset topic fit
                path.unlink(missing_ok=True)
            for path in chunks.glob(".*.tmp"):
                path.unlink(missing_ok=True)

    def delete_unreferenced_outputs(self, job_id: str, keep: set[str]) -> None:
        """Results of runs that lost the race to complete a chunk."""
        chunks = self.chunks_dir(job_id)
        if chunks.is_dir():
            for path in chunks.glob("*.out.jsonl"):
                if path.name not in keep:
                    path.unlink(missing_ok=True)

    def delete_job(self, job_id: str) -> None:
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
