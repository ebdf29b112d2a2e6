"""Export the rebuilt encoder to ONNX, fuse it for ONNX Runtime and quantise it to int8.

This is the only place that needs torch (the ``[build]`` extra); the serving runtime
loads the resulting ``.onnx`` files with onnxruntime alone.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

#: ONNX graph contract, read by ``models.encoder``.
INPUT_NAMES = ("input_ids", "attention_mask")
#: Token states of encoder layer 8 (best frozen features for the task heads) and of
#: the last layer (sentence embedding for topics, token features for entities).
OUTPUT_NAMES = ("hidden_8", "last_hidden_state")
FEATURE_LAYER = 8
OPSET = 17


def export_onnx(hf_dir: Path, out_path: Path, feature_layer: int = FEATURE_LAYER) -> None:
    """Trace the HF ``BertModel`` into an fp32 ONNX graph with dynamic batch and length; its outputs are the
    states of ``feature_layer`` (named ``hidden_8``: the served trunk's) and of the last layer."""
    import torch
    from transformers import BertModel

    torch.manual_seed(0)
    model = BertModel.from_pretrained(str(hf_dir), add_pooling_layer=False, attn_implementation="eager")
    model.eval()  # type: ignore[no-untyped-call]

    class _Wrapper(torch.nn.Module):
        def __init__(self, bert: BertModel) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = self.bert(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
                output_hidden_states=True,
            )
            return out.hidden_states[feature_layer], out.last_hidden_state

    dummy = (
        torch.tensor([[0, 1000, 2000, 2]], dtype=torch.int64),
        torch.ones(1, 4, dtype=torch.int64),
    )
    dynamic = {0: "batch", 1: "seq"}
    with torch.no_grad():
        torch.onnx.export(
            _Wrapper(model),
            dummy,
            str(out_path),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes={name: dynamic for name in (*INPUT_NAMES, *OUTPUT_NAMES)},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


#: onnxruntime's tool modules this project uses, loaded together by :func:`ort_tools`.
_ORT_TOOLS = (
    "onnxruntime.transformers.optimizer",
    "onnxruntime.quantization",
    "onnxruntime.quantization.shape_inference",
)


@contextlib.contextmanager
def ort_tools() -> Iterator[None]:
    """Import onnxruntime's optimiser or quantiser inside this block.

    Importing either (the quantiser imports ``onnxruntime.transformers`` too) appends onnxruntime's
    ``transformers`` folder to ``sys.path``: its modules import each other by bare name. That folder also
    holds a ``metrics.py``, which would shadow this project's ``metrics`` package for every later import in
    the process (``tousu evaluate trunk`` builds, then trains heads). So every tool module is loaded here at
    once, while the folder is on the path, and the path is put back as it was afterwards.
    """
    path = list(sys.path)
    try:
        for name in _ORT_TOOLS:
            importlib.import_module(name)
        yield
    finally:
        sys.path[:] = path


def optimise(fp32_path: Path, out_path: Path, num_heads: int, hidden: int) -> None:
    """Fuse attention / LayerNorm / GELU with onnxruntime's transformer optimiser."""
    with ort_tools():
        from onnxruntime.transformers.optimizer import optimize_model

    model = optimize_model(
        str(fp32_path),
        model_type="bert",
        num_heads=num_heads,
        hidden_size=hidden,
        opt_level=0,
        use_gpu=False,
    )
    logger.info("fused operators: %s", model.get_fused_operator_statistics())
    model.save_model_to_file(str(out_path))


def quantise_int8(fp32_path: Path, out_path: Path) -> None:
    """Dynamic int8 quantisation of the MatMul weights (activations stay fp32)."""
    import onnx

    with ort_tools():
        from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32_path),
        str(out_path),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Attention"],
        per_channel=False,
        reduce_range=False,
        # Shape inference cannot type the outputs of fused com.microsoft operators.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
