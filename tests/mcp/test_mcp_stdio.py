"""`headroom mcp` as Claude Code runs it: a subprocess speaking MCP over stdin/stdout."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from headroom_core import retrieve
from tests.mcp.samples import ci_log


def headroom_mcp() -> tuple[str, list[str]]:
    script = Path(sys.executable).parent / "headroom"
    if script.exists():
        return str(script), ["mcp"]
    return sys.executable, ["-m", "headroom_mcp"]


@pytest.fixture
def server_env(ccr_dir) -> dict[str, str]:
    return {"HEADROOM_CCR_DIR": str(ccr_dir), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


async def test_stdio_handshake_round_trip_and_clean_shutdown(server_env, tmp_path):
    command, args = headroom_mcp()
    params = StdioServerParameters(command=command, args=args, env=server_env)
    log = ci_log()
    errlog_path = tmp_path / "server-stderr.txt"
    with open(errlog_path, "w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            assert client.server_info.name == "headroom"
            tools = {t.name for t in (await client.list_tools()).tools}
            assert tools == {"headroom_compress", "headroom_retrieve", "headroom_stats"}
            result = await client.call_tool("headroom_compress", {"content": log, "kind": "log"})
            assert not result.is_error
            key = result.structured_content["ccr_keys"][0]
            found = await client.call_tool(
                "headroom_retrieve", {"key": key, "query": "OOMKilled", "limit": 2}
            )
            assert "OOMKilled" in found.content[0].text
            bad = await client.call_tool("headroom_retrieve", {"key": 42})
            assert bad.is_error and "`key` must be text" in bad.content[0].text
    # The subprocess wrote to the shared default store: this process reads the same original.
    assert retrieve(key) == log
    stderr = errlog_path.read_text()
    assert "Traceback" not in stderr, stderr


def test_stdio_exits_cleanly_on_eof_and_keeps_stdout_for_json_rpc(server_env):
    """What a client sees without any SDK: JSON-RPC lines only on stdout, exit 0 when stdin closes."""
    command, args = headroom_mcp()
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw-test", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "headroom_stats", "arguments": {}},
        },
    ]
    proc = subprocess.Popen(
        [command, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **server_env},
    )
    try:
        replies = []
        for request in requests:  # one at a time, as a client does: each answer before the next call
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            if "id" in request:
                ready, _, _ = select.select(
                    [proc.stdout], [], [], 60
                )  # bounded: a hung server fails, not hangs
                assert ready, "no reply within 60 s"
                replies.append(json.loads(proc.stdout.readline()))  # every stdout line is JSON-RPC
        proc.stdin.close()  # the client goes away
        assert proc.wait(timeout=60) == 0
        assert proc.stdout.read() == ""
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    by_id = {r.get("id"): r for r in replies}
    assert by_id[1]["result"]["serverInfo"]["name"] == "headroom"
    assert len(by_id[2]["result"]["tools"]) == 3
    assert "This session: 0 compressions" in by_id[3]["result"]["content"][0]["text"]
    assert "Traceback" not in stderr
