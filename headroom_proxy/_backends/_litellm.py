"""LiteLLM: OpenAI chat-completions requests to any provider LiteLLM translates for.

The proxy compresses the OpenAI request as usual; LiteLLM (`litellm.acompletion`) turns it into
the provider's API (Gemini, Mistral, Groq, Ollama, Cohere...), makes the call and turns the
answer back into OpenAI's format, which is sent to the client as JSON or as OpenAI's server-sent
events. It is an optional extra (`[litellm]`): a heavy dependency that only this route needs.

The model is `model_map[client model]`, else `litellm_model`, else the client's own model name
(LiteLLM's `provider/model` naming). Provider keys come from LiteLLM's usual environment
variables (GEMINI_API_KEY, MISTRAL_API_KEY...); `backend_url` is passed as its `api_base`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from headroom_proxy._backends._base import (
    OPENAI,
    Backend,
    BackendError,
    BytesStream,
    UpstreamCall,
    json_body,
    log,
    single_chunk,
)
from headroom_proxy._backends._cloud import parse_model_map, quiet_credential_loggers
from headroom_proxy._backends._errors import error_body, error_event, error_message
from headroom_proxy._settings import ProxyConfigError

_LOCAL_URL = "http://litellm.local/v1/chat/completions"
"""The request the app builds never leaves the process: `send` hands its body to LiteLLM."""


class LiteLLMBackend(Backend):
    name = "litellm"
    label = "LiteLLM"
    providers = frozenset({OPENAI})
    reads_passthrough_bodies = True

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.model_map = parse_model_map(settings.model_map)
        quiet_credential_loggers()
        self._litellm: Any = None

    def check(self) -> None:
        if self._litellm is not None:
            return
        # LiteLLM fetches its model price list from the internet at import unless told not to.
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        try:
            import litellm
        except ModuleNotFoundError:
            raise ProxyConfigError(
                "the litellm backend needs LiteLLM: pip install 'headroom-ai[litellm]'"
            ) from None
        self._litellm = litellm

    def origin(self, provider: str) -> str:
        return str(self.settings.backend_url or f"LiteLLM ({self.settings.litellm_model or 'client model'})")

    def probe_url(self, provider: str) -> str | None:
        return self.settings.backend_url

    async def build(self, client: httpx.AsyncClient, call: UpstreamCall) -> httpx.Request:
        if not (call.llm and call.method == "POST" and call.path == "/v1/chat/completions"):
            raise BackendError(
                404,
                f"Headroom proxy: {call.method} {call.path} is not available through the LiteLLM backend "
                "(it serves OpenAI chat completions, POST /v1/chat/completions)",
            )
        json_body(call)  # a body that is not a JSON object is the client's 400, not LiteLLM's
        return client.build_request("POST", _LOCAL_URL, content=call.content)

    def model_for(self, client_model: Any) -> str:
        name = client_model if isinstance(client_model, str) else ""
        return self.model_map.get(name) or self.settings.litellm_model or name

    async def send(self, client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
        await self.ensure_started()
        payload = orjson.loads(request.content)
        kwargs = {**payload, "model": self.model_for(payload.get("model"))}
        kwargs["drop_params"] = True  # parameters a provider lacks are dropped, not fatal
        if self.settings.backend_url:
            kwargs["api_base"] = self.settings.backend_url
        stream = payload.get("stream") is True
        try:
            result = await self._litellm.acompletion(**kwargs)
        except Exception as exc:  # LiteLLM maps provider errors to OpenAI-like exceptions
            status, text, cause = self._describe(exc)
            log.warning("LiteLLM call failed: %s (%s)", cause, status)
            body = orjson.dumps(error_body(OPENAI, status, text, cause))
            return _response(status, "application/json", single_chunk(body), request)
        if not stream:
            return _response(
                200, "application/json", single_chunk(result.model_dump_json().encode()), request
            )
        return _response(200, "text/event-stream; charset=utf-8", self._events(result), request)

    async def _events(self, chunks: Any) -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                yield b"data: " + chunk.model_dump_json(exclude_none=True).encode() + b"\n\n"
        except Exception as exc:  # an error after the stream started: one error event, then end
            status, text, cause = self._describe(exc)
            log.warning("LiteLLM stream failed: %s (%s)", cause, status)
            yield error_event(OPENAI, status, text, cause)
            return
        yield b"data: [DONE]\n\n"

    def _describe(self, exc: Exception) -> tuple[int, str, str]:
        status = getattr(exc, "status_code", None)
        status = status if isinstance(status, int) and 400 <= status <= 599 else 502
        provider = getattr(exc, "llm_provider", None)
        label = f"LiteLLM ({provider})" if provider else "LiteLLM"
        message = str(getattr(exc, "message", None) or exc)
        return status, error_message(label, status, type(exc).__name__, message, ()), type(exc).__name__


def _response(
    status: int, content_type: str, chunks: AsyncIterator[bytes], request: httpx.Request
) -> httpx.Response:
    return httpx.Response(
        status, headers=[("content-type", content_type)], stream=BytesStream(chunks), request=request
    )
