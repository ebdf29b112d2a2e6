"""A cheaper trunk distilled from the served one: its first 8 layers, then 1-2 trained layers in place of 4.

The served heads read two things from the trunk: layer 8 (``mean_8``, the token head's ``windows_8``) and
the last layer (``mean_last``, the e5 embedding that topics and categories read). Cutting the trunk after
layer 8 keeps the first exactly and loses the second (``tousu evaluate trunk``: BANKING77 clustering
NMI 0.71 -> 0.42). This student keeps layers 0-7 as they are and replaces layers 8-11 with ``len(inits)``
layers, each initialised from a teacher layer (``inits``: 11 for one layer, 10 and 11 for two) and trained
to map the served int8 layer-8 states to the served int8 last-layer states of the same window:

- loss: token-state MSE (scaled by the targets' mean square) + 10 x (1 - cosine) of the window means
  (the embedding every sentence-level stage reads);
- data: unlabelled text of sources no trunk evaluation scores (NER sets, car opinions, sarcasm and irony
  sets; not the sentiment, category or BANKING77 texts), states from the served int8 graph, which is
  also what the student's layers will read at serving time;
- CPU only: 24,000 texts give about 745k tokens; one epoch of one layer takes about 45 s on 2 cores.

Used by ``evaluation/trunk.py`` (the ``student`` rows); nothing here is served.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.encoder import OnnxEncoder
from models.text import normalize
from training import data

KEPT_LAYERS = 8
TEXTS = 24_000
EPOCHS = 4
LEARNING_RATE = 5e-4
BATCH = 64
COSINE_WEIGHT = 10.0
DEV_WINDOWS = 1000


@dataclass(frozen=True)
class States:
    """Served int8 states of every window, concatenated: ``x`` layer 8, ``y`` last layer (float16)."""

    x: npt.NDArray[np.float16]
    y: npt.NDArray[np.float16]
    lengths: npt.NDArray[np.int64]

    @property
    def starts(self) -> npt.NDArray[np.int64]:
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)


def corpus(n: int = TEXTS, seed: int = 0) -> list[str]:
    """``n`` distinct unlabelled texts (Chinese and English) from sources that no trunk evaluation scores."""
    from training.entities import data as ner

    texts: list[str] = []
    texts += list(data.cluener_texts())
    texts += list(data.conll_sentences("train"))
    texts += [t for t, _, _ in data.car_implicit_opinion()]
    texts += [t for t, _, _ in data.tosarcasm()]
    texts += [t for t, _ in data.isarcasmeval()]
    texts += [t for t, _ in data.semeval_irony()]
    texts += [e.text for e in ner.taobao("train")]
    texts += [e.text for e in ner.weibo("train")]
    texts += [e.text for e in ner.resume("train")]
    texts += [e.text for e in ner.dh_msra()]
    unique = sorted({t.strip() for t in texts if len(t.strip()) >= 4})
    random.Random(seed).shuffle(unique)
    return unique[:n]


def teacher_states(encoder: OnnxEncoder, texts: Sequence[str], batch: int = 64) -> States:
    """The served graph's layer-8 and last-layer states of every window of ``texts`` (normalised as served)."""
    xs: list[npt.NDArray[np.float16]] = []
    ys: list[npt.NDArray[np.float16]] = []
    lengths: list[int] = []
    for i in range(0, len(texts), batch):
        items = encoder.preprocess([normalize(t).text for t in texts[i : i + batch]])
        for out in encoder.forward(items):
            for h8, last in zip(out.windows_8, out.windows_last, strict=True):
                xs.append(h8.astype(np.float16))
                ys.append(last.astype(np.float16))
                lengths.append(len(h8))
    return States(np.concatenate(xs), np.concatenate(ys), np.asarray(lengths, dtype=np.int64))


def _layer_weights(hf_dir: Path) -> dict[str, Any]:
    from safetensors.numpy import load_file

    return load_file(str(hf_dir / "model.safetensors"))


def train_top(
    hf_dir: Path,
    states: States,
    inits: Sequence[int] = (10, 11),
    epochs: int = EPOCHS,
    lr: float = LEARNING_RATE,
    seed: int = 0,
) -> tuple[list[dict[str, npt.NDArray[np.float32]]], dict[str, Any]]:
    """Train ``len(inits)`` BERT layers (initialised from the teacher's layers ``inits``) on ``states``.

    Returns each layer's weights (the keys of one ``encoder.layer.N.`` block) and the metrics: held-out
    token MSE (scaled) and window-mean cosine before and after training, and the training time."""
    import torch
    from transformers import BertConfig
    from transformers.models.bert.modeling_bert import BertLayer

    torch.manual_seed(seed)
    config = BertConfig.from_pretrained(str(hf_dir))
    config._attn_implementation = "eager"
    config.hidden_dropout_prob = 0.0
    config.attention_probs_dropout_prob = 0.0
    teacher = _layer_weights(hf_dir)
    layers = torch.nn.ModuleList([BertLayer(config) for _ in inits])
    for layer, init in zip(layers, inits, strict=True):
        prefix = f"encoder.layer.{init}."
        block = {k[len(prefix) :]: torch.from_numpy(v) for k, v in teacher.items() if k.startswith(prefix)}
        layer.load_state_dict(block)

    def forward(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        extended = (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min
        for layer in layers:
            out = layer(h, attention_mask=extended)
            h = out[0] if isinstance(out, tuple) else out
        return h

    starts, lengths = states.starts, states.lengths
    scale = float(np.mean(states.y[:200_000].astype(np.float32) ** 2))

    def batch(ids: npt.NDArray[np.int64]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = int(lengths[ids].max())
        xb = np.zeros((len(ids), width, states.x.shape[1]), np.float32)
        yb = np.zeros_like(xb)
        mb = np.zeros((len(ids), width), np.float32)
        for k, i in enumerate(ids):
            s, n = int(starts[i]), int(lengths[i])
            xb[k, :n] = states.x[s : s + n]
            yb[k, :n] = states.y[s : s + n]
            mb[k, :n] = 1.0
        return torch.from_numpy(xb), torch.from_numpy(yb), torch.from_numpy(mb)

    def losses(ids: npt.NDArray[np.int64]) -> tuple[torch.Tensor, torch.Tensor]:
        xb, yb, mb = batch(ids)
        out = forward(xb, mb)
        token = (((out - yb) ** 2).mean(-1) * mb).sum() / mb.sum() / scale
        count = mb.sum(1, keepdim=True)
        cosine = torch.nn.functional.cosine_similarity(
            (out * mb[..., None]).sum(1) / count, (yb * mb[..., None]).sum(1) / count, dim=-1
        )
        return token, cosine

    order = np.random.default_rng(seed).permutation(len(lengths))
    dev, train = order[:DEV_WINDOWS], order[DEV_WINDOWS:]

    def evaluate() -> dict[str, float]:
        layers.eval()
        tokens, cosines = [], []
        with torch.no_grad():
            for i in range(0, len(dev), 100):
                token, cosine = losses(dev[i : i + 100])
                tokens.append(float(token))
                cosines += cosine.tolist()
        layers.train()
        return {
            "token_mse": round(float(np.mean(tokens)), 4),
            "mean_cosine": round(float(np.mean(cosines)), 5),
            "p5_cosine": round(float(np.percentile(cosines, 5)), 5),
        }

    before = evaluate()
    by_length = train[np.argsort(lengths[train], kind="stable")]  # batches of similar lengths: little padding
    batches = [by_length[i : i + BATCH] for i in range(0, len(by_length), BATCH)]
    total = epochs * len(batches)
    optimiser = torch.optim.AdamW(layers.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / 100) * max(0.0, 1 - step / total)
    )
    rng = np.random.default_rng(seed + 1)
    t0 = time.perf_counter()
    for _ in range(epochs):
        for k in rng.permutation(len(batches)):
            token, cosine = losses(batches[k])
            loss = token + COSINE_WEIGHT * (1 - cosine).mean()
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            schedule.step()
    seconds = time.perf_counter() - t0
    after = evaluate()
    weights = [{k: v.detach().numpy().copy() for k, v in layer.state_dict().items()} for layer in layers]
    metrics = {
        "inits": list(inits),
        "epochs": epochs,
        "lr": lr,
        "windows": len(lengths),
        "tokens": int(lengths.sum()),
        "held_out_before": before,
        "held_out_after": after,
        "train_s": round(seconds, 1),
    }
    return weights, metrics


def write_student(hf_dir: Path, out: Path, top: Sequence[dict[str, npt.NDArray[np.float32]]]) -> None:
    """The teacher's HF model with layers ``KEPT_LAYERS``.. replaced by ``top`` (and its tokenizer files)."""
    import shutil

    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    weights = {
        k: v
        for k, v in _layer_weights(hf_dir).items()
        if not k.startswith("encoder.layer.") or int(k.split(".")[2]) < KEPT_LAYERS
    }
    for n, layer in enumerate(top):
        weights.update({f"encoder.layer.{KEPT_LAYERS + n}.{k}": np.ascontiguousarray(v) for k, v in layer.items()})
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((hf_dir / "config.json").read_text())
    config["num_hidden_layers"] = KEPT_LAYERS + len(top)
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(hf_dir / name, out / name)
