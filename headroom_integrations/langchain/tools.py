"""Tool-output post-processing: tools whose results are compressed before the model sees them.

    tools = wrap_tools([search_orders, read_log], model="gpt-4o")
    agent = create_agent(llm, tools + [HeadroomRetrieveTool()])

A wrapped tool keeps the original's name, description and argument schema (injected
arguments included), so it drops into `create_agent`, LangGraph's `ToolNode` or a plain
`tool.invoke(tool_call)`. What the compression leaves out is stashed in CCR (the model can
fetch it with `headroom_retrieve`); the uncompressed output can also ride along in the
`ToolMessage.artifact`, which LangChain never sends to the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.messages import ToolMessage
from langchain_core.runnables.config import run_in_executor
from langchain_core.tools import BaseTool, ToolException
from pydantic import ConfigDict, Field, field_validator

from headroom_core import DEFAULT_MODEL, HeadroomConfig
from headroom_integrations.langchain import _events
from headroom_integrations.langchain._messages import check_config, content_text
from headroom_integrations.langchain._tool_output import ToolOutputResult, compress_tool_content

_CALL_ID = "headroom-inner-call"


class HeadroomCompressedTool(BaseTool):
    """A tool that runs `wrapped` and compresses its result.

    `response_format` is "content_and_artifact": the content is the compressed output;
    the artifact is the wrapped tool's own artifact if it has one, else (with
    `keep_original_in_artifact`) a dict with the original output and the CCR keys.
    """

    wrapped: BaseTool
    model: str = DEFAULT_MODEL
    query: str | None = None
    """Steers relevance (e.g. which rows of a table to keep); None: no query."""
    headroom_config: Any = Field(default=None, exclude=True)
    keep_original_in_artifact: bool = True
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _check_config = field_validator("headroom_config")(classmethod(lambda cls, v: check_config(v)))

    def _inner_call(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        # Calling the wrapped tool with a tool call (not bare args) keeps its artifact.
        return {"type": "tool_call", "name": self.wrapped.name, "args": kwargs, "id": _CALL_ID}

    def _finish(self, output: Any, args: dict[str, Any]) -> tuple[tuple[Any, Any], ToolOutputResult]:
        artifact = None
        if isinstance(output, ToolMessage):
            if output.status == "error":
                # The wrapped tool handled its own error; re-raise it so that this tool's
                # identical `handle_tool_error` turns it into an error ToolMessage again.
                raise ToolException(content_text(output.content))
            artifact, output = output.artifact, output.content
        result = compress_tool_content(
            output,
            model=self.model,
            config=self.headroom_config,
            query=self.query,
            tool_name=self.name,
            tool_args=args,
        )
        if artifact is None and self.keep_original_in_artifact:
            artifact = {
                "original": output,
                "ccr_keys": list(result.ccr_keys),
                "tokens_before": result.tokens_before,
                "tokens_after": result.tokens_after,
            }
        return (result.content, artifact), result

    def _run(self, *args: Any, run_manager: CallbackManagerForToolRun | None = None, **kwargs: Any) -> Any:
        if args:  # single-string-input tools
            kwargs = {**dict(zip(self.wrapped.args, args)), **kwargs}
        callbacks = run_manager.get_child() if run_manager else None
        output = self.wrapped.invoke(self._inner_call(kwargs), config={"callbacks": callbacks})
        pair, result = self._finish(output, kwargs)
        _events.report(
            "tool",
            result.tokens_before,
            result.tokens_after,
            model=self.model,
            ccr_keys=result.ccr_keys,
            tool_name=self.name,
            config={"callbacks": callbacks} if callbacks else None,
        )
        return pair

    async def _arun(
        self, *args: Any, run_manager: AsyncCallbackManagerForToolRun | None = None, **kwargs: Any
    ) -> Any:
        if args:
            kwargs = {**dict(zip(self.wrapped.args, args)), **kwargs}
        callbacks = run_manager.get_child() if run_manager else None
        output = await self.wrapped.ainvoke(self._inner_call(kwargs), config={"callbacks": callbacks})
        pair, result = await run_in_executor(None, self._finish, output, kwargs)
        await _events.areport(
            "tool",
            result.tokens_before,
            result.tokens_after,
            model=self.model,
            ccr_keys=result.ccr_keys,
            tool_name=self.name,
            config={"callbacks": callbacks} if callbacks else None,
        )
        return pair


def compress_tool_output(
    tool: BaseTool,
    *,
    model: str = DEFAULT_MODEL,
    config: HeadroomConfig | None = None,
    query: str | None = None,
    keep_original_in_artifact: bool = True,
) -> HeadroomCompressedTool:
    """A copy of `tool` (same name, description, args schema) whose results are compressed."""
    if not isinstance(tool, BaseTool):
        raise TypeError(
            f"compress_tool_output() expected a LangChain BaseTool, got {type(tool).__name__}; "
            "wrap plain functions with langchain_core.tools.tool first"
        )
    if isinstance(tool, HeadroomCompressedTool):
        return tool
    return HeadroomCompressedTool(
        wrapped=tool,
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        return_direct=tool.return_direct,
        handle_tool_error=tool.handle_tool_error,
        handle_validation_error=tool.handle_validation_error,
        tags=tool.tags,
        metadata=tool.metadata,
        model=model,
        headroom_config=config,
        query=query,
        keep_original_in_artifact=keep_original_in_artifact,
    )


def wrap_tools(
    tools: Sequence[BaseTool],
    *,
    model: str = DEFAULT_MODEL,
    config: HeadroomConfig | None = None,
    query: str | None = None,
    keep_original_in_artifact: bool = True,
) -> list[BaseTool]:
    """`compress_tool_output` for each tool; the retrieve tool itself is left as it is."""
    from headroom_core import RETRIEVE_TOOL_NAME

    if isinstance(tools, (str, bytes, BaseTool)) or not isinstance(tools, Sequence):
        raise TypeError(f"wrap_tools() expected a list of LangChain tools, got {type(tools).__name__}")
    for i, t in enumerate(tools):
        if not isinstance(t, BaseTool):
            raise TypeError(
                f"wrap_tools(): item {i} is a {type(t).__name__}, not a LangChain BaseTool; "
                "wrap plain functions with langchain_core.tools.tool first"
            )
    return [
        t
        if t.name == RETRIEVE_TOOL_NAME
        else compress_tool_output(
            t, model=model, config=config, query=query, keep_original_in_artifact=keep_original_in_artifact
        )
        for t in tools
    ]
