"""One CCR store for everyone: markers from the SDK and the proxy are retrievable through the
MCP tool, and markers from the MCP tool through the SDK and the proxy. Nothing here names a
store: all sides use the default location (`$HEADROOM_CCR_DIR`, set per test)."""

from __future__ import annotations

import json

import httpx
import pytest
from mcp import Client

import headroom_core
from headroom_core import compress, parse_markers
from tests.mcp.samples import ci_log, records_json


def _text(result) -> str:
    return "\n".join(block.text for block in result.content)


async def test_sdk_marker_is_retrievable_through_mcp(make_server, ccr_dir):
    original = records_json()
    messages = [
        {"role": "user", "content": "Which jobs failed?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "jobs", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": original},
    ]
    result = compress(messages, "gpt-4o")  # what the proxy runs, default store
    keys = [m.key for m in parse_markers(result.messages[-1]["content"])]
    assert keys
    async with Client(make_server(answer_max_tokens=500_000)) as client:
        answer = _text(await client.call_tool("headroom_retrieve", {"key": keys[0]}))
        failed = _text(await client.call_tool("headroom_retrieve", {"key": keys[0], "query": "failed"}))
    assert answer == original
    assert '"failed"' in failed
    assert any(ccr_dir.iterdir())  # the default store is the per-test directory


async def test_mcp_marker_is_retrievable_through_the_sdk(make_server):
    log = ci_log()
    async with Client(make_server()) as client:
        data = (await client.call_tool("headroom_compress", {"content": log})).structured_content
    key = data["ccr_keys"][0]
    assert headroom_core.retrieve(key) == log  # a fresh default config finds it
    assert headroom_core.retrieval_answer(key, "OOMKilled").count("OOMKilled") == 1


# --------------------------------------------------------------------------- through the proxy


@pytest.fixture
def proxy(ccr_dir):
    """The real proxy in front of the fake upstream (both on loopback), default CCR store."""
    from headroom_proxy import ProxySettings, create_app
    from tests.proxy.conftest import ServerThread
    from tests.proxy.fake_upstream import FakeUpstream

    upstream = FakeUpstream()
    upstream_server = ServerThread(upstream.app()).start()
    settings = ProxySettings(
        upstream_openai=upstream_server.url + "/v1", upstream_anthropic=upstream_server.url, trust_env=False
    )
    proxy_server = ServerThread(create_app(settings)).start()
    try:
        yield upstream, proxy_server.url
    finally:
        proxy_server.stop()
        upstream_server.stop()


@pytest.mark.enable_socket
async def test_proxy_marker_is_retrievable_through_mcp(make_server, proxy):
    from tests.proxy.conversations import openai_conversation, tool_output

    upstream, url = proxy
    body = {"model": "gpt-4o", "messages": openai_conversation(1)}
    async with httpx.AsyncClient(timeout=60) as http:
        reply = await http.post(
            url + "/v1/chat/completions", json=body, headers={"authorization": "Bearer k"}
        )
    assert reply.status_code == 200
    sent = upstream.requests[-1].json["messages"][-1]["content"]  # what the model saw
    keys = [m.key for m in parse_markers(sent)]
    assert keys, "the proxy did not compress the tool output"
    async with Client(make_server(answer_max_tokens=500_000)) as client:
        answer = _text(await client.call_tool("headroom_retrieve", {"key": keys[0]}))
    assert answer == tool_output(0)


@pytest.mark.enable_socket
async def test_mcp_marker_is_retrievable_through_the_proxy(make_server, proxy):
    upstream, url = proxy
    log = ci_log()
    async with Client(make_server()) as client:
        result = await client.call_tool("headroom_compress", {"content": log, "query": "OOMKilled"})
    compressed = result.content[0].text
    key = result.structured_content["ccr_keys"][0]
    # The agent pastes what the MCP tool gave it into a conversation that goes through the
    # proxy (which also compresses a tool output of its own there: it offers headroom_retrieve
    # only to requests it compressed); the model (the fake upstream) calls headroom_retrieve on
    # the first marker, the MCP one, and the proxy answers it from the same store.
    from tests.proxy.conversations import openai_conversation

    messages = openai_conversation(1)
    assert messages[1]["role"] == "user"
    messages[1] = {"role": "user", "content": "Why did the CI job fail? Here is the log:\n" + compressed}
    body = {"model": "gpt-4o", "messages": messages}
    headers = {"authorization": "Bearer k", "x-fake-scenario": "retrieve"}
    async with httpx.AsyncClient(timeout=60) as http:
        reply = await http.post(url + "/v1/chat/completions", json=body, headers=headers)
    assert reply.status_code == 200
    assert reply.headers.get("x-headroom-ccr-rounds") == "1"
    text = reply.json()["choices"][0]["message"]["content"]
    assert text.startswith("RETRIEVED:")
    call = upstream.requests[1].json["messages"][-2]["tool_calls"][0]["function"]
    assert call["name"] == "headroom_retrieve" and json.loads(call["arguments"])["key"] == key
    assert text == "RETRIEVED:" + headroom_core.retrieval_answer(key)  # the stored log, served by the proxy
