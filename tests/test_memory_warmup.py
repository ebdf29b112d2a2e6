"""Start-up warm-up at the longest message shape: ONNX Runtime's arenas reach their steady size before the
service says it is ready, so memory after big requests comes back to the ready-time baseline
(``tousu evaluate reliability`` section 2 measures it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.encoder import OnnxEncoder
from models.ort_options import session_options
from models.pipeline import AnalysisInput
from models.registry import Registry
from models.text import detect_language
from service.app import create_app, longest_texts
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
