"""Prometheus metrics for `GET /metrics`, built with prometheus-client.

Labels stay low-cardinality: provider, model, endpoint, status (and a fixed few like scope).
Never API keys, users or raw paths. Model names come from clients, so at most `MAX_MODELS`
distinct names get their own label; the rest are counted as "other". Endpoints are the proxy's
fixed route paths.

Each app gets its own `CollectorRegistry`. The proxy runs one uvicorn worker per process on
purpose (budgets and rate limits are in-process state too); run several processes behind a
load balancer and scrape each, so prometheus-client's multiprocess mode is not needed.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

MAX_MODELS = 50
_KNOWN_ENDPOINTS = frozenset(
    {"/v1/messages", "/v1/chat/completions", "/v1/responses", "/chat/completions", "/responses"}
)
# Seconds: proxy overhead is sub-millisecond to tens of ms; generations take up to minutes.
_OVERHEAD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        base = ("provider", "model")
        self.requests = Counter(
            "headroom_requests",
            "LLM requests handled",
            ("provider", "model", "endpoint", "status"),
            registry=r,
        )
        self.tokens_before = Counter(
            "headroom_tokens_before", "Request tokens before compression", base, registry=r
        )
        self.tokens_after = Counter(
            "headroom_tokens_after", "Request tokens after compression", base, registry=r
        )
        self.tokens_saved = Counter(
            "headroom_tokens_saved", "Request tokens removed by Headroom", base, registry=r
        )
        self.upstream_input = Counter(
            "headroom_upstream_input_tokens", "Uncached input tokens billed by the provider", base, registry=r
        )
        self.upstream_output = Counter(
            "headroom_upstream_output_tokens", "Output tokens billed by the provider", base, registry=r
        )
        self.upstream_cache_read = Counter(
            "headroom_upstream_cache_read_tokens",
            "Input tokens read from the provider's cache",
            base,
            registry=r,
        )
        self.upstream_cache_write = Counter(
            "headroom_upstream_cache_write_tokens",
            "Input tokens written to the provider's cache",
            base,
            registry=r,
        )
        self.cost = Counter(
            "headroom_cost_usd", "Cost of requests in USD (priced models only)", base, registry=r
        )
        self.saved_usd = Counter(
            "headroom_saved_usd",
            "Input cost avoided by compression in USD (priced models only)",
            base,
            registry=r,
        )
        self.unpriced = Counter(
            "headroom_unpriced_requests", "Requests for models without a price", base, registry=r
        )
        self.ccr_markers = Counter(
            "headroom_ccr_markers", "CCR markers emitted into requests", ("provider",), registry=r
        )
        self.ccr_retrievals = Counter(
            "headroom_ccr_retrievals",
            "headroom_retrieve calls answered by the proxy",
            ("provider", "result"),
            registry=r,
        )
        self.budget_rejections = Counter(
            "headroom_budget_rejections",
            "Requests refused by a hard budget",
            ("scope", "period", "unit"),
            registry=r,
        )
        self.budget_warnings = Counter(
            "headroom_budget_warnings", "Requests past a soft budget", ("scope", "period"), registry=r
        )
        self.rate_limit_rejections = Counter(
            "headroom_rate_limit_rejections",
            "Requests refused by a rate limit",
            ("scope", "kind"),
            registry=r,
        )
        ep = ("provider", "endpoint")
        self.latency = Histogram(
            "headroom_request_duration_seconds",
            "Total time per request",
            ep,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "headroom_overhead_seconds",
            "Headroom's own time per request (compression, accounting)",
            ep,
            buckets=_OVERHEAD_BUCKETS,
            registry=r,
        )
        self.upstream_latency = Histogram(
            "headroom_upstream_duration_seconds",
            "Time spent waiting for the upstream",
            ep,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "headroom_time_to_first_token_seconds",
            "Time from request to the first streamed byte of the answer",
            ep,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._models: set[str] = set()
        self._lock = threading.Lock()

    def model_label(self, model: str | None) -> str:
        if not model:
            return "unknown"
        model = model[:80]
        if model in self._models:
            return model
        with self._lock:
            if len(self._models) < MAX_MODELS:
                self._models.add(model)
                return model
        return "other"

    @staticmethod
    def endpoint_label(endpoint: str) -> str:
        return endpoint if endpoint in _KNOWN_ENDPOINTS else "other"

    def observe(self, record: Any, account: Any) -> None:
        """One finished request (`RequestRecord`) and its `CallAccount`."""
        provider = record.provider
        model = self.model_label(record.model)
        endpoint = self.endpoint_label(record.endpoint)
        self.requests.labels(provider, model, endpoint, str(record.status)).inc()
        if record.tokens_before is not None and record.tokens_after is not None:
            self.tokens_before.labels(provider, model).inc(record.tokens_before)
            self.tokens_after.labels(provider, model).inc(record.tokens_after)
            self.tokens_saved.labels(provider, model).inc(max(0, record.tokens_before - record.tokens_after))
        usage = account.usage
        if usage is not None:
            self.upstream_input.labels(provider, model).inc(usage.input_tokens)
            self.upstream_output.labels(provider, model).inc(usage.output_tokens)
            self.upstream_cache_read.labels(provider, model).inc(usage.cache_read_tokens)
            self.upstream_cache_write.labels(provider, model).inc(usage.cache_write_tokens)
        if account.cost_usd is not None:
            self.cost.labels(provider, model).inc(account.cost_usd)
        if account.saved_usd is not None:
            self.saved_usd.labels(provider, model).inc(account.saved_usd)
        if account.pricing == "unpriced":
            self.unpriced.labels(provider, model).inc()
        self.latency.labels(provider, endpoint).observe(record.seconds)
        self.overhead.labels(provider, endpoint).observe(record.overhead_seconds)
        self.upstream_latency.labels(provider, endpoint).observe(
            max(0.0, record.seconds - record.overhead_seconds)
        )
        first = getattr(record, "first_byte_seconds", None)
        if record.stream and first is not None:
            self.ttft.labels(provider, endpoint).observe(first)

    def render(self) -> bytes:
        return generate_latest(self.registry)
