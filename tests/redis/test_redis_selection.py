"""Choosing the Redis store by config or URL, tenant scoping in the store layer (Redis and disk),
and two app instances in separate processes sharing one Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from headroom_core import (
    DiskCCRStore,
    HeadroomConfig,
    MemoryCCRStore,
    RedisCCRStore,
    compress_text,
    retrieval_answer,
    retrieve,
)
from headroom_core._ccr import load, stash, store_for, store_original
from headroom_core._ccr._tenant import TenantScopedStore
from headroom_core._errors import CCRKeyNotFoundError

pytestmark = pytest.mark.enable_socket
ROOT = Path(__file__).resolve().parents[2]


def rows(n: int) -> str:
    return json.dumps(
        [
            {"id": i, "name": f"user{i}", "status": "error" if i % 97 == 0 else "ok", "n": i * 7}
            for i in range(n)
        ]
    )


def test_config_url_selects_the_redis_store(redis_url: str) -> None:
    store = store_for(HeadroomConfig(ccr_store=redis_url, ccr_ttl_seconds=3600))
    assert isinstance(store, RedisCCRStore) and store.ttl_seconds == 3600
    assert store_for(HeadroomConfig(ccr_store=redis_url, ccr_ttl_seconds=3600)) is store  # one pool


def test_env_url_selects_the_redis_store(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADROOM_CCR_URL", redis_url)
    config = HeadroomConfig()
    assert isinstance(store_for(config), RedisCCRStore)
    key = store_original("from the environment", config=config)
    assert key is not None and retrieve(key, config=config) == "from the environment"
    # An explicit store still wins over the environment.
    assert isinstance(store_for(HeadroomConfig(ccr_store=MemoryCCRStore())), MemoryCCRStore)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        HeadroomConfig(ccr_store="http://not-redis")
    with pytest.raises(ValueError):
        HeadroomConfig(tenant="no spaces")
    with pytest.raises(TypeError):
        HeadroomConfig(tenant=7)  # type: ignore[arg-type]
    assert HeadroomConfig(tenant="team-a.prod_1").tenant == "team-a.prod_1"


def test_an_unusable_url_degrades_to_lossless(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.redis.server import free_port

    config = HeadroomConfig(ccr_store=f"redis://127.0.0.1:{free_port()}/0")
    data = rows(3000)
    result = compress_text(data, config=config)  # Redis is not there: no crash, no marker
    assert not result.ccr_keys
    assert "cannot be read right now" in retrieval_answer("a" * 24, config=config)


def test_sdk_tenants_on_redis(redis_url: str) -> None:
    team_a = HeadroomConfig(ccr_store=redis_url, tenant="team-a")
    team_b = HeadroomConfig(ccr_store=redis_url, tenant="team-b")
    data = rows(3000)
    result = compress_text(data, config=team_a)
    key = result.ccr_keys[0]
    assert retrieve(key, config=team_a) == data
    with pytest.raises(CCRKeyNotFoundError):
        retrieve(key, config=team_b)
    with pytest.raises(CCRKeyNotFoundError):
        retrieve(key, config=HeadroomConfig(ccr_store=redis_url))
    assert "unknown" in retrieval_answer(key, config=team_b)


def test_tenants_on_the_disk_store(tmp_path: Path) -> None:
    path = str(tmp_path / "ccr")
    team_a = HeadroomConfig(ccr_path=path, tenant="team-a")
    team_b = HeadroomConfig(ccr_path=path, tenant="team-b")
    assert isinstance(store_for(team_a), TenantScopedStore)
    data = rows(3000)
    key = compress_text(data, config=team_a).ccr_keys[0]
    assert retrieve(key, config=team_a) == data
    for other in (team_b, HeadroomConfig(ccr_path=path)):
        with pytest.raises(CCRKeyNotFoundError):
            retrieve(key, config=other)


def test_tenant_view_of_a_memory_store_keeps_the_current_call() -> None:
    inner = MemoryCCRStore(max_bytes=4000)
    view = TenantScopedStore(inner, "t1")
    keys = [stash(view, f"{i}" * 900, "text") for i in range(2)]
    # A third record must evict, but never the keys this call asks to keep.
    third = stash(view, "z" * 900, "text", keep=keys)
    assert all(load(view, k) for k in [*keys, third][1:])
    assert view.max_record_bytes == inner.max_record_bytes


def test_disk_store_records_of_a_tenant_are_ordinary_records(tmp_path: Path) -> None:
    disk = DiskCCRStore(tmp_path / "ccr")
    view = TenantScopedStore(disk, "acme")
    key = stash(view, "hello", "text")
    assert disk.get(f"acme~{key}") is not None and disk.get(key) is None
    disk.close()


_COMPRESS = r"""
import json, sys
from headroom_core import HeadroomConfig, compress_text
tenant = sys.argv[1] or None
data = json.dumps([{"id": i, "name": f"user{i}", "status": "error" if i % 97 == 0 else "ok", "n": i * 7}
                   for i in range(3000)])
result = compress_text(data, config=HeadroomConfig(tenant=tenant))
print(json.dumps({"keys": list(result.ccr_keys), "text": result.text}))
"""

_RETRIEVE = r"""
import json, sys
from headroom_core import HeadroomConfig, retrieval_answer
tenant = sys.argv[1] or None
print(json.dumps(retrieval_answer(sys.argv[2], config=HeadroomConfig(tenant=tenant), max_tokens=200000)))
"""


def _run(script: str, url: str, *args: str) -> object:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HEADROOM_CCR_URL": url}
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr.decode()
    return json.loads(out.stdout)


def test_two_processes_share_one_redis(redis_url: str) -> None:
    """Compress in one process, retrieve in another: both configured only by HEADROOM_CCR_URL."""
    produced = _run(_COMPRESS, redis_url, "team-a")
    assert isinstance(produced, dict) and produced["keys"]
    key = produced["keys"][0]
    answer = _run(_RETRIEVE, redis_url, "team-a", key)
    assert answer == rows(3000)
    other = _run(_RETRIEVE, redis_url, "team-b", key)  # another tenant: an unknown key
    assert isinstance(other, str) and other.startswith("No stored content") and "user1" not in other
