"""Cache + batcher + analyzer: what the routes call to turn messages into answers."""

from __future__ import annotations

import dataclasses

import orjson

from models.batcher import DynamicBatcher
from models.pipeline import AnalysisFailure, AnalysisInput, Analyzer
from models.schema import Analysis
from service.cache import Cache
from service.metrics import Metrics


class MessageFailedError(Exception):
    """Message ``index`` of a request could not be analysed at all (the others could)."""

    def __init__(self, index: int, failure: AnalysisFailure) -> None:
        super().__init__(failure.message)
        self.index = index
        self.failure = failure


class AnalysisService:
    def __init__(
        self,
        analyzer: Analyzer,
        batcher: DynamicBatcher[AnalysisInput, Analysis | AnalysisFailure],
        cache: Cache,
        cache_ttl_s: int,
        metrics: Metrics,
    ) -> None:
        self.analyzer = analyzer
        self.batcher = batcher
        self.cache = cache
        self.cache_ttl_s = cache_ttl_s
        self.metrics = metrics

    async def analyze(self, items: list[AnalysisInput], use_cache: bool = True) -> list[bytes]:
        """Answer each item as JSON bytes, in order. Identical messages are computed once.

        Cached values are answers without ``id`` (the same text may come with many ids); degraded answers
        (with ``warnings``) are not cached. Raises :class:`MessageFailedError` for a message with no answer.
        """
        keys = [self.analyzer.cache_key(item) for item in items]
        # An answer that depends on the customer's history (risk repetition, see Analyzer.cacheable) is
        # computed for every message and never read from or written to the cache: it gets a private key.
        # So is an answer that carries raw personal data (``options.include_pii``): it must never be stored.
        private = {
            n for n, item in enumerate(items) if not self.analyzer.cacheable(item) or item.options.get("include_pii")
        }
        keys = [f"{k}#{n}" if n in private else k for n, k in enumerate(keys)]
        shared = [k for n, k in enumerate(keys) if n not in private]
        found: dict[str, bytes] = {}
        if use_cache and shared:
            unique = list(dict.fromkeys(shared))
            for key, value in zip(unique, await self.cache.get_many(unique), strict=True):
                if value is not None:
                    found[key] = value
        hits = {k for k in keys if k in found}
        todo: dict[str, AnalysisInput] = {}
        for key, item in zip(keys, items, strict=True):
            if key not in found and key not in todo:
                todo[key] = item
        self.metrics.cache.labels("hit").inc(sum(1 for k in keys if k in hits))
        self.metrics.cache.labels("miss").inc(sum(1 for k in shared if k not in hits))
        if private:
            self.metrics.cache.labels("bypass").inc(len(private))
        if todo:
            self.metrics.queue_depth.set(self.batcher.depth + len(todo))
            results = await self.batcher.submit_many([dataclasses.replace(i, id=None) for i in todo.values()])
            for key, result in zip(todo, results, strict=True):
                if isinstance(result, AnalysisFailure):
                    raise MessageFailedError(keys.index(key), result)
            answers = dict(zip(todo, (r for r in results if isinstance(r, Analysis)), strict=True))
            fresh = {key: r.model_dump_json().encode() for key, r in answers.items()}
            found.update(fresh)
            if use_cache:
                cacheable = {k for k in shared if k in answers and not answers[k].warnings}
                await self.cache.set_many({k: v for k, v in fresh.items() if k in cacheable}, self.cache_ttl_s)
        self.metrics.messages.labels("api").inc(len(items))
        out: list[bytes] = []
        for key, item in zip(keys, items, strict=True):
            body = orjson.loads(found[key])
            body["id"] = item.id
            body["cached"] = key in hits
            out.append(orjson.dumps(body))
        return out
