"""Nightly batch jobs: a dump in, every message analysed, a report out, nothing lost.

How a job runs (docs/architecture.md has the picture):

1. ``POST /v1/jobs`` streams the upload to ``<jobs_dir>/<job>/input.raw`` (or names a ``path``/``url``),
   inserts a job row (state ``queued``) and sends a *prepare* message.
2. *prepare* (``executor.py``) parses the input once (JSONL or CSV, gzip or not), validates every
   record (a bad one becomes a per-line error, never a stop) and writes chunk input files of
   ``jobs_chunk_size`` records, then inserts the chunk rows and sends one message per chunk.
3. *run chunk* claims the chunk with a lease in the database, analyses it with
   ``Analyzer.analyze_batch`` (the API's code path), writes its results file atomically and marks the
   chunk done in one conditional UPDATE: that row is the checkpoint, so a re-run chunk can neither
   duplicate nor lose a record. The last chunk builds the report and deletes the inputs.
4. The reaper (``reaper.py``, in every worker and in the API) re-sends chunks whose lease expired
   (worker killed), prepares never sent (API killed) and finishes jobs whose last worker died.

The queue (``queue.py``) is Dramatiq on Redis when ``TOUSU_REDIS_URL`` is set (``tousu worker``
processes consume it) and an in-process thread otherwise; the database (``db.py``) is SQLite by
default and PostgreSQL via ``TOUSU_DATABASE_URL``.
"""
