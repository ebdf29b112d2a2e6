"""Start-up warm-up at the longest message shape: ONNX Runtime's arenas reach their steady size before the
service says it is ready, so memory after big requests comes back to the ready-time baseline
(``tousu evaluate reliability`` section 2 measures it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from models.encoder import OnnxEncoder
from models.ort_options import session_options
from models.pipeline import AnalysisInput
from models.registry import Registry
from models.text import detect_language
from service.app import _trim_after, create_app, longest_texts
from service.settings import Settings
from tests.conftest import fake_registry


@pytest.mark.model
def test_the_longest_warm_up_texts_fill_every_encoder_window(registry: Registry) -> None:
    encoder = registry.analyzer.encoder
    assert isinstance(encoder, OnnxEncoder)
    texts = longest_texts(Settings().max_text_chars)
    assert {detect_language(t) for t in texts} == {"zh", "en"}  # both entity pipelines
    for tokenized in encoder.preprocess(texts):
        windows = tokenized.windows
        assert len(windows) == encoder.max_windows  # as many windows as a message is read in
        assert {len(w) for w in windows} == {encoder.max_tokens}  # each one full


async def test_start_up_analyses_the_longest_messages_before_it_is_ready(tmp_path: Path) -> None:
    settings = Settings(artifacts_dir=tmp_path, redis_url=None, jobs_dir=tmp_path / "jobs", max_text_chars=3000)
    seen: list[str] = []
    registry = fake_registry()
    analyze_batch = registry.analyzer.analyze_batch

    def recording(items: list[AnalysisInput]) -> object:
        seen.extend(i.normalized.original for i in items)
        return analyze_batch(items)

    registry.analyzer.analyze_batch = recording  # type: ignore[method-assign]
    app = create_app(settings, registry_loader=lambda _: registry)
    async with app.router.lifespan_context(app):
        assert app.state.ready
        longest = longest_texts(3000)
        assert all(len(t) == 3000 for t in longest)
        assert all(t in seen for t in longest)


def test_every_session_shares_one_cpu_arena() -> None:
    """Each session kept its own arena, grown to the largest tensors it had served; one shared arena, grown by
    what is asked, is reused across the encoder, branch and entity sessions."""
    options = session_options()
    assert options.get_session_config_entry("session.use_env_allocators") == "1"
    session_options()  # the shared arena is registered once per process, not once per session


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS")


_SHRINK = """
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

from models.ort_options import cpu_session, shrink_arena


def rss_mb() -> float:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


graph = helper.make_graph(
    [helper.make_node("Sin", ["x"], ["sine"]), helper.make_node("ReduceSum", ["sine"], ["y"])],
    "arena_probe",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
session = cpu_session(model.SerializeToString(), threads=1)
session.run(None, {"x": np.zeros(16, dtype=np.float32)})  # the arena keeps its first region: a small one
x = np.linspace(-1, 1, 16 * 2**20, dtype=np.float32)
(before,) = session.run(None, {"x": x})
held = rss_mb()
assert shrink_arena()
assert rss_mb() < held - 32, (held, rss_mb())
(after,) = session.run(None, {"x": x})
assert np.array_equal(before, after)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the resident memory from /proc")
def test_shrinking_the_shared_arena_gives_its_free_regions_back_and_keeps_the_answers() -> None:
    """A 64 MB intermediate tensor stays in the arena after the run; :func:`shrink_arena` gives it back (what the
    batcher's trim after big work does), and the session answers the same bits afterwards. In a fresh process: in
    a long-lived one (the test suite) earlier sessions' tensors share the arena's regions, and a region that
    still holds one is not given back."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", _SHRINK], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


_BIG_BLOCKS = """
from pathlib import Path

import numpy as np

from models.ort_options import limit_malloc_arenas


def rss_mb() -> float:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


if not limit_malloc_arenas():
    raise SystemExit(77)  # not glibc
for _ in range(3):
    before = rss_mb()
    block = np.ones(16 * 2**20, dtype=np.uint8)  # 16 MB, every page touched
    assert rss_mb() > before + 8
    del block
    assert rss_mb() < before + 4, (before, rss_mb())
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the resident memory from /proc")
def test_big_blocks_go_back_to_the_system_when_freed() -> None:
    """glibc would raise its mmap threshold once the first big block is freed and keep the next ones in its arenas,
    resident after they are freed; with the fixed threshold each one is returned at once. In a fresh process, as at
    start-up: blocks freed before the threshold was fixed would be reused from the arenas."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", _BIG_BLOCKS], cwd=root, capture_output=True, text=True, timeout=120)
    if done.returncode == 77:
        pytest.skip("not glibc")
    assert done.returncode == 0, done.stderr


@pytest.mark.model
def test_emptying_the_tokenizer_cache_changes_no_answer(registry: Registry) -> None:
    """The word cache that grows with new long texts is emptied after heavy work; tokens stay the same."""
    encoder = registry.analyzer.encoder
    assert isinstance(encoder, OnnxEncoder)
    texts = ["快递三天没动静，客服电话也打不通", "Charged twice for one order, still no refund", *longest_texts(600)]
    before = [t.windows for t in encoder.preprocess(texts)]
    assert encoder.clear_caches()
    assert [t.windows for t in encoder.preprocess(texts)] == before
    registry.analyzer.release_caches()  # what the service's trim calls
    assert [t.windows for t in encoder.preprocess(texts)] == before


def test_the_trim_after_heavy_work_empties_caches_before_giving_memory_back() -> None:
    emptied: list[bool] = []
    trim = _trim_after(64, lambda: emptied.append(True))
    assert trim is not None
    trim(63)  # light work since the queue last ran empty: nothing to give back
    assert emptied == []
    trim(64)
    assert emptied == [True]
    assert _trim_after(0, lambda: None) is None  # turned off
