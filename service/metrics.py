"""Prometheus metrics, one registry per app (no global state shared between apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tousu_http_requests_total", "HTTP requests", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "tousu_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=(0.001, 0.003, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.messages = Counter("tousu_messages_total", "Messages analysed", ["source"], registry=self.registry)
        self.cache = Counter("tousu_cache_total", "Cache lookups", ["result"], registry=self.registry)
        self.batch_size = Histogram(
            "tousu_batch_size",
            "Messages per model batch",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "tousu_batch_seconds",
            "Model time per batch",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "tousu_stage_seconds",
            "Model time per batch and phase (encoder, sentiment, each stage)",
            ["stage"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2),
            registry=self.registry,
        )
        self.queue_depth = Gauge("tousu_queue_depth", "Messages waiting for the model", registry=self.registry)
        self.errors = Counter("tousu_errors_total", "API errors", ["error_type"], registry=self.registry)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.stage_seconds.labels(stage=stage).observe(seconds)
