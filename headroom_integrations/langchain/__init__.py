"""Headroom for LangChain and LangGraph: thin adapters over `headroom_core`.

- `HeadroomRunnable`: an LCEL step, `prompt | HeadroomRunnable() | llm`.
- `HeadroomMiddleware`: for `langchain.agents.create_agent` (needs `langchain`).
- `HeadroomCallbackHandler`: measures tokens, cost and savings (does not compress).
- `compress_tool_output` / `wrap_tools`: tools whose results are compressed.
- `HeadroomDocumentCompressor` / `HeadroomBudgetRetriever`: retrieved documents in a budget.
- `HeadroomRetrieveTool`: the `headroom_retrieve` tool (CCR).
- `HeadroomMessagesNode` / `headroom_pre_model_hook`: LangGraph.

Requires `langchain-core` (`pip install "headroom-ai[langchain]"`). `HeadroomMiddleware`
and the LangGraph pieces are imported on first use and need `langchain` and `langgraph`
(`pip install "headroom-ai[langchain-agents]"`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    import langchain_core  # noqa: F401
except ImportError as exc:
    raise ImportError(
        "headroom_integrations.langchain needs langchain-core: pip install 'headroom-ai[langchain]'"
    ) from exc

from headroom_integrations.langchain._messages import (
    CompressedMessages,
    compress_messages,
    count_message_tokens,
)
from headroom_integrations.langchain.callbacks import DEFAULT_PRICING, HeadroomCallbackHandler
from headroom_integrations.langchain.retrieve_tool import HeadroomRetrieveTool
from headroom_integrations.langchain.retrievers import HeadroomBudgetRetriever, HeadroomDocumentCompressor
from headroom_integrations.langchain.runnable import HeadroomRunnable
from headroom_integrations.langchain.tools import HeadroomCompressedTool, compress_tool_output, wrap_tools

if TYPE_CHECKING:
    from headroom_integrations.langchain.langgraph import HeadroomMessagesNode, headroom_pre_model_hook
    from headroom_integrations.langchain.middleware import HeadroomMiddleware

# The agent pieces need `langchain` / `langgraph` (the [langchain-agents] extra): imported on use.
_LAZY = {
    "HeadroomMiddleware": "headroom_integrations.langchain.middleware",
    "HeadroomMessagesNode": "headroom_integrations.langchain.langgraph",
    "headroom_pre_model_hook": "headroom_integrations.langchain.langgraph",
}

__all__ = [
    "DEFAULT_PRICING",
    "CompressedMessages",
    "HeadroomBudgetRetriever",
    "HeadroomCallbackHandler",
    "HeadroomCompressedTool",
    "HeadroomDocumentCompressor",
    "HeadroomMessagesNode",
    "HeadroomMiddleware",
    "HeadroomRetrieveTool",
    "HeadroomRunnable",
    "compress_messages",
    "compress_tool_output",
    "count_message_tokens",
    "headroom_pre_model_hook",
    "wrap_tools",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
