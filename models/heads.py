"""Small dense heads over frozen encoder features, run in NumPy.

A head is a standardiser, then one or more members (each: zero or more hidden ReLU
layers and an output layer), whose class probabilities are averaged, plus a temperature
fitted on a dev split (calibration). It is stored as ``head.safetensors`` + ``config.json``
beside its model card: a few MB at most, trained by ``tousu train``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file, save_file

from models.encoder import EncoderOutput

FloatArray = npt.NDArray[np.float32]
HEAD_FILE = "head.safetensors"
CONFIG_FILE = "config.json"


def softmax(logits: FloatArray) -> FloatArray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: FloatArray = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    return out


@dataclass(frozen=True)
class Member:
    weights: tuple[FloatArray, ...]  # each (in, out)
    biases: tuple[FloatArray, ...]

    def logits(self, x: FloatArray) -> FloatArray:
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            x = np.maximum(x @ w + b, np.float32(0.0))
        out: FloatArray = x @ self.weights[-1] + self.biases[-1]
        return out


@dataclass(frozen=True)
class DenseHead:
    labels: tuple[str, ...]
    mean: FloatArray
    scale: FloatArray
    members: tuple[Member, ...]
    temperature: float
    config: dict[str, Any]

    def logits(self, features: FloatArray) -> FloatArray:
        """Uncalibrated scores: a single member's logits, or the log of the members' mean probability."""
        x: FloatArray = (np.atleast_2d(features).astype(np.float32) - self.mean) / self.scale
        if len(self.members) == 1:
            return self.members[0].logits(x)
        mean_p = np.mean([softmax(m.logits(x)) for m in self.members], axis=0)
        out: FloatArray = np.log(np.clip(mean_p, 1e-12, 1.0)).astype(np.float32)
        return out

    def predict_proba(self, features: FloatArray) -> FloatArray:
        """Calibrated class probabilities, shape (N, n_labels)."""
        return softmax(self.logits(features) / self.temperature)

    def with_temperature(self, temperature: float) -> DenseHead:
        return DenseHead(self.labels, self.mean, self.scale, self.members, temperature, self.config)

    def save(self, directory: Path, extra_config: dict[str, Any] | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {"mean": self.mean, "scale": self.scale}
        for m, member in enumerate(self.members):
            for i, (w, b) in enumerate(zip(member.weights, member.biases, strict=True)):
                tensors[f"m{m}.w{i}"] = np.ascontiguousarray(w, dtype=np.float32)
                tensors[f"m{m}.b{i}"] = np.ascontiguousarray(b, dtype=np.float32)
        save_file(tensors, str(directory / HEAD_FILE))
        config = {
            **self.config,
            **(extra_config or {}),
            "labels": list(self.labels),
            "temperature": self.temperature,
            "layers": [len(m.weights) for m in self.members],
        }
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False, sort_keys=True))

    @classmethod
    def load(cls, directory: Path) -> DenseHead:
        config = json.loads((directory / CONFIG_FILE).read_text())
        tensors = load_file(str(directory / HEAD_FILE))
        members = tuple(
            Member(
                tuple(tensors[f"m{m}.w{i}"] for i in range(n)),
                tuple(tensors[f"m{m}.b{i}"] for i in range(n)),
            )
            for m, n in enumerate(config["layers"])
        )
        return cls(
            labels=tuple(config["labels"]),
            mean=tensors["mean"],
            scale=tensors["scale"],
            members=members,
            temperature=float(config["temperature"]),
            config=config,
        )


class PooledHead:
    """A :class:`DenseHead` over named pooled encoder vectors, with the branch heads' interface."""

    def __init__(self, head: DenseHead, features: tuple[str, ...]) -> None:
        self.head = head
        self.features = features
        self.labels = head.labels

    def sequence_proba(self, outputs: list[EncoderOutput]) -> FloatArray:
        return self.head.predict_proba(np.stack([o.pooled(self.features) for o in outputs]))
