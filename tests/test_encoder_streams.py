"""The int8 encoder's windows run as concurrent calls, and no answer changes for it.

A message's states must be the same bits alone, in a batch run one window after another, in a batch
whose windows run on several threads, and with one or two ONNX Runtime threads per call: the answer
cache, the batch jobs and ``/v1/analyze`` all rely on it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from models.encoder import EncoderOutput, OnnxEncoder
from models.ort_options import session_options

ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "e5-small"

TEXTS = [
    "快递三天了还没到，客服也不回",
    "The refund never arrived and nobody answers my emails.",
    "ok",
    "訂單號碼 1234 5678 9012，退款甚麼時候到帳？" * 3,
    "这个产品质量太差了，用了两天就坏了，我要求退货退款，否则我就去12315投诉。" * 12,  # several windows
    "谢谢",
]


@pytest.fixture(scope="module")
def encoders() -> Iterator[dict[str, OnnxEncoder]]:
    if not (ARTIFACT / "manifest.json").is_file():
        pytest.skip("encoder artifact not built (make build)")
    built = {
        "serial": OnnxEncoder(ARTIFACT, "int8", threads=2, streams=1),
        "streams": OnnxEncoder(ARTIFACT, "int8", threads=2, streams=3),
        "one_thread": OnnxEncoder(ARTIFACT, "int8", threads=1, streams=2),
    }
    yield built
    for encoder in built.values():
        encoder.close()


def _same(a: EncoderOutput, b: EncoderOutput) -> bool:
    pairs = zip(a.windows_8 + a.windows_last, b.windows_8 + b.windows_last, strict=True)
    windows = all(np.array_equal(x, y) for x, y in pairs)
    return np.array_equal(a.mean_8, b.mean_8) and np.array_equal(a.mean_last, b.mean_last) and windows


def test_batches_use_the_concurrent_windows(encoders: dict[str, OnnxEncoder]) -> None:
    assert encoders["serial"].streams == 1
    assert encoders["streams"].streams == 3
    items = encoders["serial"].preprocess(TEXTS)
    assert len(items[4].windows) > 1  # the long message really is split


def test_alone_serial_and_concurrent_give_the_same_bits(encoders: dict[str, OnnxEncoder]) -> None:
    serial, streams, one_thread = encoders["serial"], encoders["streams"], encoders["one_thread"]
    items = serial.preprocess(TEXTS)
    alone = [serial.forward([item])[0] for item in items]
    for name, out in (
        ("serial batch", serial.forward(items)),
        ("concurrent batch", streams.forward(items)),
        ("concurrent, reversed", streams.forward(items[::-1])[::-1]),
        ("one ORT thread per call", one_thread.forward(items)),
    ):
        for text, a, b in zip(TEXTS, alone, out, strict=True):
            assert _same(a, b), f"{name}: {text[:20]!r} changed"


def test_fp32_keeps_padded_batches() -> None:
    if not (ARTIFACT / "model.fp32.onnx").is_file():
        pytest.skip("fp32 graph not built")
    encoder = OnnxEncoder(ARTIFACT, "fp32", threads=2, streams=4)
    assert encoder.streams == 1  # fp32 is batch-invariant and runs one padded batch per call
    encoder.close()


_TWO_SESSIONS = """
import sys
from pathlib import Path

from models.encoder import OnnxEncoder


def rss_mb() -> float:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


encoder = OnnxEncoder(Path(sys.argv[1]), "int8", threads=2, streams=int(sys.argv[2]))
encoder.forward(encoder.preprocess(["快递三天了还没到", "The refund never arrived."]))
print(rss_mb())
"""


def _encoder_rss_mb(streams: int) -> float:
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-c", _TWO_SESSIONS, str(ARTIFACT), str(streams)]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return float(done.stdout.split()[-1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the resident memory from /proc")
def test_the_stream_session_shares_the_embedding_table(encoders: dict[str, OnnxEncoder]) -> None:
    """With streams the encoder opens a second session of the graph (one thread, for the concurrent windows)
    beside the spinning one for lone calls; the 207 MB embedding table is held once, not twice."""
    streams = encoders["streams"]
    assert streams.stream_session is not streams.session
    assert encoders["serial"].stream_session is encoders["serial"].session
    assert "bert.embeddings.word_embeddings.weight" in streams._initializers
    assert _encoder_rss_mb(2) - _encoder_rss_mb(1) < 100  # a second full copy would add ~220 MB


def test_spinning_sessions_stop_spinning_when_a_run_ends() -> None:
    """A spinning session's threads would otherwise keep a core busy for ~45 ms after each run."""
    spinning, sleeping = session_options(2, spin=True), session_options(2)
    assert spinning.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert spinning.get_session_config_entry("session.force_spinning_stop") == "1"
    assert sleeping.get_session_config_entry("session.intra_op.allow_spinning") == "0"


class _Recording:
    """Wraps a session and records that it ran."""

    def __init__(self, session: object, name: str, log: list[str]) -> None:
        self.session, self.name, self.log = session, name, log

    def run(self, *args: object) -> object:
        self.log.append(self.name)
        return self.session.run(*args)  # type: ignore[attr-defined]


def test_a_lone_window_runs_on_the_spinning_session_and_overlapping_calls_do_not() -> None:
    if not (ARTIFACT / "manifest.json").is_file():
        pytest.skip("encoder artifact not built (make build)")
    encoder = OnnxEncoder(ARTIFACT, "int8", threads=2, streams=2)
    log: list[str] = []
    encoder.session = _Recording(encoder.session, "spinning", log)
    encoder.stream_session = _Recording(encoder.stream_session, "sleeping", log)
    short, long = encoder.preprocess(["快递三天了还没到", "这个产品质量太差了，我要求退货退款。" * 30])
    assert len(long.windows) > 1
    encoder.forward([short])
    assert log == ["spinning"]
    log.clear()
    encoder.forward([long])  # its windows run as concurrent streams
    assert log == ["sleeping"] * len(long.windows)
    log.clear()
    encoder._calls = 1  # another lane's call in progress
    encoder.forward([short])
    assert log == ["sleeping"]
    encoder._calls = 0
    encoder.close()
