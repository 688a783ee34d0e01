"""`HeadroomMiddleware`: Headroom inside a LangChain 1.x agent (`create_agent`).

    agent = create_agent(llm, tools, middleware=[HeadroomMiddleware(model="gpt-4o")])

- `wrap_model_call` compresses the request the model sees. The compression is
  ephemeral: the agent state keeps the messages as they were.
- `wrap_tool_call` compresses each tool result as it enters the state, so later turns
  (and checkpoints) carry the small version; the original stays in CCR.
- The CCR retrieve tool (`headroom_retrieve`) is added to the agent's tools.

Both hooks have async twins (`awrap_*`), so `agent.ainvoke` works too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from langchain_core.messages import BaseMessage, SystemMessage, ToolMessage
from langchain_core.runnables.config import run_in_executor

from headroom_core import DEFAULT_MODEL

try:
    from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
    from langchain.agents.middleware.types import ToolCallRequest
    from langgraph.types import Command
except ImportError as exc:
    raise ImportError(
        "HeadroomMiddleware needs langchain and langgraph: pip install 'headroom-ai[langchain-agents]'"
    ) from exc

from headroom_core import RETRIEVE_TOOL_NAME, HeadroomConfig
from headroom_integrations.langchain import _events
from headroom_integrations.langchain._messages import (
    CompressedMessages,
    compress_messages,
    latest_human_text,
    managed_by_langchain,
    model_name_of,
)
from headroom_integrations.langchain._tool_output import ToolOutputResult, compress_tool_content
from headroom_integrations.langchain.retrieve_tool import HeadroomRetrieveTool


class HeadroomMiddleware(AgentMiddleware):
    """Compresses model requests and tool results of a `create_agent` agent.

    Args:
        model: model name for token counting; None: read it from the agent's chat model.
        config: the `HeadroomConfig` (CCR store, compressor settings).
        token_budget: fit each model request into this many tokens (ephemeral).
        compress_requests: compress what the model sees on every call.
        compress_tool_results: compress tool results as they enter the state.
        add_retrieve_tool: register `headroom_retrieve` with the agent.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        config: HeadroomConfig | None = None,
        token_budget: int | None = None,
        compress_requests: bool = True,
        compress_tool_results: bool = True,
        add_retrieve_tool: bool = True,
    ) -> None:
        super().__init__()
        if config is not None and not isinstance(config, HeadroomConfig):
            raise TypeError(f"config must be a HeadroomConfig, got {type(config).__name__}")
        if token_budget is not None and (not isinstance(token_budget, int) or token_budget <= 0):
            raise TypeError(f"token_budget must be a positive int or None, got {token_budget!r}")
        self.model = model
        self.config = config
        self.token_budget = token_budget
        self.compress_requests = compress_requests
        self.compress_tool_results = compress_tool_results
        self.tools = [HeadroomRetrieveTool(headroom_config=config)] if add_retrieve_tool else []

    @property
    def name(self) -> str:
        return "HeadroomMiddleware"

    # ------------------------------------------------------------------ model calls

    def _model_for(self, request: ModelRequest) -> str:
        return self.model or model_name_of(request.model)

    def _compress_request(self, request: ModelRequest) -> tuple[ModelRequest, CompressedMessages]:
        model = self._model_for(request)
        messages: list[BaseMessage] = list(request.messages)
        system = request.system_message
        if system is not None:
            messages.insert(0, system)
        out = compress_messages(messages, model=model, config=self.config, token_budget=self.token_budget)
        new_messages: list[Any] = list(out.messages)
        if system is not None and new_messages and isinstance(new_messages[0], SystemMessage):
            system = new_messages.pop(0)
        return request.override(messages=new_messages, system_message=system), out

    def wrap_model_call(self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]) -> Any:
        if not self.compress_requests:
            return handler(request)
        new_request, out = self._compress_request(request)
        _events.report(
            "middleware",
            out.result.tokens_before,
            out.result.tokens_after,
            model=self._model_for(request),
            ccr_keys=out.result.ccr_keys,
        )
        return handler(new_request)

    async def awrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[ModelResponse]]
    ) -> Any:
        if not self.compress_requests:
            return await handler(request)
        new_request, out = await run_in_executor(None, self._compress_request, request)
        await _events.areport(
            "middleware",
            out.result.tokens_before,
            out.result.tokens_after,
            model=self._model_for(request),
            ccr_keys=out.result.ccr_keys,
        )
        return await handler(new_request)

    # ------------------------------------------------------------------ tool calls

    def _query(self, request: ToolCallRequest) -> str | None:
        state = request.state
        messages = state.get("messages") if isinstance(state, Mapping) else getattr(state, "messages", None)
        return latest_human_text(messages or [])

    def _compress_message(
        self, message: ToolMessage, request: ToolCallRequest
    ) -> tuple[ToolMessage, ToolOutputResult | None]:
        if message.name == RETRIEVE_TOOL_NAME or request.tool_call.get("name") == RETRIEVE_TOOL_NAME:
            return message, None  # what the model asked to see again must reach it whole
        if message.status == "error" or managed_by_langchain(message):
            return message, None
        result = compress_tool_content(
            message.content,
            model=self.model or DEFAULT_MODEL,
            config=self.config,
            query=self._query(request),
            tool_name=request.tool_call.get("name"),
            tool_args=request.tool_call.get("args"),
        )
        if not result.changed:
            return message, None
        metadata = {
            **message.response_metadata,
            "headroom": {
                "tokens_before": result.tokens_before,
                "tokens_after": result.tokens_after,
                "ccr_keys": list(result.ccr_keys),
            },
        }
        return message.model_copy(update={"content": result.content, "response_metadata": metadata}), result

    def _compress_outcome(self, outcome: Any, request: ToolCallRequest) -> tuple[Any, list[ToolOutputResult]]:
        if isinstance(outcome, ToolMessage):
            new, result = self._compress_message(outcome, request)
            return new, [result] if result else []
        if isinstance(outcome, Command) and isinstance(outcome.update, Mapping):
            messages = outcome.update.get("messages")
            if isinstance(messages, list):
                results, new_messages = [], []
                for message in messages:
                    if isinstance(message, ToolMessage):
                        message, result = self._compress_message(message, request)
                        if result:
                            results.append(result)
                    new_messages.append(message)
                if results:
                    update = {**outcome.update, "messages": new_messages}
                    return Command(
                        graph=outcome.graph, update=update, resume=outcome.resume, goto=outcome.goto
                    ), results
        return outcome, []

    def wrap_tool_call(self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Any]) -> Any:
        outcome = handler(request)
        if not self.compress_tool_results:
            return outcome
        new, results = self._compress_outcome(outcome, request)
        for r in results:
            _events.report(
                "middleware_tool",
                r.tokens_before,
                r.tokens_after,
                model=self.model or DEFAULT_MODEL,
                ccr_keys=r.ccr_keys,
                tool_name=request.tool_call.get("name"),
            )
        return new

    async def awrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Awaitable[Any]]
    ) -> Any:
        outcome = await handler(request)
        if not self.compress_tool_results:
            return outcome
        new, results = await run_in_executor(None, self._compress_outcome, outcome, request)
        for r in results:
            await _events.areport(
                "middleware_tool",
                r.tokens_before,
                r.tokens_after,
                model=self.model or DEFAULT_MODEL,
                ccr_keys=r.ccr_keys,
                tool_name=request.tool_call.get("name"),
            )
        return new
