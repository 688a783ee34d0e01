"""The proxy driven by the official anthropic SDK, against the fake upstream on loopback."""

from __future__ import annotations

import itertools
import json

import anthropic
import httpx
import pytest

from tests.proxy.conversations import ANTHROPIC_SYSTEM, ANTHROPIC_TOOLS, anthropic_conversation
from tests.proxy.fake_upstream import RETRIEVE, TOOL_ARGS, canonical

pytestmark = pytest.mark.enable_socket
MODEL = "claude-haiku-4-5"


def client(url: str, **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test-key-1", base_url=url, max_retries=0, **kw)


def test_plain_message_passes_through(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    msg = client(url).messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
    )
    assert "sk-ant-test-key-1" in msg.content[0].text
    assert upstream.requests[-1].path == "/v1/messages"


def test_streaming_with_the_sdk_helper(fake, start_proxy):
    url = start_proxy()
    with client(url).messages.stream(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.startswith("hello from fake")
    assert final.stop_reason == "end_turn"


def test_compresses_tool_results_and_reports_tokens(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    messages = anthropic_conversation(1)
    raw = client(url).messages.with_raw_response.create(
        model=MODEL, max_tokens=100, system=ANTHROPIC_SYSTEM, messages=messages, tools=ANTHROPIC_TOOLS
    )
    before = int(raw.headers["x-headroom-tokens-before"])
    after = int(raw.headers["x-headroom-tokens-after"])
    assert after < before / 2
    sent = upstream.requests[-1].json
    assert len(json.dumps(sent["messages"][-1])) < len(json.dumps(messages[-1])) / 2
    assert sent["tools"][-1]["name"] == RETRIEVE  # markers present: the tool was added


def test_tool_call_fragments_arrive_byte_identical(fake, start_proxy):
    """50 input_json_delta fragments: the proxy forwards the exact bytes the upstream sent."""
    _, upstream_server = fake
    url = start_proxy()
    body = {
        "model": MODEL,
        "max_tokens": 100,
        "stream": True,
        "tools": ANTHROPIC_TOOLS,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    }
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01", "x-fake-scenario": "tool"}
    direct = httpx.post(upstream_server.url + "/v1/messages", json=body, headers=headers).content
    proxied = httpx.post(url + "/v1/messages", json=body, headers=headers).content
    assert proxied == direct
    assert direct.count(b"input_json_delta") == 50
    with client(url).messages.stream(
        model=MODEL,
        max_tokens=100,
        tools=ANTHROPIC_TOOLS,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        extra_headers={"x-fake-scenario": "tool"},
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].input == json.loads(TOOL_ARGS)


def _dump(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def test_prompt_cache_prefix_is_byte_identical_turn_over_turn(fake, start_proxy):
    """Claude Code's shape: system and the newest user block carry cache_control. Every turn the
    new tool result is compressed, and what the upstream received up to the previous turn's last
    breakpoint is byte-identical to what it received then (so the cached prefix is hit)."""
    upstream, _ = fake
    url = start_proxy()
    c = client(url)
    sent = []
    for turns in (1, 2, 3, 4):
        messages = anthropic_conversation(turns)
        c.messages.create(
            model=MODEL, max_tokens=100, system=ANTHROPIC_SYSTEM, tools=ANTHROPIC_TOOLS, messages=messages
        )
        body = upstream.requests[-1].json
        sent.append(body)
        # The newest tool result (at the last breakpoint) was compressed...
        assert len(_dump(body["messages"][-1])) < len(_dump(messages[-1])) / 2
        assert body["messages"][-1]["content"][0]["cache_control"] == {"type": "ephemeral"}
        # ... and nothing the client sent before the compressed tool results changed.
        assert body["system"] == ANTHROPIC_SYSTEM
        assert body["tools"][: len(ANTHROPIC_TOOLS)] == ANTHROPIC_TOOLS
    for previous, current in itertools.pairwise(sent):
        n = len(previous["messages"])  # the previous turn's last breakpoint is its last message
        prefix_before = _dump([previous["tools"], previous["system"], previous["messages"]])
        prefix_now = _dump([current["tools"], current["system"], current["messages"][:n]])
        assert prefix_now == prefix_before


def test_untouched_messages_are_forwarded_as_the_same_json_values(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    messages = anthropic_conversation(2)
    messages[0]["content"].append({"type": "text", "text": "big int 123456789012345678901234567890 é \u2603"})
    messages[1]["content"][1]["input"] = {"n": 123456789012345678901234567890, "f": 0.1, "u": "\u00e9"}
    client(url).messages.create(
        model=MODEL, max_tokens=100, system=ANTHROPIC_SYSTEM, tools=ANTHROPIC_TOOLS, messages=messages
    )
    rec = upstream.requests[-1]
    changed = [i for i, (a, b) in enumerate(zip(rec.message_hashes, map(canonical, messages))) if a != b]
    tool_results = [
        i for i, m in enumerate(messages) if any(b.get("type") == "tool_result" for b in m["content"])
    ]
    assert changed and set(changed) <= set(tool_results)
    assert rec.json["messages"][1]["content"][1]["input"]["n"] == 123456789012345678901234567890


def test_ccr_round_is_answered_by_the_proxy(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    raw = client(url).messages.with_raw_response.create(
        model=MODEL,
        max_tokens=100,
        system=ANTHROPIC_SYSTEM,
        tools=ANTHROPIC_TOOLS,
        messages=anthropic_conversation(1),
        extra_headers={"x-fake-scenario": "retrieve"},
    )
    msg = raw.parse()
    assert raw.headers["x-headroom-ccr-rounds"] == "1"
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text.startswith("RETRIEVED:")
    assert "cust_" in msg.content[0].text
    assert msg.usage.input_tokens == 200  # both rounds are billed, both are reported
    assert len(upstream.requests) == 2
    follow_up = upstream.requests[-1].json["messages"]
    assert follow_up[-2]["content"][-1]["name"] == RETRIEVE


def test_ccr_stream_continues_as_one_well_formed_stream(fake, start_proxy):
    url = start_proxy()
    raw_events = []
    with client(url).messages.stream(
        model=MODEL,
        max_tokens=100,
        system=ANTHROPIC_SYSTEM,
        tools=ANTHROPIC_TOOLS,
        messages=anthropic_conversation(1),
        extra_headers={"x-fake-scenario": "retrieve"},
    ) as stream:
        for event in stream:
            raw_events.append(event.type)
        final = stream.get_final_message()
    assert raw_events.count("message_start") == 1
    assert raw_events.count("message_stop") == 1
    assert [b.type for b in final.content] == ["text", "text"]  # "Let me look." then the answer
    assert final.content[0].text == "Let me look."
    assert final.content[1].text.startswith("RETRIEVED:")
    assert final.stop_reason == "end_turn"
    assert all(getattr(b, "name", None) != RETRIEVE for b in final.content)


def test_ccr_mixed_with_a_client_tool_is_handed_back_unchanged(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    kwargs = dict(
        model=MODEL,
        max_tokens=100,
        system=ANTHROPIC_SYSTEM,
        tools=ANTHROPIC_TOOLS,
        messages=anthropic_conversation(1),
        extra_headers={"x-fake-scenario": "mixed"},
    )
    msg = client(url).messages.create(**kwargs)
    assert [b.name for b in msg.content] == [RETRIEVE, "get_weather"]
    assert len(upstream.requests) == 1
    with client(url).messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    assert [b.name for b in final.content] == [RETRIEVE, "get_weather"]
    assert final.content[1].input == json.loads(TOOL_ARGS)
    assert len(upstream.requests) == 2


def test_retrieve_tool_modes_and_client_owned_tool(fake, start_proxy):
    upstream, _ = fake
    small = [{"role": "user", "content": "short"}]
    url = start_proxy(retrieve_tool="never")
    client(url).messages.create(
        model=MODEL, max_tokens=5, tools=ANTHROPIC_TOOLS, messages=anthropic_conversation(1)
    )
    assert [t["name"] for t in upstream.requests[-1].json["tools"]] == ["query_db", "get_weather"]
    # "always" adds it to every compressed request; an uncompressed one is left as sent.
    url = start_proxy(retrieve_tool="always")
    client(url).messages.create(model=MODEL, max_tokens=5, tools=ANTHROPIC_TOOLS, messages=small)
    assert "tools" in upstream.requests[-1].json and len(upstream.requests[-1].json["tools"]) == 2
    # The client has its own headroom_retrieve: the proxy neither adds one nor answers its calls.
    own = [*ANTHROPIC_TOOLS, {"name": RETRIEVE, "description": "mine", "input_schema": {"type": "object"}}]
    url = start_proxy()
    msg = client(url).messages.create(
        model=MODEL,
        max_tokens=5,
        tools=own,
        messages=anthropic_conversation(1),
        extra_headers={"x-fake-scenario": "retrieve"},
    )
    assert upstream.requests[-1].json["tools"] == own
    assert msg.content[-1].name == RETRIEVE


def test_zero_ccr_rounds_hands_the_call_back(fake, start_proxy):
    url = start_proxy(max_ccr_rounds=0)
    msg = client(url).messages.create(
        model=MODEL,
        max_tokens=5,
        tools=ANTHROPIC_TOOLS,
        messages=anthropic_conversation(1),
        extra_headers={"x-fake-scenario": "retrieve"},
    )
    assert msg.content[-1].name == RETRIEVE and msg.stop_reason == "tool_use"
