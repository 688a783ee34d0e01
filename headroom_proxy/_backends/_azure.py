"""Azure OpenAI: OpenAI requests sent to a resource's deployments.

`/v1/chat/completions` (and `completions`, `embeddings`) go to
`{endpoint}/openai/deployments/{deployment}/...?api-version=...`, the deployment named after the
request's model unless `model_map` says otherwise; `/v1/responses` goes to
`{endpoint}/openai/responses?api-version=...` with the deployment as the model. With
`--api-version v1` the resource's version-less v1 API is used instead (`/openai/v1/...`).

Authentication, first that applies: AZURE_OPENAI_API_KEY (sent as `api-key`);
AZURE_OPENAI_AD_TOKEN (a bearer token); `azure_auth = "entra"`, tokens from azure-identity's
DefaultAzureCredential; else the client's own credentials (`api-key`, or its bearer: an Entra
token is forwarded as one, any other value is an Azure key and becomes `api-key`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import orjson

from headroom_proxy._backends._base import OPENAI, BackendError, UpstreamCall, header, json_body, log, without
from headroom_proxy._backends._cloud import CloudBackend
from headroom_proxy._settings import ProxyConfigError

ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
_DEPLOYMENT_PATHS = ("chat/completions", "completions", "embeddings")
_CLIENT_AUTH = ("authorization", "api-key")


def _looks_like_jwt(token: str) -> bool:
    parts = token.split(".")
    return len(parts) == 3 and token.startswith("eyJ")


class AzureBackend(CloudBackend):
    name = "azure"
    label = "Azure OpenAI"
    providers = frozenset({OPENAI})

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.api_key = os.environ.get("AZURE_OPENAI_API_KEY") or None
        self.ad_token = os.environ.get("AZURE_OPENAI_AD_TOKEN") or None
        self.entra: Any = None
        """An azure-identity credential (azure_auth = "entra")."""
        self._token: tuple[str, float] | None = None
        self._lock = asyncio.Lock()
        self._client_secrets: dict[str, None] = {}

    def check(self) -> None:
        if not self.origin(OPENAI):
            raise ProxyConfigError(
                "azure backend: no resource endpoint (use --azure-endpoint https://NAME.openai.azure.com "
                "or AZURE_OPENAI_ENDPOINT)"
            )
        if self.settings.azure_auth == "entra" and self.entra is None and not (self.api_key or self.ad_token):
            try:
                from azure.identity import DefaultAzureCredential
            except ModuleNotFoundError:
                raise ProxyConfigError(
                    "azure backend: azure_auth = entra needs azure-identity: pip install 'headroom-ai[azure]'"
                ) from None
            self.entra = DefaultAzureCredential()

    def origin(self, provider: str) -> str:
        return self.endpoint(self.settings.azure_endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT") or "")

    def secrets(self) -> Iterable[str]:
        out = [s for s in (self.api_key, self.ad_token) if s]
        if self._token:
            out.append(self._token[0])
        return out + list(self._client_secrets)

    def serves_text(self) -> str:
        return "OpenAI requests"

    # -- auth -----------------------------------------------------------------------------

    async def _auth(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if self.api_key:
            return [*without(headers, *_CLIENT_AUTH), ("api-key", self.api_key)]
        if self.ad_token:
            return [*without(headers, *_CLIENT_AUTH), ("authorization", f"Bearer {self.ad_token}")]
        if self.entra is not None:
            token = await self._entra_token()
            return [*without(headers, *_CLIENT_AUTH), ("authorization", f"Bearer {token}")]
        key = header(headers, "api-key")
        bearer = header(headers, "authorization") or ""
        token = bearer[7:].strip() if bearer.lower().startswith("bearer ") else ""
        self._remember_client_secret(key or token)
        if key or not token or _looks_like_jwt(token):
            return headers
        return [*without(headers, "authorization"), ("api-key", token)]

    def _remember_client_secret(self, value: str | None) -> None:
        """Keys clients sent are scrubbed from upstream messages too (bounded memory)."""
        if value and value not in self._client_secrets:
            if len(self._client_secrets) >= 64:
                self._client_secrets.pop(next(iter(self._client_secrets)))
            self._client_secrets[value] = None

    async def _entra_token(self) -> str:
        now = time.time()
        if self._token is None or self._token[1] - 300 < now:
            async with self._lock:
                if self._token is None or self._token[1] - 300 < time.time():
                    try:
                        access = await anyio.to_thread.run_sync(self.entra.get_token, ENTRA_SCOPE)
                    except Exception as exc:  # azure-identity raises its own hierarchy per source
                        log.warning("Azure OpenAI: Entra ID token failed (%s)", type(exc).__name__)
                        raise BackendError(
                            401,
                            f"Headroom proxy: an Entra ID token could not be obtained ({type(exc).__name__}); "
                            "check the azure-identity credentials",
                        ) from None
                    self._token = (access.token, float(access.expires_on))
        assert self._token is not None
        return self._token[0]

    # -- request --------------------------------------------------------------------------

    async def build(self, client: httpx.AsyncClient, call: UpstreamCall) -> httpx.Request:
        await self.ensure_started()
        origin = self.origin(OPENAI)
        rest = call.path[len("/v1/") :]
        version = self.settings.api_version
        body = call.content
        if version == "v1":  # the version-less API: same paths, deployment as the model
            url = f"{origin}/openai/v1/{rest}"
            params = ""
            if (
                isinstance(body, bytes)
                and call.method == "POST"
                and rest in (*_DEPLOYMENT_PATHS, "responses")
            ):
                body = self._with_deployment(call)
        else:
            params = "api-version=" + quote(version, safe="")
            if rest in _DEPLOYMENT_PATHS and call.method == "POST" and isinstance(body, bytes):
                deployment = self._deployment(self.model_of(json_body(call)))
                url = f"{origin}/openai/deployments/{quote(deployment, safe='')}/{rest}"
            else:
                url = f"{origin}/openai/{rest}"
                if rest == "responses" and call.method == "POST" and isinstance(body, bytes):
                    body = self._with_deployment(call)
        query = "&".join(q for q in (params, call.query) if q)
        if query:
            url += "?" + query
        headers = await self._auth(call.headers)
        return client.build_request(call.method, url, headers=headers, content=body)

    def _deployment(self, model: str) -> str:
        return self.model_map.get(model, model)

    def _with_deployment(self, call: UpstreamCall) -> bytes:
        """The body with the deployment as its model (the bytes untouched when they agree)."""
        payload = json_body(call)
        model = self.model_of(payload)
        deployment = self._deployment(model)
        if deployment == model:
            return bytes(call.content)
        payload["model"] = deployment
        return orjson.dumps(payload)
