"""Viterbi decoding compiled with numba: the two tag decoders of the entity stage.

Both of the stage's sequence taggers end in a Viterbi walk over per-token scores: LAC's CRF (57 tags, its
own transition matrix) and the token head's constrained BIO decode (:mod:`models.entities.bio`). Written
as a NumPy loop over tokens, each step costs a few NumPy calls on a (tags x tags) matrix, about 13 us for
LAC: 4 ms of a 300-character message's 19 ms entity stage went to walking LAC's lattice in Python. The
same loop compiled (numba, already installed with UMAP) takes microseconds.

The result is the same path, bit for bit: the arithmetic is the same float32 additions in the same order,
and ties go to the lowest tag index as :func:`numpy.argmax` does (``tests/test_viterbi.py`` compares both
on real messages). Compiled on first use; :func:`warm_up` does it at start-up, not on a request.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@njit(cache=True, nogil=True)  # type: ignore[misc]
def _walk(emissions: FloatArray, start: FloatArray, transitions: FloatArray) -> IntArray:  # pragma: no cover - compiled
    steps, tags = emissions.shape
    path = np.zeros(steps, dtype=np.int64)
    if steps == 0:
        return path
    score = emissions[0] + start
    back = np.zeros((steps, tags), dtype=np.int64)
    best = np.empty(tags, dtype=np.float32)
    for t in range(1, steps):
        # i outer, j inner: rows of ``transitions`` are read in order, and the inner loop vectorises
        for j in range(tags):
            best[j] = score[0] + transitions[0, j]
            back[t, j] = 0
        for i in range(1, tags):
            for j in range(tags):
                s = score[i] + transitions[i, j]
                if s > best[j]:  # strict: the first maximum wins, as numpy.argmax
                    best[j] = s
                    back[t, j] = i
        for j in range(tags):
            score[j] = best[j] + emissions[t, j]
    last = 0
    for j in range(1, tags):
        if score[j] > score[last]:
            last = j
    path[steps - 1] = last
    for t in range(steps - 1, 0, -1):
        last = back[t, last]
        path[t - 1] = last
    return path


def viterbi(emissions: FloatArray, transitions: FloatArray, start: FloatArray | None = None) -> list[int]:
    """Best tag sequence for ``emissions`` (T, C) under additive ``transitions`` (C, C) and ``start`` (C)."""
    scores = np.ascontiguousarray(emissions, dtype=np.float32)
    pair = np.ascontiguousarray(transitions, dtype=np.float32)
    first = np.zeros(scores.shape[1], np.float32) if start is None else np.ascontiguousarray(start, np.float32)
    return [int(t) for t in _walk(scores, first, pair)]


def warm_up() -> None:
    """Compile the walk now (about a second), so that the first request does not pay for it."""
    viterbi(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32))
