"""A CCR store in Redis, so several Headroom instances (proxy replicas, pods, workers) share
their originals: a marker written by one is retrievable from any other.

- Values are the disk store's records, byte for byte (one JSON header line, a newline, the
  original as UTF-8; never a pickle). A record larger than `compress_above_bytes` (64 KiB by
  default) is stored compressed, behind a two-byte envelope: `\\x00s` + a zstd frame (when
  the `zstandard` package is installed) or `\\x00z` + a zlib stream. A record starts with
  `{`, so the two never mix up; a reader decompresses either (zstd needs `zstandard`).
- Size budget: a record over `max_record_bytes` (16 MiB uncompressed by default) is refused
  with `CCRStoreError` before anything is sent, so one huge tool output cannot push every
  other record out of a Redis running with `maxmemory`. The pipeline then compresses that
  text losslessly instead. Redis itself chooses what to evict when it is full (its
  `maxmemory-policy`; `volatile-lru` suits this store, since every record has a TTL).
- `SET key value PX ttl`: every record expires (`ttl_seconds`, a week by default); storing or
  touching it again gives it a full TTL. Reads do not extend it.
- Keys: `<prefix><key>` (prefix `headroom:ccr:`), or `<prefix>t:<tenant>:<key>` for a tenant.
  A tenant's view of the store cannot see another tenant's records: a retrieval from another
  tenant is an unknown key.
- Failures: every Redis error (refused connection, timeout, authentication, `OOM` from a full
  server) leaves as `CCRStoreError`, which the pipeline answers by compressing losslessly and
  retrieval answers by saying the store is unavailable. After a connection failure the store
  fails fast for `retry_after_seconds` (1 s) instead of waiting out a timeout on every call.
  `check()` is the start-up probe: a one-line `CCRStoreError` naming the URL (password hidden).
- The engine uses the synchronous client; `aget`/`aput`/`atouch`/`acheck` use redis-py's
  asyncio client for code running on an event loop (the proxy).

Nothing connects until the first operation; `redis` (the `[redis]` extra) is imported then.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
import time
import urllib.parse
import zlib
from collections.abc import Collection
from typing import Any

from headroom_core._errors import CCRStoreError, echo_key

log = logging.getLogger("headroom.ccr")

CCR_URL_ENV = "HEADROOM_CCR_URL"
"""Environment variable naming a Redis CCR store, e.g. `redis://host:6379/0`."""

URL_SCHEMES = ("redis", "rediss", "unix")
DEFAULT_PREFIX = "headroom:ccr:"
DEFAULT_TTL_SECONDS = 7 * 24 * 3600.0
DEFAULT_MAX_RECORD_BYTES = 16 << 20
"""Per-record size budget (uncompressed record bytes); larger records are refused."""
DEFAULT_COMPRESS_ABOVE_BYTES = 64 << 10
"""Records larger than this are compressed before they are sent to Redis."""

TENANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""What a tenant name may be: it becomes part of Redis keys and disk-store keys."""

_ZLIB = b"\x00z"
_ZSTD = b"\x00s"
_ZLIB_LEVEL = 6
_ZSTD_LEVEL = 3
_MAX_KEY_CHARS = 256


def validate_tenant(tenant: object) -> str:
    """`tenant` if it is a valid tenant name, else `ValueError`/`TypeError`."""
    if not isinstance(tenant, str):
        raise TypeError(f"a tenant is a str, got {type(tenant).__name__}")
    if not TENANT_PATTERN.fullmatch(tenant):
        raise ValueError(
            f"tenant {echo_key(tenant)!r} is not valid: use 1-128 characters of letters, digits, "
            "'.', '_' and '-', starting with a letter or digit"
        )
    return tenant


def redact_url(url: str) -> str:
    """`url` with its password (if any) replaced by `***`, for logs and errors."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "<unparseable URL>"


def is_store_url(value: object) -> bool:
    """Whether `value` is a URL this module opens (`redis://`, `rediss://`, `unix://`)."""
    if not isinstance(value, str):
        return False
    scheme, sep, _ = value.partition("://")
    return bool(sep) and scheme.lower() in URL_SCHEMES


def _zstd() -> Any:
    try:
        import zstandard
    except ImportError:
        return None
    return zstandard


class RedisCCRStore:
    """CCR records in Redis (see the module docstring for format, budget and failures).

    >>> store = RedisCCRStore("redis://localhost:6379/0", tenant="team-a")  # connects on first use
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        tenant: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        ttl_seconds: float | None = DEFAULT_TTL_SECONDS,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        compress_above_bytes: int = DEFAULT_COMPRESS_ABOVE_BYTES,
        compression: str = "auto",
        socket_timeout: float = 2.0,
        retry_after_seconds: float = 1.0,
    ) -> None:
        if not is_store_url(url):
            raise ValueError(
                f"not a Redis URL: {redact_url(url) if isinstance(url, str) else url!r} "
                "(expected redis://, rediss:// or unix://)"
            )
        if tenant is not None:
            validate_tenant(tenant)
        if not isinstance(prefix, str) or len(prefix) > 200:
            raise ValueError("prefix must be a str of at most 200 characters")
        if ttl_seconds is not None and (isinstance(ttl_seconds, bool) or not ttl_seconds > 0):
            raise ValueError(f"ttl_seconds must be positive or None, got {ttl_seconds!r}")
        for name, value in (
            ("max_record_bytes", max_record_bytes),
            ("compress_above_bytes", compress_above_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if compression not in ("auto", "zstd", "zlib", "none"):
            raise ValueError(f"compression must be 'auto', 'zstd', 'zlib' or 'none', got {compression!r}")
        if compression == "zstd" and _zstd() is None:
            raise ValueError("compression='zstd' needs the zstandard package")
        if not socket_timeout > 0 or retry_after_seconds < 0:
            raise ValueError("socket_timeout must be > 0 and retry_after_seconds >= 0")
        self.url = url
        self.redacted_url = redact_url(url)
        self.tenant = tenant
        self.prefix = prefix
        self.ttl_seconds = float(ttl_seconds) if ttl_seconds is not None else None
        self.max_record_bytes = max_record_bytes
        self.compress_above_bytes = compress_above_bytes
        self.codec = ("zstd" if _zstd() is not None else "zlib") if compression == "auto" else compression
        self.socket_timeout = float(socket_timeout)
        self.retry_after_seconds = float(retry_after_seconds)
        # Shared by every tenant view (`for_tenant`): one connection pool per store URL.
        self._shared: dict[str, Any] = {"client": None, "aclients": {}, "down_until": 0.0}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ setup
    def for_tenant(self, tenant: str | None) -> RedisCCRStore:
        """The same Redis and settings seen as `tenant` (None: no tenant). Shares connections."""
        if tenant is not None:
            validate_tenant(tenant)
        view = copy.copy(self)
        view.tenant = tenant
        return view

    def info(self) -> dict[str, Any]:
        """Settings worth logging at start-up (the URL without its password)."""
        return {
            "backend": "redis",
            "url": self.redacted_url,
            "prefix": self.prefix,
            "tenant": self.tenant,
            "ttl_seconds": self.ttl_seconds,
            "max_record_bytes": self.max_record_bytes,
            "compress_above_bytes": self.compress_above_bytes,
            "codec": self.codec,
        }

    def _client_options(self) -> dict[str, Any]:
        return {
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.socket_timeout,
            "health_check_interval": 30,
        }

    def _client(self) -> Any:
        client = self._shared["client"]
        if client is not None:
            return client
        with self._lock:
            if self._shared["client"] is None:
                try:
                    import redis
                    from redis.backoff import NoBackoff
                    from redis.retry import Retry
                except ImportError as exc:
                    raise CCRStoreError(
                        'the Redis CCR store needs the redis package: pip install "headroom-ai[redis]"'
                    ) from exc
                # One immediate retry: a pooled connection left over from before a Redis
                # restart fails once, the retry reconnects.
                self._shared["client"] = redis.Redis.from_url(
                    self.url, retry=Retry(NoBackoff(), 1), **self._client_options()
                )
            return self._shared["client"]

    def _aclient(self) -> Any:
        import asyncio  # imported here: the engine never needs it

        loop = asyncio.get_running_loop()
        clients: dict[int, tuple[Any, Any]] = self._shared["aclients"]
        entry = clients.get(id(loop))
        if entry is not None and entry[0] is loop:
            return entry[1]
        try:
            import redis.asyncio as aredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError as exc:
            raise CCRStoreError(
                'the Redis CCR store needs the redis package: pip install "headroom-ai[redis]"'
            ) from exc
        # asyncio connections belong to one event loop; a closed loop's client is dropped.
        for other in [k for k, (lp, _) in clients.items() if lp.is_closed()]:
            del clients[other]
        client = aredis.Redis.from_url(self.url, retry=Retry(NoBackoff(), 1), **self._client_options())
        clients[id(loop)] = (loop, client)
        return client

    def close(self) -> None:
        """Close the synchronous connections (asyncio ones close with `aclose`)."""
        with self._lock:
            client, self._shared["client"] = self._shared["client"], None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a broken connection must not raise
                log.debug("closing the Redis client failed", exc_info=True)

    async def aclose(self) -> None:
        import asyncio

        clients: dict[int, tuple[Any, Any]] = self._shared["aclients"]
        entry = clients.pop(id(asyncio.get_running_loop()), None)
        if entry is not None:
            try:
                await entry[1].aclose()
            except Exception:
                log.debug("closing the asyncio Redis client failed", exc_info=True)

    # ------------------------------------------------------------------ keys and values
    def redis_key(self, key: str) -> str:
        """The Redis key that holds CCR `key` for this view's tenant."""
        if not isinstance(key, str) or not key or len(key) > _MAX_KEY_CHARS:
            raise CCRStoreError(f"invalid CCR key {echo_key(key)!r}")
        if self.tenant is None:
            return f"{self.prefix}{key}"
        return f"{self.prefix}t:{self.tenant}:{key}"

    def encode_value(self, record: bytes) -> bytes:
        """What is sent to Redis for `record` (compressed above the threshold)."""
        if len(record) <= self.compress_above_bytes or self.codec == "none":
            return record
        if self.codec == "zstd":
            zstandard = _zstd()
            if zstandard is not None:
                return _ZSTD + zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(record)
        return _ZLIB + zlib.compress(record, _ZLIB_LEVEL)

    def decode_value(self, value: bytes, key: str) -> bytes:
        """The record in a Redis value; never inflates past the record budget (a tampered
        value cannot be a decompression bomb)."""
        head = value[:2]
        if head == _ZLIB:
            inflater = zlib.decompressobj()
            try:
                record = inflater.decompress(value[2:], self.max_record_bytes + 1)
            except zlib.error as exc:
                raise CCRStoreError(f"CCR record for key {echo_key(key)!r} is corrupt: {exc}") from exc
            if len(record) > self.max_record_bytes or inflater.unconsumed_tail:
                raise CCRStoreError(f"CCR record for key {echo_key(key)!r} inflates past the record limit")
            return record
        if head == _ZSTD:
            zstandard = _zstd()
            if zstandard is None:
                raise CCRStoreError(
                    f"CCR record for key {echo_key(key)!r} is zstd-compressed; install zstandard to read it"
                )
            try:
                size = zstandard.frame_content_size(value[2:])
                if size < 0 or size > self.max_record_bytes:
                    raise CCRStoreError(f"CCR record for key {echo_key(key)!r} has a bad or oversize frame")
                return zstandard.ZstdDecompressor().decompress(value[2:])
            except zstandard.ZstdError as exc:
                raise CCRStoreError(f"CCR record for key {echo_key(key)!r} is corrupt: {exc}") from exc
        return value  # a plain record; its header and hash are checked by the caller

    def _check_record(self, value: object) -> bytes:
        if not isinstance(value, bytes):
            raise TypeError(f"the CCR store only holds bytes, got {type(value).__name__}")
        if len(value) > self.max_record_bytes:
            raise CCRStoreError(
                f"record of {len(value):,} bytes refused: over the Redis CCR store's "
                f"{self.max_record_bytes:,}-byte per-record budget"
            )
        return value

    def _ttl_ms(self) -> int | None:
        return None if self.ttl_seconds is None else max(1, int(self.ttl_seconds * 1000))

    # ------------------------------------------------------------------ failures
    def _fail_fast(self, action: str) -> None:
        if time.monotonic() < self._shared["down_until"]:
            raise CCRStoreError(
                f"CCR store at {self.redacted_url} could not {action}: Redis unreachable (retrying shortly)"
            )

    def _wrap(self, action: str, key: str | None, exc: BaseException) -> CCRStoreError:
        try:
            import redis.exceptions as rexc

            unreachable: tuple[type[BaseException], ...] = (rexc.ConnectionError, rexc.TimeoutError, OSError)
        except ImportError:  # pragma: no cover - _client() raised already
            unreachable = (OSError,)
        if isinstance(exc, unreachable):
            self._shared["down_until"] = time.monotonic() + self.retry_after_seconds
        about = f" for key {echo_key(key)!r}" if key is not None else ""
        return CCRStoreError(
            f"CCR store at {self.redacted_url} could not {action}{about}: {type(exc).__name__}: {exc}"
        )

    def _run(self, action: str, key: str | None, call: Any) -> Any:
        self._fail_fast(action)
        try:
            result = call(self._client())
        except CCRStoreError:
            raise
        except Exception as exc:  # redis-py errors, socket errors, protocol errors
            raise self._wrap(action, key, exc) from exc
        self._shared["down_until"] = 0.0
        self._shared["warned"] = False
        return result

    async def _arun(self, action: str, key: str | None, call: Any) -> Any:
        self._fail_fast(action)
        try:
            result = await call(self._aclient())
        except CCRStoreError:
            raise
        except Exception as exc:
            raise self._wrap(action, key, exc) from exc
        self._shared["down_until"] = 0.0
        return result

    # ------------------------------------------------------------------ protocol (sync)
    def put(self, key: str, value: bytes, *, keep: Collection[str] = ()) -> None:
        """Store `value` under `key` with a full TTL. `keep` is accepted for the protocol and
        ignored: Redis evicts by its own `maxmemory-policy`."""
        rkey = self.redis_key(key)
        payload = self.encode_value(self._check_record(value))
        ttl = self._ttl_ms()
        self._run("store a record", key, lambda c: c.set(rkey, payload, px=ttl))

    def get(self, key: str) -> bytes | None:
        """The record under `key`, or None when absent or expired."""
        rkey = self.redis_key(key)
        value = self._run("read a record", key, lambda c: c.get(rkey))
        return None if value is None else self.decode_value(value, key)

    def touch(self, key: str) -> bool:
        """Give a present record a full TTL again; False when there is none."""
        rkey = self.redis_key(key)
        ttl = self._ttl_ms()
        if ttl is None:
            return bool(self._run("refresh a record", key, lambda c: c.exists(rkey)))
        return bool(self._run("refresh a record", key, lambda c: c.pexpire(rkey, ttl)))

    def discard(self, key: str) -> None:
        rkey = self.redis_key(key)
        self._run("remove a record", key, lambda c: c.delete(rkey))

    def __contains__(self, key: object) -> bool:
        """Whether a record is present; False (logged) when Redis cannot say."""
        if not isinstance(key, str):
            return False
        try:
            rkey = self.redis_key(key)
            return bool(self._run("look up a record", key, lambda c: c.exists(rkey)))
        except CCRStoreError as exc:
            # Once per outage: the pipeline asks about every marker it meets.
            level = logging.DEBUG if self._shared.get("warned") else logging.WARNING
            self._shared["warned"] = True
            log.log(level, "%s; treating the key as absent", exc)
            return False

    def check(self) -> None:
        """Start-up probe: PING, and raise a one-line `CCRStoreError` when Redis is unreachable."""
        self._shared["down_until"] = 0.0
        try:
            self._run("be reached", None, lambda c: c.ping())
        except CCRStoreError as exc:
            raise CCRStoreError(_one_line(exc)) from exc

    # ------------------------------------------------------------------ protocol (asyncio)
    async def aput(self, key: str, value: bytes) -> None:
        rkey = self.redis_key(key)
        payload = self.encode_value(self._check_record(value))
        ttl = self._ttl_ms()
        await self._arun("store a record", key, lambda c: c.set(rkey, payload, px=ttl))

    async def aget(self, key: str) -> bytes | None:
        rkey = self.redis_key(key)
        value = await self._arun("read a record", key, lambda c: c.get(rkey))
        return None if value is None else self.decode_value(value, key)

    async def atouch(self, key: str) -> bool:
        rkey = self.redis_key(key)
        ttl = self._ttl_ms()
        if ttl is None:
            return bool(await self._arun("refresh a record", key, lambda c: c.exists(rkey)))
        return bool(await self._arun("refresh a record", key, lambda c: c.pexpire(rkey, ttl)))

    async def acheck(self) -> None:
        self._shared["down_until"] = 0.0
        try:
            await self._arun("be reached", None, lambda c: c.ping())
        except CCRStoreError as exc:
            raise CCRStoreError(_one_line(exc)) from exc

    def __repr__(self) -> str:
        return f"RedisCCRStore({self.redacted_url!r}, tenant={self.tenant!r}, prefix={self.prefix!r})"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def store_from_url(
    url: str, *, tenant: str | None = None, check: bool = True, **options: Any
) -> RedisCCRStore:
    """A `RedisCCRStore` for `url` (`redis://[:password@]host:6379/0`, `rediss://` for TLS,
    `unix:///path/redis.sock`), for `tenant` if given; keyword `options` are the store's.

    With `check=True` (the default: start-up of the proxy and the MCP server) it PINGs Redis
    now and raises a one-line `CCRStoreError` naming the URL (password hidden) when Redis
    cannot be reached, so a misconfigured deployment fails loudly instead of silently
    compressing without retrieval. A bad URL or option is a `ValueError`.
    """
    store = RedisCCRStore(url, tenant=tenant, **options)
    if check:
        store.check()
    return store
