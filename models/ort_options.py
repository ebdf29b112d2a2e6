"""ONNX Runtime session options shared by every session the service opens.

The service runs several small sessions one after another for each batch: the encoder, the
task branches and LAC. By default each session's intra-op threads keep spinning after a run,
so on a 2-core machine the next session's threads fight the previous session's spinners for
the same cores. Measured in-process on a 300-character message: 183 ms with spinning, 67 ms
without (encoder 113 -> 30 ms, each branch 27 -> 11 ms); short messages 15 -> 11 ms
(``tousu evaluate speed`` records the per-phase breakdown). The one exception is the encoder's session for a
lone window (``spin=True``, see :func:`session_options`): its threads spin between the operators of a run
and stop when it ends, so nothing spins between sessions.

Memory: every session allocates from one CPU arena registered in ONNX Runtime's environment, grown by
what is asked (not one arena per session grown in powers of two), and the service caps glibc's malloc
arenas (:func:`limit_malloc_arenas`). After heavy work it hands the arena's unused regions back
(:func:`shrink_arena`: ONNX Runtime's ``memory.enable_memory_arena_shrinkage`` run option) and trims
glibc's arenas (:func:`release_memory` does both): ``docs/operations.md`` has the measurements.
"""

from __future__ import annotations

import ctypes
import functools
import math
from pathlib import Path
from typing import Any


def session_options(threads: int = 0, spin: bool = False) -> Any:
    """``SessionOptions`` with ``threads`` intra-op threads (0 = one per core), sequential.

    ``spin``: the intra-op threads spin between the operators of a run instead of sleeping, and stop when
    the run ends (``session.force_spinning_stop``), so nothing keeps a core busy between runs. Measured on
    one short window (20 tokens, int8 encoder, 2 threads): 4.6 ms sleeping, 3.0-3.5 ms spinning; without
    the stop, the threads went on spinning for ~45 ms of CPU after the run. Only for a session whose runs
    do not overlap (runs sharing the pool while spinning fight for the cores: long batches lost ~15%).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if spin:
        options.add_session_config_entry("session.force_spinning_stop", "1")
    _register_shared_cpu_arena()
    options.add_session_config_entry("session.use_env_allocators", "1")
    return options


@functools.cache
def _register_shared_cpu_arena() -> None:
    """One CPU arena in ONNX Runtime's environment for every session of the process, grown as requested."""
    import onnxruntime as ort

    info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(info, ort.OrtArenaCfg({"arena_extend_strategy": 1}))  # kSameAsRequested


#: ONNX Runtime run option: at the end of the run, free the listed arenas' regions that hold no tensor.
SHRINK_ARENA = "memory.enable_memory_arena_shrinkage"


@functools.cache
def _arena_shrinker() -> tuple[Any, Any]:
    """A one-node session on the shared arena and the run options whose run shrinks that arena."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["y"])],
        "tousu_arena_shrink",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tousu")
    session = cpu_session(model.SerializeToString(), threads=1)
    options = ort.RunOptions()
    options.add_run_config_entry(SHRINK_ARENA, "cpu:0")
    return session, options


def shrink_arena() -> bool:
    """Free the regions of the shared CPU arena that hold no tensor (False: no session has opened it).

    The arena keeps every region it grew, sized for the largest and most concurrent work it has served (a
    maximal batch with short requests beside it on the express lane): ~90 MB free inside it after the
    start-up warm-up, more after big requests. ONNX Runtime shrinks an arena at the end of a run given
    :data:`SHRINK_ARENA`; the arena is shared, so one tiny run of a one-node session shrinks it for every
    session. The next big request grows it again (allocating its regions costs milliseconds); the answers
    do not change.
    """
    if not _register_shared_cpu_arena.cache_info().currsize:
        return False
    import numpy as np

    session, options = _arena_shrinker()
    session.run(None, {"x": np.zeros(1, dtype=np.float32)}, options)
    return True


def cpu_session(
    model: str | bytes | Path, threads: int = 0, spin: bool = False, initializers: dict[str, Any] | None = None
) -> Any:
    """An ``InferenceSession`` on the CPU provider with :func:`session_options`.

    ``initializers``: ``OrtValue`` s that replace the model's initializers of those names without a copy
    (:func:`shared_initializers`), so several sessions of one model hold its big tensors once; they must
    outlive the session.
    """
    import onnxruntime as ort

    options = session_options(threads, spin)
    for name, value in (initializers or {}).items():
        options.add_initializer(name, value)
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def shared_initializers(model: Path, min_elements: int = 1 << 20) -> dict[str, Any]:
    """The model's initializers of at least ``min_elements`` elements as ``OrtValue`` s, to pass to
    :func:`cpu_session` for each session of that model (the encoder's embedding table: 207 MB)."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    graph = onnx.load(str(model)).graph
    return {
        init.name: ort.OrtValue.ortvalue_from_numpy(numpy_helper.to_array(init))
        for init in graph.initializer
        if math.prod(init.dims) >= min_elements
    }


@functools.cache
def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, macOS): nothing to trim
        return None


#: glibc ``mallopt`` parameter: the most malloc arenas threads share.
M_ARENA_MAX = -8
#: glibc ``mallopt`` parameter: allocations of this size or more get a mapping of their own, unmapped when freed.
M_MMAP_THRESHOLD = -3


def limit_malloc_arenas(arenas: int = 2, mmap_threshold: int = 1 << 20) -> bool:
    """Let the process's threads share ``arenas`` glibc malloc arenas instead of up to eight per core, and
    give allocations of ``mmap_threshold`` bytes or more mappings of their own.

    Call before the worker threads start. Each arena keeps its own free memory, and a big request's
    per-token states are allocated and freed across the batcher's, the encoder's and the HTTP threads:
    with one arena per thread, memory freed in one is not reused by another and stays resident
    (``MALLOC_ARENA_MAX=2`` is the usual cure).

    glibc raises its mmap threshold each time a mapped block is freed (up to 32 MB) and its trim threshold
    with it (to twice that): after the first long message, its per-token states (a few MB per array) are
    carved from the arenas instead, and what they leave free stays resident, the top of a thread's arena
    included, which ``malloc_trim`` does not give back. A fixed threshold turns that off: big blocks are
    returned to the system when freed, arenas are trimmed above glibc's default 128 KB. False where there
    is no glibc.
    """
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas)) and bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold))


def release_memory() -> bool:
    """Give freed memory back to the operating system: ONNX Runtime's shared arena's unused regions
    (:func:`shrink_arena`), then glibc's free heap memory (``malloc_trim``).

    A big request allocates per-token states of thousands of windows; once its answers are sent the
    memory is free but the arena and glibc keep it, so the process's RSS stays at the peak. The
    batcher calls this when its queue runs empty after heavy work. False where there is no glibc.
    """
    shrink_arena()
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return False
    return bool(libc.malloc_trim(0))
