"""OpenRouter: one OpenAI-compatible upstream for many vendors' models (and Anthropic Messages).

OpenAI requests go to `https://openrouter.ai/api/v1/...`, Anthropic Messages requests to its
`/api/v1/messages`. OpenRouter names models `vendor/model`; a bare name is given its vendor by
the client's format (`gpt-4o` -> `openai/gpt-4o`; Anthropic's dated names -> OpenRouter's
dotted ones, `claude-sonnet-4-5-20250929` -> `anthropic/claude-sonnet-4.5`), `model_map` wins.
The key is OPENROUTER_API_KEY when set, else the client's own (its `x-api-key` becomes a bearer).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

import httpx
import orjson

from headroom_proxy._backends._base import ANTHROPIC, OPENAI, UpstreamCall, header, json_body, without
from headroom_proxy._backends._cloud import CloudBackend

DEFAULT_ORIGIN = "https://openrouter.ai/api"
_DATE_SUFFIX = re.compile(r"-(?:\d{8}|latest)$")
_VERSION_DASH = re.compile(r"(?<=\d)-(?=\d(?:$|-))")


def openrouter_model(name: str, provider: str, model_map: dict[str, str]) -> str:
    if name in model_map:
        return model_map[name]
    if "/" in name:
        return name
    if provider == ANTHROPIC or name.startswith("claude-"):
        # claude-sonnet-4-5-20250929 -> claude-sonnet-4.5; claude-3-5-haiku-latest -> claude-3.5-haiku
        return "anthropic/" + _VERSION_DASH.sub(".", _DATE_SUFFIX.sub("", name))
    return "openai/" + name


class OpenRouterBackend(CloudBackend):
    name = "openrouter"
    label = "OpenRouter"
    providers = frozenset({ANTHROPIC, OPENAI})

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.api_key = os.environ.get("OPENROUTER_API_KEY") or None

    def origin(self, provider: str) -> str:
        return self.endpoint(DEFAULT_ORIGIN)

    def secrets(self) -> Iterable[str]:
        return [self.api_key] if self.api_key else []

    def serves_text(self) -> str:
        return "OpenAI and Anthropic Messages requests"

    async def build(self, client: httpx.AsyncClient, call: UpstreamCall) -> httpx.Request:
        headers = list(call.headers)
        if self.api_key:
            headers = [
                *without(headers, "authorization", "x-api-key"),
                ("authorization", f"Bearer {self.api_key}"),
            ]
        elif header(headers, "authorization") is None and header(headers, "x-api-key"):
            headers = [
                *without(headers, "x-api-key"),
                ("authorization", f"Bearer {header(headers, 'x-api-key')}"),
            ]
        if self.settings.openrouter_referer and header(headers, "http-referer") is None:
            headers.append(("http-referer", self.settings.openrouter_referer))
        if self.settings.openrouter_title and header(headers, "x-title") is None:
            headers.append(("x-title", self.settings.openrouter_title))
        body = call.content
        names_model = call.llm or call.path in (
            "/v1/messages/count_tokens",
            "/v1/completions",
            "/v1/embeddings",
        )
        if names_model and call.method == "POST" and isinstance(body, bytes) and body:
            body = self._with_model(call)
        url = self.origin(call.provider) + call.path
        if call.query:
            url += "?" + call.query
        return client.build_request(call.method, url, headers=headers, content=body)

    def _with_model(self, call: UpstreamCall) -> bytes:
        payload = json_body(call)
        model = payload.get("model")
        if not isinstance(model, str):
            return bytes(call.content)  # OpenRouter answers a missing model itself
        target = openrouter_model(model, call.provider, dict(self.model_map))
        if target == model:
            return bytes(call.content)
        payload["model"] = target
        return orjson.dumps(payload)
