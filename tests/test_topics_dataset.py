"""A dataset's own topics: the fit (brands out, names, stable ids), the job's "topics" step, /v1/analyze.

The job tests use an encoder that places messages by their theme word (so HDBSCAN has themes to
find) and the keyword stage of ``tests/jobs_support.py``; the name tests (marked ``model``) fit real
complaint tweets and Chinese reviews on the served encoder's embeddings.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.encoder import EncoderOutput, Tokenized
from models.fake import FakeEncoder, fake_sentiment
from models.pipeline import AnalysisInput, Analyzer, Context
from models.registry import Registry
from models.spec import ModelSpec
from models.topics.datasets import DatasetTopicModels
from models.topics.fit import FitParams, Message, brand_basis, build_message, fit_dataset_topics, project_out
from models.topics.model import TopicModel
from models.topics.words import PhraseTokenizer, load_stop_words, mask_spans
from service.jobs.executor import AnalysedHook, JobExecutor
from service.jobs.files import JobFiles
from service.jobs.queue import LocalQueue
from service.jobs.schemas import JobReport
from service.jobs.store import JobStore
from tests.jobs_support import KeywordStage, job_settings, jsonl, queued_job

THEMES = {"退款": 0, "快递": 1, "屏幕": 2}
BRANDS = ("华为", "小米", "苹果")


class ThemeEncoder(FakeEncoder):
    """Embeds a message near its theme word's prototype, plus its brand's direction and noise."""

    def __init__(self) -> None:
        super().__init__(hidden_size=16)
        rng = np.random.default_rng(0)
        self.prototypes = rng.standard_normal((len(THEMES) + len(BRANDS), 16)).astype(np.float32)

    def preprocess(self, texts: list[str]) -> list[Tokenized]:
        return [
            Tokenized((tuple(ord(c) for c in t),), tuple((i, i + 1) for i in range(len(t))), 0, False) for t in texts
        ]

    def _one(self, item: Tokenized) -> EncoderOutput:
        text = "".join(chr(i) for i in item.windows[0])
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        vec = np.random.default_rng(seed).standard_normal(16).astype(np.float32) * 0.15
        for word, k in THEMES.items():
            if word in text:
                vec += self.prototypes[k]
        for b, brand in enumerate(BRANDS):
            if brand in text:
                vec += 1.5 * self.prototypes[len(THEMES) + b]  # a strong brand direction
        emb = vec / np.linalg.norm(vec)
        window = np.vstack([vec, vec])
        return EncoderOutput(vec, vec, emb, item.content_offsets, False, (window,), (window,), 0)


def theme_registry() -> Registry:
    encoder = ThemeEncoder()
    analyzer = Analyzer(encoder, fake_sentiment(16), (KeywordStage(), BrandStage()))
    return Registry(analyzer, (ModelSpec("encoder/fake-encoder", "encoder", "-", "fake-1", "0" * 64, {}),))


class BrandStage:
    """Marks the brand names as ORG entities, as the entities stage would."""

    name = "brands"
    version = "brands-1"

    def run(self, batch: list[Context]) -> None:
        from models.schema import Entity

        for ctx in batch:
            text = ctx.item.normalized.original
            found = list(ctx.fields.get("entities") or [])
            for brand in BRANDS:
                start = text.find(brand)
                if start >= 0:
                    found.append(Entity(type="ORG", text=brand, start=start, end=start + 2, confidence=0.9, pii=False))
            ctx.fields["entities"] = found


PHRASES = {
    "退款": ["退款一直没到账", "申请退款被拒绝", "退款审核太慢了", "退款迟迟不处理"],
    "快递": ["快递三天没更新物流", "快递送错地址了", "快递包装破损", "快递员态度差不送上门"],
    "屏幕": ["屏幕出现绿线", "屏幕触控失灵", "屏幕漏光严重", "屏幕闪烁发黄"],
}


def themed_records(n: int, seed: int) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        theme = list(PHRASES)[i % 3]
        brand = BRANDS[int(rng.integers(3))]
        phrase = PHRASES[theme][int(rng.integers(4))]
        out.append({"id": str(i), "text": f"{brand}{phrase}，第{i}次联系客服"})
    return out


def run_job(
    store: JobStore,
    files: JobFiles,
    settings: object,
    records: list[dict[str, str]],
    dataset: str,
    on_analysed: AnalysedHook | None = None,
    on_relabelled: AnalysedHook | None = None,
) -> str:
    job_id = queued_job(store, dataset)
    files.input_path(job_id).parent.mkdir(parents=True, exist_ok=True)
    files.input_path(job_id).write_bytes(jsonl(records))
    analyzer = theme_registry().analyzer
    hooks = {"on_analysed": on_analysed, "on_relabelled": on_relabelled}
    executor = JobExecutor(store, files, LocalQueue(1), settings, analyzer=analyzer, **hooks)  # type: ignore[arg-type]
    executor.prepare(job_id)
    for chunk in store.chunks(job_id):
        executor.run_chunk(job_id, chunk.idx)
    return job_id


def results(files: JobFiles, store: JobStore, job_id: str) -> list[dict[str, object]]:
    out = []
    for chunk in store.chunks(job_id):
        out += [json.loads(line) for line in files.output_path(job_id, chunk.output or "").read_text().splitlines()]
    return out


# -- units ----------------------------------------------------------------------------------------
def test_brand_directions_are_projected_out() -> None:
    rng = np.random.default_rng(1)
    theme = rng.standard_normal((2, 8))
    brand = rng.standard_normal((2, 8)) * 3
    emb, msgs = [], []
    for i in range(200):
        emb.append(theme[i % 2] + brand[(i // 2) % 2] + rng.standard_normal(8) * 0.1)
        name = ("acme", "globex")[(i // 2) % 2]
        msgs.append(Message(f"{name} x", "en", ((0, len(name), "ORG", name),)))
    x = np.asarray(emb, np.float32)
    basis = brand_basis(x, msgs, FitParams())
    assert basis.shape == (1, 8)  # two brands differ along one direction
    projected = project_out(x, basis)
    by_brand = [projected[[i for i in range(200) if (i // 2) % 2 == b]].mean(axis=0) for b in (0, 1)]
    by_theme = [projected[[i for i in range(200) if i % 2 == t]].mean(axis=0) for t in (0, 1)]
    assert np.linalg.norm(by_brand[0] - by_brand[1]) < 0.05  # brands no longer apart
    assert np.linalg.norm(by_theme[0] - by_theme[1]) > 0.3  # themes still apart


def _themes(n: int, seed: int = 3) -> tuple[list[Message], np.ndarray, np.ndarray]:
    """``n`` messages of four well-apart themes (their words and their embeddings say the same)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((4, 32)) * 3
    words = ("late delivery parcel", "broken screen phone", "refund money back", "rude agent service")
    theme = np.arange(n) % 4
    x = (centres[theme] + rng.standard_normal((n, 32))).astype(np.float32)
    return [Message(f"{words[t]} {i}", "en") for i, t in enumerate(theme)], x, theme


def test_a_dump_larger_than_the_fit_is_fitted_on_a_sample_and_assigned_whole() -> None:
    """max_fit_messages: UMAP / HDBSCAN see a seeded sample; every message then gets its nearest topic."""
    from sklearn.metrics import normalized_mutual_info_score

    msgs, x, theme = _themes(800)
    params = FitParams(min_cluster_size=20, max_fit_messages=300)
    fit, manifest, centroids, basis = fit_dataset_topics(msgs, x, params)
    assert (fit.stats["n_messages"], fit.stats["n_fit_messages"]) == (800, 300)
    assert len(fit.ids) == 800 and normalized_mutual_info_score(theme, fit.ids) > 0.99  # the unsampled ones too
    # each message's topic is the nearest topic embedding, as /v1/analyze assigns it
    unit = project_out(x / np.linalg.norm(x, axis=1, keepdims=True), basis)
    cent = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    ids = np.asarray([t["id"] for t in manifest["topics"]])
    assert (ids[(unit @ cent.T).argmax(axis=1)] == fit.ids).all()
    assert np.allclose(fit.similarities, (unit @ cent.T).max(axis=1), atol=1e-5)
    # the same sample whatever the run; a dump within the cap is fitted whole
    again, _, _, _ = fit_dataset_topics(msgs, x, params)
    assert (again.ids == fit.ids).all()
    whole, _, _, _ = fit_dataset_topics(msgs[:250], x[:250], params)
    assert whole.stats["n_fit_messages"] == 250


def test_phrases_drop_stop_words_mentions_numbers_and_masked_brands() -> None:
    tok = PhraseTokenizer()
    words = tok("@united lost my bag on flight UA1234, customer service never called back. 2 hours!")
    assert "lost bag" in words and "customer service" in words
    assert not any(w in {"united", "ua1234", "2", "my", "gone"} for w in words)
    text = "宝马X5变速箱顿挫异响，发现暂时没办法"
    masked = mask_spans(text, [(0, 2)])
    zh = tok(masked)
    assert "变速箱顿挫" in zh and "宝马" not in zh and not {"发现", "暂时", "觉得", "现在"} & set(zh)
    assert {"发现", "暂时", "觉得", "现在", "gone"} <= load_stop_words()
    chat = tok("I've been on hold for 2 hours, we'll see. nope, sure")
    assert "hold" in chat and not {"ve", "ve hold", "ll", "nope", "sure"} & set(chat)  # contraction fragments


def test_mentions_become_responsible_party_facets() -> None:
    m = build_message("@Delta @united lost my bag", "en", [(1, 6, "ORG", "Delta")])
    assert [s[3] for s in m.spans] == ["@delta", "@united"]  # the entity span inside a mention is not repeated


@pytest.mark.parametrize(
    ("phrase", "brand", "overlaps"),
    [
        ("华为手机", "华为", True),
        ("mate60", "华为 mate60", True),  # a product name written with a Chinese brand: by characters
        ("united bag", "united", True),
        ("cancelled", "e", False),  # a one-letter ORG must not strike every phrase with an e
        ("flight cancelled", "flight", True),
        ("flight", "flight booking problems", False),
        ("booking problems", "flight booking problems", True),
        ("delay", "386", False),
    ],
)
def test_a_phrase_overlaps_a_brand_by_words(phrase: str, brand: str, overlaps: bool) -> None:
    from models.topics.fit import _overlaps_brand

    assert _overlaps_brand(phrase, brand) is overlaps


def test_staff_are_party_facets_but_no_brand_to_keep_out_of_names() -> None:
    """A staff label ("flight attendant a****") counts with the parties; it must not strip "flight" from names."""
    from models.topics.fit import STAFF, message_from_analysis
    from tests.store_support import analysis, entity

    staff = {"kind": "staff", "role": "staff", "name": "flight attendant A****"}
    text = "flight attendant April was rude, my flight was cancelled"
    m = message_from_analysis(text, analysis(entities=[entity("PERSON", "April", staff, pii=True, start=17)]))
    assert [(s[2], s[3]) for s in m.spans] == [(STAFF, "flight attendant A****")]
    rng = np.random.default_rng(0)
    msgs = [m] * 40 + [Message(f"lost bag number {i}", "en") for i in range(40)]
    emb = np.vstack([rng.normal(0, 1, (1, 16)).repeat(40, 0), rng.normal(0, 1, (1, 16)).repeat(40, 0)])
    emb = (emb + rng.normal(0, 0.01, emb.shape)).astype(np.float32)
    assert brand_basis(emb, msgs, FitParams(brand_min_count=5)).shape[0] == 0  # no brand direction from staff


# -- the job's topics step ------------------------------------------------------------------------
def test_a_dataset_job_fits_its_own_topics_relabels_results_and_keeps_ids_next_night(tmp_path: Path) -> None:
    settings = job_settings(tmp_path, jobs_chunk_size=100, jobs_topic_min_messages=60, jobs_topic_min_cluster_size=60)
    store = JobStore.open(None, settings.jobs_dir)
    files = JobFiles(settings.jobs_dir)
    first = run_job(store, files, settings, themed_records(300, seed=1), "shop")
    job = store.get_job(first)
    assert job is not None and job.state == "completed"
    report = JobReport.model_validate(job.report)
    assert report.topic_model is not None and report.warnings == []
    assert report.topic_model["stats"]["n_topics"] == 3
    answers = results(files, store, first)
    assert len(answers) == 300 and all(str(a["model_versions"]["topic"]).startswith("dataset-") for a in answers)
    by_theme: dict[str, set[int]] = {}
    for rec, a in zip(themed_records(300, seed=1), answers, strict=True):
        theme = next(t for t in PHRASES if t in rec["text"])
        by_theme.setdefault(theme, set()).add(int(a["topic"]["id"]))  # type: ignore[index]
    assert all(len(ids) == 1 for ids in by_theme.values())  # the theme decides the topic, not the brand
    assert len({next(iter(ids)) for ids in by_theme.values()}) == 3
    for group in report.topics:
        assert not any(b in group.label for b in BRANDS)  # names say what went wrong
        theme = next(t for t in PHRASES if t in group.label)
        assert {f.text for f in group.facets["ORG"]} == set(BRANDS)  # the brands are facets instead
        assert len(group.examples) == 3 and group.trend == [group.share]
        assert theme in "".join(e.text for e in group.examples)
    assert not list(files.chunks_dir(first).glob("*.emb.npy"))  # embeddings deleted after the fit
    models = DatasetTopicModels(settings.dataset_topics_root)
    assert models.latest_job("shop") == first

    second = run_job(store, files, settings, themed_records(240, seed=2), "shop")
    job2 = store.get_job(second)
    assert job2 is not None
    report2 = JobReport.model_validate(job2.report)
    assert report2.topic_model is not None and report2.topic_model["matched"] == 3  # same themes, same ids
    assert {g.key for g in report2.topics} == {g.key for g in report.topics}
    assert not [a for a in report2.alerts if a.kind == "new_topic"]
    assert [r.job_id for r in report2.topic_runs] == [first, second]
    assert all(len(g.trend) == 2 and g.trend_label == "steady" for g in report2.topics)
    from service.jobs.report import render_html

    page = render_html(report2)
    assert "share per run" in page and "parties:" in page and "华为" in page
    assert models.latest_job("shop") == second
    store.close()


def test_the_job_completes_with_a_warning_when_the_topic_fit_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.jobs.topics as topics

    def broken(*_: object, **__: object) -> object:
        raise MemoryError("no room")

    monkeypatch.setattr(topics, "fit_dataset_topics", broken)
    settings = job_settings(tmp_path, jobs_chunk_size=100, jobs_topic_min_messages=60, jobs_topic_min_cluster_size=60)
    store = JobStore.open(None, settings.jobs_dir)
    files = JobFiles(settings.jobs_dir)
    job_id = run_job(store, files, settings, themed_records(150, seed=3), "shop")
    job = store.get_job(job_id)
    assert job is not None and job.state == "completed"
    report = JobReport.model_validate(job.report)
    assert report.topic_model is None and "MemoryError" in report.warnings[0]
    answers = results(files, store, job_id)
    assert len(answers) == 150 and not any("topic" in a["model_versions"] for a in answers)  # untouched
    assert {g.key for g in report.topics} <= {"1", "2", "3"}  # the keyword stage's topics stand
    assert DatasetTopicModels(settings.dataset_topics_root).latest_job("shop") is None
    store.close()


def test_the_complaint_store_gets_the_dataset_topics_of_a_job(tmp_path: Path) -> None:
    from sqlalchemy import func, select

    from service.store.runtime import ComplaintStore
    from service.store.tables import complaints

    settings = job_settings(tmp_path, jobs_chunk_size=100, jobs_topic_min_messages=60, jobs_topic_min_cluster_size=60)
    store = JobStore.open(None, settings.jobs_dir)
    files = JobFiles(settings.jobs_dir)
    complaint_store = ComplaintStore.open(settings)
    calls: list[tuple[str, int]] = []

    def write(job: object, analysed: list[object]) -> None:
        calls.append(("write", len(analysed)))
        complaint_store.write_job(job, analysed)  # type: ignore[arg-type]

    def relabel(job: object, analysed: list[object]) -> None:
        calls.append(("relabel", len(analysed)))
        complaint_store.relabel_job(job, analysed)  # type: ignore[arg-type]

    records = themed_records(300, seed=1)
    for record in records[::3]:
        del record["id"]  # stored under a content id: rewritten whole
    job_id = run_job(store, files, settings, records, "shop", on_analysed=write, on_relabelled=relabel)
    job = store.get_job(job_id)
    assert job is not None and job.state == "completed"
    assert JobReport.model_validate(job.report).warnings == []
    assert calls == [("write", 100)] * 3 + [("relabel", 100)] * 3
    answers = results(files, store, job_id)
    fitted = {(a["id"], a["topic"]["id"]) for a in answers if a.get("id")}  # type: ignore[index]
    with complaint_store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(complaints)).scalar() == 300  # rewritten, not added
        rows = conn.execute(select(complaints.c.message_id, complaints.c.topic_id, complaints.c.topic_label)).all()
    with_id = {(r.message_id, r.topic_id) for r in rows if r.message_id in {a for a, _ in fitted}}
    assert with_id == fitted and len(fitted) == 200  # the dataset's topics, not the keyword stage's
    content = sorted(r.topic_id for r in rows if r.message_id not in {a for a, _ in fitted})
    assert content == sorted(a["topic"]["id"] for a in answers if not a.get("id"))  # type: ignore[index]
    assert not any(b in (r.topic_label or "") for r in rows for b in BRANDS)
    complaint_store.close()
    store.close()


def test_a_failing_store_costs_a_warning_not_the_dataset_topics(tmp_path: Path) -> None:
    settings = job_settings(tmp_path, jobs_chunk_size=100, jobs_topic_min_messages=60, jobs_topic_min_cluster_size=60)
    store = JobStore.open(None, settings.jobs_dir)
    files = JobFiles(settings.jobs_dir)
    calls: list[int] = []

    def relabel(job: object, analysed: list[object]) -> None:
        calls.append(len(analysed))
        raise ConnectionError("database gone")

    job_id = run_job(store, files, settings, themed_records(300, seed=1), "shop", on_relabelled=relabel)
    job = store.get_job(job_id)
    assert job is not None and job.state == "completed"
    report = JobReport.model_validate(job.report)
    assert report.topic_model is not None
    assert len(report.warnings) == 1 and "ConnectionError" in report.warnings[0]
    assert calls == [100]  # one failed relabelling, then the store is left alone
    answers = results(files, store, job_id)
    assert all(str(a["model_versions"]["topic"]).startswith("dataset-") for a in answers)  # type: ignore[index]
    store.close()


async def test_analyze_with_a_dataset_uses_its_latest_model(tmp_path: Path) -> None:
    import httpx

    from models.topics.stage import DATASET_OPTION, TopicStage
    from models.topics.taxonomy import CategoryMapper, Taxonomy
    from service.app import create_app

    settings = job_settings(tmp_path, jobs_chunk_size=100, jobs_topic_min_messages=60, jobs_topic_min_cluster_size=60)
    store = JobStore.open(None, settings.jobs_dir)
    files = JobFiles(settings.jobs_dir)
    job_id = run_job(store, files, settings, themed_records(300, seed=1), "shop")
    by_job = {json.loads(line)["id"]: json.loads(line)["topic"]["id"] for line in _lines(files, store, job_id)}
    store.close()
    datasets = DatasetTopicModels(settings.dataset_topics_root)
    model = datasets.latest("shop")
    assert isinstance(model, TopicModel) and model.brand_basis is not None
    taxonomy = Taxonomy.load()
    mapper = CategoryMapper(taxonomy, np.eye(len(taxonomy.names), 16, dtype=np.float32), 0.05)
    generic = TopicModel(model.embeddings[:1], model.topics[:1], 1.0, "generic", "0", {})  # one topic only
    stage = TopicStage(generic, mapper, datasets)
    assert stage.dataset_option("nope") is None
    option = stage.dataset_option("shop")
    assert option == {"dataset": "shop", "job": job_id}

    # the stage: the option picks the dataset's model
    encoder = ThemeEncoder()
    texts = ["小米快递送错地址了", "苹果屏幕触控失灵"]
    ctxs = [
        Context(AnalysisInput.prepare(t, {DATASET_OPTION: option}), "zh", enc)
        for t, enc in zip(texts, encoder.forward(encoder.preprocess(texts)), strict=True)
    ]
    stage.run(ctxs)
    same_theme = next(i for i, r in enumerate(themed_records(300, seed=1)) if "快递送错地址" in r["text"])
    assert ctxs[0].fields["topic"].id == by_job[str(same_theme)]
    assert ctxs[0].fields["topic"].id != ctxs[1].fields["topic"].id

    # the API: a request naming the dataset gets its topics; without one, or for a dataset without a model,
    # the shipped (here: one-topic) model answers
    analyzer = Analyzer(encoder, fake_sentiment(16), (stage,))
    spec = ModelSpec("encoder/fake-encoder", "encoder", "-", "fake-1", "0" * 64, {})
    app = create_app(settings, registry_loader=lambda _: Registry(analyzer, (spec,)))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        text = "华为屏幕触控失灵"
        own = (await client.post("/v1/analyze", json={"text": text, "dataset": "shop"})).json()["topic"]
        plain = (await client.post("/v1/analyze", json={"text": text})).json()["topic"]
        other = (await client.post("/v1/analyze", json={"text": text, "dataset": "elsewhere"})).json()["topic"]
        screen = next(i for i, r in enumerate(themed_records(300, seed=1)) if "屏幕触控失灵" in r["text"])
        assert own["id"] == by_job[str(screen)] and own["label"] != plain["label"]
        assert plain["id"] == other["id"] == generic.topics[0].id
        batch = await client.post("/v1/analyze/batch", json={"items": [{"text": text}], "dataset": "shop"})
        assert batch.json()["items"][0]["topic"]["id"] == own["id"]


def _lines(files: JobFiles, store: JobStore, job_id: str) -> list[str]:
    out: list[str] = []
    for chunk in store.chunks(job_id):
        out += files.output_path(job_id, chunk.output or "").read_text().splitlines()
    return out


# -- names on real complaints (served encoder) ----------------------------------------------------------
_STOP_LIKE = {"发现", "暂时", "觉得", "现在", "gone", "still", "get", "got", "just"}


def _airline_sample(n_per: int) -> tuple[list[str], list[str]]:
    from training.topics.data import airline_complaints

    texts, reasons, _ = airline_complaints()
    keep = ("Lost Luggage", "Cancelled Flight", "Late Flight", "Flight Attendant Complaints")
    out_t, out_r = [], []
    counts = dict.fromkeys(keep, 0)
    for t, r in zip(texts, reasons, strict=True):
        if r in counts and counts[r] < n_per:
            counts[r] += 1
            out_t.append(t)
            out_r.append(r)
    return out_t, out_r


def _zh_sample(n_per: int) -> list[str]:
    from training import data

    kinds = {"酒店": 0, "手机": 0, "水果": 0}
    out = []
    for e in data.online_shopping():
        if e.label == "negative" and e.group in kinds and kinds[e.group] < n_per and len(e.text) >= 8:
            kinds[e.group] += 1
            out.append(e.text[:120])
    return out


@pytest.mark.model
def test_names_are_readable_key_phrases_in_each_language_without_brands_or_stop_words() -> None:
    from training.topics.analysed import analysed

    en, _ = _airline_sample(120)
    zh = _zh_sample(120)
    corpus = analysed(en + zh)
    fit, _, _, _ = fit_dataset_topics(
        corpus.messages, corpus.embeddings, FitParams(min_cluster_size=25), embed=_served_embedder()
    )
    topics = [t for t in fit.topics if t.id >= 0]
    assert len(topics) >= 4
    labels = [t.label for t in topics]
    assert len(set(labels)) == len(labels)  # distinct
    handles = {s[3].lstrip("@") for m in corpus.messages for s in m.spans}
    stop = load_stop_words()
    for t in topics:
        phrases = t.label.split(" / ")
        assert 2 <= len(phrases) <= 4, t.label
        assert not any(p in _STOP_LIKE or p in stop for p in phrases), t.label
        assert not all(p.lower() in handles or any(h in p.lower() for h in handles) for p in phrases), t.label
        assert len(t.representative) == 3
        main = max(t.languages, key=t.languages.__getitem__)
        if main == "zh":
            assert all(re.search(r"[\u4e00-\u9fff]", p) for p in phrases), t.label
        else:
            assert all(re.fullmatch(r"[a-z' \-]+", p) for p in phrases), t.label
    # a mixed dump: names per language where a topic has both
    assert {"en", "zh"} <= {lang for t in topics for lang in t.names}
    assert not any(re.search(r"1[3-9]\d{9}", r) for t in topics for r in t.representative)  # PII-masked


def _served_embedder():  # type: ignore[no-untyped-def]
    from models.registry import load_registry
    from models.settings import ModelSettings

    encoder = load_registry(ModelSettings()).analyzer.encoder
    return lambda texts: np.stack([o.embedding for o in encoder.forward(encoder.preprocess(texts))])


def test_topic_alerts_compare_only_runs_with_the_same_kind_of_topic_model() -> None:
    from service.jobs.aggregate import Aggregate, Group
    from service.jobs.report import build_report

    def agg(topics: dict[str, int]) -> Aggregate:
        a = Aggregate(analyzed=100)
        a.topics = {k: Group(count=c, label=f"t{k}") for k, c in topics.items()}
        return a

    generic = build_report("a", "d", 0, 1, 100, agg({"1": 60, "2": 40}), None, 0.2, 3).model_dump(mode="json")
    fitted = {"version": "dataset-x", "matched": 0, "new": [0, 1], "vanished": [], "stats": {}}
    first = build_report("b", "d", 2, 3, 100, agg({"0": 70, "1": 30}), generic, 0.2, 3, topic_model=fitted)
    assert not [a for a in first.alerts if a.kind in ("new_topic", "topic_share_rise")]  # other ids: not compared
    second = build_report(
        "c", "d", 4, 5, 100, agg({"0": 40, "1": 30, "2": 30}), first.model_dump(mode="json"), 0.2, 3, topic_model=fitted
    )
    assert [a.key for a in second.alerts if a.kind == "new_topic"] == ["2"]


_WITHOUT_TORCH = """
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("torch", "sentence_transformers", "transformers"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Block())
import numpy as np
from models.topics.fit import FitParams, build_message, fit_dataset_topics

rng = np.random.default_rng(0)
themes = ["退款一直没有到账", "快递三天了还没送到", "屏幕出现坏点和闪烁"]
centres = rng.standard_normal((3, 16))
texts, rows = [], []
for k, theme in enumerate(themes):
    for i in range(60):
        texts.append(f"{theme}，第{i}次联系客服")
        rows.append(centres[k] + 0.1 * rng.standard_normal(16))
messages = [build_message(t, "zh", []) for t in texts]
fit, _, _, _ = fit_dataset_topics(messages, np.asarray(rows, dtype=np.float32), FitParams(min_cluster_size=20))
print(len([t for t in fit.topics if t.id >= 0]), "torch" in sys.modules)
"""


def test_a_worker_without_torch_fits_dataset_topics() -> None:
    """The Docker worker installs BERTopic with --no-deps (its sentence-transformers pulls torch): the fit
    on stored embeddings must never import torch, sentence-transformers or transformers."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TORCH], cwd=root, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["3", "False"]


def test_airline_agreed_reasons_align_with_the_tweets_and_leave_out_cant_tell() -> None:
    """The rows the topics evaluation scores apart: same order as the tweets, full agreement only."""
    import csv

    from training import data
    from training.sentiment.data import undo_airline_leak
    from training.topics.data import airline_complaints, airline_reason_agreed

    texts, reasons, _ = airline_complaints()
    agreed = airline_reason_agreed()
    assert len(agreed) == len(texts)
    assert 0.2 < sum(agreed) / len(agreed) < 0.5  # a third of the tweets: the reasons are noisy
    assert not any(a and r == "Can't Tell" for a, r in zip(agreed, reasons, strict=True))
    confidence: dict[str, float] = {}
    with (data.data_root() / "airline_tweets_en" / "Tweets.csv").open(encoding="utf-8") as fh:
        seen: set[str] = set()
        for row in csv.DictReader(fh):
            if row["airline_sentiment"] == "negative" and row["negativereason"] and row["tweet_id"] not in seen:
                seen.add(row["tweet_id"])
                confidence.setdefault(undo_airline_leak(row["text"].strip()), float(row["negativereason_confidence"]))
    for text, reason, ok in zip(texts, reasons, agreed, strict=True):
        assert ok == (confidence[text] >= 0.999 and reason != "Can't Tell"), text
