"""``tousu evaluate batch``: batch-job throughput with 1 and 2 ``tousu worker`` processes on the real model.

Primary metric: messages per second of a 20,000-message job, from the upload to ``POST /v1/jobs``
until its report is written (upload + split + every chunk + report), with the API and the workers
already started (model loading is not counted). Also: peak resident memory (``VmHWM``) of the API
and of each worker (must stay under 2 GB) and the analysis rate inside chunks.

Recipe:

1. Sample the messages from ``../shared/data`` (fixed seed). ``--mix short`` (the default): product
   reviews, chat lines and English reviews as they come (mean ~43 characters); ``--mix complaints``:
   a quarter of long reviews (150-1000 characters) beside them, as a nightly complaint dump mixes
   one-liners and long complaints. Write them as one JSONL dump.
2. For each worker count: start ``tousu serve`` and the workers (real model, int8,
   ``TOUSU_ORT_THREADS`` = cores / workers), wait until each has loaded its model, upload the dump to
   ``POST /v1/jobs`` (streamed), poll ``GET /v1/jobs/{id}`` until ``completed``, read the peak RSS of
   every process, check that every message has its analysis.
   ``--pin``: each worker is pinned to a core of its own with one ONNX thread (the one-worker run
   on one core), so 1 -> 2 workers shows how throughput grows per core added, as 2 -> 4 cores would.
3. Write ``evaluation/reports/<--name>.{json,md}`` (``batch`` by default).

The two cores of this machine are shared with other work, so the numbers are pessimistic; the
report records the load average at the start of each run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.processes import free_port, wait_healthy
from evaluation.report import cpu_model, machine_load
from training import data

ROOT = Path(__file__).resolve().parent.parent
REPORTS = Path(__file__).resolve().parent / "reports"
MEMORY_LIMIT_MB = 2048
HEADER = (
    "| workers | ORT threads each | pinned | wall (s) | messages/s | vs 1 worker | inside a chunk (msg/s, median) "
    "| peak RSS per worker (MB) | API peak RSS (MB) | load average at start (1/5/15 min) |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


MIXES = {
    "short": {"reviews": 0.6, "chat": 0.3, "english": 0.1},
    "complaints": {"long_reviews": 0.25, "reviews": 0.35, "chat": 0.3, "english": 0.1},
}
MIX_DESCRIPTIONS = {
    "short": "60% online_shopping_10_cats reviews, 30% chinese_conversation_sentiment lines, "
    "10% uci_sentiment_labelled_en (seed 13)",
    "complaints": "25% long online_shopping_10_cats reviews (150-1000 characters), 35% reviews of any length, "
    "30% chinese_conversation_sentiment lines, 10% uci_sentiment_labelled_en (seed 13)",
}


def sample_messages(n: int, seed: int = 13, mix: str = "short") -> list[str]:
    """A mixed dump drawn from the shares of ``MIXES[mix]``."""
    rng = random.Random(seed)
    reviews = [e.text.replace("\n", " ") for e in data.online_shopping()]
    pools = {
        "reviews": reviews,
        "long_reviews": [t[:1000] for t in reviews if len(t) >= 150],
        "chat": [e.text for e in data.conversation_sentiment()],
        "english": [e.text for e in data.uci_sentiment()],
    }
    shares = MIXES[mix]
    out: list[str] = []
    names = list(shares)
    for name in names:
        pool = pools[name]
        k = round(n * shares[name]) if name != names[-1] else n - len(out)
        out.extend(rng.sample(pool, k) if k <= len(pool) else rng.choices(pool, k=k))
    rng.shuffle(out)
    return [t[:5000] for t in out]


def _rss_mb(pid: int, field: str = "VmHWM") -> float:
    """``VmHWM``: peak resident set size of the process so far; ``VmRSS``: now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def _pinned(core: int | None) -> Any:
    """``preexec_fn`` that pins the child to one core (None: no pinning)."""
    if core is None:
        return None
    return lambda: os.sched_setaffinity(0, {core})


def _upload(url: str, dump: Path) -> str:
    """Stream the dump to ``POST /v1/jobs``; returns the job id."""
    import httpx

    def body() -> Any:
        with dump.open("rb") as fh:
            while block := fh.read(1 << 20):
                yield block

    answer = httpx.post(
        f"{url}/v1/jobs",
        params={"dataset": "evaluation"},
        content=body(),
        headers={"Content-Type": "application/x-ndjson"},
        timeout=600,
    )
    if answer.status_code != 202:
        raise RuntimeError(f"POST /v1/jobs answered {answer.status_code}: {answer.text[:500]}")
    return str(answer.json()["id"])


def _wait_ready(log: Path, proc: subprocess.Popen[bytes], timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited during start-up:\n{log.read_text()[-2000:]}")
        if " ready: " in log.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise TimeoutError("worker did not load its model in time")


def run_config(
    dump: Path,
    n: int,
    workers: int,
    threads: int,
    chunk_size: int,
    redis_url: str,
    artifacts: Path,
    loader: str | None = None,
    pin: bool = False,
) -> dict[str, Any]:
    import httpx
    import redis

    from service.jobs.store import JobStore

    work = Path(tempfile.mkdtemp(prefix="tousu-batch-eval-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    namespace = f"tousu-eval-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "TOUSU_REDIS_URL": redis_url,
        "TOUSU_JOBS_DIR": str(work / "jobs"),
        "TOUSU_DATABASE_URL": "",
        "TOUSU_JOBS_QUEUE_NAME": namespace,
        "TOUSU_JOBS_CHUNK_SIZE": str(chunk_size),
        "TOUSU_ARTIFACTS_DIR": str(artifacts),
        "TOUSU_ENCODER_PRECISION": "int8",
        "TOUSU_ORT_THREADS": str(threads),
        # numpy heads (BLAS) get the same share of cores as ONNX Runtime, or two workers oversubscribe them.
        "OMP_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "TOUSU_LOG_LEVEL": "info",
    }
    extra = ["--registry-loader", loader] if loader else []
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    api: subprocess.Popen[bytes] | None = None
    store: JobStore | None = None
    try:
        api_log = work / "api.log"
        api = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port), *extra],
            cwd=ROOT,
            env=env,
            stdout=api_log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        for i in range(workers):
            log = work / f"worker-{i}.log"
            proc = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "worker", *extra],
                cwd=ROOT,
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                preexec_fn=_pinned(i % (os.cpu_count() or 1) if pin else None),
            )
            procs.append((proc, log))
        wait_healthy(url, api, 600, api_log)
        for proc, log in procs:
            _wait_ready(log, proc)
        loaded = [round(_rss_mb(p.pid, "VmRSS"), 1) for p, _ in procs]
        api_loaded = round(_rss_mb(api.pid, "VmRSS"), 1)
        load = os.getloadavg()
        start = time.perf_counter()
        job_id = _upload(url, dump)
        uploaded = time.perf_counter() - start
        while True:
            state = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=30).json()
            if state["state"] in ("completed", "failed", "cancelled"):
                break
            if any(p.poll() is not None for p, _ in procs) or api.poll() is not None:
                raise RuntimeError("a worker or the API died during the run")
            time.sleep(0.5)
        wall = time.perf_counter() - start
        if state["state"] != "completed":
            raise RuntimeError(f"job {state['state']}: {state.get('error')}")
        rss = [round(_rss_mb(p.pid), 1) for p, _ in procs]
        api_rss = round(_rss_mb(api.pid), 1)
        store = JobStore.open(None, work / "jobs")
        job = store.get_job(job_id)
        assert job is not None
        progress = store.progress(job_id)
        if progress.done != n:
            raise RuntimeError(f"{progress.done} of {n} messages analysed ({progress.failed} failed)")
        chunks = store.chunks(job_id)
        chunk_rates = sorted(c.size / (c.finished_at - c.started_at) for c in chunks if c.finished_at and c.started_at)
        report = job.report or {}
        return {
            "workers": workers,
            "threads_per_worker": threads,
            "chunk_size": chunk_size,
            "chunks": len(chunks),
            "messages": n,
            "pinned": pin,
            "wall_s": round(wall, 1),
            "upload_s": round(uploaded, 1),
            "messages_per_s": round(n / wall, 1),
            "chunk_messages_per_s_median": round(chunk_rates[len(chunk_rates) // 2], 1) if chunk_rates else None,
            "rss_after_model_load_mb": loaded,
            "peak_rss_mb": rss,
            "api_rss_after_model_load_mb": api_loaded,
            "api_peak_rss_mb": api_rss,
            "load_average_at_start": [round(x, 2) for x in load],
            "model_versions": report.get("model_versions", {}),
        }
    finally:
        children = [p for p, _ in procs] + ([api] if api is not None else [])
        for proc in children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in children:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        if store is not None:
            store.close()
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"{namespace}*"):
            client.delete(key)
        client.close()
        shutil.rmtree(work, ignore_errors=True)


def _scaled_note(result: dict[str, Any]) -> str:
    if result["messages"] >= 20_000:
        return ""
    return (
        f"\n**This run used {result['messages']:,} messages instead of 20,000** ({result.get('why_smaller')}).\n"
        "The full measurement, to run on a quiet machine:\n\n"
        "    nice -n 10 .venv/bin/tousu evaluate batch   # 20,000 messages, chunks of 2,000, 1 then 2 workers\n"
    )


def write_report(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    name = result.get("name", "batch")
    (out / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    runs = result["runs"]
    base = runs[0]["messages_per_s"]
    rows = "\n".join(
        f"| {r['workers']} | {r['threads_per_worker']} | {'one core each' if r.get('pinned') else 'no'} | "
        f"{r['wall_s']} | **{r['messages_per_s']}** | "
        f"{r['messages_per_s'] / base:.2f}x | {r['chunk_messages_per_s_median']} | "
        f"{', '.join(str(x) for x in r['peak_rss_mb'])} | {r.get('api_peak_rss_mb', '-')} | "
        f"{', '.join(str(x) for x in r['load_average_at_start'])} |"
        for r in runs
    )
    peak = max(x for r in runs for x in r["peak_rss_mb"])
    loaded = ", ".join(str(x) for r in runs for x in r["rss_after_model_load_mb"])
    m = result["machine"]
    load = machine_load(runs[0]["load_average_at_start"], m["cpus"])
    if runs[0].get("pinned"):
        cores = (
            "Each worker is pinned to a core of its own with one ONNX thread (the single worker on one core): "
            "1 -> 2 workers is one core -> two cores, as 2 -> 4 cores would be with two threads each."
        )
    else:
        cores = (
            f"Both runs use every core once: 1 worker x {runs[0]['threads_per_worker']} ONNX threads, then "
            f"{runs[-1]['workers']} workers x {runs[-1]['threads_per_worker']} thread(s)."
        )
    api_peak = max(r.get("api_peak_rss_mb", 0) for r in runs)
    text = f"""# Batch jobs: throughput and memory

Primary metric: **messages per second** of one {result["messages"]:,}-message job, from the upload to
`POST /v1/jobs` to the written report, with `tousu serve` and the `tousu worker` processes already started
(real model, int8). Command:

    {result["command"]}
{_scaled_note(result)}
{HEADER}
{rows}

- Peak resident memory per worker: {peak:.0f} MB, {"under" if peak < MEMORY_LIMIT_MB else "OVER"} the 2 GB limit
  (after loading the models, before the job: {loaded} MB). Model calls are capped at
  {result.get("batch_max_chars", "?")} characters, so the longest messages of a chunk do not pile up in one call.
- Machine: {m["cpus"]} cores ({m.get("cpu", m["processor"])}), Python {m["python"]}. {load}
- Dump: {result["dataset"]["description"]}; mean {result["dataset"]["mean_chars"]:.0f} characters per
  message. Chunks of {runs[0]["chunk_size"]} messages, model batches of 32 (sorted by length inside a chunk).
- Served models: {", ".join(f"{k} {v[0] if isinstance(v, list) else v}" for k, v in runs[0]["model_versions"].items())}.
- API (`tousu serve`, models loaded for `/v1/analyze`): peak resident memory {api_peak:.0f} MB while it received
  the upload and answered the progress polls; the upload took {", ".join(str(r.get("upload_s")) for r in runs)} s.
- {cores} On a machine with more cores, add workers (one per 1-2 cores); each worker holds one model copy
  (the peak RSS above).
"""
    (out / f"{name}.md").write_text(text)


def main(argv: Sequence[str] = ()) -> int:
    p = argparse.ArgumentParser(prog="tousu evaluate batch", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20_000, help="messages in the job")
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts to measure")
    p.add_argument("--chunk-size", type=int, default=2000)
    p.add_argument("--redis-url", default=os.environ.get("TOUSU_EVAL_REDIS_URL", "redis://127.0.0.1:6379/13"))
    p.add_argument("--artifacts", default=os.environ.get("TOUSU_ARTIFACTS_DIR", str(ROOT / "artifacts")))
    p.add_argument("--out", default=str(REPORTS))
    p.add_argument("--registry-loader", help="MODULE:FUNC instead of the real model (plumbing checks only)")
    p.add_argument("--why-smaller", help="with --n below 20000: why, for the report")
    p.add_argument("--mix", choices=sorted(MIXES), default="short", help="message lengths of the dump")
    p.add_argument("--pin", action="store_true", help="one core and one ONNX thread per worker")
    p.add_argument("--name", default="batch", help="report file name under --out")
    args = p.parse_args(list(argv))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per progress poll otherwise

    from service.settings import Settings

    cpus = os.cpu_count() or 1
    counts = [int(x) for x in args.workers.split(",")]
    print(f"1. sampling {args.n} messages", file=sys.stderr)
    messages = sample_messages(args.n, mix=args.mix)
    with tempfile.TemporaryDirectory(prefix="tousu-batch-dump-") as tmp:
        dump = Path(tmp) / "dump.jsonl"
        with dump.open("w", encoding="utf-8") as fh:
            for i, text in enumerate(messages):
                fh.write(json.dumps({"id": f"m{i}", "text": text}, ensure_ascii=False) + "\n")
        runs = []
        for workers in counts:
            if args.pin and workers > cpus:
                raise SystemExit(f"--pin: {workers} workers need {workers} cores, this machine has {cpus}")
            threads = 1 if args.pin else max(1, cpus // workers)
            print(f"2. {workers} worker(s) x {threads} ORT thread(s)", file=sys.stderr)
            run = run_config(
                dump,
                args.n,
                workers,
                threads,
                args.chunk_size,
                args.redis_url,
                Path(args.artifacts),
                args.registry_loader,
                args.pin,
            )
            print(f"   {run['messages_per_s']} messages/s, peak RSS {run['peak_rss_mb']} MB", file=sys.stderr)
            runs.append(run)
    result = {
        "name": args.name,
        "primary_metric": "messages_per_s",
        "messages": args.n,
        "command": shlex.join(["nice", "-n", str(os.nice(0)), ".venv/bin/tousu", "evaluate", "batch", *argv]),
        "machine": {
            "cpus": cpus,
            "processor": platform.processor() or platform.machine(),
            "cpu": cpu_model(),
            "python": platform.python_version(),
        },
        "dataset": {
            "mix": args.mix,
            "description": MIX_DESCRIPTIONS[args.mix],
            "mean_chars": sum(len(t) for t in messages) / len(messages),
        },
        "runs": runs,
        "why_smaller": args.why_smaller,
        "batch_max_chars": Settings().jobs_batch_max_chars,
        "memory_limit_mb": MEMORY_LIMIT_MB,
        "memory_ok": all(x < MEMORY_LIMIT_MB for r in runs for x in [*r["peak_rss_mb"], r["api_peak_rss_mb"]]),
    }
    print("3. writing the report", file=sys.stderr)
    write_report(result, Path(args.out))
    print(json.dumps({r["workers"]: r["messages_per_s"] for r in runs}))
    return 0 if result["memory_ok"] else 1
