"""Small pieces of the proxy: the SSE splitter, header filtering, tool shapes."""

from __future__ import annotations

import asyncio

import pytest

from headroom_proxy._app import _request_headers
from headroom_proxy._retrieval import add_retrieve_tool
from headroom_proxy._sse import iter_events

STREAM = (
    b'event: message_start\ndata: {"type": "message_start"}\n\n'
    b": a comment\n\n"
    b'event: ping\r\ndata: {"type": "ping"}\r\n\r\n'
    b"data: [DONE]\n\n"
)


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def _collect(chunks: list[bytes]) -> list:
    async def gen():
        for c in chunks:
            yield c

    return [e async for e in iter_events(gen())]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
def test_sse_events_are_the_same_whatever_the_chunking(size):
    events = asyncio.run(_collect(_split(STREAM, size)))
    assert b"".join(e.raw for e in events) == STREAM  # every byte forwarded, none invented
    assert [e.name for e in events] == ["message_start", None, "ping", None]
    assert events[0].json() == {"type": "message_start"}
    assert events[2].json() == {"type": "ping"}
    assert events[3].data == "[DONE]" and events[3].json() is None


def test_unterminated_tail_is_still_forwarded():
    events = asyncio.run(_collect([b'data: {"a": 1}\n\ndata: partial']))
    assert [e.raw for e in events] == [b'data: {"a": 1}\n\n', b"data: partial"]


def test_request_headers_drop_hop_by_hop_and_headroom_controls():
    headers = [
        ("Host", "localhost:8787"),
        ("Connection", "keep-alive"),
        ("Content-Length", "12"),
        ("Transfer-Encoding", "chunked"),
        ("X-Headroom-Bypass", "1"),
        ("Authorization", "Bearer k"),
        ("anthropic-beta", "a,b"),
        ("X-Unknown", "v"),
    ]
    assert _request_headers(headers) == [
        ("Authorization", "Bearer k"),
        ("anthropic-beta", "a,b"),
        ("X-Unknown", "v"),
    ]


@pytest.mark.parametrize(
    ("kind", "tools", "name_of"),
    [
        ("anthropic", [{"name": "a"}], lambda t: t["name"]),
        ("openai_chat", [{"type": "function", "function": {"name": "a"}}], lambda t: t["function"]["name"]),
        ("openai_responses", [{"type": "function", "name": "a"}], lambda t: t["name"]),
    ],
)
def test_retrieve_tool_is_appended_in_the_provider_shape(kind, tools, name_of):
    payload = {"tools": list(tools)}
    assert add_retrieve_tool(kind, payload)
    assert payload["tools"][0] == tools[0]
    assert name_of(payload["tools"][-1]) == "headroom_retrieve"
    assert not add_retrieve_tool(kind, payload)  # already there: the client's (or ours)
    assert len(payload["tools"]) == 2
    empty: dict = {}
    assert add_retrieve_tool(kind, empty) and len(empty["tools"]) == 1
    assert not add_retrieve_tool(kind, {"tools": "not a list"})
