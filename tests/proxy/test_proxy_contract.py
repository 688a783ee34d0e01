"""What the proxy must never break: headers, errors, streaming, disconnects, fail-open, bypass,
pass-through of everything it does not know, and isolation between concurrent requests."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import anthropic
import httpx
import openai
import pytest

from tests.proxy.conversations import ANTHROPIC_SYSTEM, ANTHROPIC_TOOLS, anthropic_conversation

pytestmark = pytest.mark.enable_socket
MODEL = "claude-haiku-4-5"
SECRET = "sk-ant-SECRET-do-not-log-4242"


def test_headers_and_auth_reach_the_upstream_unchanged(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    headers = {
        "x-api-key": SECRET,
        "authorization": "Bearer " + SECRET,
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "prompt-caching-2024-07-31,tools-2024-05-16",
        "openai-organization": "org-123",
        "x-custom-thing": "kept as is",
        "x-headroom-bypass": "0",
    }
    body = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(url + "/v1/messages", json=body, headers=headers)
    assert r.status_code == 200
    got = upstream.requests[-1].headers
    for name, value in headers.items():
        if name.startswith("x-headroom-"):
            assert name not in got  # Headroom's own controls stay with the proxy
        else:
            assert got[name] == value
    assert r.headers["x-upstream"] == "fake"  # response headers come back too
    assert r.headers["request-id"] == "req_1"


@pytest.mark.parametrize("status", [401, 404, 429, 500, 529])
def test_upstream_errors_pass_through_for_the_anthropic_sdk(fake, start_proxy, status):
    url = start_proxy()
    c = anthropic.Anthropic(api_key="k", base_url=url, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as info:
        c.messages.create(
            model=MODEL,
            max_tokens=5,
            messages=anthropic_conversation(1),
            extra_headers={"x-fake-scenario": f"error-{status}"},
        )
    err = info.value
    assert err.status_code == status
    assert err.response.headers["request-id"] == "req_fake"
    assert err.body["error"]["message"] == f"fake upstream error {status}"
    if status == 429:
        assert err.response.headers["retry-after"] == "7"
        assert isinstance(err, anthropic.RateLimitError)


@pytest.mark.parametrize("status", [401, 429, 500])
def test_upstream_errors_pass_through_for_the_openai_sdk(fake, start_proxy, status):
    url = start_proxy()
    c = openai.OpenAI(api_key="k", base_url=url + "/v1", max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        c.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            extra_headers={"x-fake-scenario": f"error-{status}"},
        )
    assert info.value.status_code == status
    if status == 429:
        assert info.value.response.headers["retry-after"] == "7"


def test_unknown_endpoints_pass_through_unchanged(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    r = httpx.get(url + "/v1/models?limit=3", headers={"authorization": "Bearer abc"})
    assert r.json() == {
        "method": "GET",
        "path": "/v1/models",
        "query": "limit=3",
        "body_sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "api_key": "Bearer abc",
    }
    payload = b'{"input": "text to embed", "model": "text-embedding-3-small"}'
    r = httpx.post(url + "/v1/embeddings", content=payload, headers={"content-type": "application/json"})
    assert r.json()["body_sha256"] == __import__("hashlib").sha256(payload).hexdigest()
    assert upstream.requests[-1].body == payload
    r = httpx.delete(url + "/v1/files/file-123")
    assert r.json()["method"] == "DELETE" and r.headers["x-upstream"] == "echo"
    c = anthropic.Anthropic(api_key="k", base_url=url, max_retries=0)
    assert c.messages.count_tokens(model=MODEL, messages=anthropic_conversation(1)).input_tokens == 42
    assert upstream.requests[-1].path == "/v1/messages/count_tokens"


def test_bypass_header_forwards_the_exact_bytes(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    body = json.dumps({"model": MODEL, "max_tokens": 5, "messages": anthropic_conversation(1)}).encode()
    r = httpx.post(url + "/v1/messages", content=body, headers={"x-headroom-bypass": "1"})
    assert r.status_code == 200
    assert r.headers["x-headroom-compression"] == "bypass"
    assert upstream.requests[-1].body == body


def test_compression_failure_fails_open(fake, start_proxy, monkeypatch, caplog):
    from headroom_proxy import _adapter

    def broken(*args, **kwargs):
        raise RuntimeError("compressor bug")

    monkeypatch.setattr(_adapter, "compress_request", broken)
    upstream, _ = fake
    url = start_proxy()
    body = json.dumps({"model": MODEL, "max_tokens": 5, "messages": anthropic_conversation(1)}).encode()
    with caplog.at_level(logging.WARNING, logger="headroom"):
        r = httpx.post(url + "/v1/messages", content=body)
    assert r.status_code == 200
    assert r.headers["x-headroom-compression"] == "failed-open"
    assert upstream.requests[-1].body == body
    assert "forwarding the original request" in caplog.text


def test_compression_timeout_fails_open(fake, start_proxy, monkeypatch):
    from headroom_proxy import _adapter

    release = threading.Event()

    def slow(*args, **kwargs):
        release.wait(10)
        raise RuntimeError("too late")

    monkeypatch.setattr(_adapter, "compress_request", slow)
    upstream, _ = fake
    url = start_proxy(compress_timeout=0.2)
    body = json.dumps({"model": MODEL, "max_tokens": 5, "messages": anthropic_conversation(1)}).encode()
    try:
        r = httpx.post(url + "/v1/messages", content=body)
    finally:
        release.set()
    assert r.headers["x-headroom-compression"] == "timeout"
    assert upstream.requests[-1].body == body


def test_streaming_is_real_streaming(fake, start_proxy):
    """The first event reaches the client while the upstream is still producing the rest."""
    upstream, _ = fake
    url = start_proxy()
    body = {"model": MODEL, "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream(
        "POST", url + "/v1/messages", json=body, headers={"x-fake-scenario": "slow"}, timeout=30
    ) as r:
        chunks = r.iter_raw()
        first = next(chunks)
        first_at = time.monotonic()
        rest = b"".join(chunks)
    assert first.startswith(b"event: message_start")
    assert rest.endswith(b'{"type": "message_stop"}\n\n')
    assert first_at < upstream.events_sent[-1]  # before the upstream sent its last event


def test_openai_stream_stays_a_stream(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    c = openai.OpenAI(api_key="k", base_url=url + "/v1", max_retries=0)
    stream = c.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_headers={"x-fake-scenario": "slow"},
    )
    first = next(iter(stream))
    first_at = time.monotonic()
    rest = list(stream)
    assert first.object == "chat.completion.chunk" and rest
    assert upstream.requests[-1].json["stream"] is True
    assert first_at < upstream.events_sent[-1]


def test_client_disconnect_closes_the_upstream_stream(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    body = {"model": MODEL, "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", url + "/v1/messages", json=body, headers={"x-fake-scenario": "long"}) as r:
        next(r.iter_raw())
    deadline = time.monotonic() + 10
    while not upstream.long_stream_closed.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.long_stream_closed.is_set()
    assert upstream.long_events < upstream.long_total


def test_concurrent_requests_do_not_leak_into_each_other(fake, start_proxy, caplog):
    url = start_proxy()

    async def one(i: int, limit: asyncio.Semaphore) -> tuple[int, str, str]:
        async with limit:
            key = f"{SECRET}-{i}"
            c = anthropic.AsyncAnthropic(api_key=key, base_url=url, max_retries=0)
            messages = anthropic_conversation(1) if i % 5 == 0 else [{"role": "user", "content": f"q{i}"}]
            msg = await c.messages.create(
                model=MODEL, max_tokens=5, messages=messages, system=ANTHROPIC_SYSTEM
            )
            await c.close()
            return i, key, msg.content[0].text

    async def main() -> list[tuple[int, str, str]]:
        limit = asyncio.Semaphore(50)
        return await asyncio.gather(*(one(i, limit) for i in range(50)))

    with caplog.at_level(logging.DEBUG):
        results = asyncio.run(main())
    assert len(results) == 50
    for _i, key, text in results:
        assert f"key=Bearer {key};" in text or f"key={key};" in text
    assert SECRET not in caplog.text  # no credential is ever logged


def test_upstream_unreachable_is_a_clear_provider_error(start_proxy):
    from headroom_proxy import ProxySettings, create_app
    from tests.proxy.conftest import ServerThread

    server = ServerThread(
        create_app(ProxySettings(upstream_anthropic="http://127.0.0.1:9", trust_env=False, connect_timeout=2))
    ).start()
    try:
        c = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
        with pytest.raises(anthropic.APIStatusError) as info:
            c.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        assert info.value.status_code == 502
        assert "could not be reached" in str(info.value)
        ready = httpx.get(server.url + "/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["upstream_anthropic"].startswith("unreachable")
    finally:
        server.stop()


def test_health_and_readiness(fake, start_proxy):
    url = start_proxy()
    assert httpx.get(url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(url + "/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"upstream_anthropic": "ok", "upstream_openai": "ok", "ccr_store": "ok"}


def test_tools_and_system_untouched_when_nothing_to_compress(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    body = {
        "model": MODEL,
        "max_tokens": 5,
        "system": ANTHROPIC_SYSTEM,
        "tools": ANTHROPIC_TOOLS,
        "messages": [{"role": "user", "content": "short"}],
    }
    raw = json.dumps(body, indent=2).encode()
    r = httpx.post(url + "/v1/messages", content=raw)
    assert r.headers["x-headroom-compression"] == "unchanged"
    assert upstream.requests[-1].body == raw  # nothing compressed: the client's very bytes


def test_passthrough_keeps_body_framing(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    httpx.get(url + "/v1/models")
    got = upstream.requests[-1].headers
    assert "transfer-encoding" not in got and got.get("content-length", "0") == "0"
    payload = b"x" * 100_000
    httpx.post(url + "/v1/files", content=payload)
    assert upstream.requests[-1].headers["content-length"] == "100000"
    assert upstream.requests[-1].body == payload
