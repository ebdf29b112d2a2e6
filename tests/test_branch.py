"""Task branches (the token-level entity branch): the NumPy runtime computes what PyTorch computes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from models.branch import BRANCH_BASE_FILE, CONFIG_FILE, BranchHead, load_branch
from models.encoder import OnnxEncoder
from models.settings import DEFAULT_HEADS_DIR
from training.branch import BranchConfig, TorchBranch, load_torch_branch, predict_logits, save_branch, trunk_inputs

TEXTS = [
    "快递三天了还没到，客服也不回复",
    "Thanks for sending the wrong shirt.",
    "好",
    "订单 12345 的退款￥99 何时到账？",
]


@pytest.fixture(scope="module")
def encoder(artifacts: Path) -> OnnxEncoder:
    return OnnxEncoder(artifacts / "e5-small", precision="int8", threads=2)


BRANCH_DIR = DEFAULT_HEADS_DIR / "entities" / "branch"


@pytest.mark.model
def test_trained_entity_branch_matches_pytorch(artifacts: Path, encoder: OnnxEncoder) -> None:
    base = artifacts / "e5-small" / BRANCH_BASE_FILE
    head, _ = load_branch("entities", BRANCH_DIR, artifacts / "e5-small")
    torch_branch = load_torch_branch(BRANCH_DIR, base)
    expected = predict_logits(torch_branch, trunk_inputs(encoder, TEXTS))
    got = head.token_logits(encoder.forward(encoder.preprocess(TEXTS)))
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_allclose(have, want, atol=2e-3)


@pytest.mark.model
def test_token_branch_round_trip(artifacts: Path, encoder: OnnxEncoder, tmp_path: Path) -> None:
    """A token branch with non-zero LoRA deltas survives save -> NumPy load with the same per-token logits."""
    base = artifacts / "e5-small" / BRANCH_BASE_FILE
    torch.manual_seed(3)
    model = TorchBranch(base, BranchConfig(kind="token", labels=("O", "B-X", "I-X")))
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    save_branch(model.eval(), tmp_path, 1.0, "unused")
    head = BranchHead.load(tmp_path, base)
    inputs = trunk_inputs(encoder, TEXTS)
    expected = predict_logits(model, inputs)
    got = head.token_logits(encoder.forward(encoder.preprocess(TEXTS)))
    for want, have, item in zip(expected, got, inputs, strict=True):
        assert have.shape == (len(item.offsets), 3)
        np.testing.assert_allclose(have, want, atol=2e-3)


@pytest.mark.model
def test_branch_trained_on_another_base_is_refused(artifacts: Path, tmp_path: Path) -> None:
    head_dir = tmp_path / "entities"
    shutil.copytree(BRANCH_DIR, head_dir)
    config = json.loads((head_dir / CONFIG_FILE).read_text())
    config["base"]["sha256"] = "0" * 64
    (head_dir / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="retrain or rebuild"):
        load_branch("entities", head_dir, artifacts / "e5-small")


@pytest.mark.model
def test_branch_states_do_not_depend_on_padding_or_batch(artifacts: Path, encoder: OnnxEncoder) -> None:
    head, _ = load_branch("entities", BRANCH_DIR, artifacts / "e5-small")
    windows = [w for o in encoder.forward(encoder.preprocess(TEXTS)) for w in o.windows_8]
    together = head.states(windows)
    for window, batched in zip(windows, together, strict=True):
        np.testing.assert_array_equal(head.states([window])[0], batched)
