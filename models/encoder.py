"""The shared encoder: one ONNX Runtime pass per message feeds every task head.

Model contract (as in infinity's ``transformer/abstract.py``): ``preprocess`` turns
normalised texts into token windows (int64 ids), ``forward`` runs one ``session.run``
over a padded batch of windows, ``postprocess`` pools the states back per message.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from models.ort_options import cpu_session, shared_initializers

Precision = Literal["fp32", "int8"]
FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

PREFIX = "query: "
#: How the int8 graph is run (``w1``: one window per call). Part of ``OnnxEncoder.version``.
INT8_RUNTIME = "w1"


@dataclass(frozen=True)
class Tokenized:
    """One message as token windows. Offsets are into the normalised text (no prefix)."""

    windows: tuple[tuple[int, ...], ...]
    content_offsets: tuple[tuple[int, int], ...]
    prefix_len: int
    truncated: bool

    @property
    def n_tokens(self) -> int:
        return len(self.content_offsets)


@dataclass(frozen=True)
class EncoderOutput:
    """Everything the heads need from one message's encoder pass."""

    mean_8: FloatArray  # (H,) mean of layer-8 token states (content + specials)
    mean_last: FloatArray  # (H,) mean of last-layer token states
    embedding: FloatArray  # (H,) L2-normalised mean_last, as sentence-transformers/e5
    offsets: tuple[tuple[int, int], ...] = field(default=())  # per content token
    truncated: bool = False
    #: Full layer-8 states of each token window (<s>, prefix, content, </s>): the input of task branches.
    windows_8: tuple[FloatArray, ...] = field(default=())
    #: Full last-layer states of each token window: with ``windows_8``, what span (sentence) features pool.
    windows_last: tuple[FloatArray, ...] = field(default=())
    prefix_len: int = 0


class Encoder(Protocol):
    """What the batcher and pipeline need; implemented by ONNX and by the test fake."""

    name: str
    version: str
    hidden_size: int

    def preprocess(self, texts: list[str]) -> list[Tokenized]: ...

    def forward(self, items: list[Tokenized]) -> list[EncoderOutput]: ...


class OnnxEncoder:
    """multilingual-e5-small as built by ``tousu build``, run by ONNX Runtime."""

    def __init__(
        self,
        artifact: Path,
        precision: Precision = "int8",
        threads: int = 0,
        max_tokens: int = 256,
        max_windows: int = 16,
        streams: int = 0,
    ) -> None:
        from tokenizers import Tokenizer

        manifest = json.loads((artifact / "manifest.json").read_text())
        self.name = str(manifest["name"])
        self.precision = precision
        model_file = artifact / ("model.int8.onnx" if precision == "int8" else "model.fp32.onnx")
        files = manifest.get("files", {})
        digest = files.get(model_file.name, {}).get("sha256", str(manifest["version"]))
        # The version names what decides the outputs: the graph and how it is run (int8: one window per
        # call, see ``_run``). Answer-cache keys and the training feature caches are keyed by it.
        self.version = f"{precision}-{digest[:12]}" + (f"-{INT8_RUNTIME}" if precision == "int8" else "")
        self.hidden_size = int(manifest["hidden_size"])
        self.max_tokens = max_tokens
        self.max_windows = max_windows
        self.tokenizer = Tokenizer.from_file(str(artifact / "tokenizer.json"))
        self.bos = self._special("<s>")
        self.eos = self._special("</s>")
        self.pad = self._special("<pad>")
        # int8 runs one window per call (see ``_run``); the windows of a batch then run as ``streams``
        # concurrent calls (ONNX Runtime releases the GIL and ``run`` is thread-safe). The answers do not
        # change: each window is still computed alone, and the integer GEMMs give the same bits whatever
        # thread computes them (``tests/test_encoder_streams.py``).
        self.streams = (streams or os.cpu_count() or 1) if precision == "int8" else 1
        self._pool = ThreadPoolExecutor(self.streams, thread_name_prefix="tousu-encoder") if self.streams > 1 else None
        # Two sessions of the one graph, sharing its embedding table (207 MB, held once): ``session`` runs a
        # window while no other encoder call is in progress (a lone message), its threads spinning between
        # operators; ``stream_session`` runs everything else, its threads sleeping between operators: the
        # concurrent windows of a batch, and the calls of two batcher lanes at once (spinning threads of
        # overlapping runs fight for the cores). Both give the same bits.
        two = self._pool is not None
        self._initializers = shared_initializers(model_file) if two else {}
        self.session = cpu_session(model_file, threads, spin=two, initializers=self._initializers)
        self.stream_session = cpu_session(model_file, threads, initializers=self._initializers) if two else self.session
        self._calls = 0  # encoder calls in progress (``forward``), under ``_calls_lock``
        self._calls_lock = threading.Lock()

    def _special(self, token: str) -> int:
        idx = self.tokenizer.token_to_id(token)
        if idx is None:
            raise ValueError(f"tokenizer has no {token}")
        return int(idx)

    @classmethod
    def load(cls, artifact: Path, precision: Precision = "int8", threads: int = 0) -> OnnxEncoder:
        return cls(artifact, precision=precision, threads=threads)

    def clear_caches(self) -> bool:
        """Empty the tokenizer's word cache (False where this tokenizers release has no way to).

        The Unigram model caches the pieces of every pre-tokenized word it has seen, up to 10,000 words, and a
        Chinese "word" there is a whole run of text between spaces: tokenizing 18,000 distinct reviews in six
        batches grew a process by 33.6 MB, 10.6 MB once the cache was emptied. The service empties it with
        the allocators' trim after heavy work; the answers do not change, the next messages only re-tokenize
        their words.
        """
        clear = getattr(self.tokenizer.model, "_clear_cache", None)  # tokenizers >= 0.20
        if clear is None:
            return False
        clear()
        return True

    def close(self) -> None:
        """Stop the window threads (the session itself is freed with the object)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- contract ------------------------------------------------------------
    def preprocess(self, texts: list[str]) -> list[Tokenized]:
        encodings = self.tokenizer.encode_batch([PREFIX + t for t in texts], add_special_tokens=False)
        out: list[Tokenized] = []
        plen = len(PREFIX)
        width = self.max_tokens - 2
        for enc in encodings:
            ids = enc.ids
            offs = enc.offsets
            n_prefix = 0
            while n_prefix < len(ids) and offs[n_prefix][1] <= plen:
                n_prefix += 1
            prefix_ids = tuple(ids[:n_prefix])
            content = ids[n_prefix:]
            content_offsets = [(max(0, s - plen), e - plen) for s, e in offs[n_prefix:]]
            chunk = width - len(prefix_ids)
            limit = chunk * self.max_windows
            truncated = len(content) > limit
            content = content[:limit]
            content_offsets = content_offsets[:limit]
            windows = tuple(
                (self.bos, *prefix_ids, *content[i : i + chunk], self.eos)
                for i in range(0, max(len(content), 1), chunk)
            )
            out.append(Tokenized(windows, tuple(content_offsets), len(prefix_ids), truncated))
        return out

    def forward(self, items: list[Tokenized]) -> list[EncoderOutput]:
        rows = [w for item in items for w in item.windows]
        with self._calls_lock:
            self._calls += 1
            alone = self._calls == 1
        try:
            h8, last = self._run(rows, self.session if alone and len(rows) == 1 else self.stream_session)
        finally:
            with self._calls_lock:
                self._calls -= 1
        return _pool(items, rows, h8, last)

    def embed(self, texts: list[str]) -> FloatArray:
        """Sentence embeddings (L2-normalised mean pooling), e5 ``query:`` style."""
        return np.stack([o.embedding for o in self.forward(self.preprocess(texts))])

    def _run(self, rows: list[tuple[int, ...]], session: Any = None) -> tuple[FloatArray, FloatArray]:
        """Token states of layer 8 and of the last layer, (rows, max length, H), zero past each row's end.

        The int8 graph quantises activations dynamically with one scale per tensor, so in a padded
        batch every row would be quantised with its neighbours' range: a message's answer would depend
        on what else was in its micro-batch (measured: sentiment probabilities moved by up to 0.12).
        int8 therefore runs one window per call (still faster than batched fp32 on this CPU); fp32 is
        batch-invariant and runs padded batches. ``session``: which of the two runs it (default: the
        sleeping ``stream_session``, safe beside any other call).
        """
        session = session or self.stream_session
        if self.precision == "int8" and len(rows) > 1:
            if self._pool is None:
                singles = [self._run([row], session) for row in rows]
            else:  # longest windows first, so the streams finish together
                order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
                runs = self._pool.map(lambda i: self._run([rows[i]], session), order)
                done = dict(zip(order, runs, strict=True))
                singles = [done[i] for i in range(len(rows))]
            length = max(len(r) for r in rows)
            h8 = np.zeros((len(rows), length, self.hidden_size), dtype=np.float32)
            last = np.zeros_like(h8)
            for i, (row, (a, b)) in enumerate(zip(rows, singles, strict=True)):
                h8[i, : len(row)] = a[0]
                last[i, : len(row)] = b[0]
            return h8, last
        length = max(len(r) for r in rows)
        ids = np.full((len(rows), length), self.pad, dtype=np.int64)
        mask = np.zeros((len(rows), length), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        h8, last = session.run(None, {"input_ids": ids, "attention_mask": mask})
        return np.asarray(h8, dtype=np.float32), np.asarray(last, dtype=np.float32)


def _pool(items: list[Tokenized], rows: list[tuple[int, ...]], h8: FloatArray, last: FloatArray) -> list[EncoderOutput]:
    """Mean-pool each message over all its windows (weighted by window length)."""
    out: list[EncoderOutput] = []
    r = 0
    for item in items:
        sum8 = np.zeros(h8.shape[-1], dtype=np.float32)
        sum_last = np.zeros(h8.shape[-1], dtype=np.float32)
        windows_8: list[FloatArray] = []
        windows_last: list[FloatArray] = []
        count = 0
        for window in item.windows:
            n = len(window)
            windows_8.append(h8[r, :n])
            windows_last.append(last[r, :n])
            sum8 += h8[r, :n].sum(axis=0)
            sum_last += last[r, :n].sum(axis=0)
            count += n
            r += 1
        mean8 = (sum8 / count).astype(np.float32)
        mean_last = (sum_last / count).astype(np.float32)
        norm = float(np.linalg.norm(mean_last)) or 1.0
        out.append(
            EncoderOutput(
                mean_8=mean8,
                mean_last=mean_last,
                embedding=(mean_last / norm).astype(np.float32),
                offsets=item.content_offsets,
                truncated=item.truncated,
                windows_8=tuple(windows_8),
                windows_last=tuple(windows_last),
                prefix_len=item.prefix_len,
            )
        )
    assert r == len(rows), "pooling consumed a different number of rows than were encoded"
    return out
