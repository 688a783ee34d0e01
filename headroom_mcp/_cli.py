"""`headroom mcp` (run the server) and `headroom mcp install` (register it with Claude Code).

`mcp_app` is mounted by `headroom_cli` as the `mcp` command group; `python -m headroom_mcp`
runs it on its own. The MCP SDK is imported only when the server starts, so `headroom
--help` and `headroom mcp install` stay fast and work without it.

On stdio, stdout belongs to the protocol: nothing but JSON-RPC may be written there, so
logs go to stderr.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
from typing import Any, Optional

import typer

# ruff: noqa: UP045, B008  (typer reads the annotations and option defaults at run time)

SERVER_NAME = "headroom"  # the same as headroom_mcp._server.SERVER_NAME, without importing the SDK


class Transport(str, enum.Enum):
    stdio = "stdio"
    http = "http"


mcp_app = typer.Typer(
    name="mcp",
    help="Run Headroom's MCP server (compress, retrieve and stats tools) for Claude Code and other MCP clients.",
    epilog=(
        "\b\nExamples:\n"
        "  headroom mcp install                       # register with Claude Code (runs `claude mcp add`)\n"
        "  claude mcp add headroom -- headroom mcp    # the same, by hand\n"
        "  headroom mcp --transport http --port 8788  # streamable HTTP at http://127.0.0.1:8788/mcp\n"
    ),
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _config(ccr_dir: str | None, ccr_url: str | None, tenant: str | None = None) -> Any:
    """The HeadroomConfig naming the CCR store. The default is the SDK's and the proxy's store
    (`$HEADROOM_CCR_DIR` or the user cache dir), which is what makes markers portable; with
    `ccr_url`, a shared Redis store that must answer now (docs/deploying.md)."""
    from headroom_core import CCRStoreError, HeadroomConfig, store_from_url

    try:
        if ccr_url:
            return HeadroomConfig(ccr_store=store_from_url(ccr_url, check=True), tenant=tenant)
        if ccr_dir:
            return HeadroomConfig(ccr_path=ccr_dir, tenant=tenant)
        return HeadroomConfig(tenant=tenant)
    except (CCRStoreError, ValueError, TypeError) as exc:  # one line, no traceback
        typer.echo(f"headroom mcp: {exc}", err=True)
        raise typer.Exit(2) from None


def _setup_logging(level: str) -> None:
    # Before the SDK's own basicConfig (which would log with rich): first call wins.
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr, format="headroom mcp: %(levelname)s %(name)s: %(message)s"
    )


@mcp_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    transport: Transport = typer.Option(
        Transport.stdio, "--transport", "-t", help="stdio (for `claude mcp add`) or http (streamable HTTP)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="HTTP only: address to listen on."),
    port: int = typer.Option(8788, "--port", "-p", help="HTTP only: port to listen on (path /mcp)."),
    ccr_dir: Optional[str] = typer.Option(
        None,
        "--ccr-dir",
        help="CCR store directory (default: $HEADROOM_CCR_DIR, else the user cache dir: the proxy's and SDK's).",
    ),
    ccr_url: Optional[str] = typer.Option(
        None,
        "--ccr-url",
        envvar="HEADROOM_CCR_URL",
        help="Redis URL of a CCR store shared with proxies on other machines (redis://, rediss://); "
        "checked at start-up.",
    ),
    tenant: Optional[str] = typer.Option(
        None,
        "--tenant",
        envvar="HEADROOM_TENANT",
        help="Read and write only this tenant's CCR records (see the Deploying docs page).",
    ),
    answer_max_tokens: int = typer.Option(
        2000, "--answer-max-tokens", min=1, help="Cap on one headroom_retrieve answer, in tokens."
    ),
    compress_timeout: float = typer.Option(
        30.0,
        "--compress-timeout",
        min=0.001,
        help="Seconds before a compression gives up (content returned as is).",
    ),
    max_content_mb: float = typer.Option(
        16.0,
        "--max-content-mb",
        min=0.001,
        help="Larger headroom_compress content is refused with a tool error.",
    ),
    no_usage_log: bool = typer.Option(
        False, "--no-usage-log", help="Do not append to the shared usage log (headroom_stats then sees less)."
    ),
    log_level: str = typer.Option(
        "warning", "--log-level", help="debug, info, warning or error (to stderr)."
    ),
) -> None:
    """Run the MCP server (stdio unless --transport http)."""
    if ctx.invoked_subcommand is not None:
        return
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise typer.BadParameter(f"unknown log level {log_level!r}", param_hint="--log-level")
    _setup_logging(log_level)
    try:
        from headroom_mcp._server import MCPSettings, create_server, http_app
    except ImportError as exc:
        typer.echo(
            f'headroom mcp: the MCP SDK is missing ({exc}); install it with: pip install "headroom-ai[mcp]"',
            err=True,
        )
        raise typer.Exit(1) from None
    settings = MCPSettings(
        config=_config(ccr_dir, ccr_url, tenant),
        answer_max_tokens=answer_max_tokens,
        compress_timeout_seconds=compress_timeout,
        retrieve_timeout_seconds=compress_timeout,
        max_content_bytes=max(1, int(max_content_mb * 1024 * 1024)),
        record_usage=not no_usage_log,
    )
    server = create_server(settings)
    if transport is Transport.stdio:
        import anyio

        if sys.stdin.isatty():  # a person ran it by hand: say what it is waiting for
            typer.echo(
                "headroom mcp: MCP server on stdio, waiting for a client (Ctrl-C to stop). MCP clients "
                "start it themselves; see `headroom mcp install`.",
                err=True,
            )

        anyio.run(server.run_stdio_async)
        return
    import uvicorn

    typer.echo(f"headroom mcp: streamable HTTP on http://{host}:{port}/mcp", err=True)
    uvicorn.run(http_app(server, host=host), host=host, port=port, log_level=log_level.lower())


def server_command() -> list[str]:
    """How an MCP client should start this server: `headroom mcp` when `headroom` is on PATH,
    else this installation's own script (or interpreter) by absolute path."""
    if shutil.which("headroom"):
        return ["headroom", "mcp"]
    script = os.path.join(os.path.dirname(sys.executable), "headroom")
    if os.path.isfile(script) and os.access(script, os.X_OK):
        return [script, "mcp"]
    return [sys.executable, "-m", "headroom_mcp"]


def claude_command(scope: str | None = None) -> list[str]:
    """`claude mcp add headroom -- headroom mcp` (with `--scope` when given)."""
    return [
        "claude",
        "mcp",
        "add",
        *(["--scope", scope] if scope else []),
        SERVER_NAME,
        "--",
        *server_command(),
    ]


def json_snippet() -> str:
    """The `mcpServers` entry to paste into a client's MCP config by hand."""
    command, *args = server_command()
    return json.dumps({"mcpServers": {SERVER_NAME: {"command": command, "args": args}}}, indent=2)


@mcp_app.command("install")
def install(
    scope: Optional[str] = typer.Option(
        None, "--scope", "-s", help="Claude Code scope: local (default), user or project."
    ),
    print_only: bool = typer.Option(
        False, "--print", help="Print the command and JSON snippet; run nothing."
    ),
) -> None:
    """Register the server with Claude Code (`claude mcp add`); never edits config files itself."""
    if scope is not None and scope not in ("local", "user", "project"):
        raise typer.BadParameter("must be local, user or project", param_hint="--scope")
    argv = claude_command(scope)
    claude = None if print_only else shutil.which("claude")
    if claude is None:
        reason = (
            ""
            if print_only
            else "Claude Code's `claude` command is not on PATH, so nothing was registered.\n"
        )
        typer.echo(
            f"{reason}To register Headroom with Claude Code, run:\n\n  {shlex.join(argv)}\n\n"
            "For other MCP clients (Cursor, Claude Desktop, ...), add this to the client's MCP "
            "config file (e.g. .cursor/mcp.json or claude_desktop_config.json):\n\n"
            f"{json_snippet()}\n"
        )
        return
    typer.echo(f"Running: {shlex.join(argv)}")
    try:
        done = subprocess.run([claude, *argv[1:]], check=False)
    except OSError as exc:
        typer.echo(f"headroom mcp install: could not run {claude}: {exc}", err=True)
        raise typer.Exit(1) from None
    if done.returncode != 0:
        typer.echo(
            f"headroom mcp install: `claude mcp add` failed (exit {done.returncode}); "
            f"see its message above. The command was: {shlex.join(argv)}",
            err=True,
        )
        raise typer.Exit(done.returncode)
    typer.echo(
        "Registered. Claude Code lists it under /mcp; the tools appear as "
        "mcp__headroom__headroom_compress, mcp__headroom__headroom_retrieve and mcp__headroom__headroom_stats."
    )
