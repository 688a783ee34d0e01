"""RedisCCRStore against a real redis-server: round trip, record format, TTL, tenants,
compression and the size budget, integrity checks, outages, passwords and the asyncio API."""

from __future__ import annotations

import asyncio
import json
import time
import zlib

import pytest
import redis

from headroom_core import HeadroomConfig, compress_text, retrieval_answer, retrieve
from headroom_core._ccr import content_key, encode_record, load, stash
from headroom_core._ccr._redis import RedisCCRStore, redact_url, store_from_url
from headroom_core._errors import CCRKeyNotFoundError, CCRStoreError

pytestmark = pytest.mark.enable_socket


def rows(n: int) -> str:
    """A JSON tool output the JSON compressor shortens (and stashes) for sure."""
    return json.dumps(
        [
            {"id": i, "name": f"user{i}", "status": "error" if i % 97 == 0 else "ok", "n": i * 7}
            for i in range(n)
        ]
    )


def raw(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def test_round_trip_and_same_record_bytes_as_the_disk_store(redis_url: str) -> None:
    store = RedisCCRStore(redis_url)
    text = "line one\nline two\n"
    key = stash(store, text, "text", unit="line")
    assert key == content_key(text)
    assert retrieve(key, store=store) == text
    client = raw(redis_url)
    assert client.get(f"headroom:ccr:{key}") == encode_record(text, {"kind": "text", "unit": "line"})
    assert key in store and "0" * 24 not in store
    assert store.get("0" * 24) is None


def test_compress_then_retrieve_exact_original(redis_url: str) -> None:
    store = RedisCCRStore(redis_url)
    data = rows(3000)
    result = compress_text(data, config=HeadroomConfig(ccr_store=store))
    assert result.ccr_keys, "the JSON compressor should have stashed the rows it dropped"
    assert retrieve(result.ccr_keys[0], store=store) == data


def test_prefix_is_configurable(redis_url: str) -> None:
    store = RedisCCRStore(redis_url, prefix="teamx:")
    key = stash(store, "hello", "text")
    assert raw(redis_url).exists(f"teamx:{key}")
    assert RedisCCRStore(redis_url).get(key) is None  # another prefix is another store


def test_every_record_has_a_ttl_and_touch_refreshes_it(redis_url: str) -> None:
    store = RedisCCRStore(redis_url, ttl_seconds=100)
    key = stash(store, "some text", "text")
    client = raw(redis_url)
    rkey = f"headroom:ccr:{key}"
    assert 0 < client.pttl(rkey) <= 100_000
    client.pexpire(rkey, 5_000)
    assert store.touch(key) is True
    assert client.pttl(rkey) > 5_000
    client.pexpire(rkey, 5_000)
    assert stash(store, "some text", "text") == key  # re-stashing refreshes too
    assert client.pttl(rkey) > 5_000
    assert store.touch("f" * 24) is False


def test_ttl_expiry_makes_the_key_unknown(redis_url: str) -> None:
    store = RedisCCRStore(redis_url, ttl_seconds=0.2)
    key = stash(store, "short-lived", "text")
    deadline = time.monotonic() + 5.0
    while key in store and time.monotonic() < deadline:  # bounded wait for Redis to expire it
        time.sleep(0.05)
    with pytest.raises(CCRKeyNotFoundError):
        load(store, key)
    answer = retrieval_answer(key, config=HeadroomConfig(ccr_store=store))
    assert "unknown, or it expired" in answer


def test_tenants_cannot_read_each_other(redis_url: str) -> None:
    base = RedisCCRStore(redis_url)
    team_a, team_b = base.for_tenant("team-a"), base.for_tenant("team-b")
    key = stash(team_a, "team a's secret output", "text")
    assert retrieve(key, store=team_a) == "team a's secret output"
    for other in (team_b, base):
        with pytest.raises(CCRKeyNotFoundError):
            load(other, key)
        assert key not in other
        assert other.touch(key) is False
    answer = retrieval_answer(key, config=HeadroomConfig(ccr_store=team_b))
    assert "unknown" in answer and "secret" not in answer
    assert raw(redis_url).exists(f"headroom:ccr:t:team-a:{key}")


@pytest.mark.parametrize("tenant", ["", "a:b", "x" * 129, "-lead", "spaces no"])
def test_bad_tenant_names_are_refused(redis_url: str, tenant: str) -> None:
    with pytest.raises(ValueError):
        RedisCCRStore(redis_url, tenant=tenant)


@pytest.mark.parametrize("codec, magic", [("zlib", b"\x00z"), ("zstd", b"\x00s"), ("auto", b"\x00")])
def test_large_values_are_compressed_and_round_trip(redis_url: str, codec: str, magic: bytes) -> None:
    store = RedisCCRStore(redis_url, compression=codec, compress_above_bytes=1024)
    data = rows(20000)  # ~1 MB
    key = stash(store, data, "json")
    value = raw(redis_url).get(f"headroom:ccr:{key}")
    assert value is not None and value.startswith(magic)
    assert len(value) < len(data) // 4
    assert retrieve(key, store=store) == data
    # A reader with other settings (no compression of its own) still reads it.
    assert retrieve(key, store=RedisCCRStore(redis_url, compression="none")) == data


def test_small_values_are_stored_plain(redis_url: str) -> None:
    store = RedisCCRStore(redis_url, compress_above_bytes=1024)
    key = stash(store, "x" * 100, "text")
    assert raw(redis_url).get(f"headroom:ccr:{key}").startswith(b"{")


def test_records_over_the_budget_are_refused_and_compression_falls_back(redis_url: str) -> None:
    store = RedisCCRStore(redis_url, max_record_bytes=10_000)
    with pytest.raises(CCRStoreError, match="refused"):
        stash(store, "y" * 20_000, "text")
    assert raw(redis_url).dbsize() == 0  # nothing was sent
    data = rows(3000)
    result = compress_text(data, config=HeadroomConfig(ccr_store=store))
    assert not result.ccr_keys  # lossless only: nothing may be dropped without a stored record
    assert "retrieve with" not in result.text


def test_a_tampered_record_fails_its_integrity_check(redis_url: str) -> None:
    store = RedisCCRStore(redis_url)
    key = stash(store, "the real original", "text")
    client = raw(redis_url)
    rkey = f"headroom:ccr:{key}"
    client.set(rkey, client.get(rkey).replace(b"real", b"fake"))
    with pytest.raises(CCRStoreError, match="integrity"):
        load(store, key)
    assert not client.exists(rkey)  # discarded, so a later stash repairs it
    assert stash(store, "the real original", "text") == key
    assert retrieve(key, store=store) == "the real original"


def test_a_decompression_bomb_is_refused(redis_url: str) -> None:
    store = RedisCCRStore(redis_url, max_record_bytes=100_000)
    key = "a" * 24
    raw(redis_url).set(f"headroom:ccr:{key}", b"\x00z" + zlib.compress(b"{" + b" " * 10_000_000))
    with pytest.raises(CCRStoreError, match="record limit"):
        store.get(key)
    raw(redis_url).set(f"headroom:ccr:{key}", b"\x00znot zlib at all")
    with pytest.raises(CCRStoreError, match="corrupt"):
        store.get(key)


def test_unreachable_redis_is_a_one_line_error_at_start_up() -> None:
    from tests.redis.server import free_port

    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    with pytest.raises(CCRStoreError) as info:
        store_from_url(url, check=True)
    message = str(info.value)
    assert "\n" not in message and "hunter2" not in message
    assert "127.0.0.1" in message and "could not be reached" in message


def test_redis_down_mid_run_degrades_and_recovers(own_redis) -> None:
    store = RedisCCRStore(own_redis.url, retry_after_seconds=0.0)
    config = HeadroomConfig(ccr_store=store)
    data = rows(3000)
    key = stash(store, "before the outage", "text")
    own_redis.stop()
    with pytest.raises(CCRStoreError):
        stash(store, "during the outage", "text")
    with pytest.raises(CCRStoreError):
        load(store, key)
    assert key not in store
    result = compress_text(data, config=config)  # compression goes on, losslessly
    assert not result.ccr_keys and result.text
    answer = retrieval_answer(key, config=config)
    assert "cannot be read right now" in answer
    own_redis.start()  # same port, empty (persistence is off)
    result = compress_text(data, config=config)
    assert result.ccr_keys
    assert retrieve(result.ccr_keys[0], store=store) == data


def test_fail_fast_while_redis_is_down(own_redis) -> None:
    store = RedisCCRStore(own_redis.url, retry_after_seconds=60.0)
    own_redis.stop()
    with pytest.raises(CCRStoreError):
        store.get("a" * 24)
    with pytest.raises(CCRStoreError, match="retrying shortly"):
        store.get("a" * 24)  # no new connection attempt for a while
    own_redis.start()
    store.check()  # the start-up probe always tries, and clears the back-off
    assert store.get("a" * 24) is None


def test_password_protected_redis(tmp_path) -> None:
    from tests.redis.server import RedisServer, require_redis_server

    require_redis_server()
    server = RedisServer(str(tmp_path), password="s3cret-pw")
    server.start()
    try:
        store = store_from_url(server.url, check=True)
        key = stash(store, "guarded", "text")
        assert retrieve(key, store=store) == "guarded"
        wrong = server.url.replace("s3cret-pw", "wrong-pw")
        with pytest.raises(CCRStoreError) as info:
            store_from_url(wrong, check=True)
        assert "wrong-pw" not in str(info.value) and "***" in str(info.value)
    finally:
        server.stop()


def test_tls_rediss_url(tmp_path) -> None:
    from tests.redis.server import RedisServer, require_redis_server, self_signed_certificate

    require_redis_server()
    tls = self_signed_certificate(str(tmp_path))
    if tls is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    server = RedisServer(str(tmp_path), password="tls-pw", tls=tls)
    server.start()
    try:
        assert server.url.startswith("rediss://")
        store = store_from_url(server.url, check=True)
        key = stash(store, "over TLS", "text")
        assert retrieve(key, store=store) == "over TLS"
        plain = server.url.replace("rediss://", "redis://").split("?")[0]
        with pytest.raises(CCRStoreError):  # the server speaks only TLS
            store_from_url(plain, check=True, socket_timeout=1.0)
    finally:
        server.stop()


def test_redact_url() -> None:
    assert redact_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redact_url("rediss://user:pw@h/2") == "rediss://user:***@h/2"
    assert redact_url("redis://h:1/0") == "redis://h:1/0"


def test_bad_urls_and_settings_are_refused() -> None:
    for url in ("http://h:1", "h:6379", ""):
        with pytest.raises(ValueError):
            RedisCCRStore(url)
    with pytest.raises(ValueError):
        RedisCCRStore("redis://h", ttl_seconds=0)
    with pytest.raises(ValueError):
        RedisCCRStore("redis://h", compression="lz4")


def test_asyncio_client(redis_url: str) -> None:
    store = RedisCCRStore(redis_url, compress_above_bytes=1024)
    record = encode_record(rows(500), {"kind": "json"})
    key = content_key(rows(500))

    async def main() -> None:
        await store.acheck()
        await store.aput(key, record)
        assert await store.aget(key) == record
        assert await store.atouch(key) is True
        assert await store.aget("b" * 24) is None
        await store.aclose()

    asyncio.run(main())
    asyncio.run(main())  # a second event loop gets its own connections
    assert store.get(key) == record  # and the sync client sees the same record
