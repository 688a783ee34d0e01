"""The proxy's operations layer: accounting, metrics, request log, budgets, rate limits, stats.

`Operations` plugs into the proxy through `ProxyHooks` (see `_app`): one gate (rate limits,
then budgets, before a request goes upstream), one observer (when it ends: account the call
with `headroom_core._accounting`, update metrics, write the request log, settle budgets), and
the routes `GET /metrics`, `GET /stats` and `GET /dashboard`.

Configuration comes from the same TOML file as `[proxy]`:

    [request_log]            # on by default
    path = "/var/log/headroom/requests.jsonl"
    max_mb = 50
    backups = 5
    log_content = false      # true: prompts and responses in clear text (debugging only)

    [prices]
    file = "my-prices.toml"  # extends / overrides the shipped table

    [[budgets]]
    name = "team-daily"
    scope = "global"         # or "key": each hashed API key on its own
    period = "day"           # hour, day or month (UTC calendar)
    usd = 50.0               # hard limit; tokens = ... for a token budget
    soft_usd = 40.0          # warning header and log line past it

    [[rate_limits]]
    scope = "key"
    requests_per_minute = 60
    tokens_per_minute = 200000
"""

from __future__ import annotations

import collections
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from headroom_core._accounting import PriceTable, account_call, default_prices, load_prices
from headroom_core._requestlog import (
    DEFAULT_BACKUPS,
    DEFAULT_MAX_BYTES,
    RequestLog,
    key_id_from_headers,
    parse_duration,
    read_entries,
    summarize,
)
from headroom_core._usage import record_usage
from headroom_proxy._budgets import Budget, Budgets, BudgetStore, Rejection, Ticket
from headroom_proxy._metrics import CONTENT_TYPE, Metrics
from headroom_proxy._ratelimit import RateLimit, RateLimiter, RateLimitStore
from headroom_proxy._settings import ProxyConfigError

log = logging.getLogger("headroom.proxy.ops")

BUDGET_STATUS = 402
"""Hard budget refusals: not retried by the official SDKs (they retry 408, 409, 429 and 5xx)."""
DEFAULT_RESERVE_OUTPUT_TOKENS = 4096
_MEMORY_ENTRIES = 20_000
_CONTENT_CAP = 256 * 1024


class OpsConfigError(ProxyConfigError):
    """A bad operations table in the config file (a one-line message)."""


@dataclass
class OpsConfig:
    request_log: bool = True
    request_log_path: str | None = None
    request_log_max_bytes: int = DEFAULT_MAX_BYTES
    request_log_backups: int = DEFAULT_BACKUPS
    log_content: bool = False
    prices_file: str | None = None
    budgets: list[Budget] = field(default_factory=list)
    rate_limits: list[RateLimit] = field(default_factory=list)
    reserve_output_tokens: int = DEFAULT_RESERVE_OUTPUT_TOKENS
    metrics: bool = True
    shared_usage: bool = True
    """Also count savings in the usage log shared with the MCP server (`<CCR dir>/usage.jsonl`)."""


def ops_config_from(doc: Mapping[str, Any], where: str = "config") -> OpsConfig:
    """The operations tables of a decoded TOML document."""
    cfg = OpsConfig()
    try:
        rl = doc.get("request_log", {})
        if not isinstance(rl, Mapping):
            raise OpsConfigError("[request_log] must be a table")
        unknown = set(rl) - {"enabled", "path", "max_mb", "backups", "log_content"}
        if unknown:
            raise OpsConfigError(f"unknown key(s) in [request_log]: {', '.join(sorted(unknown))}")
        cfg.request_log = bool(rl.get("enabled", True))
        cfg.request_log_path = rl.get("path") or None
        cfg.request_log_max_bytes = int(float(rl.get("max_mb", DEFAULT_MAX_BYTES / 2**20)) * 2**20)
        cfg.request_log_backups = int(rl.get("backups", DEFAULT_BACKUPS))
        cfg.log_content = rl.get("log_content", False) is True
        prices = doc.get("prices", {})
        if not isinstance(prices, Mapping):
            raise OpsConfigError("[prices] must be a table")
        cfg.prices_file = prices.get("file") or None
        cfg.reserve_output_tokens = int(prices.get("reserve_output_tokens", DEFAULT_RESERVE_OUTPUT_TOKENS))
        budgets = doc.get("budgets", [])
        limits = doc.get("rate_limits", [])
        if not isinstance(budgets, list) or not isinstance(limits, list):
            raise OpsConfigError("[[budgets]] and [[rate_limits]] must be arrays of tables")
        for i, entry in enumerate(budgets):
            if not isinstance(entry, Mapping):
                raise OpsConfigError("each [[budgets]] entry must be a table")
            cfg.budgets.append(Budget(**{"name": f"budget-{i + 1}", **entry}))
        for entry in limits:
            if not isinstance(entry, Mapping):
                raise OpsConfigError("each [[rate_limits]] entry must be a table")
            cfg.rate_limits.append(RateLimit(**{"scope": "global", **entry}))
    except OpsConfigError as exc:
        raise OpsConfigError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise OpsConfigError(f"{where}: {exc}") from None
    return cfg


def read_ops_config(path: str | None) -> OpsConfig:
    if not path:
        return OpsConfig()
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: the [proxy] extra installs tomli
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise OpsConfigError(f"cannot read config file {path}: {exc}") from None
    return ops_config_from(doc, f"config file {path}")


def operations_for(
    settings: Any,
    *,
    budget_store: BudgetStore | None = None,
    rate_limit_store: RateLimitStore | None = None,
) -> Operations:
    """The operations layer for `ProxySettings`: tables from its config file, `request_log`.
    The stores default to in-process ones; a shared (Redis) store plugs in here."""
    cfg = read_ops_config(settings.config_file)
    if settings.request_log == "off":
        cfg.request_log = False
    elif settings.request_log:
        cfg.request_log_path = settings.request_log
    if budget_store is None and rate_limit_store is None:
        from headroom_proxy._redis_state import shared_stores  # Redis when `ccr_url` is set

        shared = shared_stores(settings)
        budget_store, rate_limit_store = shared.get("budget_store"), shared.get("rate_limit_store")
    return Operations(
        cfg,
        usage_config=settings.headroom_config(),
        budget_store=budget_store,
        rate_limit_store=rate_limit_store,
    )


def _error_response(provider: str, status: int, kind: str, message: str, headers: dict[str, str]) -> Response:
    if provider == "anthropic":
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        body = {"error": {"message": message, "type": kind, "param": None, "code": kind}}
    return JSONResponse(body, status_code=status, headers=headers)


def _max_output(payload: Any) -> int | None:
    if not isinstance(payload, Mapping):
        return None
    for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


class Operations:
    """Everything the operations layer keeps for one proxy app."""

    def __init__(
        self,
        config: OpsConfig | None = None,
        *,
        prices: PriceTable | None = None,
        budget_store: BudgetStore | None = None,
        rate_limit_store: RateLimitStore | None = None,
        usage_config: Any = None,
    ) -> None:
        self.config = config or OpsConfig()
        self.usage_config = usage_config
        """The `HeadroomConfig` whose CCR directory holds the shared usage log (`_usage.py`)."""
        if prices is None:
            prices = load_prices(self.config.prices_file) if self.config.prices_file else default_prices()
        self.prices = prices
        self.metrics = Metrics() if self.config.metrics else None
        self.budgets = Budgets(self.config.budgets, budget_store)
        self.rate_limiter = RateLimiter(self.config.rate_limits, rate_limit_store)
        # In-process stores answer in microseconds; a shared store (Redis) is network I/O, so
        # its checks run in a worker thread and a slow server never holds up the event loop.
        self.offload_checks = budget_store is not None or rate_limit_store is not None
        self.request_log = (
            RequestLog(
                self.config.request_log_path,
                max_bytes=self.config.request_log_max_bytes,
                backups=self.config.request_log_backups,
                log_content=self.config.log_content,
            )
            if self.config.request_log
            else None
        )
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=_MEMORY_ENTRIES)
        self._recent_lock = threading.Lock()
        self._unpriced_warned: set[str] = set()

    # -- hooks ---------------------------------------------------------------------

    def hooks(self) -> Any:
        from headroom_proxy._app import ProxyHooks

        return ProxyHooks(gates=[self.gate], observers=[self.observe], routes=self.routes())

    def install(self, hooks: Any) -> Any:
        """Add this layer to existing `ProxyHooks` (returns them)."""
        hooks.gates.append(self.gate)
        hooks.observers.append(self.observe)
        hooks.routes.extend(self.routes())
        retrieval = getattr(hooks, "retrieval_observers", None)
        if retrieval is not None:
            retrieval.append(self.observe_retrieval)
        return hooks

    def routes(self) -> list[BaseRoute]:
        out: list[BaseRoute] = [
            Route("/stats", self.stats_endpoint, methods=["GET"]),
            Route("/dashboard", self.dashboard_endpoint, methods=["GET"]),
        ]
        if self.metrics is not None:
            out.insert(0, Route("/metrics", self.metrics_endpoint, methods=["GET"]))
        return out

    # -- before the upstream ---------------------------------------------------------

    def estimate(self, info: Any) -> tuple[float, float | None, int]:
        """(tokens, USD or None when unpriced, output reserve) a request may cost."""
        outcome = info.outcome
        notes = getattr(info, "notes", None) or {}
        if outcome.tokens_after is not None:
            input_tokens = outcome.tokens_after
        else:
            input_tokens = int(notes.get("request_bytes", 0)) // 4
        output = _max_output(getattr(info, "payload", None)) or self.config.reserve_output_tokens
        price = self.prices.lookup(info.model if isinstance(info.model, str) else None)
        usd = None if price is None else (input_tokens * price.input + output * price.output) / 1e6
        return float(input_tokens + output), usd, output

    async def gate(self, info: Any) -> Response | None:
        notes = getattr(info, "notes", None)
        if notes is None:
            notes = {}
        key_id = key_id_from_headers(info.headers)
        notes["key_id"] = key_id
        notes["ccr_markers"] = len(info.outcome.ccr_keys or ())
        if self.request_log is not None and self.request_log.log_content:
            payload = getattr(info, "payload", None)
            if payload is not None:
                notes["request_content"] = payload
        if not self.rate_limiter and not self.budgets:
            return None
        tokens, usd, _ = self.estimate(info)
        extra: list[tuple[bytes, bytes]] = notes.setdefault("response_headers", [])
        if self.rate_limiter:
            if self.offload_checks:
                decision = await anyio.to_thread.run_sync(self.rate_limiter.check, key_id, tokens)
            else:
                decision = self.rate_limiter.check(key_id, tokens)
            remaining = decision.remaining or {}
            limits = decision.limits or {}
            if not decision.allowed:
                scope, _, kind = (decision.blocked_by or "global:requests").partition(":")
                if self.metrics is not None:
                    self.metrics.rate_limit_rejections.labels(scope, kind).inc()
                retry = max(1, math.ceil(decision.retry_after))
                headers = {"retry-after": str(retry), "x-headroom-limit": "rate_limit"}
                for dim in ("requests", "tokens"):
                    if dim in limits:
                        headers[f"x-ratelimit-limit-{dim}"] = str(int(limits[dim]))
                        headers[f"x-ratelimit-remaining-{dim}"] = str(int(remaining.get(dim, 0)))
                        headers[f"x-ratelimit-reset-{dim}"] = f"{decision.retry_after:.3f}s"
                log.warning("rate limit (%s %s) refused a request; retry after %ss", scope, kind, retry)
                kind_name = "rate_limit_error" if info.provider == "anthropic" else "rate_limit_exceeded"
                return _error_response(
                    info.provider,
                    429,
                    kind_name,
                    f"Headroom proxy rate limit reached ({scope} {kind} per minute); retry after {retry}s.",
                    headers,
                )
            for dim in ("requests", "tokens"):
                if dim in remaining:
                    extra.append(
                        (f"x-headroom-ratelimit-remaining-{dim}".encode(), str(int(remaining[dim])).encode())
                    )
            notes["rate_tokens"] = tokens
        if self.budgets:
            if self.offload_checks:
                admitted = await anyio.to_thread.run_sync(self.budgets.admit, key_id, usd, tokens)
            else:
                admitted = self.budgets.admit(key_id, usd, tokens)
            if isinstance(admitted, Rejection):
                budget = admitted.budget
                if self.metrics is not None:
                    self.metrics.budget_rejections.labels(budget.scope, budget.period, admitted.unit).inc()
                self._refund_rate(notes, key_id)
                log.warning("budget %r (%s) refused a request", budget.name, admitted.unit)
                return _error_response(
                    info.provider,
                    BUDGET_STATUS,
                    "budget_exceeded",
                    admitted.message(),
                    {
                        "x-should-retry": "false",
                        "x-headroom-limit": "budget",
                        "x-headroom-budget": budget.name,
                        "x-headroom-budget-resets": str(int(admitted.resets_at)),
                    },
                )
            notes["budget_ticket"] = admitted
            if admitted.warnings:
                if self.metrics is not None:
                    for budget in self.budgets.budgets:
                        if any(w.startswith(budget.name + ":") for w in admitted.warnings):
                            self.metrics.budget_warnings.labels(budget.scope, budget.period).inc()
                text = "; ".join(admitted.warnings)
                log.warning("soft budget limit: %s", text)
                extra.append((b"x-headroom-budget-warning", text.encode("ascii", "replace")))
        return None

    def _refund_rate(self, notes: dict[str, Any], key_id: str | None) -> None:
        tokens = notes.pop("rate_tokens", None)
        if tokens:
            self.rate_limiter.settle(key_id, tokens, 0.0)

    # -- after the upstream ----------------------------------------------------------

    def observe(self, record: Any) -> None:
        notes = getattr(record, "notes", None) or {}
        usage = getattr(record, "usage", None)
        account = account_call(
            record.model,
            usage,
            tokens_before=record.tokens_before,
            tokens_after=record.tokens_after,
            prices=self.prices,
        )
        if (
            account.pricing == "unpriced"
            and record.model
            and record.model not in self._unpriced_warned
            and len(self._unpriced_warned) < 1000
        ):
            self._unpriced_warned.add(record.model)
            log.info("model %r has no price: its cost is reported as unpriced", record.model)
        if self.metrics is not None:
            self.metrics.observe(record, account)
            markers = notes.get("ccr_markers")
            if markers:
                self.metrics.ccr_markers.labels(record.provider).inc(markers)
        key_id = notes.get("key_id")
        billed = usage.total_tokens if usage is not None else None
        failed = record.status >= 400
        rate_tokens = notes.get("rate_tokens")
        if rate_tokens:
            actual = billed if billed is not None else (0.0 if failed else rate_tokens)
            self.rate_limiter.settle(key_id, rate_tokens, actual)
        ticket = notes.get("budget_ticket")
        if isinstance(ticket, Ticket):
            if usage is not None:
                self.budgets.settle(ticket, account.cost_usd or 0.0, float(billed or 0))
            elif failed:  # upstream errors are not billed
                self.budgets.settle(ticket, 0.0, 0.0)
            else:  # no usage reported: keep the estimate
                self.budgets.settle(ticket, None, None)
        entry = {
            "ts": round(time.time(), 3),
            "provider": record.provider,
            "model": record.model,
            "endpoint": record.endpoint,
            "status": record.status,
            "stream": record.stream,
            "compression": record.compression,
            "tokens_before": record.tokens_before,
            "tokens_after": record.tokens_after,
            "tokens_saved": account.tokens_saved,
            "usage": usage.as_dict() if usage is not None else None,
            "cost_usd": account.cost_usd,
            "saved_usd": account.saved_usd,
            "pricing": account.pricing,
            "latency_ms": round(record.seconds * 1000, 2),
            "overhead_ms": round(record.overhead_seconds * 1000, 3),
            "ccr_rounds": record.ccr_rounds,
            "ccr_markers": notes.get("ccr_markers", 0),
            "key_id": key_id,
        }
        with self._recent_lock:
            self.recent.append(entry)
        if self.config.shared_usage and record.tokens_before is not None and record.tokens_after is not None:
            # The savings counter shared with the MCP server and the SDK (figures only).
            record_usage(
                "proxy",
                "compress",
                tokens_before=record.tokens_before,
                tokens_after=record.tokens_after,
                ccr_keys=int(notes.get("ccr_markers") or 0),
                model=record.model,
                config=self.usage_config,
            )
        if self.request_log is not None:
            if self.request_log.log_content:
                entry = dict(entry)
                entry["request"] = notes.get("request_content")
                text = notes.get("response_text")
                if isinstance(text, (bytes, bytearray)):
                    text = bytes(text[:_CONTENT_CAP]).decode("utf-8", "replace")
                entry["response"] = text
            self.request_log.write(entry)

    def observe_retrieval(self, provider: str, answer: str) -> None:
        if self.config.shared_usage:
            record_usage("proxy", "retrieve", config=self.usage_config)
        if self.metrics is None:
            return
        miss = answer.startswith(("No stored content", "Retrieval is unavailable", "`key` must"))
        self.metrics.ccr_retrievals.labels(provider, "miss" if miss else "hit").inc()

    # -- read side ---------------------------------------------------------------------

    def stats(self, since: str = "24h", key_id: str | None = None) -> dict[str, Any]:
        """What `GET /stats` returns (reads the request log; runs in a worker thread)."""
        seconds = parse_duration(since)
        start = time.time() - seconds
        if self.request_log is not None and os.path.exists(self.request_log.path):
            entries = list(read_entries(self.request_log.path, since=start))
            source = self.request_log.path
        else:
            with self._recent_lock:
                entries = [e for e in self.recent if e["ts"] >= start]
            source = "memory (request log off)"
        by_model = summarize(entries, "model")
        by_hour = summarize(entries, "hour")
        return {
            "generated_at": time.time(),
            "window": since,
            "since": start,
            "source": source,
            "total": by_model["total"],
            "by_model": by_model.get("groups", {}),
            "by_hour": by_hour.get("groups", {}),
            "budgets": self.budgets.state(key_id),
            "rate_limits": [vars(limit) for limit in self.rate_limiter.limits],
            "prices": {"taken": self.prices.taken, "source": self.prices.source, "models": len(self.prices)},
        }

    async def _stats_for(self, request: Request) -> dict[str, Any] | Response:
        since = request.query_params.get("since", "24h")
        try:
            parse_duration(since)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return await anyio.to_thread.run_sync(self.stats, since)

    async def stats_endpoint(self, request: Request) -> Response:
        stats = await self._stats_for(request)
        if isinstance(stats, Response):
            return stats
        return JSONResponse(stats)

    async def dashboard_endpoint(self, request: Request) -> Response:
        from headroom_proxy._dashboard import render_dashboard

        stats = await self._stats_for(request)
        if isinstance(stats, Response):
            return stats
        return HTMLResponse(render_dashboard(stats), headers={"cache-control": "no-store"})

    async def metrics_endpoint(self, request: Request) -> Response:
        assert self.metrics is not None
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)
