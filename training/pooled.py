"""Fitting pooled heads (``models/pooled.py``) on cached encoder features, with source-balanced weights.

The trunk is frozen, so a head trains in seconds on 2 cores: cheap enough to refit once per left-out
source (the leave-one-source-out tables) and once per candidate recipe.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from models.heads import FloatArray
from models.pooled import PooledHead


@dataclass(frozen=True)
class HeadConfig:
    hidden: int = 0  # 0: a linear (logistic) head; > 0: one GELU hidden layer of that width
    epochs: int = 30
    lr: float = 3e-3
    weight_decay: float = 1e-3
    dropout: float = 0.1
    batch_size: int = 256
    label_smoothing: float = 0.0
    seed: int = 13
    extra: dict[str, object] = field(default_factory=dict)


def source_weights(
    sources: Sequence[str], labels: Sequence[int], class_balance: bool = True
) -> npt.NDArray[np.float32]:
    """Sample weights giving every source the same total weight (and, within it, every class if asked).

    Without them the largest source sets the decision boundary and its class prior; with them no
    source can dominate, so what is learned must hold across sources. Mean weight is 1.
    """
    per_source = Counter(sources)
    per_cell = Counter(zip(sources, labels, strict=True))
    classes_in = Counter(s for s, _ in per_cell)
    w = np.array(
        [
            1.0 / (classes_in[s] * per_cell[(s, y)]) if class_balance else 1.0 / per_source[s]
            for s, y in zip(sources, labels, strict=True)
        ],
        dtype=np.float64,
    )
    return (w * len(w) / w.sum()).astype(np.float32)


def source_label_space(sources: Sequence[str], labels: Sequence[int], n_classes: int) -> npt.NDArray[np.bool_]:
    """``(n, n_classes)``: for each example, the classes its source supplies among the rows given.

    A source that labels only some classes (reviews: negative / positive, never neutral) says nothing
    about the others: its texts were chosen to be polar, not found to be. Scored against every class,
    its style would teach "texts like these are never neutral", which is the source, not the sentiment.
    """
    space: dict[str, set[int]] = {}
    for s, y in zip(sources, labels, strict=True):
        space.setdefault(s, set()).add(int(y))
    mask = np.zeros((len(labels), n_classes), dtype=bool)
    for i, s in enumerate(sources):
        mask[i, sorted(space[s])] = True
    return mask


def fit_head(
    name: str,
    labels: tuple[str, ...],
    x: FloatArray,
    y: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float32],
    cfg: HeadConfig,
    config: dict[str, object] | None = None,
    label_mask: npt.NDArray[np.bool_] | None = None,
) -> PooledHead:
    """Train standardise -> [hidden] -> logits with weighted cross-entropy (AdamW); temperature 1.

    ``label_mask`` (``(n, classes)``, see :func:`source_label_space`): each example's cross-entropy is taken
    over the classes its row allows (a softmax over those alone), so a two-class source moves the boundary
    between its two classes and leaves the others' to the sources that label them.
    """
    import torch

    if label_mask is not None and cfg.label_smoothing:
        raise ValueError("label smoothing would put weight on the classes label_mask excludes")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    mean = x.mean(axis=0).astype(np.float32)
    scale = (x.std(axis=0) + 1e-6).astype(np.float32)
    xt = torch.from_numpy((x - mean) / scale)
    yt = torch.from_numpy(y.astype(np.int64))
    wt = torch.from_numpy(weights.astype(np.float32))
    allowed = np.ones((len(y), len(labels)), bool) if label_mask is None else label_mask
    mt = torch.from_numpy(np.where(allowed, 0.0, -1e4).astype(np.float32))  # log of the mask, finite
    dims = [x.shape[1], *([cfg.hidden] if cfg.hidden else []), len(labels)]
    mods: list[torch.nn.Module] = [torch.nn.Dropout(cfg.dropout)]
    for i in range(len(dims) - 1):
        mods.append(torch.nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            mods += [torch.nn.GELU(approximate="tanh"), torch.nn.Dropout(cfg.dropout)]
    net = torch.nn.Sequential(*mods)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * int(np.ceil(len(y) / cfg.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(steps, 1))
    loss_fn = torch.nn.CrossEntropyLoss(reduction="none", label_smoothing=cfg.label_smoothing)
    net.train()
    for _ in range(cfg.epochs):
        order = torch.from_numpy(rng.permutation(len(y)))
        for start in range(0, len(y), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            loss = (loss_fn(net(xt[idx]) + mt[idx], yt[idx]) * wt[idx]).sum() / wt[idx].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    layers = tuple(
        (m.weight.detach().numpy().T.astype(np.float32).copy(), m.bias.detach().numpy().astype(np.float32).copy())
        for m in linears
    )
    return PooledHead(
        name=name,
        labels=labels,
        mean=mean,
        scale=scale,
        layers=layers,
        temperature=1.0,
        version="unsaved",
        config={"kind": "pooled", **(config or {})},
    )


def with_temperature(head: PooledHead, temperature: float) -> PooledHead:
    return replace(head, temperature=float(temperature))
