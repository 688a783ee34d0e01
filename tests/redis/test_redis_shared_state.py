"""Budgets and rate limits shared through a real Redis: atomic under concurrency, one limit
across several instances (threads and separate processes), and failing open when Redis is down."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from headroom_proxy._budgets import Budget, Budgets, Rejection
from headroom_proxy._ratelimit import RateLimit, RateLimiter
from headroom_proxy._redis_state import RedisBudgetStore, RedisRateLimitStore

pytestmark = pytest.mark.enable_socket
ROOT = Path(__file__).resolve().parents[2]


def test_budget_store_reserve_settle_level(redis_url: str) -> None:
    store = RedisBudgetStore(redis_url)
    assert store.reserve("b|global|tokens|2026-01-01", 5.0, 10.0)
    assert store.reserve("b|global|tokens|2026-01-01", 4.5, 10.0)
    assert store.level("b|global|tokens|2026-01-01") == (0.0, 9.5)
    store.settle("b|global|tokens|2026-01-01", 5.0, 7.25)
    assert store.level("b|global|tokens|2026-01-01") == (7.25, 4.5)
    assert store.reserve("b|global|tokens|2026-01-01", 1.0, 12.0)  # 11.75 < 12
    assert not store.reserve("b|global|tokens|2026-01-01", 1.0, 12.0)  # 12.75 >= 12
    assert store.reserve("b|global|tokens|2026-01-01", 1.0, None)  # no limit: always
    store.settle("b|global|tokens|2026-01-01", 100.0, 0.0)  # never below zero
    assert store.level("b|global|tokens|2026-01-01") == (7.25, 0.0)
    assert store.level("unknown") == (0.0, 0.0)


def test_budget_holds_across_two_instances_under_concurrent_load(redis_url: str) -> None:
    budget = Budget(name="team", scope="global", period="day", tokens=40)
    instances = [Budgets([budget], RedisBudgetStore(redis_url)) for _ in range(2)]

    def one(i: int) -> bool:
        return not isinstance(instances[i % 2].admit("key_a", None, 1.0), Rejection)

    with ThreadPoolExecutor(max_workers=16) as pool:
        admitted = sum(pool.map(one, range(200)))
    assert admitted == 40  # each reserved 1 token: exactly the budget, on both instances together
    assert isinstance(instances[0].admit("key_a", None, 1.0), Rejection)
    assert isinstance(instances[1].admit("key_a", None, 1.0), Rejection)


_WORKER = r"""
import json, sys
from concurrent.futures import ThreadPoolExecutor
from headroom_proxy._budgets import Budget, Budgets, Rejection
from headroom_proxy._ratelimit import RateLimit, RateLimiter
from headroom_proxy._redis_state import RedisBudgetStore, RedisRateLimitStore
url, n = sys.argv[1], int(sys.argv[2])
budgets = Budgets([Budget(name="shared", scope="key", period="month", tokens=25)], RedisBudgetStore(url))
limiter = RateLimiter([RateLimit(scope="global", requests_per_minute=30)], RedisRateLimitStore(url))
def one(_):
    b = not isinstance(budgets.admit("key_team", None, 1.0), Rejection)
    r = limiter.check("key_team", 1.0).allowed
    return b, r
with ThreadPoolExecutor(max_workers=8) as pool:
    results = list(pool.map(one, range(n)))
print(json.dumps({"budget": sum(b for b, _ in results), "rate": sum(r for _, r in results)}))
"""


def test_one_budget_and_one_rate_limit_across_two_processes(redis_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, redis_url, "60"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        for _ in range(2)
    ]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        outs.append(json.loads(out))
    elapsed = time.monotonic() - started
    assert sum(o["budget"] for o in outs) == 25
    # 30 requests per minute, refilling at 0.5 per second while the two processes ran.
    allowed = sum(o["rate"] for o in outs)
    assert 30 <= allowed <= 30 + math.ceil(elapsed * 30 / 60)


def test_rate_limit_store_takes_all_or_nothing(redis_url: str) -> None:
    store = RedisRateLimitStore(redis_url)
    ok, wait, levels = store.take([("a", 10.0, 4.0), ("b", 100.0, 50.0)], 0.0)
    assert ok and wait == 0.0 and levels[0] == pytest.approx(6.0, abs=0.01)
    ok, wait, levels = store.take([("a", 10.0, 4.0), ("b", 100.0, 60.0)], 0.0)
    assert not ok and wait > 0  # b lacks room: a must not have been taken either
    ok, _, levels = store.take([("a", 10.0, 4.0)], 0.0)
    assert ok and levels[0] == pytest.approx(2.0, abs=0.01)
    store.adjust("a", 10.0, -3.0, 0.0)  # give back
    ok, _, levels = store.take([("a", 10.0, 0.0)], 0.0)
    assert levels[0] == pytest.approx(5.0, abs=0.01)


def test_rate_limit_is_shared_by_two_instances(redis_url: str) -> None:
    limits = [RateLimit(scope="key", requests_per_minute=20)]
    limiters = [RateLimiter(limits, RedisRateLimitStore(redis_url)) for _ in range(2)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        allowed = sum(pool.map(lambda i: limiters[i % 2].check("key_x", 10.0).allowed, range(100)))
    elapsed = time.monotonic() - started
    assert 20 <= allowed <= 20 + math.ceil(elapsed * 20 / 60)
    refused = limiters[0].check("key_x", 10.0)
    assert not refused.allowed and refused.retry_after > 0
    assert limiters[1].check("key_other", 10.0).allowed  # per key


def test_shared_state_fails_open_while_redis_is_down(own_redis) -> None:
    budgets = RedisBudgetStore(own_redis.url, retry_after_seconds=0.0)
    limits = RedisRateLimitStore(own_redis.url, retry_after_seconds=0.0)
    own_redis.stop()
    assert budgets.reserve("c", 1.0, 0.5) is True  # down: admitted (never lose a request)
    budgets.settle("c", 1.0, 1.0)
    assert budgets.level("c") == (0.0, 0.0)
    assert limits.take([("r", 1.0, 1.0)], 0.0)[0] is True
    own_redis.start()
    assert budgets.reserve("c", 1.0, 0.5) is True  # back, and counting again
    assert budgets.reserve("c", 1.0, 0.5) is False
    assert limits.take([("r", 1.0, 1.0)], 0.0)[0] is True
    assert limits.take([("r", 1.0, 1.0)], 0.0)[0] is False
