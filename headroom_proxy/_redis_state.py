"""Budgets and rate limits shared by every proxy instance through Redis.

`RedisBudgetStore` and `RedisRateLimitStore` implement the operations layer's `BudgetStore`
and `RateLimitStore` protocols. Each check is one Lua script, which Redis runs atomically:
N proxies enforce one limit, not N, and concurrent requests cannot all pass a check made
before any of them reserved.

- Budget counters are hashes `<prefix>budget:<counter>` with fields `spent` and `reserved`;
  the counter name ends with its window (day, month...), and each hash expires 40 days after
  its last use, so old windows clean themselves up.
- Rate-limit buckets are hashes `<prefix>rl:<bucket>` (`level`, `ts`). Refill is computed from
  the Redis server's clock (`TIME`), never the caller's: proxies on different machines share
  one clock. An idle bucket expires once it would be full again (absent means full).
- Redis down: checks fail open (the request is admitted, one warning per outage), because a
  request is never lost to Headroom; while Redis is unreachable, each instance stops counting
  and limits are not enforced. After a failure the stores skip Redis for `retry_after_seconds`
  so a dead Redis costs no time per request. Socket timeouts are short (0.5 s) since the
  checks run on the proxy's event loop.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from headroom_core._ccr._redis import redact_url

log = logging.getLogger("headroom.proxy.state")

DEFAULT_STATE_PREFIX = "headroom:"
_BUDGET_TTL_SECONDS = 40 * 24 * 3600

_RESERVE = """
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
if ARGV[2] ~= '' and spent + reserved >= tonumber(ARGV[2]) then
  return 0
end
redis.call('HINCRBYFLOAT', KEYS[1], 'reserved', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

_SETTLE = """
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0') - tonumber(ARGV[1])
if reserved < 0 then reserved = 0 end
redis.call('HSET', KEYS[1], 'reserved', string.format('%.17g', reserved))
redis.call('HINCRBYFLOAT', KEYS[1], 'spent', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# Token buckets: ARGV holds capacity and amount per bucket, in KEYS order. Returns
# {taken (0/1), wait seconds, level of each bucket afterwards...} as strings (Lua numbers
# would come back truncated to integers).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local levels = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[2 * i - 1])
  local amount = tonumber(ARGV[2 * i])
  local v = redis.call('HMGET', key, 'level', 'ts')
  local level = cap
  if v[1] then
    level = math.min(cap, tonumber(v[1]) + math.max(0, now - tonumber(v[2])) * cap / 60)
  end
  levels[i] = level
  local need = math.min(amount, cap)
  if level < need then
    wait = math.max(wait, (need - level) * 60 / cap)
  end
end
local out = {}
if wait > 0 then
  out[1] = '0'
  out[2] = string.format('%.17g', wait)
  for i = 1, #KEYS do out[i + 2] = string.format('%.17g', levels[i]) end
  return out
end
out[1] = '1'
out[2] = '0'
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[2 * i - 1])
  local left = levels[i] - tonumber(ARGV[2 * i])
  redis.call('HSET', key, 'level', string.format('%.17g', left), 'ts', string.format('%.17g', now))
  redis.call('EXPIRE', key, math.ceil((cap - left) * 60 / cap) + 1)
  out[i + 2] = string.format('%.17g', left)
end
return out
"""

_ADJUST = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cap = tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'level', 'ts')
local level = cap
if v[1] then
  level = math.min(cap, tonumber(v[1]) + math.max(0, now - tonumber(v[2])) * cap / 60)
end
level = math.min(cap, level - tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'level', string.format('%.17g', level), 'ts', string.format('%.17g', now))
redis.call('EXPIRE', KEYS[1], math.ceil((cap - level) * 60 / cap) + 1)
return 1
"""


class _RedisState:
    """A synchronous Redis client with a fail-fast window after connection failures."""

    def __init__(
        self, url: str, *, prefix: str, socket_timeout: float, retry_after_seconds: float, client: Any = None
    ) -> None:
        if client is None:
            try:
                import redis
                from redis.backoff import NoBackoff
                from redis.retry import Retry
            except ImportError as exc:
                raise RuntimeError(
                    'shared budgets and rate limits need the redis package: pip install "headroom-ai[redis]"'
                ) from exc
            client = redis.Redis.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=socket_timeout,
                retry=Retry(NoBackoff(), 1),
            )
        self.client = client
        self.prefix = prefix
        self.redacted_url = redact_url(url)
        self.retry_after_seconds = retry_after_seconds
        self._down_until = 0.0
        self._warned = False
        self._lock = threading.Lock()

    def call(self, what: str, fn: Any) -> Any:
        """`fn(client)`, or raise `_Unavailable` (logged once per outage)."""
        if time.monotonic() < self._down_until:
            raise _Unavailable
        try:
            result = fn(self.client)
        except Exception as exc:  # redis-py and socket errors alike: fail open
            self._down_until = time.monotonic() + self.retry_after_seconds
            with self._lock:
                first, self._warned = not self._warned, True
            log.log(
                logging.WARNING if first else logging.DEBUG,
                "shared %s state at %s unavailable (%s: %s); this instance is not enforcing it",
                what,
                self.redacted_url,
                type(exc).__name__,
                exc,
            )
            raise _Unavailable from exc
        if self._warned:
            with self._lock:
                self._warned = False
            log.warning("shared %s state at %s reachable again", what, self.redacted_url)
        return result

    def ping(self) -> None:
        self.client.ping()

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            log.debug("closing the Redis state client failed", exc_info=True)


class _Unavailable(Exception):
    pass


class _RedisBacked:
    """What both shared stores hold: one guarded connection to Redis."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_STATE_PREFIX,
        socket_timeout: float = 0.5,
        retry_after_seconds: float = 1.0,
        client: Any = None,
    ) -> None:
        self._state = _RedisState(
            url,
            prefix=prefix,
            socket_timeout=socket_timeout,
            retry_after_seconds=retry_after_seconds,
            client=client,
        )

    def check(self) -> None:
        self._state.ping()

    def close(self) -> None:
        self._state.close()


class RedisBudgetStore(_RedisBacked):
    """`BudgetStore` in Redis: reserve is one atomic check-and-add script."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self._reserve = self._state.client.register_script(_RESERVE)
        self._settle = self._state.client.register_script(_SETTLE)

    def _key(self, counter: str) -> str:
        return f"{self._state.prefix}budget:{counter}"

    def reserve(self, counter: str, amount: float, limit: float | None) -> bool:
        args = [repr(float(amount)), "" if limit is None else repr(float(limit)), _BUDGET_TTL_SECONDS]
        try:
            return bool(
                self._state.call("budget", lambda c: self._reserve(keys=[self._key(counter)], args=args))
            )
        except _Unavailable:
            return True  # fail open: never lose a request because the shared state is down

    def settle(self, counter: str, reserved: float, actual: float) -> None:
        args = [repr(float(reserved)), repr(float(actual)), _BUDGET_TTL_SECONDS]
        with contextlib.suppress(_Unavailable):  # fail open
            self._state.call("budget", lambda c: self._settle(keys=[self._key(counter)], args=args))

    def level(self, counter: str) -> tuple[float, float]:
        try:
            spent, reserved = self._state.call(
                "budget", lambda c: c.hmget(self._key(counter), "spent", "reserved")
            )
        except _Unavailable:
            return 0.0, 0.0
        return float(spent or 0.0), float(reserved or 0.0)


class RedisRateLimitStore(_RedisBacked):
    """`RateLimitStore` in Redis: token buckets refilled by the Redis server's clock, all the
    buckets of one request taken (or none) in one atomic script. The `now` arguments of the
    protocol are ignored for that reason."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self._take = self._state.client.register_script(_TAKE)
        self._adjust = self._state.client.register_script(_ADJUST)

    def _key(self, bucket: str) -> str:
        return f"{self._state.prefix}rl:{bucket}"

    def take(self, wants: list[tuple[str, float, float]], now: float) -> tuple[bool, float, list[float]]:
        if not wants:
            return True, 0.0, []
        keys = [self._key(bucket) for bucket, _, _ in wants]
        args: list[str] = []
        for _, capacity, amount in wants:
            args += [repr(float(capacity)), repr(float(amount))]
        try:
            out = self._state.call("rate-limit", lambda c: self._take(keys=keys, args=args))
        except _Unavailable:
            return True, 0.0, [float(capacity) for _, capacity, _ in wants]
        values = [float(v) for v in out]
        return values[0] == 1.0, values[1], values[2:]

    def adjust(self, bucket: str, capacity: float, delta: float, now: float) -> None:
        args = [repr(float(capacity)), repr(float(delta))]
        with contextlib.suppress(_Unavailable):  # fail open
            self._state.call("rate-limit", lambda c: self._adjust(keys=[self._key(bucket)], args=args))


def shared_stores(settings: Any) -> dict[str, Any]:
    """`budget_store` and `rate_limit_store` for `Operations` when the proxy has a Redis URL
    (`ccr_url`); empty otherwise (each process then counts on its own)."""
    url = getattr(settings, "ccr_url", None)
    if not url:
        return {}
    return {"budget_store": RedisBudgetStore(url), "rate_limit_store": RedisRateLimitStore(url)}
