"""Evidence spans for hidden dissatisfaction, found by lexicons and patterns that are data files.

``CueFinder`` runs the patterns of ``models/resources/hidden/cues.json`` (with the word lists they
reference) over the NORMALISED text (Simplified Chinese, half-width punctuation) and reports each
span against the caller's original text through ``NormalizedText.to_original``. It is a plain class
with no model behind it, so other stages (risk: ``threat_to_leave``) and the training recipe can use
it directly. ``ExplicitLexicon`` says whether a text carries explicit, non-negated negative words:
a message that does is plainly negative, and its dissatisfaction is not hidden.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from models.schema import Cue
from models.spec import files_digest
from models.text import NormalizedText, normalize

RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "hidden"
CUE_TYPES = (
    "sarcasm",
    "rhetorical_question",
    "polite_resignation",
    "factual_complaint",
    "negated_praise",
    "threat_to_leave",
)
#: Only these may separate two spans of one type that are merged into one piece of evidence.
_JOINABLE = re.compile(r"^[\s,，、。.!?;:~…]*$")
_NEGATION_ZH = ("不", "没", "未", "没有", "不算", "并不", "毫不")
_NEGATION_EN = re.compile(r"\b(?:not|never|no|n't|without|nothing)\b|n't\b", re.IGNORECASE)


def lexicon_digest(directory: Path = RESOURCES) -> str:
    """sha256 over the lexicon files: part of the stage version, so cached answers follow lexicon edits."""
    return files_digest(directory)


def read_words(path: Path) -> list[str]:
    """One entry per line; ``#`` starts a comment line; a trailing `` +`` marks a project addition."""
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word = line[:-1].strip() if line.endswith(" +") else line
        words.append(normalize(word).text)
    return words


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


def _is_latin(word: str) -> bool:
    return word[:1].isascii() and word[:1].isalpha()


@dataclass(frozen=True)
class CueSpan:
    """A cue on the normalised text, ``[start, end)``."""

    type: str
    start: int
    end: int


@dataclass(frozen=True)
class CuePattern:
    type: str
    lang: str
    regex: re.Pattern[str]
    example: str


class CueFinder:
    """Finds cue spans; see the module docstring. Build with :meth:`load` (reads the data files)."""

    def __init__(self, patterns: tuple[CuePattern, ...]) -> None:
        unknown = {p.type for p in patterns} - set(CUE_TYPES)
        if unknown:
            raise ValueError(f"unknown cue types in the lexicon: {sorted(unknown)}")
        self.patterns = patterns

    @classmethod
    def load(cls, directory: Path = RESOURCES) -> CueFinder:
        data = json.loads((directory / "cues.json").read_text(encoding="utf-8"))
        values: dict[str, str] = {}
        for name, value in data["placeholders"].items():
            # A value naming a .txt file is a word list; anything else is a regex fragment.
            values[name] = _alternation(read_words(directory / value)) if value.endswith(".txt") else value
        patterns = []
        for entry in data["patterns"]:
            source = re.sub(r"\{([A-Z_]+)\}", lambda m: values[m.group(1)], entry["pattern"])
            patterns.append(
                CuePattern(entry["type"], entry["lang"], re.compile(source, re.IGNORECASE), entry["example"])
            )
        return cls(tuple(patterns))

    def spans(self, text: str) -> list[CueSpan]:
        """Cue spans on a normalised text; overlapping or adjacent spans of one type are merged."""
        found: dict[str, list[tuple[int, int]]] = {}
        for pattern in self.patterns:
            for match in pattern.regex.finditer(text):
                start, end = match.span()
                # Strip separators that a pattern consumed at its edges.
                while start < end and text[start] in " ,，、。.!?;:~":
                    start += 1
                while end > start and text[end - 1] in " ,，、;:~":
                    end -= 1
                if end > start:
                    found.setdefault(pattern.type, []).append((start, end))
        out: list[CueSpan] = []
        for cue_type, ranges in found.items():
            ranges.sort()
            merged = [list(ranges[0])]
            for start, end in ranges[1:]:
                last = merged[-1]
                if start <= last[1] or _JOINABLE.match(text[last[1] : start]):
                    last[1] = max(last[1], end)
                else:
                    merged.append([start, end])
            out += [CueSpan(cue_type, s, e) for s, e in merged]
        return sorted(out, key=lambda c: (c.start, c.end, c.type))

    def types(self, text: str) -> set[str]:
        return {c.type for c in self.spans(text)}

    def find(self, normalized: NormalizedText) -> list[Cue]:
        """Cues with offsets and text of the ORIGINAL message."""
        return self.to_cues(normalized, self.spans(normalized.text))

    @staticmethod
    def to_cues(normalized: NormalizedText, spans: list[CueSpan]) -> list[Cue]:
        """Map spans found on ``normalized.text`` to the original message."""
        cues = []
        for span in spans:
            start, end = normalized.to_original(span.start, span.end)
            cues.append(Cue(type=span.type, text=normalized.original[start:end], start=start, end=end))
        return cues


class ExplicitLexicon:
    """Explicit negative words (``explicit_negative_{zh,en}.txt``), ignoring negated occurrences."""

    def __init__(self, words: list[str]) -> None:
        latin = [w for w in words if _is_latin(w)]
        other = [w for w in words if not _is_latin(w)]
        parts = []
        if latin:
            parts.append(rf"\b(?:{_alternation(latin)})\b")
        if other:
            parts.append(f"(?:{_alternation(other)})")
        self.regex = re.compile("|".join(parts), re.IGNORECASE)

    @classmethod
    def load(cls, directory: Path = RESOURCES) -> ExplicitLexicon:
        return cls(
            read_words(directory / "explicit_negative_zh.txt") + read_words(directory / "explicit_negative_en.txt")
        )

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Non-negated explicit negative words in a normalised text."""
        out = []
        for match in self.regex.finditer(text):
            start = match.start()
            word = match.group(0)
            if _is_latin(word):
                before = " ".join(text[:start].split()[-3:])
                if _NEGATION_EN.search(before):
                    continue
            elif text[max(0, start - 2) : start].endswith(_NEGATION_ZH):
                continue
            out.append(match.span())
        return out

    def has(self, text: str) -> bool:
        return bool(self.spans(text))
