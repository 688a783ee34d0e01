"""The typer app: `headroom proxy`, `headroom compress`, and `headroom mcp` when installed."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from headroom_cli._compress import compress_command
from headroom_cli._proxy import proxy_command
from headroom_cli._stats import stats_command

_EPILOG = """\
\b
Examples:
  headroom proxy --port 8787        # then point clients at it:
  ANTHROPIC_BASE_URL=http://localhost:8787 claude
  OPENAI_BASE_URL=http://localhost:8787/v1 python app.py
  kubectl logs my-pod | headroom compress --query "timeout"
  headroom compress conversation.json --model claude-sonnet-4-5 --json
"""

app = typer.Typer(
    name="headroom",
    help="Headroom: deterministic, reversible context compression for LLM applications.",
    epilog=_EPILOG,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("headroom-ai")
        except PackageNotFoundError:
            from headroom_core import __version__ as v
        typer.echo(f"headroom {v} (Python {sys.version.split()[0]})")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(  # noqa: UP045 (typer reads the annotation)
        None, "--version", "-V", help="Show the version and exit.", callback=_version, is_eager=True
    ),
) -> None:
    """Headroom: deterministic, reversible context compression for LLM applications."""


app.command(
    "proxy",
    help="Run the OpenAI/Anthropic-compatible proxy that compresses requests.",
    epilog="Precedence: flag > HEADROOM_* environment variable > [proxy] table of --config > default.",
    no_args_is_help=False,
)(proxy_command)
app.command("compress", help="Compress a file or stdin and print the result (stats on stderr).")(
    compress_command
)
app.command("stats", help="Requests, tokens saved and money saved, from the proxy's request log.")(
    stats_command
)


def _register_mcp() -> None:
    """`headroom mcp` comes from the `[mcp]` extra's package, when it is installed."""
    try:
        from headroom_mcp._cli import mcp_app
    except ImportError:
        return
    except Exception as exc:  # a broken optional package must not take `headroom` down with it
        import logging

        logging.getLogger("headroom").warning("headroom mcp unavailable: %s: %s", type(exc).__name__, exc)
        return
    app.add_typer(mcp_app, name="mcp", help="Run Headroom's MCP server (compress and retrieve tools).")


_register_mcp()
