"""The int8 encoder's windows run as concurrent calls, and no answer changes for it.

A message's states must be the same bits alone, in a batch run one window after another, in a batch
whose windows run on several threads, and with one or two ONNX Runtime threads per call: the answer
cache, the batch jobs and ``/v1/analyze`` all rely on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from models.encoder import EncoderOutput, OnnxEncoder

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
