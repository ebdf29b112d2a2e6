"""The token head: BIO tags for PERSON / ORG / LOCATION / PRODUCT from the frozen states of the one encoder pass.

No extra transformer layer runs: each content token is described by its layer-8 and last-layer
states (``EncoderOutput.windows_8`` / ``windows_last``, 2 x 384), centred and projected onto the
training tokens' first principal components (768 -> d), a window of three tokens is concatenated
(the token and its neighbours, zeros past the edges), and a small MLP (3d -> hidden -> GELU -> tags)
gives tag probabilities; :func:`models.entities.bio.decode` walks the legal BIO paths (constrained
Viterbi). NumPy only: a few matrix products per message.

On disk (``models/heads/entities/token_head/``): ``weights.safetensors`` (``mean proj w1 b1 w2 b2``, float32) and
``config.json`` (labels, temperature, which types serve per language, training metadata), written
by ``tousu train entities`` (``training/entities/recipe.py``).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.encoder import EncoderOutput
from models.entities.bio import TagSpan, decode

FloatArray = npt.NDArray[np.float32]
WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "config.json"
CONTEXT = 1  # tokens either side in the input window
ARRAYS = ("mean", "proj", "w1", "b1", "w2", "b2")


def token_states(output: EncoderOutput) -> FloatArray:
    """(n_content_tokens, 2H): [layer 8 | last layer] of each content token, aligned with ``output.offsets``."""
    parts = []
    lo = 1 + output.prefix_len  # skip <s> and the "query: " prefix
    for h8, last in zip(output.windows_8, output.windows_last, strict=True):
        parts.append(np.concatenate([h8[lo : len(h8) - 1], last[lo : len(last) - 1]], axis=1))
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    states: FloatArray = np.concatenate(parts).astype(np.float32)[: len(output.offsets)]
    return states


def windowed(states: npt.NDArray[Any], context: int = CONTEXT) -> FloatArray:
    """(n, D) -> (n, (2 * context + 1) * D): each token with its neighbours (zeros past the edges)."""
    n, dim = states.shape
    padded = np.zeros((n + 2 * context, dim), dtype=np.float32)
    padded[context : context + n] = states
    out: FloatArray = np.concatenate([padded[k : k + n] for k in range(2 * context + 1)], axis=1)
    return out


def gelu(x: FloatArray) -> FloatArray:
    out: FloatArray = (0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))).astype(np.float32)
    return out


@dataclass(frozen=True)
class TokenHead:
    mean: FloatArray  # (2H,) centring of the token states
    proj: FloatArray  # (2H, d) principal components
    w1: FloatArray  # ((2c+1) * d, hidden)
    b1: FloatArray
    w2: FloatArray  # (hidden, C)
    b2: FloatArray
    labels: tuple[str, ...]
    temperature: float
    config: dict[str, Any]

    @classmethod
    def load(cls, directory: Path) -> TokenHead:
        path = directory / WEIGHTS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: run `tousu train entities`")
        config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
        from safetensors.numpy import load_file

        w = load_file(str(path))
        arrays = {k: np.ascontiguousarray(w[k], dtype=np.float32) for k in ARRAYS}
        return cls(**arrays, labels=tuple(config["labels"]), temperature=float(config["temperature"]), config=config)

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for name in ARRAYS:
            h.update(getattr(self, name).tobytes())
        return h.hexdigest()

    def types_for(self, lang: str) -> tuple[str, ...]:
        """The types this head serves for ``lang`` (measured choice in ``config.json``; empty = none)."""
        return tuple(self.config.get("serve", {}).get(lang, ()))

    @property
    def width(self) -> int:
        """The token-state width the head reads (2H)."""
        return int(self.proj.shape[0])

    def logits(self, states: npt.NDArray[Any]) -> FloatArray:
        """Uncalibrated tag logits (n, C) from token states (n, 2H)."""
        if len(states) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        reduced = (np.asarray(states, dtype=np.float32) - self.mean) @ self.proj
        hidden = gelu(windowed(reduced) @ self.w1 + self.b1)
        out: FloatArray = (hidden @ self.w2 + self.b2).astype(np.float32)
        return out

    def proba(self, states: npt.NDArray[Any]) -> FloatArray:
        z = self.logits(states) / np.float32(self.temperature)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        out: FloatArray = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        return out

    def spans(self, output: EncoderOutput, text: str) -> list[TagSpan]:
        """Decoded spans (offsets into the normalised ``text`` the encoder saw)."""
        return decode(self.proba(token_states(output)), output.offsets, self.labels, text)
