"""ONNX Runtime session options shared by every session the service opens.

The service runs several small sessions one after another for each batch: the encoder, the
task branches and LAC. By default each session's intra-op threads keep spinning after a run,
so on a 2-core machine the next session's threads fight the previous session's spinners for
the same cores. Measured in-process on a 300-character message: 183 ms with spinning, 67 ms
without (encoder 113 -> 30 ms, each branch 27 -> 11 ms); short messages 15 -> 11 ms
(``tousu evaluate speed`` records the per-phase breakdown).
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path
from typing import Any


def session_options(threads: int = 0) -> Any:
    """``SessionOptions`` with ``threads`` intra-op threads (0 = one per core), sequential, no spinning."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def cpu_session(model: str | bytes | Path, threads: int = 0) -> Any:
    """An ``InferenceSession`` on the CPU provider with :func:`session_options`."""
    import onnxruntime as ort

    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, session_options(threads), providers=["CPUExecutionProvider"])


@functools.cache
def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, macOS): nothing to trim
        return None


def release_memory() -> bool:
    """Give freed heap memory back to the operating system (glibc ``malloc_trim``).

    A big request allocates per-token states of thousands of windows; once its answers are sent the
    memory is free but glibc keeps it in its arenas, so the process's RSS stays at the peak. The
    batcher calls this when its queue runs empty after heavy work. False where there is no glibc.
    """
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return False
    return bool(libc.malloc_trim(0))
