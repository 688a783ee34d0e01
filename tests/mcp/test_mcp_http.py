"""The streamable-HTTP transport on loopback, driven by the SDK's HTTP client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp import Client

from headroom_core import retrieve
from headroom_mcp._server import http_app
from tests.mcp.samples import ci_log
from tests.proxy.conftest import ServerThread

pytestmark = pytest.mark.enable_socket


async def test_http_round_trip_in_process(make_server):
    server = ServerThread(http_app(make_server(max_content_bytes=1 << 20))).start()
    try:
        async with Client(server.url + "/mcp") as client:
            assert client.server_info.name == "headroom"
            assert len((await client.list_tools()).tools) == 3
            log = ci_log()
            result = await client.call_tool("headroom_compress", {"content": log, "query": "OOMKilled"})
            key = result.structured_content["ccr_keys"][0]
            found = await client.call_tool("headroom_retrieve", {"key": key, "query": "OOMKilled"})
            assert "OOMKilled" in found.content[0].text
            # Over the content limit but under the body limit: a tool error, not a bare HTTP 413.
            big = await client.call_tool("headroom_compress", {"content": "b" * (2 << 20)})
            assert big.is_error and "over this server's 1.0 MB limit" in big.content[0].text
            stats = await client.call_tool("headroom_stats", {})
            assert stats.structured_content["session"]["compressions"] == 1
    finally:
        server.stop()
    assert retrieve(key) == log


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_headroom_mcp_transport_http_command(ccr_dir):
    script = Path(sys.executable).parent / "headroom"
    command = [str(script), "mcp"] if script.exists() else [sys.executable, "-m", "headroom_mcp"]
    port = _free_port()
    env = {**os.environ, "HEADROOM_CCR_DIR": str(ccr_dir)}
    proc = subprocess.Popen(
        [*command, "--transport", "http", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # bounded wait for the port to open
            assert proc.poll() is None, proc.stderr.read()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            result = await client.call_tool("headroom_compress", {"content": ci_log(), "kind": "log"})
            key = result.structured_content["ccr_keys"][0]
            answer = await client.call_tool(
                "headroom_retrieve", {"key": key, "query": "OOMKilled", "limit": 1}
            )
            assert "OOMKilled" in answer.content[0].text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Traceback" not in proc.stderr.read()
