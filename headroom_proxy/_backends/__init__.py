"""Upstream backends: where the proxy sends a request and how (URL, auth, wire framing).

`direct` sends each provider's requests to its configured upstream URL. A cloud backend takes
over the providers it serves (Bedrock and Vertex AI: Anthropic Messages; Azure OpenAI and
LiteLLM: OpenAI; OpenRouter: both); the other provider keeps its direct upstream. docs/cloud-backends.md.
"""

from __future__ import annotations

from typing import Any

from headroom_proxy._backends._azure import AzureBackend
from headroom_proxy._backends._base import ANTHROPIC, OPENAI, Backend, BackendError, UpstreamCall
from headroom_proxy._backends._bedrock import BEDROCK_MODELS, BedrockBackend, bedrock_model_id
from headroom_proxy._backends._errors import error_body
from headroom_proxy._backends._litellm import LiteLLMBackend
from headroom_proxy._backends._openrouter import OpenRouterBackend, openrouter_model
from headroom_proxy._backends._vertex import VertexBackend, vertex_model_id

BACKENDS: dict[str, type[Backend]] = {
    "direct": Backend,
    "bedrock": BedrockBackend,
    "vertex_ai": VertexBackend,
    "azure": AzureBackend,
    "openrouter": OpenRouterBackend,
    "litellm": LiteLLMBackend,
}


def backends_for(settings: Any) -> dict[str, Backend]:
    """The backend of each client format ('anthropic', 'openai') for these settings."""
    direct = Backend(settings)
    chosen = BACKENDS[settings.backend](settings) if settings.backend != "direct" else direct
    return {provider: chosen if provider in chosen.providers else direct for provider in (ANTHROPIC, OPENAI)}


__all__ = [
    "BACKENDS",
    "BEDROCK_MODELS",
    "AzureBackend",
    "Backend",
    "BackendError",
    "BedrockBackend",
    "LiteLLMBackend",
    "OpenRouterBackend",
    "UpstreamCall",
    "VertexBackend",
    "backends_for",
    "bedrock_model_id",
    "error_body",
    "openrouter_model",
    "vertex_model_id",
]
