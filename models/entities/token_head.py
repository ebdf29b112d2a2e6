"""The token head: BIO tags for PERSON / ORG / LOCATION / PRODUCT from the frozen states of the one encoder pass.

No extra transformer layer runs: each content token is described by its layer-8 and last-layer
states (``EncoderOutput.windows_8`` / ``windows_last``, 2 x 384), centred and projected onto the
training tokens' first principal components (768 -> d), a window of three tokens is concatenated
(the token and its neighbours, zeros past the edges), and a small MLP (3d -> hidden -> GELU -> tags)
gives tag probabilities; :func:`models.entities.bio.decode` walks the legal BIO paths (constrained
Viterbi). The forward is a tiny ONNX graph built at load time (``onnx.helper``) and run by ONNX Runtime
with the service's thread setting: NumPy's multi-threaded BLAS spins on matrices this small when the
machine is busy (measured: 30 ms per short message instead of well under 1 ms).

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


def head_graph(head: TokenHead) -> bytes:
    """Serialised ONNX model: ``states`` (n, 2H) -> ``logits`` (n, C), the computation of :meth:`TokenHead.logits`."""
    from onnx import TensorProto, helper, numpy_helper

    inits = []

    def const(name: str, value: npt.ArrayLike, dtype: type = np.float32) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=dtype), name))
        return name

    node = helper.make_node
    nodes = [
        node("Sub", ["states", const("mean", head.mean)], ["centred"]),
        node("MatMul", ["centred", const("proj", head.proj)], ["reduced"]),
        node("Pad", ["reduced", const("pads", [CONTEXT, 0, CONTEXT, 0], np.int64)], ["padded"]),
    ]
    shifted = []
    axes = const("axes", [0], np.int64)
    for k in range(2 * CONTEXT + 1):
        end = k - 2 * CONTEXT if k < 2 * CONTEXT else np.iinfo(np.int64).max
        inputs = ["padded", const(f"start{k}", [k], np.int64), const(f"end{k}", [end], np.int64), axes]
        nodes.append(node("Slice", inputs, [f"shift{k}"]))
        shifted.append(f"shift{k}")
    nodes += [
        node("Concat", shifted, ["window"], axis=1),
        node("MatMul", ["window", const("w1", head.w1)], ["h1"]),
        node("Add", ["h1", const("b1", head.b1)], ["x"]),
        # GELU, tanh form: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
        node("Mul", ["x", "x"], ["x2"]),
        node("Mul", ["x2", "x"], ["x3"]),
        node("Mul", ["x3", const("c1", 0.044715)], ["x3c"]),
        node("Add", ["x", "x3c"], ["inner"]),
        node("Mul", ["inner", const("c2", math.sqrt(2.0 / math.pi))], ["scaled"]),
        node("Tanh", ["scaled"], ["t"]),
        node("Add", ["t", const("one", 1.0)], ["t1"]),
        node("Mul", ["x", "t1"], ["xt"]),
        node("Mul", ["xt", const("half", 0.5)], ["hidden"]),
        node("MatMul", ["hidden", const("w2", head.w2)], ["h2"]),
        node("Add", ["h2", const("b2", head.b2)], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tousu_token_head",
        [helper.make_tensor_value_info("states", TensorProto.FLOAT, ["tokens", head.width])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["tokens", len(head.labels)])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tousu")
    serialised: bytes = model.SerializeToString()
    return serialised


class OrtTokenHead:
    """The served form of a :class:`TokenHead`: the same logits from one ONNX Runtime call."""

    def __init__(self, head: TokenHead, threads: int = 0) -> None:
        from models.ort_options import cpu_session

        self.head = head
        self.labels = head.labels
        self.width = head.width
        self.session = cpu_session(head_graph(head), threads)

    def proba(self, states: npt.NDArray[Any]) -> FloatArray:
        if len(states) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        (logits,) = self.session.run(None, {"states": np.ascontiguousarray(states, dtype=np.float32)})
        return _softmax(np.asarray(logits, dtype=np.float32) / np.float32(self.head.temperature))

    def types_for(self, lang: str) -> tuple[str, ...]:
        return self.head.types_for(lang)


def _softmax(z: FloatArray) -> FloatArray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: FloatArray = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
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
        return _softmax(self.logits(states) / np.float32(self.temperature))

    def spans(self, output: EncoderOutput, text: str) -> list[TagSpan]:
        """Decoded spans (offsets into the normalised ``text`` the encoder saw)."""
        return decode(self.proba(token_states(output)), output.offsets, self.labels, text)
