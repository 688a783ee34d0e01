"""Headroom for LlamaIndex: fit retrieved nodes, tool outputs and chat history into budgets.

    >>> from headroom_integrations.llamaindex import HeadroomNodePostprocessor, headroom_retrieve_tool
    >>> engine = index.as_query_engine(node_postprocessors=[HeadroomNodePostprocessor(token_budget=3000)])

Requires `llama-index-core` (`pip install "headroom-ai[llamaindex]"`). The compression
itself happens in `headroom_core`; this package only converts LlamaIndex objects.
"""

from __future__ import annotations

try:
    import llama_index.core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "headroom_integrations.llamaindex needs llama-index-core: pip install 'headroom-ai[llamaindex]'"
    ) from exc

from headroom_integrations.llamaindex._messages import chat_messages_to_openai
from headroom_integrations.llamaindex.memory import HeadroomChatMemory
from headroom_integrations.llamaindex.postprocessor import (
    CCR_KEY_METADATA,
    HeadroomNodePostprocessor,
    NodeFit,
    OmittedNode,
)
from headroom_integrations.llamaindex.tools import (
    HeadroomFunctionTool,
    HeadroomRetrieveArgs,
    HeadroomTool,
    compress_tool,
    headroom_retrieve_tool,
)
from headroom_integrations.llamaindex.usage import HeadroomUsageHandler

__all__ = [
    "CCR_KEY_METADATA",
    "HeadroomChatMemory",
    "HeadroomFunctionTool",
    "HeadroomNodePostprocessor",
    "HeadroomRetrieveArgs",
    "HeadroomTool",
    "HeadroomUsageHandler",
    "NodeFit",
    "OmittedNode",
    "chat_messages_to_openai",
    "compress_tool",
    "headroom_retrieve_tool",
]
