"""`headroom stats`: requests, tokens saved and money saved, read from the request log."""

from __future__ import annotations

import json
import os
import time
from typing import Optional

import typer

# ruff: noqa: UP045  (typer reads the annotations at run time)

_BY = ("model", "key", "day", "hour", "provider", "endpoint")


def _money(value: float) -> str:
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def _path_from_config(config: str | None) -> str | None:
    """The request log path a proxy config file sets (`[request_log] path` or `[proxy]
    request_log`), if any."""
    if not config:
        return None
    import importlib

    try:
        toml = importlib.import_module("tomllib")
    except ModuleNotFoundError:  # Python 3.10
        toml = importlib.import_module("tomli")
    try:
        with open(config, "rb") as fh:
            doc = toml.load(fh)
    except (OSError, ValueError) as exc:
        typer.echo(f"headroom: cannot read config file {config}: {exc}", err=True)
        raise typer.Exit(2) from None
    table = doc.get("request_log")
    if isinstance(table, dict) and isinstance(table.get("path"), str):
        return table["path"]
    proxy = doc.get("proxy")
    value = proxy.get("request_log") if isinstance(proxy, dict) else None
    return value if isinstance(value, str) and value != "off" else None


def stats_command(
    since: str = typer.Option("24h", "--since", help="How far back: 90m, 24h, 7d, 4w."),
    by: Optional[str] = typer.Option(
        None, "--by", help="Group rows by model, key, day, hour, provider or endpoint."
    ),
    log: Optional[str] = typer.Option(
        None,
        "--log",
        help="Request log file [env HEADROOM_REQUEST_LOG; default: the proxy's, in the user cache dir].",
    ),
    config: Optional[str] = typer.Option(
        None, "--config", "-c", help="The proxy's TOML file: read the log path from it [env HEADROOM_CONFIG]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    from headroom_core._requestlog import default_log_path, parse_duration, read_entries, summarize

    try:
        seconds = parse_duration(since)
    except ValueError as exc:
        typer.echo(f"headroom: --since: {exc}", err=True)
        raise typer.Exit(2) from None
    if by is not None and by not in _BY:
        typer.echo(f"headroom: --by must be one of {', '.join(_BY)}, got {by!r}", err=True)
        raise typer.Exit(2)
    path = log or _path_from_config(config or os.environ.get("HEADROOM_CONFIG")) or default_log_path()
    if not os.path.exists(path):
        typer.echo(
            f"headroom: no request log at {path} yet: run `headroom proxy` and send it requests "
            "(or point --log / HEADROOM_REQUEST_LOG at the file)",
            err=True,
        )
        raise typer.Exit(1)
    start = time.time() - seconds
    summary = summarize(read_entries(path, since=start), by)
    if as_json:
        typer.echo(json.dumps({"since": start, "log": path, **summary}, indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    title = f"Headroom, last {since}" + (f", by {by}" if by else "")
    table = Table(title=title, title_justify="left")
    table.add_column(by or "", style="bold")
    for name in (
        "requests",
        "errors",
        "tokens before",
        "tokens after",
        "tokens saved",
        "saved %",
        "cost",
        "money saved",
    ):
        table.add_column(name, justify="right")

    def add(label: str, row: dict, style: str | None = None) -> None:
        table.add_row(
            label,
            f"{row['requests']:,}",
            f"{row['errors']:,}",
            f"{row['tokens_before']:,}",
            f"{row['tokens_after']:,}",
            f"{row['tokens_saved']:,}",
            f"{row['savings_ratio'] * 100:.1f}%",
            _money(row["cost_usd"]),
            _money(row["saved_usd"]),
            style=style,
        )

    for name, row in (summary.get("groups") or {}).items():
        add(name, row)
    add("total", summary["total"], style="bold")
    console = Console()
    console.print(table)
    unpriced = summary["total"]["unpriced_requests"]
    if unpriced:
        console.print(f"{unpriced:,} request(s) for unpriced models: counted in tokens, not in dollars.")
