"""`headroom proxy`."""

from __future__ import annotations

from typing import Any, Optional

import typer

# typer reads these annotations at run time, so they stay `Optional[...]` (UP045 off).
# ruff: noqa: UP045


def _cloud_option(help_text: str) -> Any:
    """An option listed under "Cloud backends" in `headroom proxy --help` (typed Any, like
    `typer.Option`, so that it can default any parameter)."""
    return typer.Option(None, help=help_text, rich_help_panel="Cloud backends")


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
    backend: Optional[str] = _cloud_option(
        "direct, bedrock, vertex_ai, azure, openrouter or litellm [env HEADROOM_BACKEND; default direct]. "
        "See docs/cloud-backends.md.",
    ),
    region: Optional[str] = _cloud_option(
        "Cloud region (bedrock: else AWS_REGION; vertex_ai: else CLOUD_ML_REGION) [env HEADROOM_REGION].",
    ),
    project: Optional[str] = _cloud_option(
        "Google Cloud project for vertex_ai (else ANTHROPIC_VERTEX_PROJECT_ID or GOOGLE_CLOUD_PROJECT) "
        "[env HEADROOM_PROJECT].",
    ),
    aws_profile: Optional[str] = _cloud_option(
        "AWS profile for bedrock [env HEADROOM_AWS_PROFILE].",
    ),
    bedrock_inference_profile: Optional[str] = _cloud_option(
        "Inference-profile prefix for mapped Bedrock models: auto, none, us, eu, apac, global... "
        "[env HEADROOM_BEDROCK_INFERENCE_PROFILE; default auto, from the region].",
    ),
    azure_endpoint: Optional[str] = _cloud_option(
        "Azure OpenAI resource URL, https://NAME.openai.azure.com (else AZURE_OPENAI_ENDPOINT) "
        "[env HEADROOM_AZURE_ENDPOINT].",
    ),
    api_version: Optional[str] = _cloud_option(
        "Azure OpenAI api-version, or v1 [env HEADROOM_API_VERSION; default 2024-10-21].",
    ),
    azure_auth: Optional[str] = _cloud_option(
        "auto (AZURE_OPENAI_API_KEY, AZURE_OPENAI_AD_TOKEN or the client's key) or entra "
        "(azure-identity) [env HEADROOM_AZURE_AUTH; default auto].",
    ),
    backend_url: Optional[str] = _cloud_option(
        "Cloud endpoint to use instead of the public one (VPC endpoint) [env HEADROOM_BACKEND_URL].",
    ),
    model_map: Optional[str] = _cloud_option(
        "Model name -> backend model id / inference profile / deployment: 'name=target,...' "
        "[env HEADROOM_MODEL_MAP].",
    ),
    openrouter_referer: Optional[str] = _cloud_option(
        "HTTP-Referer sent to OpenRouter [env HEADROOM_OPENROUTER_REFERER].",
    ),
    litellm_model: Optional[str] = _cloud_option(
        "LiteLLM model for --backend litellm, e.g. gemini/gemini-2.5-flash [env HEADROOM_LITELLM_MODEL].",
    ),
    openrouter_title: Optional[str] = _cloud_option(
        "X-Title sent to OpenRouter [env HEADROOM_OPENROUTER_TITLE].",
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
        "backend": backend,
        "region": region,
        "project": project,
        "aws_profile": aws_profile,
        "bedrock_inference_profile": bedrock_inference_profile,
        "azure_endpoint": azure_endpoint,
        "api_version": api_version,
        "azure_auth": azure_auth,
        "backend_url": backend_url,
        "model_map": model_map,
        "openrouter_referer": openrouter_referer,
        "openrouter_title": openrouter_title,
        "litellm_model": litellm_model,
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
