"""Train a task branch (see ``models/branch.py``) with LoRA on the served trunk's states.

Recipe shared by the sequence tasks (sentiment, hidden dissatisfaction) and the token
task (entity tags):

1. ``trunk_inputs``: run the SERVED int8 ONNX encoder once over the texts and keep each
   message's first window of layer-8 states (fp16 in memory; a few hundred texts/s here).
2. ``TorchBranch``: copies of e5 layers 9..(8+n) from ``branch_base.safetensors`` with
   LoRA factors on every linear layer (base weights frozen; LayerNorms and the output
   layer trained), dropout as in BERT.
3. ``train_branch``: AdamW, linear warm-up/decay, length-bucketed batches, fixed seed;
   the dev metric picks the best epoch.
4. ``save_branch``: LoRA factors + LayerNorms + output layer -> ``adapter.safetensors``
   with a ``config.json`` that ``models.branch.BranchHead.load`` reads.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from safetensors.numpy import load_file, save_file

from models.branch import ADAPTER_FILE, CONFIG_FILE, LAYER_NORMS, LINEARS, base_metadata
from models.build import BRANCH_BASE_FILE
from models.encoder import OnnxEncoder
from models.text import normalize

logger = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float32]
IGNORE = -100


@dataclass(frozen=True)
class TrunkInput:
    """One message as the branch sees it: layer-8 states of its first window."""

    states: npt.NDArray[np.float16]  # (n, H): <s>, prefix, content, </s>
    prefix_len: int
    offsets: tuple[tuple[int, int], ...]  # content tokens, into the normalised text
    normalized: str


def trunk_inputs(encoder: OnnxEncoder, texts: Sequence[str], batch_size: int = 32) -> list[TrunkInput]:
    """Layer-8 states of the first window of each text (``encoder.max_tokens`` long at most)."""
    normalized = [normalize(t).text for t in texts]
    tokenized = encoder.preprocess(normalized)
    order = np.argsort([len(t.windows[0]) for t in tokenized], kind="stable")
    out: list[TrunkInput | None] = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        rows = [tokenized[i].windows[0] for i in idx]
        h8, _ = encoder._run(rows)
        for k, i in enumerate(idx):
            item = tokenized[i]
            n_content = len(rows[k]) - 2 - item.prefix_len
            out[i] = TrunkInput(
                h8[k, : len(rows[k])].astype(np.float16),
                item.prefix_len,
                item.content_offsets[:n_content],
                normalized[i],
            )
    return [x for x in out if x is not None]


@dataclass
class BranchConfig:
    kind: Literal["sequence", "token"]
    labels: tuple[str, ...]
    n_layers: int = 2
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lr: float = 5e-4
    epochs: int = 2
    batch_size: int = 32
    weight_decay: float = 0.01
    label_smoothing: float = 0.05
    warmup: float = 0.1
    seed: int = 13
    class_weights: tuple[float, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class LoRALinear(torch.nn.Module):
    """``base(x) + (alpha / r) * x A^T B^T`` with ``base`` frozen and ``B`` starting at zero."""

    def __init__(self, base: torch.nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_a = torch.nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
        self.lora_b = torch.nn.Parameter(torch.zeros(base.out_features, rank))
        for p in base.parameters():
            p.requires_grad = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale


def _get(module: torch.nn.Module, path: str) -> torch.nn.Module:
    for part in path.split("."):
        module = getattr(module, part)
    return module


def _set(module: torch.nn.Module, path: str, value: torch.nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(_get(module, parent) if parent else module, name, value)


class TorchBranch(torch.nn.Module):
    def __init__(self, base_file: Path, cfg: BranchConfig) -> None:
        super().__init__()
        from transformers import BertConfig
        from transformers.models.bert.modeling_bert import BertLayer

        meta = base_metadata(base_file)
        self.first = int(meta["first_layer"])
        hidden, heads = int(meta["hidden"]), int(meta["heads"])
        base = load_file(str(base_file))
        bert_cfg = BertConfig(
            hidden_size=hidden,
            num_attention_heads=heads,
            intermediate_size=base[f"{self.first}.intermediate.dense.weight"].shape[0],
            layer_norm_eps=float(meta["eps"]),
            hidden_act="gelu",
            attn_implementation="eager",
        )
        self.layers = torch.nn.ModuleList()
        for j in range(cfg.n_layers):
            layer = BertLayer(bert_cfg)
            prefix = f"{self.first + j}."
            state = {k[len(prefix) :]: torch.from_numpy(v.copy()) for k, v in base.items() if k.startswith(prefix)}
            layer.load_state_dict(state, strict=True)
            for module in LINEARS:
                linear = _get(layer, module)
                assert isinstance(linear, torch.nn.Linear)
                _set(layer, module, LoRALinear(linear, cfg.lora_rank, cfg.lora_alpha))
            self.layers.append(layer)
        self.dropout = torch.nn.Dropout(0.1)
        self.out = torch.nn.Linear(hidden, len(cfg.labels))
        self.cfg = cfg

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x``: (B, T, H) trunk states; ``mask``: (B, T) 1 for real tokens. Sequence: (B, C); token: (B, T, C)."""
        additive = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.layers:
            out = layer(x, attention_mask=additive)
            x = out[0] if isinstance(out, tuple) else out
        if self.cfg.kind == "token":
            logits: torch.Tensor = self.out(self.dropout(x))
            return logits
        m = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * m).sum(dim=1) / m.sum(dim=1)
        result: torch.Tensor = self.out(self.dropout(pooled))
        return result


def _batch(inputs: Sequence[TrunkInput], idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(len(inputs[i].states) for i in idx)
    hidden = inputs[idx[0]].states.shape[1]
    x = np.zeros((len(idx), length, hidden), dtype=np.float32)
    mask = np.zeros((len(idx), length), dtype=np.float32)
    for k, i in enumerate(idx):
        n = len(inputs[i].states)
        x[k, :n] = inputs[i].states
        mask[k, :n] = 1.0
    return torch.from_numpy(x), torch.from_numpy(mask)


def _token_targets(inputs: Sequence[TrunkInput], targets: Sequence[Any], idx: Sequence[int]) -> torch.Tensor:
    """Token targets are per content token; specials and prefix are ignored."""
    length = max(len(inputs[i].states) for i in idx)
    y = np.full((len(idx), length), IGNORE, dtype=np.int64)
    for k, i in enumerate(idx):
        lo = 1 + inputs[i].prefix_len
        tags = np.asarray(targets[i], dtype=np.int64)[: len(inputs[i].states) - lo - 1]
        y[k, lo : lo + len(tags)] = tags
    return torch.from_numpy(y)


def _batches(inputs: Sequence[TrunkInput], size: int, rng: np.random.Generator | None) -> list[list[int]]:
    """Length-bucketed batches (little padding); shuffled batch order when ``rng`` is given."""
    order = np.argsort([len(x.states) for x in inputs], kind="stable")
    batches = [order[i : i + size].tolist() for i in range(0, len(order), size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def predict_logits(model: TorchBranch, inputs: Sequence[TrunkInput], batch_size: int = 64) -> list[FloatArray]:
    """Logits per input (sequence: (C,); token: (n_content, C)), in input order."""
    model.eval()
    out: list[FloatArray | None] = [None] * len(inputs)
    with torch.no_grad():
        for idx in _batches(inputs, batch_size, None):
            x, mask = _batch(inputs, idx)
            logits = model(x, mask).numpy()
            for k, i in enumerate(idx):
                if model.cfg.kind == "token":
                    lo = 1 + inputs[i].prefix_len
                    out[i] = logits[k, lo : len(inputs[i].states) - 1]
                else:
                    out[i] = logits[k]
    return [x for x in out if x is not None]


@dataclass
class TrainResult:
    model: TorchBranch
    history: list[dict[str, float]]
    best_epoch: int
    seconds: float


def train_branch(
    cfg: BranchConfig,
    base_file: Path,
    train: tuple[Sequence[TrunkInput], Sequence[Any]],
    dev: tuple[Sequence[TrunkInput], Sequence[Any]],
    dev_metric: Callable[[list[FloatArray], Sequence[Any]], float],
    sample_weights: Sequence[float] | None = None,
) -> TrainResult:
    """Train; after each epoch score dev with ``dev_metric(logits, targets)`` (higher is better), keep the best."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = TorchBranch(base_file, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    inputs, targets = train
    steps_per_epoch = math.ceil(len(inputs) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warm = max(1, int(cfg.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    weight = torch.tensor(cfg.class_weights, dtype=torch.float32) if cfg.class_weights else None
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=weight, ignore_index=IGNORE, label_smoothing=cfg.label_smoothing, reduction="none"
    )
    sw = np.asarray(sample_weights, dtype=np.float32) if sample_weights is not None else None
    history: list[dict[str, float]] = []
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    started = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        running = 0.0
        for step, idx in enumerate(_batches(inputs, cfg.batch_size, rng)):
            x, mask = _batch(inputs, idx)
            logits = model(x, mask)
            if cfg.kind == "token":
                y = _token_targets(inputs, targets, idx)
                per = loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
                loss = per.sum() / (y != IGNORE).sum().clamp(min=1)
            else:
                y = torch.tensor([targets[i] for i in idx], dtype=torch.long)
                per = loss_fn(logits, y)
                if sw is not None:
                    w = torch.from_numpy(sw[idx])
                    loss = (per * w).sum() / w.sum()
                else:
                    loss = per.mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad()
            sched.step()
            running += float(loss.detach())
            if step % 200 == 0:
                logger.info("epoch %d step %d/%d loss %.4f", epoch + 1, step, steps_per_epoch, float(loss.detach()))
        score = dev_metric(predict_logits(model, dev[0]), dev[1])
        history.append({"epoch": epoch + 1, "train_loss": running / steps_per_epoch, "dev_metric": score})
        logger.info("epoch %d: train loss %.4f, dev metric %.4f", epoch + 1, running / steps_per_epoch, score)
        if best is None or score > best[0]:
            best = (score, epoch + 1, copy.deepcopy(model.state_dict()))
    assert best is not None
    model.load_state_dict(best[2])
    model.eval()
    return TrainResult(model, history, best[1], time.perf_counter() - started)


def adapter_tensors(model: TorchBranch) -> dict[str, FloatArray]:
    """The trained deltas, named as ``models.branch.merge_layers`` reads them."""
    tensors: dict[str, FloatArray] = {}
    for j, layer in enumerate(model.layers):
        for module, short in LINEARS.items():
            lora = _get(layer, module)
            assert isinstance(lora, LoRALinear)
            tensors[f"{j}.{short}.lora_a"] = lora.lora_a.detach().numpy().astype(np.float32)
            tensors[f"{j}.{short}.lora_b"] = lora.lora_b.detach().numpy().astype(np.float32)
        for module, short in LAYER_NORMS.items():
            norm = _get(layer, module)
            assert isinstance(norm, torch.nn.LayerNorm)
            tensors[f"{j}.{short}.weight"] = norm.weight.detach().numpy().astype(np.float32)
            tensors[f"{j}.{short}.bias"] = norm.bias.detach().numpy().astype(np.float32)
    tensors["out.weight"] = model.out.weight.detach().numpy().astype(np.float32)
    tensors["out.bias"] = model.out.bias.detach().numpy().astype(np.float32)
    return {k: np.ascontiguousarray(v) for k, v in tensors.items()}


def save_branch(
    model: TorchBranch, directory: Path, temperature: float, base_sha256: str, extra: dict[str, Any] | None = None
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    cfg = model.cfg
    save_file(adapter_tensors(model), str(directory / ADAPTER_FILE))
    config = {
        "kind": cfg.kind,
        "labels": list(cfg.labels),
        "first_layer": model.first,
        "n_layers": cfg.n_layers,
        "lora_rank": cfg.lora_rank,
        "lora_alpha": cfg.lora_alpha,
        "temperature": temperature,
        "base": {"file": BRANCH_BASE_FILE, "sha256": base_sha256},
        "training": {k: v for k, v in asdict(cfg).items() if k not in ("labels", "kind", "extra")},
        **cfg.extra,
        **(extra or {}),
    }
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False, sort_keys=True, default=str))
    return directory


def load_torch_branch(directory: Path, base_file: Path) -> TorchBranch:
    """A saved branch back in PyTorch (the plain-PyTorch reference of the speed benchmark, parity tests)."""
    config = json.loads((directory / CONFIG_FILE).read_text())
    training = config.get("training", {})
    cfg = BranchConfig(
        kind=config["kind"],
        labels=tuple(config["labels"]),
        n_layers=int(config["n_layers"]),
        lora_rank=int(config["lora_rank"]),
        lora_alpha=float(config["lora_alpha"]),
        seed=int(training.get("seed", 13)),
    )
    model = TorchBranch(base_file, cfg)
    tensors = load_file(str(directory / ADAPTER_FILE))
    with torch.no_grad():
        for j, layer in enumerate(model.layers):
            for module, short in LINEARS.items():
                lora = _get(layer, module)
                assert isinstance(lora, LoRALinear)
                lora.lora_a.copy_(torch.from_numpy(tensors[f"{j}.{short}.lora_a"]))
                lora.lora_b.copy_(torch.from_numpy(tensors[f"{j}.{short}.lora_b"]))
            for module, short in LAYER_NORMS.items():
                norm = _get(layer, module)
                assert isinstance(norm, torch.nn.LayerNorm)
                norm.weight.copy_(torch.from_numpy(tensors[f"{j}.{short}.weight"]))
                norm.bias.copy_(torch.from_numpy(tensors[f"{j}.{short}.bias"]))
        model.out.weight.copy_(torch.from_numpy(tensors["out.weight"]))
        model.out.bias.copy_(torch.from_numpy(tensors["out.bias"]))
    model.eval()
    return model
