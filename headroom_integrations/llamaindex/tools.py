"""LlamaIndex tools: CCR retrieval for agents, and tools whose output is compressed.

Give an agent `compress_tool(your_tool, config=config)` instead of `your_tool`, and add
`headroom_retrieve_tool(config)` so it can fetch back whatever compression left out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from llama_index.core.base.llms.types import TextBlock
from llama_index.core.bridge.pydantic import BaseModel, Field, ValidationError
from llama_index.core.tools import AsyncBaseTool, BaseTool, FunctionTool, ToolMetadata, ToolOutput
from llama_index.core.tools.types import adapt_to_async_tool

from headroom_core import (
    RETRIEVE_TOOL_NAME,
    CCRKeyNotFoundError,
    CCRStore,
    CCRStoreError,
    HeadroomConfig,
    compress_text,
    count_tokens,
    retrieve,
)

RETRIEVE_DESCRIPTION = (
    "Fetch content that Headroom left out of your context. Parts of tool outputs or "
    "retrieved passages may have been replaced by a marker like [headroom: 40 items omitted; "
    'retrieve with headroom_retrieve(key="3f9a0c...")]. Call this tool with that key to get '
    "the original back. Pass `query` to get only the stored lines or items that match it, "
    "and `limit` to cap how many come back; with neither you get the full original."
)


class HeadroomRetrieveArgs(BaseModel):
    """Arguments of the `headroom_retrieve` tool."""

    key: str = Field(
        description='The key from a Headroom marker, e.g. the "3f9a0c..." in headroom_retrieve(key="3f9a0c...").',
        min_length=8,
        max_length=80,
    )
    query: str | None = Field(
        default=None, description="Optional: only return the stored lines or items that match this text."
    )
    limit: int | None = Field(
        default=None, ge=1, le=10_000, description="Optional: at most this many lines or items."
    )


def headroom_retrieve_tool(
    config: HeadroomConfig | None = None,
    *,
    store: CCRStore | None = None,
    name: str = RETRIEVE_TOOL_NAME,
    description: str = RETRIEVE_DESCRIPTION,
    max_tokens: int | None = None,
    model: str = "gpt-4o",
) -> FunctionTool:
    """A `FunctionTool` named `headroom_retrieve` that returns what Headroom omitted.

    Use the same `config` (or `store`) as the compression that produced the markers, so
    the tool reads the store the originals were written to. Unknown or expired keys and
    invalid arguments come back as a plain explanation for the agent, never an exception.

    `max_tokens` caps one answer (counted for `model`): a longer original comes back as
    its first lines plus a note asking for a `query` or `limit`. The stored original is
    never changed, so a narrower call still gets any part of it.
    """
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise TypeError(f"max_tokens must be a positive int or None, got {max_tokens!r}")
    if config is not None and not isinstance(config, HeadroomConfig):
        raise TypeError(f"config must be a HeadroomConfig, got {type(config).__name__}")
    if store is not None and not isinstance(store, CCRStore):
        raise TypeError("store must implement CCRStore (put(key, bytes) and get(key))")

    def headroom_retrieve(key: str, query: str | None = None, limit: int | None = None) -> str:
        try:
            args = HeadroomRetrieveArgs(key=key, query=query, limit=limit)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            return f"Invalid arguments for {name}: {problems}."
        wanted = args.key.strip().strip('"').lower()
        try:
            text = retrieve(wanted, args.query or None, args.limit, store=store, config=config)
        except CCRKeyNotFoundError:
            return (
                f'No stored content for key "{wanted}": the key is unknown, or the entry expired '
                "or was evicted. Check that you copied the key exactly from a headroom marker; "
                "otherwise continue with the context you have."
            )
        except CCRStoreError as exc:
            return f'The stored content for key "{wanted}" cannot be read ({exc}).'
        if not text and args.query:
            return (
                f'Nothing stored under key "{wanted}" matches the query {args.query!r}. '
                "Call again without `query` to get the full original."
            )
        if max_tokens is not None:
            return _capped(text, max_tokens, model, wanted)
        return text

    return FunctionTool.from_defaults(
        fn=headroom_retrieve, name=name, description=description, fn_schema=HeadroomRetrieveArgs
    )


def _capped(text: str, max_tokens: int, model: str, key: str) -> str:
    """`text` if it fits `max_tokens`, else its longest run of first lines that does, plus a note."""
    if count_tokens(text, model) <= max_tokens:
        return text
    total = text.count("\n") + 1
    lines = text.split("\n")
    note = (
        f'\n[only the first {{shown}} of {total:,} lines fit; call headroom_retrieve(key="{key}") '
        "again with `query` (and `limit`) to get the lines you need]"
    )
    lo, hi = 0, len(lines)
    while lo < hi:  # binary search: the most first lines that fit with the note
        mid = (lo + hi + 1) // 2
        if count_tokens("\n".join(lines[:mid]) + note.format(shown=mid), model) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return "\n".join(lines[:lo]) + note.format(shown=lo)


# ---------------------------------------------------------------------- compressed tool output


def _query_from_arguments(kwargs: Mapping[str, Any]) -> str | None:
    """What the agent asked the tool for: its string arguments (a search phrase, a path)."""
    words = [v for v in kwargs.values() if isinstance(v, str) and v.strip()]
    return " ".join(words) or None


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
    arguments = {k: v for k, v in kwargs.items() if isinstance(k, str)}
    steer = query if query is not None else _query_from_arguments(arguments)
    changed = False
    blocks: list[Any] = []
    for block in output.blocks:
        if isinstance(block, TextBlock) and count_tokens(block.text, model) >= config.min_tokens:
            result = compress_text(
                block.text,
                model=model,
                query=steer,
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


class HeadroomFunctionTool(FunctionTool):
    """A `FunctionTool` whose text output is compressed before the agent sees it.

    Name, description, schema, context injection and callbacks are those of the wrapped
    tool (calls are delegated to it); only the returned text blocks change.
    """

    def __init__(
        self,
        tool: FunctionTool,
        *,
        model: str = "gpt-4o",
        config: HeadroomConfig | None = None,
        query: str | None = None,
    ) -> None:
        super().__init__(fn=tool.real_fn, metadata=tool.metadata, partial_params=dict(tool.partial_params))
        self.requires_context = tool.requires_context
        self.ctx_param_name = tool.ctx_param_name
        self.wrapped = tool
        self._model = model
        self._config = config if config is not None else HeadroomConfig()
        self._query = query

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        output = self.wrapped.call(*args, **kwargs)
        return _compress_output(
            output, _call_kwargs(args, kwargs), model=self._model, config=self._config, query=self._query
        )

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        output = await self.wrapped.acall(*args, **kwargs)
        return await asyncio.to_thread(
            _compress_output,
            output,
            _call_kwargs(args, kwargs),
            model=self._model,
            config=self._config,
            query=self._query,
        )


class HeadroomTool(AsyncBaseTool):
    """Any LlamaIndex tool (e.g. a `QueryEngineTool`) with its text output compressed."""

    def __init__(
        self,
        tool: BaseTool,
        *,
        model: str = "gpt-4o",
        config: HeadroomConfig | None = None,
        query: str | None = None,
    ) -> None:
        self.wrapped = tool
        self._async = adapt_to_async_tool(tool)
        self._model = model
        self._config = config if config is not None else HeadroomConfig()
        self._query = query

    @property
    def metadata(self) -> ToolMetadata:
        return self.wrapped.metadata

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        output = self._async.call(*args, **kwargs)
        return _compress_output(
            output, _call_kwargs(args, kwargs), model=self._model, config=self._config, query=self._query
        )

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        output = await self._async.acall(*args, **kwargs)
        return await asyncio.to_thread(
            _compress_output,
            output,
            _call_kwargs(args, kwargs),
            model=self._model,
            config=self._config,
            query=self._query,
        )


def compress_tool(
    tool: BaseTool,
    *,
    model: str = "gpt-4o",
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
