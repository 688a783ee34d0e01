"""The retrieve tool and wrapped (compressed) tools: standard suites and behaviour."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool, InjectedToolCallId, tool
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from lc_fakes import make_orders

from headroom_core import (
    RETRIEVE_TOOL_NAME,
    HeadroomConfig,
    MemoryCCRStore,
    count_tokens,
    parse_markers,
    retrieve,
)
from headroom_core._answer import DEFAULT_ANSWER_MAX_TOKENS
from headroom_core._ccr import stash
from headroom_integrations.langchain import (
    HeadroomCompressedTool,
    HeadroomRetrieveTool,
    compress_tool_output,
    wrap_tools,
)

SUITE_STORE = MemoryCCRStore()
SUITE_CONFIG = HeadroomConfig(ccr_store=SUITE_STORE)
ORDERS = make_orders(400)
ORDERS_JSON = json.dumps(ORDERS)
SUITE_KEY = stash(SUITE_STORE, ORDERS_JSON, "json", paths=[[]])


@tool
def query_orders(day: str) -> str:
    """Return every order placed on `day` as JSON rows."""
    return ORDERS_JSON


@tool(response_format="content_and_artifact")
def query_orders_with_artifact(day: str) -> tuple[str, dict[str, Any]]:
    """Return orders, with the row count as an artifact."""
    return ORDERS_JSON, {"rows": len(ORDERS)}


# ----------------------------------------------------------------------------- standard suites


class TestRetrieveToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[HeadroomRetrieveTool]:
        return HeadroomRetrieveTool

    @property
    def tool_constructor_params(self) -> dict:
        return {"headroom_config": SUITE_CONFIG}

    @property
    def tool_invoke_params_example(self) -> dict:
        return {"key": SUITE_KEY, "query": "ORD-00042", "limit": 1}


class TestRetrieveToolIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[HeadroomRetrieveTool]:
        return HeadroomRetrieveTool

    @property
    def tool_constructor_params(self) -> dict:
        return {"headroom_config": SUITE_CONFIG}

    @property
    def tool_invoke_params_example(self) -> dict:
        return {"key": SUITE_KEY}


class TestWrappedToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> BaseTool:
        return compress_tool_output(query_orders, config=SUITE_CONFIG)

    @property
    def tool_invoke_params_example(self) -> dict:
        return {"day": "2024-05-01"}


class TestWrappedToolIntegration(ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> BaseTool:
        return compress_tool_output(query_orders, config=SUITE_CONFIG)

    @property
    def tool_invoke_params_example(self) -> dict:
        return {"day": "2024-05-01"}


# ----------------------------------------------------------------------------- retrieve tool


def test_retrieve_tool_returns_the_exact_original(hconfig, store):
    key = stash(store, ORDERS_JSON, "json", paths=[[]])
    t = HeadroomRetrieveTool(headroom_config=hconfig, max_tokens=10**7)
    assert t.name == RETRIEVE_TOOL_NAME
    assert t.invoke({"key": key}) == ORDERS_JSON
    assert json.loads(t.invoke({"key": key, "query": "ORD-00321", "limit": 1})) == [ORDERS[321]]


def test_retrieve_tool_caps_answers_by_default(hconfig, store):
    key = stash(store, ORDERS_JSON, "json", paths=[[]])
    out = HeadroomRetrieveTool(headroom_config=hconfig).invoke({"key": key})
    assert count_tokens(out) <= DEFAULT_ANSWER_MAX_TOKENS < count_tokens(ORDERS_JSON)
    assert "answer capped" in out and "query" in out


def test_retrieve_tool_unknown_key_is_a_clear_message(hconfig):
    out = HeadroomRetrieveTool(headroom_config=hconfig).invoke({"key": "0" * 24})
    assert "unknown" in out and "expired" in out


def test_retrieve_tool_no_match(hconfig, store):
    key = stash(store, "alpha\nbeta\n", "text", unit="line")
    out = HeadroomRetrieveTool(headroom_config=hconfig).invoke({"key": key, "query": "gamma"})
    assert "matches" in out and "without `query`" in out


def test_retrieve_tool_on_a_disk_store(disk_config):
    from headroom_core._ccr import store_for

    key = stash(store_for(disk_config), "stored on disk", "text", unit="line")
    assert HeadroomRetrieveTool(headroom_config=disk_config).invoke({"key": key}) == "stored on disk"


def test_retrieve_tool_answers_bad_arguments_instead_of_raising(hconfig):
    tool = HeadroomRetrieveTool(headroom_config=hconfig)
    assert "`limit` must be a whole number" in tool.invoke({"key": "ab" * 12, "limit": 0})
    assert "needs a `key`" in tool.invoke({"query": "x"})


# ----------------------------------------------------------------------------- wrapped tools


def test_wrapped_tool_keeps_name_description_schema(hconfig):
    wrapped = compress_tool_output(query_orders, config=hconfig)
    assert isinstance(wrapped, HeadroomCompressedTool)
    assert (wrapped.name, wrapped.description) == (query_orders.name, query_orders.description)
    assert wrapped.tool_call_schema.model_json_schema() == query_orders.tool_call_schema.model_json_schema()
    assert compress_tool_output(wrapped) is wrapped


def test_wrapped_tool_with_a_tool_call(hconfig, store):
    wrapped = compress_tool_output(query_orders, config=hconfig)
    message = wrapped.invoke({"type": "tool_call", "name": "query_orders", "args": {"day": "x"}, "id": "c1"})
    assert isinstance(message, ToolMessage) and message.tool_call_id == "c1"
    assert len(message.content) < len(ORDERS_JSON) / 5
    # the original rides in the artifact (never sent to the model) and is in CCR
    assert message.artifact["original"] == ORDERS_JSON
    assert any(retrieve(k, store=store) == ORDERS_JSON for k in message.artifact["ccr_keys"])
    key = parse_markers(message.content)[0].key
    assert key in message.artifact["ccr_keys"]


def test_wrapped_tool_plain_args(hconfig):
    out = compress_tool_output(query_orders, config=hconfig).invoke({"day": "x"})
    assert isinstance(out, str) and len(out) < len(ORDERS_JSON) / 5


async def test_wrapped_tool_async(hconfig):
    wrapped = compress_tool_output(query_orders, config=hconfig)
    sync = wrapped.invoke({"day": "x"})
    assert await wrapped.ainvoke({"day": "x"}) == sync


def test_wrapped_tool_keeps_the_wrapped_artifact(hconfig):
    wrapped = compress_tool_output(query_orders_with_artifact, config=hconfig)
    message = wrapped.invoke({"type": "tool_call", "name": wrapped.name, "args": {"day": "x"}, "id": "c2"})
    assert message.artifact == {"rows": len(ORDERS)}
    assert len(message.content) < len(ORDERS_JSON) / 5


def test_small_outputs_pass_through(hconfig):
    @tool
    def ping(host: str) -> str:
        """Ping a host."""
        return f"{host} is up"

    assert compress_tool_output(ping, config=hconfig).invoke({"host": "db1"}) == "db1 is up"


def test_non_string_outputs_are_serialized(hconfig):
    @tool
    def rows(n: int) -> list:
        """Return n rows."""
        return ORDERS[:n]

    out = compress_tool_output(rows, config=hconfig).invoke({"n": 400})
    assert isinstance(out, str) and "ORD-00000" in out and len(out) < len(ORDERS_JSON) / 5


def test_injected_tool_call_id_still_arrives(hconfig):
    @tool
    def echo_id(day: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> str:
        """Echo the call id."""
        return f"{day}:{tool_call_id}"

    wrapped = compress_tool_output(echo_id, config=hconfig)
    assert "tool_call_id" not in wrapped.tool_call_schema.model_json_schema()["properties"]
    message = wrapped.invoke({"type": "tool_call", "name": "echo_id", "args": {"day": "mon"}, "id": "abc"})
    assert message.content.startswith("mon:")


def test_wrap_tools_leaves_the_retrieve_tool_alone(hconfig):
    retrieve_tool = HeadroomRetrieveTool(headroom_config=hconfig)
    wrapped = wrap_tools([query_orders, retrieve_tool], config=hconfig)
    assert isinstance(wrapped[0], HeadroomCompressedTool) and wrapped[1] is retrieve_tool


def test_wrap_rejects_plain_functions():
    with pytest.raises(TypeError, match="BaseTool"):
        compress_tool_output(lambda: "x")  # type: ignore[arg-type]


def test_wrapped_tool_in_a_langgraph_tool_node(hconfig):
    builder = StateGraph(MessagesState)
    builder.add_node("tools", ToolNode(wrap_tools([query_orders], config=hconfig)))
    builder.add_edge(START, "tools")
    graph = builder.compile()
    call = AIMessage("", tool_calls=[{"name": "query_orders", "args": {"day": "x"}, "id": "c7"}])
    out = graph.invoke({"messages": [call]})
    message = out["messages"][-1]
    assert message.tool_call_id == "c7" and message.name == "query_orders"
    assert len(message.content) < len(ORDERS_JSON) / 5
    assert parse_markers(message.content)


def test_tool_errors_stay_errors(hconfig):
    from langchain_core.tools import ToolException

    @tool
    def flaky(day: str) -> str:
        """Always fails."""
        raise ToolException(f"no data for {day}")

    flaky.handle_tool_error = True
    wrapped = compress_tool_output(flaky, config=hconfig)
    message = wrapped.invoke({"type": "tool_call", "name": "flaky", "args": {"day": "mon"}, "id": "e1"})
    assert message.status == "error" and "no data for mon" in message.content

    @tool
    def strict(day: str) -> str:
        """Always fails, unhandled."""
        raise ToolException("boom")

    with pytest.raises(ToolException, match="boom"):
        compress_tool_output(strict, config=hconfig).invoke({"day": "x"})


def test_content_block_outputs_are_compressed_block_by_block(hconfig):
    @tool
    def report(day: str) -> list:
        """Return a report as content blocks."""
        return [{"type": "text", "text": ORDERS_JSON}, {"type": "text", "text": "end of report"}]

    message = compress_tool_output(report, config=hconfig).invoke(
        {"type": "tool_call", "name": "report", "args": {"day": "x"}, "id": "b1"}
    )
    assert isinstance(message.content, list) and len(message.content) == 2
    assert message.content[1] == {"type": "text", "text": "end of report"}
    assert len(message.content[0]["text"]) < len(ORDERS_JSON) / 5
