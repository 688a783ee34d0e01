"""The part every cloud backend shares: model-name mapping and rewriting cloud errors."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from headroom_proxy._backends._base import Backend, BackendError, UpstreamCall, read_capped, replaced_body
from headroom_proxy._backends._errors import error_body, error_message, parse_cloud_error


def parse_model_map(text: str | None) -> dict[str, str]:
    """`"claude-sonnet-4-5=us.anthropic...,gpt-4o=prod-gpt4o"` as a dict (validated)."""
    out: dict[str, str] = {}
    if not text:
        return out
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, target = item.partition("=")
        if not sep or not name.strip() or not target.strip():
            from headroom_proxy._settings import ProxyConfigError

            raise ProxyConfigError(f"model_map entries are name=target, got {item!r}")
        out[name.strip()] = target.strip()
    return out


# Their DEBUG output carries credential material (botocore logs the canonical request with the
# session token; the token libraries log grants): never below WARNING while a cloud backend runs.
_CREDENTIAL_LOGGERS = ("botocore", "google.auth", "google.oauth2", "azure.identity", "azure.core", "LiteLLM")


def quiet_credential_loggers() -> None:
    for name in _CREDENTIAL_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


class CloudBackend(Backend):
    """A backend that owns a provider's route: errors come back rewritten, naming the cloud."""

    reads_passthrough_bodies = True

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.model_map: Mapping[str, str] = parse_model_map(settings.model_map)
        quiet_credential_loggers()

    def model_of(self, payload: Mapping[str, Any]) -> str:
        model = payload.get("model")
        if not isinstance(model, str) or not model.strip():
            raise BackendError(400, "the request names no model")
        return model.strip()

    async def adapt(self, response: httpx.Response, provider: str) -> httpx.Response:
        if response.status_code < 400:
            return await self.adapt_success(response, provider)
        body = await read_capped(response)
        cause, message = parse_cloud_error(body, response.headers.get("x-amzn-errortype"))
        text = error_message(self.label, response.status_code, cause, message, self.secrets())
        return replaced_body(response, orjson.dumps(error_body(provider, response.status_code, text, cause)))

    async def adapt_success(self, response: httpx.Response, provider: str) -> httpx.Response:
        return response

    def endpoint(self, default: str) -> str:
        """The cloud's origin: `backend_url` when set (a VPC endpoint, a test), else `default`."""
        return (self.settings.backend_url or default).rstrip("/")

    def unsupported(self, call: UpstreamCall) -> BackendError:
        return BackendError(
            404,
            f"Headroom proxy: {call.method} {call.path} is not available through the {self.label} "
            f"backend (it serves {self.serves_text()})",
        )

    def serves_text(self) -> str:
        return "Anthropic Messages requests (POST /v1/messages)"
