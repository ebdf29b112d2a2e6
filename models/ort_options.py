"""ONNX Runtime session options shared by every session the service opens.

The service runs several small sessions one after another for each batch: the encoder, the
task branches and LAC. By default each session's intra-op threads keep spinning after a run,
so on a 2-core machine the next session's threads fight the previous session's spinners for
the same cores. Measured in-process on a 300-character message: 183 ms with spinning, 67 ms
without (encoder 113 -> 30 ms, each branch 27 -> 11 ms); short messages 15 -> 11 ms
(``tousu evaluate speed`` records the per-phase breakdown).

Memory: every session allocates from one CPU arena registered in ONNX Runtime's environment, grown by
what is asked (not one arena per session grown in powers of two), and the service caps glibc's malloc
arenas (:func:`limit_malloc_arenas`) and trims them after heavy work (:func:`release_memory`):
``docs/operations.md`` has the measurements.
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
    _register_shared_cpu_arena()
    options.add_session_config_entry("session.use_env_allocators", "1")
    return options


@functools.cache
def _register_shared_cpu_arena() -> None:
    """One CPU arena in ONNX Runtime's environment for every session of the process, grown as requested."""
    import onnxruntime as ort

    info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(info, ort.OrtArenaCfg({"arena_extend_strategy": 1}))  # kSameAsRequested


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


#: glibc ``mallopt`` parameter: the most malloc arenas threads share.
M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Let the process's threads share ``arenas`` glibc malloc arenas instead of up to eight per core.

    Call before the worker threads start. Each arena keeps its own free memory, and a big request's
    per-token states are allocated and freed across the batcher's, the encoder's and the HTTP threads:
    with one arena per thread, memory freed in one is not reused by another and stays resident
    (``MALLOC_ARENA_MAX=2`` is the usual cure). False where there is no glibc.
    """
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


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
