"""Operations figures (issue 14): what accounting, metrics, the request log, budgets and rate
limits add to one proxy request, and the dashboard's page weight.

Measured in process, on the exact code the proxy runs per request: the gate (a rate limit and a
budget configured), reading the provider's usage from the response, and the observer (cost,
Prometheus metrics, one request-log line, the shared usage-log line). Bounded loops, no sockets.

    python -m benchmarks.run --only ops
    python -m benchmarks.workloads.ops_workloads
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import statistics
import tempfile
import time
from typing import Any

from benchmarks._harness import Workload

REQUESTS = 3000
WARM_UP = 200
MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5", "gpt-4o", "gpt-4o-mini", "gemini-2.5-flash", "my-finetune")


def workloads() -> list[Workload]:
    return []  # these figures are per-request overheads and page sizes, reported by extra_reports()


def _operations(tmp: str, request_log: bool) -> Any:
    from headroom_core import HeadroomConfig
    from headroom_proxy._budgets import Budget
    from headroom_proxy._ops import Operations, OpsConfig
    from headroom_proxy._ratelimit import RateLimit

    cfg = OpsConfig(
        request_log=request_log,
        request_log_path=os.path.join(tmp, "requests.jsonl"),
        budgets=[Budget("daily", usd=1e9, soft_usd=1e9), Budget("per-key", scope="key", tokens=1e15)],
        rate_limits=[RateLimit("key", requests_per_minute=1e9, tokens_per_minute=1e15)],
    )
    return Operations(cfg, usage_config=HeadroomConfig(ccr_path=os.path.join(tmp, "ccr")))


def _one_request_factory(ops: Any) -> Any:
    from headroom_proxy._adapter import Outcome
    from headroom_proxy._app import RequestInfo, RequestRecord
    from headroom_proxy._usage_tap import usage_of_body

    body = json.dumps(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": "All good. " * 40}],
            "usage": {"input_tokens": 5200, "output_tokens": 420, "cache_read_input_tokens": 40000},
        }
    ).encode()
    headers = {"x-api-key": "sk-ant-bench-" + "k" * 40, "anthropic-version": "2023-06-01"}
    payload = {"model": "claude-sonnet-4-6", "max_tokens": 1024, "messages": []}

    async def one() -> None:
        notes: dict[str, Any] = {"request_bytes": 20000}
        outcome = Outcome("compressed", None, 9000, 5200, ("k1",))
        info = RequestInfo("anthropic", "/v1/messages", "claude-sonnet-4-6", headers, outcome, payload, notes)
        answer = await ops.gate(info)
        assert answer is None
        usage = usage_of_body(body, None)
        ops.observe(
            RequestRecord(
                "anthropic", "/v1/messages", "claude-sonnet-4-6", 200, False, "compressed",
                9000, 5200, 0, 1.2, 0.004, usage, None, notes,
            )
        )  # fmt: skip

    return one


def _overhead_us(request_log: bool) -> tuple[float, float]:
    tmp = tempfile.mkdtemp(prefix="headroom-bench-ops-")
    try:
        ops = _operations(tmp, request_log)
        one = _one_request_factory(ops)

        async def run() -> list[float]:
            times = []
            for i in range(WARM_UP + REQUESTS):
                start = time.perf_counter()
                await one()
                if i >= WARM_UP:
                    times.append((time.perf_counter() - start) * 1e6)
            return times

        times = sorted(asyncio.run(run()))
        return statistics.median(times), times[int(len(times) * 0.99) - 1]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _synthetic_stats() -> dict[str, Any]:
    """A day of traffic (5,000 requests over six models) through the real stats code."""
    from headroom_core._requestlog import summarize

    now = time.time()
    entries = []
    for i in range(5000):
        before = 2000 + (i * 7919) % 30000
        entries.append(
            {
                "ts": now - (i * 17.28) % 86400,
                "provider": "anthropic",
                "model": MODELS[i % len(MODELS)],
                "endpoint": "/v1/messages",
                "status": 200 if i % 50 else 529,
                "tokens_before": before,
                "tokens_after": before // 3,
                "usage": {"input_tokens": before // 3, "output_tokens": 300, "cache_read_tokens": 0,
                          "cache_write_tokens": 0},
                "cost_usd": 0.004,
                "saved_usd": 0.002,
                "pricing": "priced",
                "key_id": f"key_{i % 20:016x}",
            }
        )  # fmt: skip
    by_model, by_hour = summarize(entries, "model"), summarize(entries, "hour")
    budgets = [
        {"name": "daily", "scope": "global", "key_id": None, "period": "day", "unit": "usd", "limit": 50.0,
         "soft_limit": 40.0, "spent": 21.3, "reserved": 0.1},
        {"name": "per-key", "scope": "key", "key_id": "key_0000000000000001", "period": "month", "unit": "tokens",
         "limit": 5e7, "soft_limit": None, "spent": 4.1e7, "reserved": 0.0},
    ]  # fmt: skip
    return {
        "generated_at": now,
        "window": "24h",
        "since": now - 86400,
        "total": by_model["total"],
        "by_model": by_model["groups"],
        "by_hour": by_hour["groups"],
        "budgets": budgets,
        "prices": {"taken": "2026-06-30", "source": "bench"},
    }


def _dashboard_lines() -> list[str]:
    from headroom_proxy._dashboard import render_dashboard

    stats = _synthetic_stats()
    times = []
    for _ in range(20):
        start = time.perf_counter()
        page = render_dashboard(stats).encode()
        times.append((time.perf_counter() - start) * 1000)
    return [
        f"| dashboard page weight (24h, 5,000 requests, 6 models, 2 budgets) | {len(page) / 1024:.1f} KB "
        f"({len(gzip.compress(page)) / 1024:.1f} KB gzipped), one request, no script, no external resource |",
        f"| dashboard render time | {statistics.median(times):.2f} ms p50 |",
    ]


def extra_reports() -> list[str]:
    with_log = _overhead_us(request_log=True)
    without_log = _overhead_us(request_log=False)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return [
        "",
        "### Operations (issue 14)",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| accounting + metrics + budgets + rate limit + request log, per request | "
        f"{with_log[0]:.0f} µs p50, {with_log[1]:.0f} µs p99 (target < 1 ms p50) |",
        f"| same without the request log | {without_log[0]:.0f} µs p50, {without_log[1]:.0f} µs p99 |",
        *_dashboard_lines(),
        "",
        f"Load average when these figures were taken: {load:.1f} on {os.cpu_count()} cores; "
        f"{REQUESTS:,} requests after {WARM_UP} warm-up.",
    ]


if __name__ == "__main__":
    print("\n".join(extra_reports()))
