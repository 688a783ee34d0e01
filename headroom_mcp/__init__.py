"""Headroom's MCP server: `headroom_compress`, `headroom_retrieve` and `headroom_stats` as
tools for Claude Code, Cursor and other Model Context Protocol clients.

    headroom mcp                                   # stdio (what `claude mcp add` runs)
    headroom mcp --transport http --port 8788      # streamable HTTP on 127.0.0.1:8788/mcp

Needs the `[mcp]` extra (the official `mcp` SDK, 2.x). Importing this package does not
import the SDK; `create_server` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headroom_mcp._server import MCPSettings, create_server

__all__ = ["MCPSettings", "create_server"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from headroom_mcp import _server

        return getattr(_server, name)
    raise AttributeError(f"module 'headroom_mcp' has no attribute {name!r}")
