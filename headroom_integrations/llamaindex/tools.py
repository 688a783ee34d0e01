"""LlamaIndex tools: CCR retrieval for agents, and tools whose output is compressed.

Give an agent `compress_tool(your_tool, config=config)` instead of `your_tool`, and add
`headroom_retrieve_tool(config)` so it can fetch back whatever compression left out.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llama_index.core.base.llms.types import TextBlock
from llama_index.core.bridge.pydantic import BaseModel, ConfigDict
from llama_index.core.tools import AsyncBaseTool, BaseTool, FunctionTool, ToolMetadata, ToolOutput
from llama_index.core.tools.types import adapt_to_async_tool

from headroom_core import (
    DEFAULT_MODEL,
    RETRIEVE_TOOL_DESCRIPTION,
    RETRIEVE_TOOL_NAME,
    RETRIEVE_TOOL_PARAMETERS,
    CCRStore,
    HeadroomConfig,
    compress_text,
    retrieval_answer,
)


def _agreed_schema(schema: dict[str, Any], model: type) -> None:
    schema.clear()
    schema.update(copy.deepcopy(RETRIEVE_TOOL_PARAMETERS))


class HeadroomRetrieveArgs(BaseModel):
    """Arguments of the `headroom_retrieve` tool.

    Its JSON schema is exactly `headroom_core.RETRIEVE_TOOL_PARAMETERS` (what every
    Headroom retrieve tool shows a model). The fields are lenient on purpose: checking
    them is `retrieval_answer`'s job, which answers a bad argument with a sentence the
    model can act on instead of an exception.
    """

    model_config = ConfigDict(json_schema_extra=_agreed_schema)

    key: Any = None
    query: Any = None
    limit: Any = None


def headroom_retrieve_tool(
    config: HeadroomConfig | None = None,
    *,
    store: CCRStore | None = None,
    name: str = RETRIEVE_TOOL_NAME,
    description: str = RETRIEVE_TOOL_DESCRIPTION,
    max_tokens: int | None = None,
    model: str = DEFAULT_MODEL,
) -> FunctionTool:
    """A `FunctionTool` named `headroom_retrieve` that returns what Headroom omitted.

    A thin wrapper over `headroom_core.retrieval_answer`. Use the same `config` (or
    `store`) as the compression that produced the markers, so the tool reads the store
    the originals were written to. Unknown or expired keys and invalid arguments come
    back as a plain explanation for the agent, never an exception.

    `max_tokens` caps one answer (counted for `model`; None: `headroom_core`'s default
    cap): a longer answer comes back as its first items or lines plus a note saying how
    to narrow the next call. The stored original is never changed.
    """
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise TypeError(f"max_tokens must be a positive int or None, got {max_tokens!r}")
    if config is not None and not isinstance(config, HeadroomConfig):
        raise TypeError(f"config must be a HeadroomConfig, got {type(config).__name__}")
    if store is not None and not isinstance(store, CCRStore):
        raise TypeError("store must implement CCRStore (put(key, bytes) and get(key))")

    def headroom_retrieve(key: Any = None, query: Any = None, limit: Any = None, **unexpected: Any) -> str:
        return retrieval_answer(
            key, query, limit, max_tokens=max_tokens, config=config, store=store, model=model
        )

    return FunctionTool.from_defaults(
        fn=headroom_retrieve, name=name, description=description, fn_schema=HeadroomRetrieveArgs
    )


# ---------------------------------------------------------------------- compressed tool output


def _compress_output(
    output: ToolOutput,
    kwargs: Mapping[str, Any],
    *,
    model: str,
    config: HeadroomConfig,
    query: str | None,
) -> ToolOutput:
    if output.is_error or not any(isinstance(b, TextBlock) for b in output.blocks):
        return output
    # Minimum size and the default query (the call's own arguments) are compress_text's policy.
    arguments = {k: v for k, v in kwargs.items() if isinstance(k, str)}
    changed = False
    blocks: list[Any] = []
    for block in output.blocks:
        if isinstance(block, TextBlock):
            result = compress_text(
                block.text,
                model=model,
                query=query,
                config=config,
                tool_name=output.tool_name,
                tool_args=arguments,
            )
            if result.tokens_after < result.tokens_before:
                block = TextBlock(text=result.text)
                changed = True
        blocks.append(block)
    if not changed:
        return output
    # raw_output stays the tool's real return value, for code; the agent reads the blocks.
    return ToolOutput(
        tool_name=output.tool_name,
        blocks=blocks,
        raw_input=output.raw_input,
        raw_output=output.raw_output,
        is_error=output.is_error,
    )


def _call_kwargs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    # Tools called positionally (`tool("text")`) still give the compressor a query hint.
    if args and not kwargs:
        return {"input": " ".join(str(a) for a in args)}
    return kwargs


@dataclass(frozen=True)
class _OutputCompressor:
    """What both wrappers do with a finished call: compress its `ToolOutput`."""

    model: str
    config: HeadroomConfig
    query: str | None

    def __call__(self, output: ToolOutput, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ToolOutput:
        return _compress_output(
            output, _call_kwargs(args, kwargs), model=self.model, config=self.config, query=self.query
        )

    async def acompress(
        self, output: ToolOutput, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> ToolOutput:
        # Tokenizing and compressing is CPU work: keep it off the event loop.
        return await asyncio.to_thread(self, output, args, kwargs)


class HeadroomFunctionTool(FunctionTool):
    """A `FunctionTool` whose text output is compressed before the agent sees it.

    Name, description, schema, context injection and callbacks are those of the wrapped
    tool (calls are delegated to it); only the returned text blocks change.
    """

    def __init__(
        self,
        tool: FunctionTool,
        *,
        model: str = DEFAULT_MODEL,
        config: HeadroomConfig | None = None,
        query: str | None = None,
    ) -> None:
        super().__init__(fn=tool.real_fn, metadata=tool.metadata, partial_params=dict(tool.partial_params))
        self.requires_context = tool.requires_context
        self.ctx_param_name = tool.ctx_param_name
        self.wrapped = tool
        self._compress = _OutputCompressor(model, config if config is not None else HeadroomConfig(), query)

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return self._compress(self.wrapped.call(*args, **kwargs), args, kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return await self._compress.acompress(await self.wrapped.acall(*args, **kwargs), args, kwargs)


class HeadroomTool(AsyncBaseTool):
    """Any LlamaIndex tool (e.g. a `QueryEngineTool`) with its text output compressed."""

    def __init__(
        self,
        tool: BaseTool,
        *,
        model: str = DEFAULT_MODEL,
        config: HeadroomConfig | None = None,
        query: str | None = None,
    ) -> None:
        self.wrapped = tool
        self._async = adapt_to_async_tool(tool)
        self._compress = _OutputCompressor(model, config if config is not None else HeadroomConfig(), query)

    @property
    def metadata(self) -> ToolMetadata:
        return self.wrapped.metadata

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return self._compress(self._async.call(*args, **kwargs), args, kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        return await self._compress.acompress(await self._async.acall(*args, **kwargs), args, kwargs)


def compress_tool(
    tool: BaseTool,
    *,
    model: str = DEFAULT_MODEL,
    config: HeadroomConfig | None = None,
    query: str | None = None,
) -> AsyncBaseTool:
    """Wrap `tool` so its output is compressed (same name and schema).

    `query` steers what counts as relevant; by default it is the tool call's own string
    arguments (a search phrase, a file name). Outputs shorter than `config.min_tokens` and
    error outputs pass through unchanged. Use the same `config` for
    `headroom_retrieve_tool` so the agent can fetch what was left out.
    """
    if not isinstance(tool, BaseTool):
        raise TypeError(f"compress_tool() expected a LlamaIndex tool, got {type(tool).__name__}")
    if config is not None and not isinstance(config, HeadroomConfig):
        raise TypeError(f"config must be a HeadroomConfig, got {type(config).__name__}")
    if isinstance(tool, FunctionTool):
        return HeadroomFunctionTool(tool, model=model, config=config, query=query)
    return HeadroomTool(tool, model=model, config=config, query=query)
