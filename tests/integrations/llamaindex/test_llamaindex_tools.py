"""headroom_retrieve as a LlamaIndex FunctionTool, and tools with compressed output."""

from __future__ import annotations

import pytest
from li_support import CONTEXT_TEMPLATE, FIXTURES
from llama_index.core.llms import MockLLM
from llama_index.core.tools import FunctionTool, QueryEngineTool, ToolOutput
from llama_index.core.workflow import Context

from headroom_core import (
    RETRIEVE_TOOL_DESCRIPTION,
    RETRIEVE_TOOL_PARAMETERS,
    compress_text,
    count_tokens,
    parse_markers,
)
from headroom_integrations.llamaindex import (
    HeadroomFunctionTool,
    HeadroomNodePostprocessor,
    HeadroomRetrieveArgs,
    HeadroomTool,
    compress_tool,
    headroom_retrieve_tool,
)

LOG = (FIXTURES / "loghub_HDFS_2k.log").read_text(encoding="utf-8")


def _stashed_key(config) -> tuple[str, str]:
    """A real CCR key: compress a real log with the engine and take its marker."""
    result = compress_text(LOG, query="PacketResponder exception", config=config)
    markers = parse_markers(result.text)
    assert markers, "the engine should have omitted part of a 2,000-line log"
    return markers[0].key, result.text


# --------------------------------------------------------------------------- headroom_retrieve


def test_retrieve_tool_metadata():
    tool = headroom_retrieve_tool()
    assert isinstance(tool, FunctionTool)
    assert tool.metadata.name == "headroom_retrieve"
    assert tool.metadata.fn_schema is HeadroomRetrieveArgs
    # The schema and description every Headroom retrieve tool shows a model.
    assert tool.metadata.get_parameters_dict() == RETRIEVE_TOOL_PARAMETERS
    assert tool.metadata.description == RETRIEVE_TOOL_DESCRIPTION


def test_retrieve_tool_returns_the_exact_original(ccr_config):
    key, _ = _stashed_key(ccr_config)
    tool = headroom_retrieve_tool(ccr_config, max_tokens=10**7)
    assert tool.call(key=key).content == LOG
    # Keys pasted with quotes or in upper case still work.
    assert tool.call(key=f'"{key.upper()}"').content == LOG


def test_retrieve_tool_query_and_limit(ccr_config):
    key, _ = _stashed_key(ccr_config)
    tool = headroom_retrieve_tool(ccr_config)
    out = tool.call(key=key, query="blk_-8775602795571523802", limit=5).content
    lines = out.splitlines()
    assert 1 <= len(lines) <= 5
    assert "8775602795571523802" in lines[0]


def test_retrieve_tool_unknown_key_is_a_clear_message(ccr_config):
    out = headroom_retrieve_tool(ccr_config).call(key="0123456789abcdef01234567")
    assert not out.is_error
    assert "No stored content" in out.content and "0123456789abcdef01234567" in out.content


def test_retrieve_tool_invalid_arguments_are_a_clear_message(ccr_config):
    tool = headroom_retrieve_tool(ccr_config)
    assert "is not a Headroom key" in tool.call(key="abc").content
    assert "`limit` must be" in tool.call(key="0123456789abcdef01234567", limit=0).content
    # A missing key is an answer the model can act on, not a TypeError (issue 10, defect 4).
    out = tool.call(query="anything")
    assert not out.is_error and "needs a `key`" in out.content


def test_retrieve_tool_query_without_match_says_so(ccr_config):
    key, _ = _stashed_key(ccr_config)
    out = headroom_retrieve_tool(ccr_config).call(key=key, query="zebra giraffe").content
    assert "matches the query" in out


async def test_retrieve_tool_async(ccr_config):
    key, _ = _stashed_key(ccr_config)
    out = await headroom_retrieve_tool(ccr_config).acall(key=key, limit=3)
    assert out.content == "\n".join(LOG.splitlines()[:3])


def test_retrieve_tool_caps_long_answers(ccr_config):
    key, _ = _stashed_key(ccr_config)
    tool = headroom_retrieve_tool(ccr_config, max_tokens=500)
    out = tool.call(key=key).content
    assert count_tokens(out) <= 500
    head, note = out.rsplit("\n", 1)
    assert LOG.startswith(head) and "answer capped at 500 tokens" in note and "query" in note
    # A narrow call that fits comes back whole.
    assert tool.call(key=key, limit=2).content == "\n".join(LOG.splitlines()[:2])


def test_retrieve_tool_rejects_bad_config():
    with pytest.raises(TypeError, match="HeadroomConfig"):
        headroom_retrieve_tool(config={"ccr": True})
    with pytest.raises(TypeError, match="CCRStore"):
        headroom_retrieve_tool(store=object())
    with pytest.raises(TypeError, match="max_tokens"):
        headroom_retrieve_tool(max_tokens=0)


# --------------------------------------------------------------------------- compressed tools


def read_hdfs_log(query: str) -> str:
    """Read the HDFS datanode log and return it whole."""
    return LOG


def test_compressed_tool_keeps_name_and_schema_and_shrinks_output(ccr_config):
    tool = FunctionTool.from_defaults(fn=read_hdfs_log)
    wrapped = compress_tool(tool, config=ccr_config)
    assert isinstance(wrapped, HeadroomFunctionTool) and isinstance(wrapped, FunctionTool)
    assert wrapped.metadata is tool.metadata
    assert wrapped.metadata.get_parameters_dict() == tool.metadata.get_parameters_dict()

    out = wrapped.call(query="PacketResponder exception")
    assert isinstance(out, ToolOutput) and out.tool_name == "read_hdfs_log"
    assert count_tokens(out.content) < count_tokens(LOG) / 2
    assert out.raw_output == LOG  # code still gets the real value
    markers = parse_markers(out.content)
    assert markers
    back = headroom_retrieve_tool(ccr_config, max_tokens=10**7).call(key=markers[0].key).content
    assert back in LOG and len(back) > len(out.content) / 2


async def test_compressed_tool_async_path(ccr_config):
    async def read_log_async(query: str) -> str:
        """Read the log (async)."""
        return LOG

    wrapped = compress_tool(FunctionTool.from_defaults(async_fn=read_log_async), config=ccr_config)
    out = await wrapped.acall(query="exception")
    assert count_tokens(out.content) < count_tokens(LOG)
    assert parse_markers(out.content)


def test_small_outputs_pass_through(ccr_config):
    def lookup(name: str) -> str:
        """Look up a short fact."""
        return f"{name} is 42"

    out = compress_tool(FunctionTool.from_defaults(fn=lookup), config=ccr_config).call(name="answer")
    assert out.content == "answer is 42"


def test_context_parameter_and_errors_are_preserved(ccr_config):
    def needs_context(ctx: Context, path: str) -> str:
        """A tool that uses the workflow context."""
        raise FileNotFoundError(path)

    needs_context.__annotations__["ctx"] = Context  # a class, not the postponed string
    tool = FunctionTool.from_defaults(fn=needs_context)
    wrapped = compress_tool(tool, config=ccr_config)
    assert wrapped.requires_context and wrapped.ctx_param_name == tool.ctx_param_name == "ctx"
    with pytest.raises(FileNotFoundError):
        wrapped.call(ctx=None, path="/missing")


def test_any_tool_can_be_wrapped(vector_index, ccr_config):
    engine = vector_index.as_query_engine(
        llm=MockLLM(),
        similarity_top_k=200,
        text_qa_template=CONTEXT_TEMPLATE,
        node_postprocessors=[HeadroomNodePostprocessor(token_budget=600, config=ccr_config)],
    )
    tool = QueryEngineTool.from_defaults(engine, name="python_docs", description="Python and find(1) docs")
    wrapped = compress_tool(tool, config=ccr_config)
    assert isinstance(wrapped, HeadroomTool)
    assert wrapped.metadata.name == "python_docs"
    assert wrapped.metadata.fn_schema is tool.metadata.fn_schema
    raw = tool.call(input="What is a namespace?").content
    out = wrapped.call(input="What is a namespace?").content
    assert count_tokens(out) <= count_tokens(raw)


def test_compress_tool_rejects_non_tools():
    with pytest.raises(TypeError, match="LlamaIndex tool"):
        compress_tool(read_hdfs_log)


def test_disk_store_round_trip_through_postprocessor_and_tool(disk_config, real_paragraphs):
    """The default kind of store (SQLite in a directory), shared by a fresh tool instance."""
    from llama_index.core.schema import NodeWithScore, TextNode

    nodes = [
        NodeWithScore(node=TextNode(id_=f"p{i}", text=t), score=0.5)
        for i, t in enumerate(real_paragraphs[:30])
    ]
    fit = HeadroomNodePostprocessor(token_budget=300, config=disk_config).fit(nodes, "namespace")
    assert fit.omitted_key is not None
    same_dir = disk_config.with_(ccr_store=None)  # a new config object pointing at the same directory
    back = headroom_retrieve_tool(same_dir).call(key=fit.omitted_key).content
    for omitted in fit.omitted:
        assert real_paragraphs[int(omitted.node_id[1:])] in back
