"""Fitting the token head (``models.entities.token_head``) on cached token states, with torch on the CPU.

The network is the served one: token states centred and projected onto their first ``dim`` principal
components (fitted here on a sample of the training tokens, NumPy SVD), a window of [prev | token |
next] projected states -> Linear(hidden) -> GELU (tanh form, as NumPy serves it) -> dropout ->
Linear(tags); cross-entropy per token, AdamW with a one-cycle schedule, a fixed number of epochs and a
fixed seed. The neighbours are gathered per batch from one (tokens, dim) array, so the windowed
input is never materialised. The projection keeps training affordable on 2 shared cores (the first
layer reads 3 x 128 inputs instead of 3 x 768).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.entities.token_head import TokenHead

F16 = npt.NDArray[np.float16]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class HeadConfig:
    dim: int = 128  # principal components kept per token
    hidden: int = 192
    epochs: int = 2
    lr: float = 2e-3
    weight_decay: float = 1e-4
    dropout: float = 0.2
    batch: int = 1024
    pca_sample: int = 30000
    seed: int = 13


@dataclass(frozen=True)
class Fitted:
    mean: F32
    proj: F32
    w1: F32
    b1: F32
    w2: F32
    b2: F32
    seconds: float

    def head(self, labels: Sequence[str], temperature: float = 1.0) -> TokenHead:
        return TokenHead(self.mean, self.proj, self.w1, self.b1, self.w2, self.b2, tuple(labels), temperature, {})


def _neighbours(lengths: Sequence[int]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Index of the previous and next token of each token (-1 past a sentence edge)."""
    total = int(sum(lengths))
    prev = np.arange(total, dtype=np.int64) - 1
    nxt = np.arange(total, dtype=np.int64) + 1
    start = 0
    for n in lengths:
        if n:
            prev[start] = -1
            nxt[start + n - 1] = -1
        start += n
    return prev, nxt


def principal_components(x: F16, dim: int, sample: int, rng: np.random.Generator) -> tuple[F32, F32]:
    """Mean and the first ``dim`` principal directions (D, dim) of a sample of the rows of ``x``."""
    rows = x[rng.choice(len(x), size=min(sample, len(x)), replace=False)].astype(np.float32)
    mean = rows.mean(axis=0)
    _, _, vt = np.linalg.svd(rows - mean, full_matrices=False)
    return mean.astype(np.float32), np.ascontiguousarray(vt[:dim].T, dtype=np.float32)


def fit(states: Sequence[F16], tags: Sequence[Sequence[int]], n_labels: int, cfg: HeadConfig = HeadConfig()) -> Fitted:
    """Train on sentences (``states[i]``: (n_i, D) token states, ``tags[i]``: n_i tag ids)."""
    import torch

    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    lengths = [len(t) for t in tags]
    x_all = np.concatenate([s[: len(t)] for s, t in zip(states, tags, strict=True)])
    mean, proj = principal_components(x_all, cfg.dim, cfg.pca_sample, rng)
    reduced = np.zeros((len(x_all) + 1, cfg.dim), dtype=np.float32)  # last row: zeros, the "-1" neighbour
    for lo in range(0, len(x_all), 65536):
        chunk = x_all[lo : lo + 65536].astype(np.float32)
        reduced[lo : lo + len(chunk)] = (chunk - mean) @ proj
    y_all = torch.from_numpy(np.concatenate([np.asarray(t, dtype=np.int64) for t in tags]))
    prev, nxt = _neighbours(lengths)
    x = torch.from_numpy(reduced)
    prev_t, next_t = torch.from_numpy(prev), torch.from_numpy(nxt)
    model = torch.nn.Sequential(
        torch.nn.Linear(3 * cfg.dim, cfg.hidden),
        torch.nn.GELU(approximate="tanh"),
        torch.nn.Dropout(cfg.dropout),
        torch.nn.Linear(cfg.hidden, n_labels),
    )
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = len(y_all)
    steps = cfg.epochs * ((n + cfg.batch - 1) // cfg.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    for _ in range(cfg.epochs):
        order = torch.from_numpy(rng.permutation(n))
        for lo in range(0, n, cfg.batch):
            idx = order[lo : lo + cfg.batch]
            xb = torch.cat([x[prev_t[idx]], x[idx], x[next_t[idx]]], dim=1)
            loss = loss_fn(model(xb), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    first, second = model[0], model[3]
    return Fitted(
        mean,
        proj,
        first.weight.detach().numpy().T.copy(),
        first.bias.detach().numpy().copy(),
        second.weight.detach().numpy().T.copy(),
        second.bias.detach().numpy().copy(),
        time.perf_counter() - started,
    )
