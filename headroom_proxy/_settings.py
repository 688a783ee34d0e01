"""`ProxySettings`: every knob of `headroom proxy`, from flags, environment and a TOML file.

Precedence, highest first: command-line flag > `HEADROOM_*` environment variable > the
`[proxy]` table of the TOML file given with `--config` (or `$HEADROOM_CONFIG`) > default.
`resolve_settings()` applies it; the CLI passes only the flags the user actually typed.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from headroom_core._errors import HeadroomError


class ProxyConfigError(HeadroomError, ValueError):
    """A setting has a bad value or the config file cannot be read (a one-line message)."""


_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
_RETRIEVE_TOOL_MODES = ("auto", "always", "never")
BACKEND_NAMES = ("direct", "bedrock", "vertex_ai", "azure", "openrouter", "litellm")
_AZURE_AUTH = ("auto", "entra")


@dataclass(frozen=True)
class ProxySettings:
    """What `headroom proxy` runs with. Validates itself on construction."""

    host: str = "127.0.0.1"
    """Interface to bind. Loopback by default: the proxy forwards your API keys."""
    port: int = 8787
    upstream_openai: str = "https://api.openai.com"
    """Where OpenAI requests go (a trailing `/v1` is accepted and ignored)."""
    upstream_anthropic: str = "https://api.anthropic.com"
    log_level: str = "info"
    compress: bool = True
    """Off: a plain pass-through proxy (useful to compare)."""
    compress_timeout: float = 10.0
    """Seconds one request's compression may take; past it the original is forwarded."""
    compress_threads: int = 2
    """Worker threads for compression (the event loop never compresses)."""
    max_ccr_rounds: int = 3
    """Retrievals the proxy answers itself per request before handing the turn back."""
    retrieve_tool: str = "auto"
    """'auto': add `headroom_retrieve` when the request carries markers; 'always': on every
    compressed request (tools stay identical from the first turn, best for caching);
    'never': never add it (markers are still there; an MCP server can answer them)."""
    connect_timeout: float = 10.0
    read_timeout: float = 600.0
    """Longest silence allowed between two chunks from the upstream (no total timeout)."""
    max_connections: int = 200
    ccr_dir: str | None = None
    """CCR store directory; None: `$HEADROOM_CCR_DIR` or the user cache dir (shared with the SDK)."""
    ccr_url: str | None = None
    """Redis URL (`redis://`, `rediss://`, `unix://`) of a CCR store shared by several instances;
    it also holds their shared budgets and rate limits. Checked at start-up (docs/deploying.md)."""
    tenant_from: str = "auto"
    """Whose CCR records a request sees: 'api-key' (a hash of the client's key), 'header:<name>'
    (that request header), 'none', or 'auto' ('api-key' with `ccr_url`, else 'none')."""
    trust_env: bool = True
    """Honour HTTPS_PROXY / NO_PROXY / SSL_CERT_FILE for upstream connections."""
    request_log: str | None = None
    """Request log file (JSONL, rotated; figures only, no content); None: the user cache dir
    (`headroom stats` reads it there); 'off': no log. Budgets, rate limits and the rest of
    `[request_log]` are tables of the config file (docs/operations.md)."""
    ml: str | None = None
    """'llmlingua2': prose is compressed by LLMLingua-2 (the `llmlingua` extra and a locally
    cached model; docs/compressors/llmlingua.md); None: extractive only."""
    ml_model: str | None = None
    """LLMLingua-2 model directory or cached Hugging Face id; None: the default model."""
    ml_rate: float = 0.4
    """Share of a prose text's tokens LLMLingua-2 keeps."""
    backend: str = "direct"
    """Where LLM requests go: 'direct' (the upstream URLs above), 'bedrock', 'vertex_ai',
    'azure', 'openrouter' or 'litellm'. A cloud backend takes the client formats it serves; the other keeps
    its direct upstream (docs/cloud-backends.md)."""
    region: str | None = None
    """Cloud region (bedrock: else AWS_REGION or the profile's; vertex_ai: else CLOUD_ML_REGION)."""
    project: str | None = None
    """Google Cloud project (vertex_ai; else ANTHROPIC_VERTEX_PROJECT_ID, GOOGLE_CLOUD_PROJECT or
    the credentials' own)."""
    aws_profile: str | None = None
    """AWS shared-config profile (bedrock; else AWS_PROFILE or the default chain)."""
    bedrock_inference_profile: str = "auto"
    """Prefix of Bedrock cross-region inference profiles put before mapped model ids: 'auto'
    (from the region: us, eu, apac, us-gov), 'none', or a prefix such as 'global'."""
    azure_endpoint: str | None = None
    """Azure OpenAI resource URL, https://NAME.openai.azure.com (else AZURE_OPENAI_ENDPOINT)."""
    api_version: str = "2024-10-21"
    """Azure OpenAI `api-version`; 'v1' uses the resource's version-less v1 API."""
    azure_auth: str = "auto"
    """'auto': AZURE_OPENAI_API_KEY, else AZURE_OPENAI_AD_TOKEN, else the client's own key or
    Entra token; 'entra': tokens from azure-identity's DefaultAzureCredential."""
    backend_url: str | None = None
    """The cloud endpoint to use instead of the public one (a VPC / private endpoint)."""
    model_map: str | None = None
    """Client model name -> backend model id, inference profile, ARN or deployment:
    'name=target,name2=target2' (a table in the config file)."""
    openrouter_referer: str | None = None
    """`HTTP-Referer` sent to OpenRouter (your app's URL, for its rankings)."""
    openrouter_title: str | None = None
    """`X-Title` sent to OpenRouter (your app's name)."""
    litellm_model: str | None = None
    """litellm backend: the LiteLLM model OpenAI chat requests go to ('gemini/gemini-2.5-flash');
    None: `model_map`, else the client's own model name."""
    config_file: str | None = field(default=None, compare=False)
    """The TOML file the settings were read from, if any (for messages only)."""

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ProxyConfigError(f"port must be an integer 0-65535, got {self.port!r}")
        if self.log_level not in _LOG_LEVELS:
            raise ProxyConfigError(
                f"log_level must be one of {', '.join(_LOG_LEVELS)}, got {self.log_level!r}"
            )
        if self.retrieve_tool not in _RETRIEVE_TOOL_MODES:
            raise ProxyConfigError(
                f"retrieve_tool must be one of {', '.join(_RETRIEVE_TOOL_MODES)}, got {self.retrieve_tool!r}"
            )
        for name in ("upstream_openai", "upstream_anthropic"):
            url = getattr(self, name)
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ProxyConfigError(f"{name} must be an http(s) URL, got {url!r}")
        for name in ("compress_timeout", "connect_timeout", "read_timeout"):
            if getattr(self, name) <= 0:
                raise ProxyConfigError(f"{name} must be a positive number of seconds")
        if self.compress_threads < 1 or self.max_connections < 1 or self.max_ccr_rounds < 0:
            raise ProxyConfigError("compress_threads and max_connections must be >= 1, max_ccr_rounds >= 0")
        if self.ccr_url:
            from headroom_core._ccr._redis import is_store_url, redact_url

            if not is_store_url(self.ccr_url):
                raise ProxyConfigError(
                    f"ccr_url must be a redis://, rediss:// or unix:// URL, got {redact_url(self.ccr_url)!r}"
                )
        if not (
            self.tenant_from in ("auto", "api-key", "none")
            or (self.tenant_from.startswith("header:") and self.tenant_from[7:].strip())
        ):
            raise ProxyConfigError(
                f"tenant_from must be auto, api-key, none or header:<name>, got {self.tenant_from!r}"
            )
        if self.ml not in (None, "llmlingua2"):
            raise ProxyConfigError(f"ml must be 'llmlingua2' or unset, got {self.ml!r}")
        if not 0 < self.ml_rate <= 1:
            raise ProxyConfigError(f"ml_rate must be in (0, 1], got {self.ml_rate!r}")
        self._check_backend()

    def _check_backend(self) -> None:
        if self.backend not in BACKEND_NAMES:
            raise ProxyConfigError(f"backend must be one of {', '.join(BACKEND_NAMES)}, got {self.backend!r}")
        for name in ("backend_url", "azure_endpoint"):
            url = getattr(self, name)
            if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
                raise ProxyConfigError(f"{name} must be an http(s) URL, got {url!r}")
        if self.azure_auth not in _AZURE_AUTH:
            raise ProxyConfigError(f"azure_auth must be auto or entra, got {self.azure_auth!r}")
        if not self.api_version or not all(c.isalnum() or c in "-." for c in self.api_version):
            raise ProxyConfigError(f"api_version must look like 2024-10-21 or v1, got {self.api_version!r}")
        profile = self.bedrock_inference_profile
        if not profile or not all(c.islower() or c == "-" for c in profile):
            raise ProxyConfigError(
                f"bedrock_inference_profile must be auto, none or a prefix like us or global, got {profile!r}"
            )
        from headroom_proxy._backends._cloud import parse_model_map

        parse_model_map(self.model_map)

    def upstream_base(self, provider: str) -> str:
        """The upstream origin (and path prefix) without a trailing `/v1`: paths keep theirs."""
        url = self.upstream_anthropic if provider == "anthropic" else self.upstream_openai
        url = url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url

    def headroom_config(self) -> Any:
        """The core `HeadroomConfig` the proxy compresses and retrieves with."""
        from headroom_core import HeadroomConfig, TextConfig

        changes: dict[str, Any] = {}
        if self.ccr_dir:
            changes["ccr_path"] = self.ccr_dir
        if self.ml:
            text: dict[str, Any] = {"ml": self.ml, "ml_rate": self.ml_rate}  # TextConfig validates them
            if self.ml_model:
                text["ml_model"] = self.ml_model
            changes["text"] = TextConfig(**text)
        if self.ccr_url:  # a shared Redis store (it wins over ccr_dir)
            changes["ccr_store"] = self.ccr_url
        return HeadroomConfig(**changes)

    def check_ccr_store(self) -> None:
        """Start-up: a configured Redis must answer, else a one-line `ProxyConfigError`."""
        if not self.ccr_url:
            return
        from headroom_core import CCRStoreError, store_from_url

        try:
            store_from_url(self.ccr_url, check=True).close()
        except CCRStoreError as exc:
            raise ProxyConfigError(f"{exc} (check --ccr-url / HEADROOM_CCR_URL)") from None

    def tenant_of(self, headers: Any) -> str | None:
        """The CCR tenant of a request (see `tenant_from`); None: the shared namespace."""
        mode = self.tenant_from
        if mode == "auto":
            mode = "api-key" if self.ccr_url else "none"
        if mode == "none":
            return None
        if mode == "api-key":
            from headroom_core._requestlog import key_id_from_headers

            return key_id_from_headers(headers)
        value = (headers.get(mode[len("header:") :].strip()) or "").strip()
        if not value:
            return None
        from headroom_core._ccr._redis import TENANT_PATTERN

        if TENANT_PATTERN.fullmatch(value):
            return value
        import hashlib

        return "h_" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]

    def with_(self, **changes: Any) -> ProxySettings:
        return dataclasses.replace(self, **changes)


SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in fields(ProxySettings) if f.name != "config_file")


def env_name(setting: str) -> str:
    """`HEADROOM_PORT` for `port`, and so on."""
    return "HEADROOM_" + setting.upper()


def _coerce(name: str, value: Any, source: str) -> Any:
    """Env values are strings; TOML values are typed. Both end as the field's type."""
    default = {f.name: f.default for f in fields(ProxySettings)}[name]
    if name == "model_map" and isinstance(value, dict):  # a [proxy.model_map] table
        return ",".join(f"{k}={v}" for k, v in value.items())
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if isinstance(default, int):
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if isinstance(default, float):
            return float(value)
        return None if value in (None, "") else str(value)
    except (TypeError, ValueError):
        raise ProxyConfigError(f"{source}: {name} has a bad value {value!r}") from None


def read_toml(path: str) -> dict[str, Any]:
    """The `[proxy]` table of a TOML file (other tables are for other commands)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: the [proxy] extra installs tomli
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise ProxyConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProxyConfigError(f"config file {path} is not valid TOML: {exc}") from None
    table = doc.get("proxy", {})
    if not isinstance(table, dict):
        raise ProxyConfigError(f"config file {path}: [proxy] must be a table")
    unknown = sorted(set(table) - set(SETTING_NAMES))
    if unknown:
        raise ProxyConfigError(
            f"config file {path}: unknown key(s) in [proxy]: {', '.join(unknown)} "
            f"(known: {', '.join(SETTING_NAMES)})"
        )
    return table


def resolve_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> ProxySettings:
    """Settings from flags > environment > TOML file > defaults.

    `flags` holds only what the user passed (None values are ignored). The config file is
    `config_file`, else `$HEADROOM_CONFIG`, else none.
    """
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env = os.environ if env is None else env
    unknown = sorted(set(flags) - set(SETTING_NAMES))
    if unknown:
        raise ProxyConfigError(f"unknown setting(s): {', '.join(unknown)}")
    path = config_file or env.get("HEADROOM_CONFIG") or None
    from_file = read_toml(path) if path else {}
    values: dict[str, Any] = {}
    for name in SETTING_NAMES:
        if name in flags:
            values[name] = flags[name]
        elif env.get(env_name(name), "") != "":
            values[name] = _coerce(name, env[env_name(name)], f"${env_name(name)}")
        elif name in from_file:
            values[name] = _coerce(name, from_file[name], f"config file {path}")
    return ProxySettings(**values, config_file=path)
