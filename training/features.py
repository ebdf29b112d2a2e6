"""Encoder features for training, computed once and cached on disk by text hash.

The heads are trained on exactly what the served encoder produces, so features come
from the same ONNX artifact and precision the service runs. Cached per encoder version:
refits and other recipes reuse them (BERTopic refits included).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.encoder import OnnxEncoder, Precision

logger = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float32]


def cache_root() -> Path:
    return Path(os.environ.get("TOUSU_CACHE_DIR", Path.home() / ".cache" / "tousu"))


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class PooledFeatureCache:
    """Maps text -> (mean_8, mean_last) for one encoder version, stored as npz shards."""

    def __init__(self, encoder: OnnxEncoder, root: Path | None = None) -> None:
        self.encoder = encoder
        self.dir = (root or cache_root()) / "features" / f"{encoder.name}-{encoder.version}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._rows: dict[str, FloatArray] = {}
        for shard in sorted(self.dir.glob("shard-*.npz")):
            with np.load(shard) as data:
                for key, row in zip(data["keys"], data["rows"], strict=True):
                    self._rows[str(key)] = row

    def get(self, texts: list[str], batch_size: int = 16, progress: bool = True) -> FloatArray:
        """Return (N, 2H) features [mean_8 | mean_last], computing what is missing."""
        keys = [text_key(t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in self._rows}.items())
        if missing:
            self._compute(missing, batch_size, progress)
        return np.stack([self._rows[k] for k in keys])

    def embeddings(self, texts: list[str], batch_size: int = 16, progress: bool = True) -> FloatArray:
        """Return (N, H) e5 sentence embeddings, computed as ``EncoderOutput.embedding`` is.

        The served embedding is the L2-normalised ``mean_last``, which this cache already
        holds, so topic models (BERTopic refits) share the encoding work of every recipe.
        """
        hidden = self.encoder.hidden_size
        if not texts:
            return np.zeros((0, hidden), np.float32)
        rows = self.get(texts, batch_size, progress)[:, hidden:]
        return np.stack([_l2_normalise(row) for row in rows])

    def _compute(self, missing: list[tuple[str, str]], batch_size: int, progress: bool) -> None:
        from tqdm import tqdm

        from models.text import normalize as norm

        # Sort by length so that padded batches waste little compute.
        missing.sort(key=lambda kv: len(kv[1]))
        new_keys: list[str] = []
        new_rows: list[FloatArray] = []
        bar = tqdm(total=len(missing), disable=not progress, desc="encoding", unit="text")
        for i in range(0, len(missing), batch_size):
            chunk = missing[i : i + batch_size]
            outs = self.encoder.forward(self.encoder.preprocess([norm(t).text for _, t in chunk]))
            for (key, _), out in zip(chunk, outs, strict=True):
                row = np.concatenate([out.mean_8, out.mean_last]).astype(np.float32)
                self._rows[key] = row
                new_keys.append(key)
                new_rows.append(row)
            bar.update(len(chunk))
            if len(new_keys) >= 2000:
                self._flush(new_keys, new_rows)
                new_keys, new_rows = [], []
        bar.close()
        if new_keys:
            self._flush(new_keys, new_rows)

    def _flush(self, keys: list[str], rows: list[FloatArray]) -> None:
        # Unique names: several recipes may fill the same cache concurrently.
        name = f"shard-{time.time_ns()}-{os.getpid()}.npz"
        tmp = self.dir / f".{name}.tmp.npz"
        np.savez(tmp, keys=np.array(keys), rows=np.stack(rows))
        tmp.rename(self.dir / name)


def _l2_normalise(row: FloatArray) -> FloatArray:
    # The same float32 operations as models.encoder._pool.
    norm = float(np.linalg.norm(row)) or 1.0
    return (row / norm).astype(np.float32)


def load_encoder(
    artifacts: Path, precision: Precision = "int8", threads: int = 0, max_tokens: int = 256
) -> OnnxEncoder:
    return OnnxEncoder(artifacts / "e5-small", precision=precision, threads=threads, max_tokens=max_tokens)
