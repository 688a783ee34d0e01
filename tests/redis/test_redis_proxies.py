"""Two `headroom proxy` processes sharing one real Redis, in front of the fake upstream:
compress on one and retrieve on the other, tenants by API key, one budget across both under
concurrent load, Redis restarted mid-run, and a loud start-up failure without Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.proxy.conftest import ServerThread
from tests.proxy.fake_upstream import MARKER_KEY, FakeUpstream
from tests.redis.server import RedisServer, free_port

pytestmark = pytest.mark.enable_socket
ROOT = Path(__file__).resolve().parents[2]
MODEL = "claude-haiku-4-5"
KEY_A = "sk-ant-team-a-0000000000"
KEY_B = "sk-ant-team-b-1111111111"


def big_rows(tag: str, n: int = 3000) -> str:
    return json.dumps(
        [
            {"id": i, "name": f"{tag}-user{i}", "status": "error" if i % 97 == 0 else "ok", "n": i * 7}
            for i in range(n)
        ]
    )


def tool_turn(content: str, intro: str = "List the users.") -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": intro},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "list_users", "input": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": content}]},
    ]


class ProxyProcess:
    """`python -m headroom_cli proxy` on a free loopback port."""

    def __init__(self, upstream: str, *extra: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        args = [sys.executable, "-m", "headroom_cli", "proxy", "--port", str(self.port)]
        args += ["--upstream-anthropic", upstream, "--upstream-openai", upstream + "/v1", *extra]
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT), "HEADROOM_TRUST_ENV": "false", **(env or {})},
            cwd=ROOT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> ProxyProcess:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"proxy exited with {self.proc.returncode}: {err}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("proxy did not start within 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        if self.proc.stderr:
            self.proc.stderr.close()


@pytest.fixture
def upstream() -> Iterator[tuple[FakeUpstream, ServerThread]]:
    fake = FakeUpstream()
    server = ServerThread(fake.app()).start()
    try:
        yield fake, server
    finally:
        server.stop()


@pytest.fixture
def two_proxies(upstream, redis_url, tmp_path):
    """Two proxy processes on one Redis, with one global token budget in their config file."""
    config = tmp_path / "headroom.toml"
    config.write_text('[[budgets]]\nname = "shared"\nscope = "global"\nperiod = "day"\ntokens = 1100\n')
    _, server = upstream
    procs = [
        ProxyProcess(
            server.url, "--ccr-url", redis_url, "--config", str(config), "--ccr-dir", str(tmp_path / d)
        )
        for d in ("a", "b")
    ]
    try:
        yield [p.wait_ready() for p in procs]
    finally:
        for p in procs:
            p.stop()


def post(url: str, api_key: str, messages: list[dict[str, Any]], scenario: str = "text") -> httpx.Response:
    return httpx.post(
        url + "/v1/messages",
        json={"model": MODEL, "max_tokens": 100, "messages": messages},
        headers={"x-api-key": api_key, "anthropic-version": "2023-06-01", "x-fake-scenario": scenario},
        timeout=60,
    )


def compress_on(proxy: ProxyProcess, fake: FakeUpstream, api_key: str, rows: str) -> str:
    """Send a large tool output through `proxy`; the marker key the upstream saw."""
    reply = post(proxy.url, api_key, tool_turn(rows))
    assert reply.status_code == 200, reply.text
    match = MARKER_KEY.search(fake.requests[-1].body.decode())
    assert match, "the proxy should have compressed the tool output with a marker"
    return match.group(1)


def retrieve_on(proxy: ProxyProcess, api_key: str, key: str) -> str:
    """Make the model call headroom_retrieve for `key` through `proxy`; the answer it got."""
    marker = f'[headroom: rows omitted; retrieve with headroom_retrieve(key="{key}")]'
    # A marker seen earlier, then a fresh tool output so that the request is compressed (and
    # the proxy adds headroom_retrieve); the fake model retrieves the first marker it sees.
    messages = tool_turn(big_rows("filler", 1500), intro=f"Earlier output: {marker}")
    reply = post(proxy.url, api_key, messages, scenario="retrieve")
    assert reply.status_code == 200, reply.text
    assert reply.headers.get("x-headroom-ccr-rounds") == "1"
    text = reply.json()["content"][0]["text"]
    assert text.startswith("RETRIEVED:")
    return text


def test_compress_on_one_proxy_retrieve_on_the_other(upstream, two_proxies) -> None:
    fake, _ = upstream
    a, b = two_proxies
    key = compress_on(a, fake, KEY_A, big_rows("alpha"))
    assert '"alpha-user5"' not in fake.requests[-1].body.decode()  # dropped by compression
    answer = retrieve_on(b, KEY_A, key)
    assert '"name":"alpha-user5"' in answer  # ... and retrieved through the other proxy
    # Another API key is another tenant: the same key is unknown there, on either proxy.
    for proxy in (a, b):
        other = retrieve_on(proxy, KEY_B, key)
        assert "No stored content" in other and "alpha-user" not in other


def test_one_budget_across_both_proxies_under_concurrent_load(upstream, two_proxies, redis_url) -> None:
    import redis

    a, b = two_proxies

    def one(i: int) -> int:
        proxy = (a, b)[i % 2]
        return post(proxy.url, KEY_A, [{"role": "user", "content": f"hello {i}"}]).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(one, range(32)))
    admitted = statuses.count(200)
    assert set(statuses) <= {200, 402}
    # ~110 tokens each (100 reserved for output + the input) against 1,100: about ten requests
    # in total. Two per-process budgets would have let about twenty through.
    assert 8 <= admitted <= 12, statuses
    client = redis.Redis.from_url(redis_url)
    [name] = [k for k in client.keys("headroom:budget:*") if b"|tokens|" in k]
    spent = float(client.hget(name, "spent") or 0)
    assert spent <= 1100 + 110  # overspent by at most one request's cost


def test_redis_restarted_mid_run(upstream, own_redis, tmp_path) -> None:
    fake, server = upstream
    a, b = (
        ProxyProcess(server.url, "--ccr-url", own_redis.url, "--ccr-dir", str(tmp_path / d)).wait_ready()
        for d in ("a", "b")
    )
    try:
        key = compress_on(a, fake, KEY_A, big_rows("before"))
        own_redis.stop()
        # Redis down: the proxy keeps serving; compression is lossless (no marker to dangle).
        reply = post(a.url, KEY_A, tool_turn(big_rows("during")))
        assert reply.status_code == 200
        assert not MARKER_KEY.search(fake.requests[-1].body.decode())
        assert "cannot be read right now" in retrieve_on(b, KEY_A, key)
        own_redis.start()  # empty: persistence is off
        deadline = time.monotonic() + 20
        while True:  # bounded: each proxy waits a second before trying Redis again
            reply = post(a.url, KEY_A, tool_turn(big_rows("after")))
            match = MARKER_KEY.search(fake.requests[-1].body.decode())
            if match or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert match, "compression with markers should resume when Redis is back"
        # Proxy b saw Redis down too and may still be inside its one-second wait before it
        # tries again: it answers "cannot be read right now" until then (bounded).
        deadline = time.monotonic() + 10
        answer = retrieve_on(b, KEY_A, match.group(1))
        while '"name":"after-user5"' not in answer and time.monotonic() < deadline:
            time.sleep(0.3)
            answer = retrieve_on(b, KEY_A, match.group(1))
        assert '"name":"after-user5"' in answer
    finally:
        a.stop()
        b.stop()


def test_unreachable_redis_fails_the_start_loudly(upstream) -> None:
    _, server = upstream
    url = f"redis://:topsecret@127.0.0.1:{free_port()}/0"
    proxy = ProxyProcess(server.url, "--ccr-url", url)
    try:
        proxy.proc.wait(timeout=60)
        err = proxy.proc.stderr.read().decode() if proxy.proc.stderr else ""
    finally:
        proxy.stop()
    assert proxy.proc.returncode == 2
    lines = [line for line in err.splitlines() if "redis" in line.lower()]
    assert len(lines) == 1 and "could not be reached" in lines[0], err
    assert "topsecret" not in err and "Traceback" not in err


def test_redis_server_fixture_is_real(redis_server: RedisServer) -> None:
    assert redis_server.ping()


def test_tenant_from_settings() -> None:
    from headroom_core._requestlog import hash_key
    from headroom_proxy import ProxySettings
    from headroom_proxy._settings import ProxyConfigError

    headers = {"x-api-key": KEY_A, "x-team": "search-team", "x-odd": "a team/with spaces"}
    shared = ProxySettings(ccr_url="redis://127.0.0.1:6379/0")
    assert shared.tenant_of(headers) == hash_key(KEY_A)  # auto with a Redis URL: the hashed key
    assert KEY_A not in str(shared.tenant_of(headers))
    assert shared.tenant_of({}) is None  # no key: the shared namespace
    assert ProxySettings().tenant_of(headers) is None  # auto on the local disk store: no tenants
    assert ProxySettings(tenant_from="header:x-team").tenant_of(headers) == "search-team"
    odd = ProxySettings(tenant_from="header:x-odd").tenant_of(headers)
    assert odd is not None and odd.startswith("h_") and " " not in odd
    assert ProxySettings(tenant_from="none", ccr_url="redis://h/0").tenant_of(headers) is None
    for bad in ({"tenant_from": "cookie"}, {"tenant_from": "header:"}, {"ccr_url": "http://redis"}):
        with pytest.raises(ProxyConfigError):
            ProxySettings(**bad)
