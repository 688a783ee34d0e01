"""Rate limits: requests per minute and tokens per minute, per hashed key and global.

Each limit is a token bucket holding one minute's allowance and refilling continuously. A
request takes 1 from the requests bucket and its estimated input tokens plus its output
reserve from the tokens bucket; when the response's real usage is known the difference is
settled (taken or given back). A request bigger than a whole bucket passes when that bucket is
full and leaves it in debt, so it is slowed down, never refused forever.

State lives behind `RateLimitStore`. `InProcessRateLimitStore` keeps it in this process: with
several proxy processes each enforces its own limits (the Redis store of the shared-state
issue will make them one).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

REQUESTS = "requests"
TOKENS = "tokens"


@dataclass(frozen=True)
class RateLimit:
    """One `[[rate_limits]]` entry of the config file."""

    scope: str
    """'global' (all traffic) or 'key' (each hashed API key on its own)."""
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None

    def __post_init__(self) -> None:
        if self.scope not in ("global", "key"):
            raise ValueError(f"rate limit scope must be 'global' or 'key', got {self.scope!r}")
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ValueError("a rate limit needs requests_per_minute and/or tokens_per_minute")


@dataclass
class Decision:
    allowed: bool
    retry_after: float = 0.0
    """Seconds until the request would fit (0 when allowed)."""
    remaining: dict[str, float] | None = None
    """Per dimension ('requests', 'tokens'): what is left in the tightest bucket."""
    limits: dict[str, float] | None = None
    blocked_by: str | None = None
    """'<scope>:<dimension>' of the bucket that refused."""


class RateLimitStore(Protocol):
    """Where bucket levels live. Implementations must make `take` atomic."""

    def take(self, wants: list[tuple[str, float, float]], now: float) -> tuple[bool, float, list[float]]:
        """`wants`: (bucket id, capacity per minute, amount). Take every amount, or none.
        Returns (taken, seconds until all would fit, level of each bucket afterwards)."""
        ...

    def adjust(self, bucket: str, capacity: float, delta: float, now: float) -> None:
        """Take `delta` more (negative: give back), without refusing (settling real usage)."""
        ...


class InProcessRateLimitStore:
    """Token buckets in a dict under a lock (per process)."""

    def __init__(self, max_buckets: int = 100_000) -> None:
        self._levels: dict[str, tuple[float, float]] = {}  # id -> (level, last refill time)
        self._lock = threading.Lock()
        self._max = max_buckets

    def _level(self, bucket: str, capacity: float, now: float) -> float:
        level, then = self._levels.get(bucket, (capacity, now))
        return min(capacity, level + (now - then) * capacity / 60.0)

    def take(self, wants: list[tuple[str, float, float]], now: float) -> tuple[bool, float, list[float]]:
        with self._lock:
            levels = [self._level(b, cap, now) for b, cap, _ in wants]
            wait = 0.0
            for (_, cap, amount), level in zip(wants, levels):
                need = min(amount, cap)  # bigger than a bucket: passes when the bucket is full
                if level < need:
                    wait = max(wait, (need - level) * 60.0 / cap)
            if wait > 0:
                return False, wait, levels
            if len(self._levels) > self._max:  # many keys: forget full (idle) buckets
                self._levels = {k: v for k, v in self._levels.items() if v[0] < 0}
            after = []
            for (bucket, _, amount), level in zip(wants, levels):
                self._levels[bucket] = (level - amount, now)
                after.append(level - amount)
            return True, 0.0, after

    def adjust(self, bucket: str, capacity: float, delta: float, now: float) -> None:
        with self._lock:
            level = self._level(bucket, capacity, now)
            self._levels[bucket] = (min(capacity, level - delta), now)


class RateLimiter:
    """Checks all configured limits for one request at once."""

    def __init__(
        self,
        limits: list[RateLimit],
        store: RateLimitStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = list(limits)
        self.store = store or InProcessRateLimitStore()
        self.clock = clock

    def __bool__(self) -> bool:
        return bool(self.limits)

    def _buckets(self, key_id: str | None, tokens: float) -> list[tuple[str, str, float, float]]:
        out = []
        for i, limit in enumerate(self.limits):
            owner = "global" if limit.scope == "global" else f"key:{key_id or 'anonymous'}"
            if limit.requests_per_minute:
                out.append((f"rl{i}:{owner}:{REQUESTS}", REQUESTS, limit.requests_per_minute, 1.0))
            if limit.tokens_per_minute:
                out.append((f"rl{i}:{owner}:{TOKENS}", TOKENS, limit.tokens_per_minute, float(tokens)))
        return out

    def check(self, key_id: str | None, tokens: float) -> Decision:
        buckets = self._buckets(key_id, tokens)
        if not buckets:
            return Decision(True)
        ok, wait, levels = self.store.take([(b, cap, amt) for b, _, cap, amt in buckets], self.clock())
        remaining: dict[str, float] = {}
        limits: dict[str, float] = {}
        for (_, dim, cap, _), level in zip(buckets, levels):
            left = max(0.0, level)
            if dim not in remaining or left < remaining[dim]:
                remaining[dim] = left
                limits[dim] = cap
        if ok:
            return Decision(True, 0.0, remaining, limits)
        blocked = None
        for (bucket, dim, cap, amount), level in zip(buckets, levels):
            if level < min(amount, cap):
                blocked = bucket.split(":", 1)[1].rsplit(":", 1)[0].split(":")[0] + ":" + dim
                break
        return Decision(False, math.ceil(wait * 1000) / 1000, remaining, limits, blocked)

    def settle(self, key_id: str | None, estimated_tokens: float, actual_tokens: float) -> None:
        """Real usage known: take the difference from (or give it back to) the token buckets."""
        delta = actual_tokens - estimated_tokens
        if not delta:
            return
        now = self.clock()
        for bucket, dim, cap, _ in self._buckets(key_id, 0):
            if dim == TOKENS:
                self.store.adjust(bucket, cap, delta, now)
