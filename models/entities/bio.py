"""BIO tag decoding for the token-classification entity branch (NumPy, serving and training alike).

A per-token argmax can produce ``I-ORG`` after ``O`` or after ``B-PERSON``; the constrained
Viterbi below only walks legal paths (``I-X`` follows ``B-X`` or ``I-X``), so every decoded
span is well formed and its type is the one its tokens jointly prefer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
NEG = np.float32(-1e4)


def bio_labels(types: Sequence[str]) -> tuple[str, ...]:
    return ("O", *(f"{p}-{t}" for t in types for p in ("B", "I")))


def transitions(labels: Sequence[str]) -> tuple[FloatArray, FloatArray]:
    """(start, pairwise) additive scores: 0 for legal moves, a large negative for illegal ones."""
    n = len(labels)
    start = np.zeros(n, dtype=np.float32)
    pair = np.zeros((n, n), dtype=np.float32)
    for j, to in enumerate(labels):
        if not to.startswith("I-"):
            continue
        start[j] = NEG
        kind = to[2:]
        for i, frm in enumerate(labels):
            if frm[2:] != kind or frm == "O":
                pair[i, j] = NEG
    return start, pair


def viterbi(log_probs: FloatArray, start: FloatArray, pair: FloatArray) -> list[int]:
    """Best legal tag sequence for ``log_probs`` (T, C).

    Legal moves score 0 and illegal ones a large negative, so when the per-token argmax path is legal
    it is the best path (no path can score more than the sum of per-token maxima) and :func:`walk` is
    skipped: most messages have no entity, or only well-formed ones.
    """
    if len(log_probs) == 0:
        return []
    greedy = log_probs.argmax(axis=1)
    if start[greedy[0]] == 0 and not pair[greedy[:-1], greedy[1:]].any():
        return [int(g) for g in greedy]
    return walk(log_probs, start, pair)


def walk(log_probs: FloatArray, start: FloatArray, pair: FloatArray) -> list[int]:
    """The Viterbi recursion itself (:func:`viterbi` calls it when the argmax path is not legal)."""
    if len(log_probs) == 0:
        return []
    score = log_probs[0] + start
    back = []
    for t in range(1, len(log_probs)):
        total = score[:, None] + pair
        best = total.argmax(axis=0)
        back.append(best)
        score = total[best, np.arange(total.shape[1])] + log_probs[t]
    path = [int(score.argmax())]
    for best in reversed(back):
        path.append(int(best[path[-1]]))
    return path[::-1]


@dataclass(frozen=True)
class TagSpan:
    start: int  # char offsets into the text the tokens came from
    end: int
    type: str
    confidence: float  # mean probability of the decoded tags over the span's tokens


def _in_word(char: str) -> bool:
    """A character of a Latin-script word (letters and digits: "Leeds", "B14", "iPhone13")."""
    return char.isascii() and char.isalnum()


def whole_words(lo: int, hi: int, text: str) -> tuple[int, int]:
    """``[lo, hi)`` widened to the Latin-script words it cuts: a name is made of whole words.

    The tokenizer splits a rare word into pieces ("Leeds" -> "Le" "eds") and the head tags each piece;
    a span that stops inside a word ("Le") is read as the whole word, as word-level aggregation of token
    predictions does (the label of the word is the label its span starts with). Chinese characters are
    left alone: every one of them is a possible boundary.
    """
    while 0 < lo < len(text) and _in_word(text[lo - 1]) and _in_word(text[lo]):
        lo -= 1
    while 0 < hi < len(text) and _in_word(text[hi - 1]) and _in_word(text[hi]):
        hi += 1
    return lo, hi


def decode(
    probs: FloatArray, offsets: Sequence[tuple[int, int]], labels: Sequence[str], text: str | None = None
) -> list[TagSpan]:
    """Calibrated token probabilities (T, C) -> spans; with ``text``, whitespace trimmed and spans widened to
    whole Latin-script words (:func:`whole_words`; of two spans that then overlap, the first stays)."""
    start, pair = transitions(labels)
    n = min(len(probs), len(offsets))
    path = viterbi(np.log(np.clip(probs[:n], 1e-9, 1.0)).astype(np.float32), start, pair)
    spans: list[TagSpan] = []
    cur: list[int] = []

    def close() -> None:
        if not cur:
            return
        kind = labels[path[cur[0]]][2:]
        lo, hi = offsets[cur[0]][0], offsets[cur[-1]][1]
        if text is not None:
            while lo < hi and text[lo].isspace():
                lo += 1
            while hi > lo and text[hi - 1].isspace():
                hi -= 1
            if hi > lo:
                lo, hi = whole_words(lo, hi, text)
            if spans and lo < spans[-1].end:  # a word the previous span already took ("Le" + "eds")
                cur.clear()
                return
        if hi > lo:
            conf = float(np.mean([probs[k, path[k]] for k in cur]))
            spans.append(TagSpan(lo, hi, kind, conf))
        cur.clear()

    for k in range(n):
        tag = labels[path[k]]
        if tag.startswith("B-"):
            close()
            cur.append(k)
        elif tag.startswith("I-") and cur:
            cur.append(k)
        else:
            close()
    close()
    return spans
