"""MCP server tests: every test gets its own CCR directory through `$HEADROOM_CCR_DIR`,
the variable the SDK, the proxy and the server all read for the default store."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def ccr_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "ccr"
    monkeypatch.setenv("HEADROOM_CCR_DIR", str(path))
    # headroom_stats also reads the proxy's request log: never the user's real one here.
    monkeypatch.setenv("HEADROOM_REQUEST_LOG", str(tmp_path / "requests.jsonl"))
    return path


@pytest.fixture
def make_server(ccr_dir):
    """`make_server(**settings)`: a fresh server on the default store (the temp dir above)."""
    from headroom_mcp import MCPSettings, create_server

    def make(**overrides):
        return create_server(MCPSettings(**overrides))

    return make
