"""Array helpers shared by the heads (task branches, the topic and category layers) and training."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


def softmax(logits: FloatArray) -> FloatArray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: FloatArray = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    return out


def rowwise_matmul(x: FloatArray, w: FloatArray) -> FloatArray:
    """``x @ w`` one row at a time, so a row's result does not depend on the rows beside it.

    BLAS picks other kernels (and summation orders) for a matrix than for a single vector: on an AVX2-only
    host, ``sgemm`` over a batch of three differed from three ``sgemv`` calls in the last bit. Answers must
    be the same alone, in any batch and from the cache; a head's matrices are small, so this costs little.
    """
    x2 = np.asarray(x, dtype=np.float32).reshape(int(np.prod(x.shape[:-1])), x.shape[-1])
    out = np.empty((x2.shape[0], w.shape[1]), dtype=np.float32)
    for i in range(x2.shape[0]):
        out[i] = x2[i] @ w
    return out.reshape(*x.shape[:-1], w.shape[1])
