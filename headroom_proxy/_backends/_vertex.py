"""Google Vertex AI: Anthropic Messages requests sent to `rawPredict` / `streamRawPredict`.

Vertex speaks Anthropic's own JSON and server-sent events; only the URL (project, region,
publisher model), `anthropic_version` in the body and the bearer token change. The token comes
from Google application default credentials (google-auth): a service-account key file in
GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default login`, or the metadata server
on Google Cloud. It is refreshed in a worker thread shortly before it expires.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import orjson

from headroom_proxy._backends._base import ANTHROPIC, BackendError, UpstreamCall, header, json_body, log
from headroom_proxy._backends._cloud import CloudBackend
from headroom_proxy._settings import ProxyConfigError

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_DATED = re.compile(r"(claude-[a-z0-9-]+?)-(\d{8})")


def vertex_model_id(name: str, model_map: dict[str, str]) -> str:
    """Vertex names Claude models `claude-sonnet-4-5@20250929`; the API's dated names map to
    that form by rule, `model_map` wins, and anything else passes through."""
    if name in model_map:
        return model_map[name]
    dated = _DATED.fullmatch(name)
    return f"{dated.group(1)}@{dated.group(2)}" if dated else name


class VertexBackend(CloudBackend):
    name = "vertex_ai"
    label = "Google Vertex AI"
    providers = frozenset({ANTHROPIC})

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.region = settings.region or os.environ.get("CLOUD_ML_REGION")
        self.project = (
            settings.project
            or os.environ.get("ANTHROPIC_VERTEX_PROJECT_ID")
            or os.environ.get("GOOGLE_CLOUD_PROJECT")
        )
        self._credentials: Any = None
        self._refresh_lock = asyncio.Lock()

    def check(self) -> None:
        try:
            import google.auth
            import google.auth.exceptions
            import google.auth.transport.requests
        except ModuleNotFoundError:
            raise ProxyConfigError(
                "the vertex_ai backend needs google-auth: pip install 'headroom-ai[vertex]'"
            ) from None
        try:
            credentials, project = google.auth.default(scopes=list(SCOPES))
        except google.auth.exceptions.DefaultCredentialsError:
            raise ProxyConfigError(
                "vertex_ai backend: no Google credentials found (set GOOGLE_APPLICATION_CREDENTIALS "
                "to a service-account key, or run `gcloud auth application-default login`)"
            ) from None
        self.project = self.project or project
        if not self.region:
            raise ProxyConfigError("vertex_ai backend: no region (use --region or CLOUD_ML_REGION)")
        if not self.project:
            raise ProxyConfigError(
                "vertex_ai backend: no project (use --project, ANTHROPIC_VERTEX_PROJECT_ID or "
                "GOOGLE_CLOUD_PROJECT)"
            )
        self._credentials = credentials

    def origin(self, provider: str) -> str:
        region = self.region or "us-central1"
        host = "aiplatform.googleapis.com" if region == "global" else f"{region}-aiplatform.googleapis.com"
        return self.endpoint(f"https://{host}")

    def secrets(self) -> Iterable[str]:
        token = getattr(self._credentials, "token", None)
        return [token] if token else []

    def serves_text(self) -> str:
        return "Anthropic Messages requests (POST /v1/messages and /v1/messages/count_tokens)"

    async def _auth_headers(self) -> dict[str, str]:
        import google.auth.exceptions

        await self.ensure_started()
        credentials = self._credentials
        if not credentials.valid:  # `valid` allows for clock skew before the expiry
            async with self._refresh_lock:
                if not credentials.valid:
                    try:
                        await anyio.to_thread.run_sync(self._refresh)
                    except google.auth.exceptions.GoogleAuthError as exc:
                        log.warning("Google Vertex AI: token refresh failed (%s)", type(exc).__name__)
                        raise BackendError(
                            401,
                            f"Headroom proxy: a Google access token could not be obtained "
                            f"({type(exc).__name__}); check the application default credentials",
                        ) from None
        headers: dict[str, str] = {}
        credentials.apply(headers)  # authorization, and x-goog-user-project for a quota project
        return headers

    def _refresh(self) -> None:
        import google.auth.transport.requests

        self._credentials.refresh(google.auth.transport.requests.Request())

    async def build(self, client: httpx.AsyncClient, call: UpstreamCall) -> httpx.Request:
        path = call.path
        if not call.llm and path == "/v1/messages/count_tokens" and call.method == "POST":
            payload = json_body(call)  # cloud backends get pass-through bodies read whole
            model_name = self.model_of(payload)
            payload["model"] = vertex_model_id(model_name, dict(self.model_map))
            action = "count-tokens:rawPredict"
            body_doc = payload
        elif call.llm and path == "/v1/messages" and call.method == "POST":
            payload = json_body(call)
            model = vertex_model_id(self.model_of(payload), dict(self.model_map))
            stream = payload.get("stream") is True
            action = f"{quote(model, safe='@')}:{'streamRawPredict' if stream else 'rawPredict'}"
            body_doc = {k: v for k, v in payload.items() if k != "model"}
        else:
            raise self.unsupported(call)
        body_doc.setdefault("anthropic_version", VERTEX_ANTHROPIC_VERSION)
        url = (
            f"{self.origin(ANTHROPIC)}/v1/projects/{quote(str(self.project), safe='')}"
            f"/locations/{quote(str(self.region), safe='')}/publishers/anthropic/models/{action}"
        )
        headers = {"content-type": "application/json", **await self._auth_headers()}
        betas = header(call.headers, "anthropic-beta")
        if betas:
            headers["anthropic-beta"] = betas
        return client.build_request("POST", url, headers=headers, content=orjson.dumps(body_doc))
