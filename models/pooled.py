"""Pooled heads: small classifiers on the pooled states of the one shared encoder pass.

A pooled head reads ``[mean of layer-8 states | mean of last-layer states]`` (768 numbers for e5-small)
and applies a standardisation, an optional hidden layer and an output layer, then a temperature. It adds
no transformer layers at serving time: every task reads the same encoder pass (microseconds per message).

The same head scores a *span* of a message (sentence-level sentiment): its features are the mean of the
states of the window's special and prefix tokens and of the span's own tokens, taken from the message's
pass, so a sentence is scored in its context without a second encoder run, and its features have the
make-up of the whole-message features the head was trained on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.encoder import EncoderOutput
from models.heads import FloatArray, rowwise_matmul, softmax
from models.spec import ModelSpec

WEIGHTS_FILE = "head.safetensors"
CONFIG_FILE = "config.json"


def pooled_features(outputs: list[EncoderOutput]) -> FloatArray:
    """(N, 2H) ``[mean_8 | mean_last]`` per message: what pooled heads read."""
    return np.stack([np.concatenate([o.mean_8, o.mean_last]) for o in outputs]).astype(np.float32)


def span_features(output: EncoderOutput, spans: list[tuple[int, int]]) -> FloatArray:
    """(len(spans), 2H) features of character spans (offsets into the normalised text) of one message.

    Rows pooled per span: the special and prefix tokens of the window holding the span's first token
    (as every whole-message feature has them) and the span's content tokens in that window.
    A span with no token falls back to the whole message.
    """
    if not output.windows_8 or len(output.windows_last) != len(output.windows_8):
        raise ValueError("span features need the encoder's per-token states (windows_8 and windows_last)")
    chunk = output.windows_8[0].shape[0] - 2 - output.prefix_len if len(output.windows_8) > 1 else None
    whole = np.concatenate([output.mean_8, output.mean_last])
    offsets = np.asarray(output.offsets, dtype=np.int64).reshape(-1, 2)
    rows: list[FloatArray] = []
    for start, end in spans:
        tokens = np.nonzero((offsets[:, 0] < end) & (offsets[:, 1] > start))[0]
        if not len(tokens):
            rows.append(whole)
            continue
        w = int(tokens[0]) // chunk if chunk else 0
        local = tokens - w * chunk if chunk else tokens
        local = local[(local >= 0) & (local < (chunk or len(offsets)))]
        h8, last = output.windows_8[w], output.windows_last[w]
        fixed = np.array([*range(0, 1 + output.prefix_len), h8.shape[0] - 1])
        idx = np.concatenate([fixed, 1 + output.prefix_len + local])
        rows.append(np.concatenate([h8[idx].mean(axis=0), last[idx].mean(axis=0)]))
    return np.stack(rows).astype(np.float32)


@dataclass(frozen=True)
class PooledHead:
    """Standardise -> [dense + GELU] -> logits -> softmax(logits / T). Pure NumPy, batch-invariant."""

    name: str
    labels: tuple[str, ...]
    mean: FloatArray
    scale: FloatArray
    layers: tuple[tuple[FloatArray, FloatArray], ...]  # (weight (in, out), bias (out,)) per layer
    temperature: float
    version: str
    config: dict[str, Any]

    def logits(self, x: FloatArray) -> FloatArray:
        h: FloatArray = ((x - self.mean) / self.scale).astype(np.float32)
        for i, (w, b) in enumerate(self.layers):
            h = (rowwise_matmul(h, w) + b).astype(np.float32)
            if i < len(self.layers) - 1:
                h = _gelu(h)
        return h

    def proba(self, x: FloatArray) -> FloatArray:
        return softmax(self.logits(x) / np.float32(self.temperature))

    def sequence_proba(self, outputs: list[EncoderOutput]) -> FloatArray:
        if not outputs:
            return np.zeros((0, len(self.labels)), np.float32)
        return self.proba(pooled_features(outputs))

    def span_proba(self, output: EncoderOutput, spans: list[tuple[int, int]]) -> FloatArray:
        return self.proba(span_features(output, spans))

    # -- files ---------------------------------------------------------------
    def save(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        directory.mkdir(parents=True, exist_ok=True)
        tensors = {"mean": self.mean, "scale": self.scale}
        for i, (w, b) in enumerate(self.layers):
            tensors[f"layer{i}.weight"] = np.ascontiguousarray(w, dtype=np.float32)
            tensors[f"layer{i}.bias"] = np.ascontiguousarray(b, dtype=np.float32)
        save_file(tensors, str(directory / WEIGHTS_FILE))
        config = {
            **self.config,
            "labels": list(self.labels),
            "temperature": self.temperature,
            "n_layers": len(self.layers),
        }
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, name: str, directory: Path) -> PooledHead:
        from safetensors.numpy import load_file

        config = json.loads((directory / CONFIG_FILE).read_text())
        if config.get("kind") != "pooled":
            raise ValueError(f"{directory} is not a pooled head (kind={config.get('kind')!r})")
        raw = (directory / WEIGHTS_FILE).read_bytes()
        tensors = load_file(str(directory / WEIGHTS_FILE))
        layers = tuple((tensors[f"layer{i}.weight"], tensors[f"layer{i}.bias"]) for i in range(int(config["n_layers"])))
        digest = hashlib.sha256(raw + (directory / CONFIG_FILE).read_bytes()).hexdigest()
        return cls(
            name=name,
            labels=tuple(config["labels"]),
            mean=tensors["mean"],
            scale=tensors["scale"],
            layers=layers,
            temperature=float(config["temperature"]),
            version=digest[:12],
            config=config,
        )


def load_pooled(name: str, directory: Path, encoder_name: str, encoder_version: str) -> tuple[PooledHead, ModelSpec]:
    """Load a pooled head and its ``/v1/models`` spec; refuse a head trained on another encoder's states."""
    if not (directory / WEIGHTS_FILE).exists():
        raise FileNotFoundError(f"{directory / WEIGHTS_FILE} not found: run `tousu train {name}`")
    head = PooledHead.load(name, directory)
    trained, served = str(head.config.get("encoder", "")), f"{encoder_name}/{encoder_version}"
    if trained != served:
        raise ValueError(f"{name} head was trained on {trained!r}, the service runs {served!r}: retrain it")
    metrics_file = directory / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    summary = {k: v for k, v in metrics.items() if k in ("headline", "test", "timings")}
    return head, ModelSpec(name, "pooled", str(directory), head.version, head.version, summary)


def _gelu(x: FloatArray) -> FloatArray:
    out: FloatArray = (0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))).astype(np.float32)
    return out
