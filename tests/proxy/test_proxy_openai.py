"""The proxy driven by the official openai SDK: Chat Completions and the Responses API."""

from __future__ import annotations

import itertools
import json

import httpx
import openai
import pytest

from tests.proxy.conversations import OPENAI_TOOLS, RESPONSES_TOOLS, openai_conversation, responses_input
from tests.proxy.fake_upstream import RETRIEVE, TOOL_ARGS, canonical

pytestmark = pytest.mark.enable_socket


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-openai-test", base_url=url + "/v1", max_retries=0)


def test_chat_plain_and_streaming(fake, start_proxy):
    url = start_proxy()
    c = client(url)
    r = c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert "Bearer sk-openai-test" in r.choices[0].message.content
    chunks = list(
        c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices).startswith(
        "hello from fake"
    )


def test_chat_compresses_tool_messages_only(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    messages = openai_conversation(2)
    raw = client(url).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=messages, tools=OPENAI_TOOLS
    )
    assert int(raw.headers["x-headroom-tokens-after"]) < int(raw.headers["x-headroom-tokens-before"]) / 2
    rec = upstream.requests[-1]
    for i, (sent, got) in enumerate(zip(map(canonical, messages), rec.message_hashes)):
        if messages[i]["role"] != "tool":
            assert sent == got, f"message {i} changed"
    assert rec.json["tools"][:2] == OPENAI_TOOLS
    assert rec.json["tools"][-1]["function"]["name"] == RETRIEVE


def test_chat_tool_call_deltas_byte_identical(fake, start_proxy):
    _, upstream_server = fake
    url = start_proxy()
    body = {
        "model": "gpt-4o",
        "stream": True,
        "tools": OPENAI_TOOLS,
        "messages": [{"role": "user", "content": "?"}],
    }
    headers = {"authorization": "Bearer k", "x-fake-scenario": "tool"}
    direct = httpx.post(upstream_server.url + "/v1/chat/completions", json=body, headers=headers).content
    proxied = httpx.post(url + "/v1/chat/completions", json=body, headers=headers).content
    assert proxied == direct
    assert direct.count(b'"arguments"') == 51  # the empty opener and 50 fragments
    stream = client(url).chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "?"}],
        tools=OPENAI_TOOLS,
        stream=True,
        extra_headers={"x-fake-scenario": "tool"},
    )
    args = "".join(
        tc.function.arguments or "" for ch in stream for c in ch.choices for tc in (c.delta.tool_calls or ())
    )
    assert args == TOOL_ARGS


def test_chat_ccr_non_streaming(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    raw = client(url).chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=openai_conversation(1),
        tools=OPENAI_TOOLS,
        extra_headers={"x-fake-scenario": "retrieve"},
    )
    r = raw.parse()
    assert raw.headers["x-headroom-ccr-rounds"] == "1"
    assert r.choices[0].message.content.startswith("RETRIEVED:")
    assert r.choices[0].message.tool_calls is None
    assert r.usage.prompt_tokens == 200
    assert len(upstream.requests) == 2


def test_chat_ccr_streaming(fake, start_proxy):
    url = start_proxy()
    stream = client(url).chat.completions.create(
        model="gpt-4o",
        messages=openai_conversation(1),
        tools=OPENAI_TOOLS,
        stream=True,
        extra_headers={"x-fake-scenario": "retrieve"},
    )
    chunks = list(stream)
    assert len({ch.id for ch in chunks}) == 1  # one completion as far as the client can tell
    text = "".join(c.delta.content or "" for ch in chunks for c in ch.choices)
    assert text.startswith("RETRIEVED:")
    assert not any(c.delta.tool_calls for ch in chunks for c in ch.choices)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_chat_ccr_mixed_is_handed_back(fake, start_proxy):
    url = start_proxy()
    kwargs = dict(
        model="gpt-4o",
        messages=openai_conversation(1),
        tools=OPENAI_TOOLS,
        extra_headers={"x-fake-scenario": "mixed"},
    )
    r = client(url).chat.completions.create(**kwargs)
    assert [t.function.name for t in r.choices[0].message.tool_calls] == [RETRIEVE, "get_weather"]
    chunks = list(client(url).chat.completions.create(stream=True, **kwargs))
    names = [
        tc.function.name
        for ch in chunks
        for c in ch.choices
        for tc in (c.delta.tool_calls or ())
        if tc.function.name
    ]
    assert names == [RETRIEVE, "get_weather"]


def test_responses_plain_streaming_and_compression(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    c = client(url)
    r = c.responses.create(model="gpt-4o", input="hello")
    assert r.output_text.startswith("hello from fake")
    items = responses_input(2)
    raw = c.responses.with_raw_response.create(model="gpt-4o", input=items, tools=RESPONSES_TOOLS)
    assert int(raw.headers["x-headroom-tokens-after"]) < int(raw.headers["x-headroom-tokens-before"]) / 2
    sent = upstream.requests[-1].json["input"]
    for before, after in zip(items, sent):
        if before.get("type") == "function_call_output":
            assert len(after["output"]) < len(before["output"]) / 2
            assert after["call_id"] == before["call_id"]
        else:
            assert after == before
    events = list(c.responses.create(model="gpt-4o", input=items, tools=RESPONSES_TOOLS, stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"


def test_responses_function_call_deltas_byte_identical(fake, start_proxy):
    _, upstream_server = fake
    url = start_proxy()
    body = {"model": "gpt-4o", "stream": True, "tools": RESPONSES_TOOLS, "input": "weather?"}
    headers = {"x-fake-scenario": "tool"}
    direct = httpx.post(upstream_server.url + "/v1/responses", json=body, headers=headers).content
    proxied = httpx.post(url + "/v1/responses", json=body, headers=headers).content
    assert proxied == direct
    assert direct.count(b"response.function_call_arguments.delta") == 2 * 50  # event: line + type


def test_responses_ccr_non_streaming_and_streaming(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    c = client(url)
    kwargs = dict(
        model="gpt-4o",
        input=responses_input(1),
        tools=RESPONSES_TOOLS,
        extra_headers={"x-fake-scenario": "retrieve"},
    )
    raw = c.responses.with_raw_response.create(**kwargs)
    assert raw.headers["x-headroom-ccr-rounds"] == "1"
    r = raw.parse()
    assert r.output_text.startswith("RETRIEVED:")
    assert all(item.type == "message" for item in r.output)
    follow_up = upstream.requests[-1].json["input"]
    assert follow_up[-1]["type"] == "function_call_output" and follow_up[-2]["name"] == RETRIEVE

    events = list(c.responses.create(stream=True, **kwargs))
    types = [e.type for e in events]
    assert types.count("response.created") == 1 and types.count("response.completed") == 1
    seq = [e.sequence_number for e in events]
    assert seq == list(range(len(seq)))
    added = [e for e in events if e.type == "response.output_item.added"]
    assert [e.output_index for e in added] == [0, 1]  # "Let me look." then the answer
    assert not any(getattr(e.item, "name", None) == RETRIEVE for e in added)
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text.startswith("Let me look.RETRIEVED:")


def test_responses_ccr_mixed_is_handed_back(fake, start_proxy):
    url = start_proxy()
    r = client(url).responses.create(
        model="gpt-4o",
        input=responses_input(1),
        tools=RESPONSES_TOOLS,
        extra_headers={"x-fake-scenario": "mixed"},
    )
    assert [i.name for i in r.output] == [RETRIEVE, "get_weather"]
    assert json.loads(r.output[1].arguments) == json.loads(TOOL_ARGS)


def test_base_url_without_v1_still_works(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    c = openai.OpenAI(api_key="k", base_url=url, max_retries=0)
    r = c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content.startswith("hello from fake")
    assert upstream.requests[-1].path == "/v1/chat/completions"


def _dump(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_chat_and_responses_prefix_is_byte_identical_turn_over_turn(fake, start_proxy):
    upstream, _ = fake
    url = start_proxy()
    c = client(url)
    chats, responses = [], []
    for turns in (1, 2, 3):
        c.chat.completions.create(model="gpt-4o", messages=openai_conversation(turns), tools=OPENAI_TOOLS)
        chats.append(upstream.requests[-1].json)
        c.responses.create(model="gpt-4o", input=responses_input(turns), tools=RESPONSES_TOOLS)
        responses.append(upstream.requests[-1].json)
    for key, sent in (("messages", chats), ("input", responses)):
        for previous, current in itertools.pairwise(sent):
            n = len(previous[key])
            assert _dump([current["tools"], current[key][:n]]) == _dump([previous["tools"], previous[key]])
