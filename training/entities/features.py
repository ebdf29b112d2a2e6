"""Token features of the NER corpus from the SERVED encoder pass, cached as float16.

Each sentence goes through ``OnnxEncoder.forward`` exactly as a served message does (int8, one
window per call) and :func:`models.entities.token_head.token_states` takes [layer 8 | last layer]
per content token, so training and serving see the same numbers. The cache lives in
``~/.cache/tousu/ner/<encoder version>/`` (``TOUSU_CACHE_DIR`` moves it), one ``.npz`` per source
and split keyed by a hash of the texts: the encoder pass is the slow part (about 100 sentences/s on
2 cores), training the head on cached features takes a minute or two.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.encoder import OnnxEncoder
from models.entities.token_head import token_states
from models.text import normalize

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Encoded:
    """One split of one source: token states of every sentence, concatenated."""

    states: npt.NDArray[np.float16]  # (total tokens, 2H)
    lengths: npt.NDArray[np.int64]  # tokens per sentence
    offsets: list[list[tuple[int, int]]]  # per sentence, per token, into the normalised text
    normalized: list[str]
    seconds: float  # encoder time spent now (0 when read from the cache)

    def sentence(self, i: int) -> npt.NDArray[np.float16]:
        lo = int(self.lengths[:i].sum())
        return self.states[lo : lo + int(self.lengths[i])]

    def split_states(self) -> list[npt.NDArray[np.float16]]:
        bounds = np.concatenate([[0], np.cumsum(self.lengths)])
        return [self.states[a:b] for a, b in itertools.pairwise(bounds)]


def cache_dir(encoder: OnnxEncoder) -> Path:
    root = Path(os.environ.get("TOUSU_CACHE_DIR", Path.home() / ".cache" / "tousu"))
    return root / "ner" / encoder.version


def encode(encoder: OnnxEncoder, texts: Sequence[str], name: str, batch: int = 32) -> Encoded:
    """Token states of ``texts`` (cached under ``name`` + a hash of the texts)."""
    key = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:16]
    path = cache_dir(encoder) / f"{name}-{len(texts)}-{key}.npz"
    norms = [normalize(t).text for t in texts]
    if path.is_file():
        with np.load(path) as data:
            states = data["states"]
            lengths = data["lengths"]
            flat = data["offsets"]
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        offsets = [[(int(a), int(b)) for a, b in flat[lo:hi]] for lo, hi in itertools.pairwise(bounds)]
        return Encoded(states, lengths, offsets, norms, 0.0)
    started = time.perf_counter()
    parts: list[npt.NDArray[np.float16]] = []
    offsets = []
    for lo in range(0, len(norms), batch):
        for out in encoder.forward(encoder.preprocess(norms[lo : lo + batch])):
            parts.append(token_states(out).astype(np.float16))
            offsets.append(list(out.offsets))
        if lo % (batch * 20) == 0:
            logger.info("%s: %d / %d sentences", name, lo + batch, len(norms))
    seconds = time.perf_counter() - started
    lengths = np.array([len(p) for p in parts], dtype=np.int64)
    states = np.concatenate(parts) if parts else np.zeros((0, 2 * encoder.hidden_size), dtype=np.float16)
    flat_offsets = np.array([o for sent in offsets for o in sent], dtype=np.int32).reshape(-1, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, states=states, lengths=lengths, offsets=flat_offsets)
    tmp.replace(path)
    logger.info("%s: %d sentences in %.0f s (%.0f/s)", name, len(texts), seconds, len(texts) / max(seconds, 1e-9))
    return Encoded(states, lengths, offsets, norms, seconds)
