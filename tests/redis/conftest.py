"""Fixtures for the Redis tests: a real redis-server started on a free loopback port with
persistence off, stopped afterwards. Missing redis-server skips these tests on a laptop, but
fails them in CI (`CI=true`), where `.ci/run` installs it: they are never skipped silently there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis.server import RedisServer, require_redis_server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A session-wide redis-server (flushed before each test by `redis_url`)."""
    require_redis_server()
    server = RedisServer(str(tmp_path_factory.mktemp("redis")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    """A redis-server of this test alone (for tests that stop and restart it)."""
    require_redis_server()
    server = RedisServer(str(tmp_path))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _no_ambient_ccr_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own HEADROOM_CCR_URL must not leak into these tests."""
    monkeypatch.delenv("HEADROOM_CCR_URL", raising=False)
