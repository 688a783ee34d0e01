"""The MCP server on a shared Redis: a marker stored by the SDK (one tenant) is retrievable
through the MCP tool of that tenant only, and `headroom mcp --ccr-url` without a reachable
Redis fails at start-up with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from headroom_core import HeadroomConfig, compress_text

pytestmark = pytest.mark.enable_socket
ROOT = Path(__file__).resolve().parents[2]


def _text(result) -> str:
    return "\n".join(block.text for block in result.content)


async def test_sdk_marker_retrieved_through_mcp_of_the_same_tenant(redis_url: str) -> None:
    pytest.importorskip("mcp")
    from mcp import Client

    from headroom_mcp import MCPSettings, create_server

    data = json.dumps([{"id": i, "name": f"user{i}", "ok": i % 50 != 0} for i in range(3000)])
    key = compress_text(data, config=HeadroomConfig(ccr_store=redis_url, tenant="team-a")).ccr_keys[0]

    def server(tenant: str | None):
        config = HeadroomConfig(ccr_store=redis_url, tenant=tenant)
        return create_server(MCPSettings(config=config, answer_max_tokens=500_000, record_usage=False))

    async with Client(server("team-a")) as client:
        assert _text(await client.call_tool("headroom_retrieve", {"key": key})) == data
    async with Client(server("team-b")) as client:
        other = _text(await client.call_tool("headroom_retrieve", {"key": key}))
    assert "No stored content" in other and "user1" not in other


def test_mcp_cli_refuses_to_start_without_redis() -> None:
    from tests.redis.server import free_port

    url = f"redis://:pw-not-shown@127.0.0.1:{free_port()}/0"
    out = subprocess.run(
        [sys.executable, "-m", "headroom_cli", "mcp", "--ccr-url", url],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    err = out.stderr.decode()
    assert out.returncode == 2, err
    assert "could not be reached" in err and "pw-not-shown" not in err and "Traceback" not in err
