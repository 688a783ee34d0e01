"""`python -m headroom_mcp`: the same as `headroom mcp`."""

from headroom_mcp._cli import mcp_app

mcp_app(prog_name="headroom mcp")
