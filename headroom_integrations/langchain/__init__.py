"""Headroom for LangChain and LangGraph: thin adapters over `headroom_core`.

- `HeadroomRunnable`: an LCEL step, `prompt | HeadroomRunnable() | llm`.
- `HeadroomMiddleware`: for `langchain.agents.create_agent` (needs `langchain`).
- `HeadroomCallbackHandler`: measures tokens, cost and savings (does not compress).
- `compress_tool_output` / `wrap_tools`: tools whose results are compressed.
- `HeadroomDocumentCompressor` / `HeadroomBudgetRetriever`: retrieved documents in a budget.
- `HeadroomRetrieveTool`: the `headroom_retrieve` tool (CCR).
- `HeadroomMessagesNode` / `headroom_pre_model_hook`: LangGraph.

`HeadroomMiddleware` is imported lazily, so langchain-core alone is enough for the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headroom_integrations.langchain._messages import (
    CompressedMessages,
    compress_messages,
    count_message_tokens,
)
from headroom_integrations.langchain.callbacks import DEFAULT_PRICING, HeadroomCallbackHandler
from headroom_integrations.langchain.langgraph import HeadroomMessagesNode, headroom_pre_model_hook
from headroom_integrations.langchain.retrieve_tool import HeadroomRetrieveInput, HeadroomRetrieveTool
from headroom_integrations.langchain.retrievers import HeadroomBudgetRetriever, HeadroomDocumentCompressor
from headroom_integrations.langchain.runnable import HeadroomRunnable
from headroom_integrations.langchain.tools import HeadroomCompressedTool, compress_tool_output, wrap_tools

if TYPE_CHECKING:
    from headroom_integrations.langchain.middleware import HeadroomMiddleware

__all__ = [
    "DEFAULT_PRICING",
    "CompressedMessages",
    "HeadroomBudgetRetriever",
    "HeadroomCallbackHandler",
    "HeadroomCompressedTool",
    "HeadroomDocumentCompressor",
    "HeadroomMessagesNode",
    "HeadroomMiddleware",
    "HeadroomRetrieveInput",
    "HeadroomRetrieveTool",
    "HeadroomRunnable",
    "compress_messages",
    "compress_tool_output",
    "count_message_tokens",
    "headroom_pre_model_hook",
    "wrap_tools",
]


def __getattr__(name: str) -> Any:
    if name == "HeadroomMiddleware":
        from headroom_integrations.langchain.middleware import HeadroomMiddleware

        return HeadroomMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
