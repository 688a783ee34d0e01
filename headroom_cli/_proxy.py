"""`headroom proxy`."""

from __future__ import annotations

from typing import Optional

import typer

# typer reads these annotations at run time, so they stay `Optional[...]` (UP045 off).
# ruff: noqa: UP045


def proxy_command(
    host: Optional[str] = typer.Option(
        None, help="Interface to bind [env HEADROOM_HOST; default 127.0.0.1, loopback only]."
    ),
    port: Optional[int] = typer.Option(None, help="Port to listen on [env HEADROOM_PORT; default 8787]."),
    upstream_openai: Optional[str] = typer.Option(
        None, help="OpenAI upstream [env HEADROOM_UPSTREAM_OPENAI; default https://api.openai.com]."
    ),
    upstream_anthropic: Optional[str] = typer.Option(
        None, help="Anthropic upstream [env HEADROOM_UPSTREAM_ANTHROPIC; default https://api.anthropic.com]."
    ),
    config: Optional[str] = typer.Option(
        None, "--config", "-c", help="TOML file with a [proxy] table [env HEADROOM_CONFIG]."
    ),
    log_level: Optional[str] = typer.Option(
        None, help="critical, error, warning, info or debug [env HEADROOM_LOG_LEVEL; default info]."
    ),
    compress: Optional[bool] = typer.Option(
        None, "--compress/--no-compress", help="Compress requests [env HEADROOM_COMPRESS; default on]."
    ),
    compress_timeout: Optional[float] = typer.Option(
        None, help="Seconds before forwarding the original [env HEADROOM_COMPRESS_TIMEOUT; default 10]."
    ),
    max_ccr_rounds: Optional[int] = typer.Option(
        None, help="Retrieval rounds answered by the proxy [env HEADROOM_MAX_CCR_ROUNDS; default 3]."
    ),
    retrieve_tool: Optional[str] = typer.Option(
        None, help="auto, always or never add headroom_retrieve [env HEADROOM_RETRIEVE_TOOL; default auto]."
    ),
    read_timeout: Optional[float] = typer.Option(
        None, help="Max seconds between upstream chunks [env HEADROOM_READ_TIMEOUT; default 600]."
    ),
    ccr_dir: Optional[str] = typer.Option(
        None, help="CCR store directory [env HEADROOM_CCR_DIR; default: user cache dir]."
    ),
    ccr_url: Optional[str] = typer.Option(
        None,
        help="Redis URL of a CCR store shared by several proxies, also used for shared budgets and "
        "rate limits [env HEADROOM_CCR_URL; default: the disk store].",
    ),
    tenant_from: Optional[str] = typer.Option(
        None,
        help="Whose CCR records a request sees: api-key, header:NAME, none or auto "
        "[env HEADROOM_TENANT_FROM; default auto: api-key with --ccr-url, else none].",
    ),
) -> None:
    try:
        from headroom_proxy import ProxyConfigError, resolve_settings, serve
    except ModuleNotFoundError as exc:
        typer.echo(
            f"headroom: the proxy needs the [proxy] extra ({exc.name} is missing): "
            "pip install 'headroom-ai[proxy]'",
            err=True,
        )
        raise typer.Exit(2) from None

    flags = {
        "host": host,
        "port": port,
        "upstream_openai": upstream_openai,
        "upstream_anthropic": upstream_anthropic,
        "log_level": log_level.lower() if log_level else None,
        "compress": compress,
        "compress_timeout": compress_timeout,
        "max_ccr_rounds": max_ccr_rounds,
        "retrieve_tool": retrieve_tool,
        "read_timeout": read_timeout,
        "ccr_dir": ccr_dir,
        "ccr_url": ccr_url,
        "tenant_from": tenant_from,
    }
    try:
        settings = resolve_settings(flags, config_file=config)
        if settings.host not in ("127.0.0.1", "localhost", "::1"):
            typer.echo(
                f"headroom: warning: listening on {settings.host}; anyone who can reach it can use "
                "the API keys your clients send through it",
                err=True,
            )
        typer.echo(
            f"headroom proxy on http://{settings.host}:{settings.port}  "
            f"(ANTHROPIC_BASE_URL=http://{settings.host}:{settings.port}  "
            f"OPENAI_BASE_URL=http://{settings.host}:{settings.port}/v1)",
            err=True,
        )
        serve(settings)
    except ProxyConfigError as exc:
        typer.echo(f"headroom: {exc}", err=True)
        raise typer.Exit(2) from None
