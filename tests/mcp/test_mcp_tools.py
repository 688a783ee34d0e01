"""The three tools, in process, through the SDK's own client (`mcp.Client(server)`)."""

from __future__ import annotations

import json
import threading

import anyio
import pytest
from mcp import Client

from headroom_core import RETRIEVE_TOOL_DESCRIPTION, parse_markers
from headroom_core._usage import record_usage
from tests.mcp.samples import ci_log, records_json


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content)


async def test_lists_three_tools_with_model_facing_descriptions(make_server):
    async with Client(make_server()) as client:
        assert client.server_info.name == "headroom"
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"headroom_compress", "headroom_retrieve", "headroom_stats"}
    assert tools["headroom_retrieve"].description == RETRIEVE_TOOL_DESCRIPTION
    assert tools["headroom_compress"].input_schema["required"] == ["content"]
    assert tools["headroom_retrieve"].input_schema["required"] == ["key"]
    assert set(tools["headroom_retrieve"].input_schema["properties"]) == {"key", "query", "limit"}
    assert tools["headroom_stats"].input_schema["properties"] == {}
    for tool in tools.values():  # when to call, and an example, for the model
        assert "Example" in tool.description and "headroom_" in tool.description
        assert all(p.get("description") for p in tool.input_schema["properties"].values())


async def test_compress_then_retrieve_round_trip(make_server):
    log = ci_log()
    async with Client(make_server(answer_max_tokens=200_000)) as client:
        result = await client.call_tool(
            "headroom_compress", {"content": log, "kind": "log", "query": "OOMKilled"}
        )
        assert not result.is_error
        data = result.structured_content
        assert data["status"] == "compressed"
        assert data["tokens_after"] * 10 < data["tokens_before"]
        compressed = result.content[0].text
        assert "OOMKilled" in compressed  # what the query asked for is kept
        keys = [m.key for m in parse_markers(compressed)]
        assert keys and set(keys) <= set(data["ccr_keys"])
        assert data["ccr_keys"][0] in result.content[1].text  # the footer names the keys

        whole = await client.call_tool("headroom_retrieve", {"key": data["ccr_keys"][0]})
        assert not whole.is_error and text_of(whole) == log
        found = await client.call_tool(
            "headroom_retrieve", {"key": data["ccr_keys"][0], "query": "OOMKilled", "limit": 3}
        )
        assert "OOMKilled" in text_of(found) and len(text_of(found)) < 1000


async def test_retrieve_answers_are_capped_with_a_note(make_server):
    async with Client(make_server(answer_max_tokens=300)) as client:
        result = await client.call_tool("headroom_compress", {"content": records_json()})
        key = result.structured_content["ccr_keys"][0]
        answer = text_of(await client.call_tool("headroom_retrieve", {"key": key}))
    assert "answer capped at 300 tokens" in answer and "query" in answer


async def test_short_text_comes_back_unchanged(make_server):
    async with Client(make_server()) as client:
        result = await client.call_tool("headroom_compress", {"content": "just a short note"})
    assert not result.is_error
    assert result.content[0].text == "just a short note"
    assert result.structured_content["status"] == "unchanged" and result.structured_content["ccr_keys"] == []


@pytest.mark.parametrize(
    "kind", ["log", "search", "test", "json", "auto", "", "pytest -q", "srv/app.log", "grep -rn x"]
)
async def test_every_kind_hint_compresses(make_server, kind):
    async with Client(make_server()) as client:
        result = await client.call_tool("headroom_compress", {"content": ci_log(800), "kind": kind})
    assert not result.is_error
    assert result.structured_content["tokens_after"] <= result.structured_content["tokens_before"]


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("headroom_retrieve", {}, "needs `key`"),
        ("headroom_retrieve", {"key": 5}, "`key` must be text"),
        ("headroom_retrieve", {"key": ["a"]}, "`key` must be text"),
        ("headroom_retrieve", {"key": "abc", "limit": "many"}, "`limit` must be a whole number"),
        ("headroom_retrieve", {"key": "abc", "limit": 0}, "at least 1"),
        ("headroom_retrieve", {"key": "abc", "limit": True}, "`limit` must be a whole number"),
        ("headroom_retrieve", {"key": "abc", "query": {"a": 1}}, "`query` must be text"),
        ("headroom_retrieve", {"key": "abc", "page": 2}, "unknown argument(s) page"),
        ("headroom_compress", {}, "needs `content`"),
        ("headroom_compress", {"content": 12}, "`content` must be text"),
        ("headroom_compress", {"content": "   "}, "`content` is empty"),
        ("headroom_compress", {"content": "x", "model": 4}, "`model` must be text"),
        ("headroom_stats", {"verbose": True}, "unknown argument(s) verbose"),
        ("headroom_retrieve", {"key": "abc", "limit": "9" * 5000}, "`limit` must be a whole number"),
        ("headroom_retrieve", {"key": "abc", "limit": "²"}, "`limit` must be a whole number"),
        ("headroom_compress", {"content": "x", "model": "m" * 5000}, "`model` is 5,000 characters"),
        ("headroom_compress", {"content": "x", "query": "q " * 20_000}, "`query` is 40,000 characters"),
        ("headroom_stats", {f"a{i}": i for i in range(100)}, "and 95 more"),
    ],
)
async def test_bad_arguments_are_tool_errors_with_a_clear_message(make_server, tool, arguments, expected):
    async with Client(make_server()) as client:
        result = await client.call_tool(tool, arguments)
        assert result.is_error
        assert expected in text_of(result)
        assert "validation error" not in text_of(result)  # a sentence, not a pydantic dump
        assert not (await client.call_tool("headroom_stats", {})).is_error  # the server lives on


async def test_quoted_numbers_and_nulls_are_accepted(make_server):
    async with Client(make_server()) as client:
        result = await client.call_tool(
            "headroom_retrieve", {"key": "abcdef0123456789", "limit": "5", "query": None}
        )
    assert not result.is_error and "No stored content" in text_of(result)


async def test_fifty_megabytes_is_refused_not_compressed(make_server):
    async with Client(make_server()) as client:
        result = await client.call_tool("headroom_compress", {"content": "a" * (50 << 20)})
    assert result.is_error
    assert "50.0 MB" in text_of(result) and "16.0 MB limit" in text_of(result)


async def test_unknown_and_malformed_keys_get_an_answer_not_a_crash(make_server):
    async with Client(make_server()) as client:
        unknown = text_of(await client.call_tool("headroom_retrieve", {"key": "0123456789abcdef01234567"}))
        malformed = text_of(await client.call_tool("headroom_retrieve", {"key": "not a key"}))
    assert "No stored content" in unknown and "Re-run" in unknown
    assert "is not a Headroom key" in malformed


async def test_slow_compression_times_out_open_without_blocking_the_loop(make_server, monkeypatch):
    import headroom_mcp._server as server_module

    release = threading.Event()
    started = threading.Event()

    def stuck(text, **kwargs):
        started.set()
        release.wait(30)
        raise AssertionError("abandoned compression finished")

    monkeypatch.setattr(server_module, "compress_text", stuck)
    content = ci_log(500)
    outcome = {}
    try:
        async with Client(make_server(compress_timeout_seconds=1.0)) as client:

            async def compress() -> None:
                outcome["result"] = await client.call_tool("headroom_compress", {"content": content})

            async with anyio.create_task_group() as tg:
                tg.start_soon(compress)
                while not started.is_set():
                    await anyio.sleep(0.01)
                # The compression is stuck in its worker thread; the server still answers.
                stats = await client.call_tool("headroom_stats", {})
                assert not stats.is_error and "result" not in outcome
    finally:
        release.set()
    result = outcome["result"]
    assert not result.is_error
    assert result.content[0].text == content
    assert result.structured_content["status"] == "timeout"
    assert "took over 1s" in result.content[1].text


async def test_a_failing_compressor_fails_open(make_server, monkeypatch):
    import headroom_mcp._server as server_module

    def broken(text, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(server_module, "compress_text", broken)
    async with Client(make_server()) as client:
        result = await client.call_tool("headroom_compress", {"content": ci_log(300)})
    assert not result.is_error
    assert result.content[0].text == ci_log(300)
    assert result.structured_content["status"] == "error"


async def test_stats_counts_this_session_and_the_shared_log(make_server, ccr_dir):
    record_usage("proxy", "compress", tokens_before=1000, tokens_after=100)  # another front end, earlier
    async with Client(make_server()) as client:
        empty = (await client.call_tool("headroom_stats", {})).structured_content
        assert empty["session"]["compressions"] == 0 and empty["overall"]["tokens_saved"] == 900
        done = (await client.call_tool("headroom_compress", {"content": ci_log()})).structured_content
        await client.call_tool("headroom_retrieve", {"key": done["ccr_keys"][0], "query": "ERROR"})
        result = await client.call_tool("headroom_stats", {})
    stats = result.structured_content
    assert stats["session"]["compressions"] == 1 and stats["session"]["retrievals"] == 1
    assert stats["session"]["tokens_saved"] == done["tokens_saved"]
    assert stats["overall"]["tokens_saved"] == 900 + done["tokens_saved"]
    assert stats["overall"]["tokens_saved_by_source"] == {"mcp": done["tokens_saved"], "proxy": 900}
    assert stats["usage_log"] == str(ccr_dir / "usage.jsonl")
    assert "This session: 1 compression," in text_of(result) and "Overall" in text_of(result)


async def test_usage_log_can_be_turned_off(make_server, ccr_dir):
    async with Client(make_server(record_usage=False)) as client:
        await client.call_tool("headroom_compress", {"content": ci_log()})
    assert not (ccr_dir / "usage.jsonl").exists()


def test_settings_validate_themselves():
    from headroom_mcp import MCPSettings

    for bad in (
        {"answer_max_tokens": 0},
        {"compress_timeout_seconds": -1},
        {"max_content_bytes": "1"},
        {"config": {}},
    ):
        with pytest.raises((ValueError, TypeError)):
            MCPSettings(**bad)


async def test_overrun_threads_cannot_pile_up(make_server, monkeypatch):
    import headroom_mcp._server as server_module

    release = threading.Event()
    started = []

    def stuck(text, **kwargs):
        started.append(1)
        release.wait(30)
        raise AssertionError("abandoned compression finished")

    monkeypatch.setattr(server_module, "compress_text", stuck)
    content = ci_log(300)
    try:
        async with Client(make_server(compress_timeout_seconds=0.3, worker_threads=1)) as client:
            for _ in range(2):  # two overruns: both threads are still running afterwards
                first = await client.call_tool("headroom_compress", {"content": content})
                assert first.structured_content["status"] == "timeout"
            for _ in range(1000):  # bounded wait until both stuck threads have started
                if len(started) == 2:
                    break
                await anyio.sleep(0.01)
            busy = await client.call_tool("headroom_compress", {"content": content})
            assert not busy.is_error and busy.content[0].text == content
            assert busy.structured_content["status"] == "busy"
            assert len(started) == 2  # the third was not started
    finally:
        release.set()


async def test_stats_include_the_proxys_request_log(make_server, tmp_path, monkeypatch):
    request_log = tmp_path / "requests.jsonl"
    monkeypatch.setenv("HEADROOM_REQUEST_LOG", str(request_log))
    async with Client(make_server()) as client:
        without = (await client.call_tool("headroom_stats", {})).structured_content
        assert without["proxy"] is None
        entries = [
            {"ts": 1_790_000_000.0, "status": 200, "tokens_before": 9000, "tokens_after": 1000},
            {"ts": 1_790_000_100.0, "status": 200, "tokens_before": 500, "tokens_after": 500},
        ]
        request_log.write_text("".join(json.dumps(e) + "\n" for e in entries))
        result = await client.call_tool("headroom_stats", {})
    proxy = result.structured_content["proxy"]
    assert (proxy["requests"], proxy["tokens_saved"]) == (2, 8000)
    assert "Proxy (request log): 2 requests, 9,500 -> 1,500 tokens, 8,000 tokens saved" in text_of(result)
