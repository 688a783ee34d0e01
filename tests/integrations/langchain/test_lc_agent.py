"""End to end: `create_agent` + `HeadroomMiddleware` with a tool returning 2,000 rows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from lc_fakes import scripted_model

from headroom_core import RETRIEVE_TOOL_NAME, parse_markers
from headroom_integrations.langchain import (
    HeadroomCallbackHandler,
    HeadroomMiddleware,
    count_message_tokens,
)

QUESTION = "Which orders failed yesterday? Give me their ids."


def orders_tool(rows: list[dict[str, Any]]):
    @tool
    def query_orders(day: str) -> str:
        """Return every order placed on `day` as JSON rows."""
        return json.dumps(rows)

    return query_orders


def _first_call(requests):
    yield AIMessage(
        content="", tool_calls=[{"name": "query_orders", "args": {"day": "yesterday"}, "id": "call_orders"}]
    )


def baseline_script(requests):
    yield from _first_call(requests)
    yield AIMessage(content="done")


def dropped_row(content: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A row whose id does not appear in the compressed tool output (so it was dropped)."""
    for row in rows[len(rows) // 2 :]:
        if row["order_id"] not in content:
            return row
    raise AssertionError("no row was dropped from the tool output")


def headroom_script(rows, picked: dict[str, Any]):
    def script(requests):
        yield from _first_call(requests)
        tool_message = requests[-1][-1]
        assert isinstance(tool_message, ToolMessage)
        markers = parse_markers(tool_message.content)
        assert markers, "the compressed tool output should carry a CCR marker"
        row = dropped_row(tool_message.content, rows)
        picked["row"] = row
        yield AIMessage(
            content="",
            tool_calls=[
                {
                    "name": RETRIEVE_TOOL_NAME,
                    "args": {"key": markers[0].key, "query": row["order_id"], "limit": 1},
                    "id": "call_retrieve",
                }
            ],
        )
        yield AIMessage(content=f"Found {row['order_id']}.")

    return script


def run_baseline(rows):
    model = scripted_model(baseline_script)
    agent = create_agent(model, [orders_tool(rows)])
    agent.invoke({"messages": [HumanMessage(QUESTION)]})
    return model


def test_second_request_is_80_percent_smaller_and_retrieve_returns_the_row(orders, hconfig):
    baseline = run_baseline(orders)
    picked: dict[str, Any] = {}
    model = scripted_model(headroom_script(orders, picked))
    middleware = HeadroomMiddleware(model="gpt-4o", config=hconfig)
    agent = create_agent(model, [orders_tool(orders)], middleware=[middleware])
    state = agent.invoke({"messages": [HumanMessage(QUESTION)]})

    before = count_message_tokens(baseline.requests[1])
    after = count_message_tokens(model.requests[1])
    assert after <= 0.2 * before, (before, after)

    # The model asked for a dropped row through the retrieve tool and got exactly that row.
    retrieved = [m for m in state["messages"] if isinstance(m, ToolMessage) and m.name == RETRIEVE_TOOL_NAME]
    assert len(retrieved) == 1
    assert json.loads(retrieved[0].content) == [picked["row"]]
    # The third request (what the model saw after retrieving) holds the row in full.
    assert json.dumps(picked["row"]) in model.requests[2][-1].content or json.loads(
        model.requests[2][-1].content
    ) == [picked["row"]]


def test_middleware_registers_the_retrieve_tool(hconfig):
    middleware = HeadroomMiddleware(config=hconfig)
    assert [t.name for t in middleware.tools] == [RETRIEVE_TOOL_NAME]
    assert HeadroomMiddleware(add_retrieve_tool=False).tools == []


def test_request_compression_is_ephemeral(orders, orders_json, hconfig):
    """Only the request is compressed: the agent state keeps the full tool result."""
    model = scripted_model(baseline_script)
    middleware = HeadroomMiddleware(model="gpt-4o", config=hconfig, compress_tool_results=False)
    agent = create_agent(model, [orders_tool(orders)], middleware=[middleware])
    state = agent.invoke({"messages": [HumanMessage(QUESTION)]})
    tool_messages = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert tool_messages[0].content == orders_json
    sent = model.requests[1][-1]
    assert isinstance(sent, ToolMessage) and sent.tool_call_id == "call_orders"
    assert len(sent.content) < len(orders_json) / 5
    # tool_calls of the AIMessage reach the model untouched
    assert model.requests[1][-2].tool_calls[0]["id"] == "call_orders"


def test_tool_results_enter_the_state_compressed(orders, orders_json, hconfig, store):
    model = scripted_model(baseline_script)
    middleware = HeadroomMiddleware(model="gpt-4o", config=hconfig, compress_requests=False)
    agent = create_agent(model, [orders_tool(orders)], middleware=[middleware])
    state = agent.invoke({"messages": [HumanMessage(QUESTION)]})
    tool_message = next(m for m in state["messages"] if isinstance(m, ToolMessage))
    assert tool_message.tool_call_id == "call_orders"
    assert len(tool_message.content) < len(orders_json) / 5
    info = tool_message.response_metadata["headroom"]
    assert info["tokens_after"] < info["tokens_before"]
    # nothing is lost: the original is in CCR
    from headroom_core import retrieve

    assert any(retrieve(k, store=store) == orders_json for k in info["ccr_keys"])


async def test_async_agent_compresses_too(orders, hconfig):
    baseline = run_baseline(orders)
    model = scripted_model(baseline_script)
    agent = create_agent(model, [orders_tool(orders)], middleware=[HeadroomMiddleware(config=hconfig)])
    await agent.ainvoke({"messages": [HumanMessage(QUESTION)]})
    assert count_message_tokens(model.requests[1]) <= 0.2 * count_message_tokens(baseline.requests[1])


@pytest.mark.parametrize("use_async", [False, True])
async def test_callback_handler_attached_to_an_agent(orders, hconfig, use_async):
    handler = HeadroomCallbackHandler()
    model = scripted_model(baseline_script)
    agent = create_agent(model, [orders_tool(orders)], middleware=[HeadroomMiddleware(config=hconfig)])
    inputs = {"messages": [HumanMessage(QUESTION)]}
    if use_async:
        await agent.ainvoke(inputs, config={"callbacks": [handler]})
    else:
        agent.invoke(inputs, config={"callbacks": [handler]})
    summary = handler.summary()
    assert summary["model_calls"] == 2
    # tokens sent per call are what the model actually received (after compression)
    assert [c["tokens_sent"] for c in summary["calls"]] == [count_message_tokens(r) for r in model.requests]
    assert summary["tools"]["query_orders"]["calls"] == 1
    assert summary["tokens_saved"] > 0
    assert summary["tools"]["query_orders"]["tokens_saved"] > 0
    assert summary["cost_usd"] > 0


def test_wrapped_tools_in_create_agent_without_middleware(orders, hconfig):
    """The tool post-processor alone: wrapped tool + retrieve tool, no middleware."""
    from headroom_integrations.langchain import HeadroomRetrieveTool, wrap_tools

    baseline = run_baseline(orders)
    picked: dict[str, Any] = {}
    model = scripted_model(headroom_script(orders, picked))
    tools = [
        *wrap_tools([orders_tool(orders)], config=hconfig),
        HeadroomRetrieveTool(headroom_config=hconfig),
    ]
    state = create_agent(model, tools).invoke({"messages": [HumanMessage(QUESTION)]})
    assert count_message_tokens(model.requests[1]) <= 0.2 * count_message_tokens(baseline.requests[1])
    tool_message = next(
        m for m in state["messages"] if isinstance(m, ToolMessage) and m.name == "query_orders"
    )
    assert tool_message.artifact["original"] == json.dumps(orders)
    retrieved = [m for m in state["messages"] if isinstance(m, ToolMessage) and m.name == RETRIEVE_TOOL_NAME]
    assert json.loads(retrieved[0].content) == [picked["row"]]


def test_middleware_reads_the_model_name_from_the_chat_model(orders, hconfig):
    model = scripted_model(baseline_script)
    model.model_name = "gpt-4o-mini"
    middleware = HeadroomMiddleware(config=hconfig)
    handler = HeadroomCallbackHandler()
    create_agent(model, [orders_tool(orders)], middleware=[middleware]).invoke(
        {"messages": [HumanMessage(QUESTION)]}, config={"callbacks": [handler]}
    )
    assert len(model.requests) == 2
    assert {c["model"] for c in handler.summary()["calls"]} == {"gpt-4o-mini"}


def test_system_prompt_stays_the_system_message(orders, store):
    from pathlib import Path

    from langchain_core.messages import SystemMessage

    from headroom_core import HeadroomConfig

    log = (Path(__file__).parents[2] / "fixtures" / "loghub_HDFS_2k.log").read_text()
    config = HeadroomConfig(ccr_store=store, compress_system_messages=True)
    model = scripted_model(baseline_script)
    agent = create_agent(
        model,
        [orders_tool(orders)],
        system_prompt=f"Known incidents:\n{log}",
        middleware=[HeadroomMiddleware(config=config)],
    )
    agent.invoke({"messages": [HumanMessage(QUESTION)]})
    first = model.requests[0]
    assert isinstance(first[0], SystemMessage) and first[0].content.startswith("Known incidents:")
    assert sum(isinstance(m, SystemMessage) for m in first) == 1
    assert len(first[0].content) < len(log)
    assert isinstance(first[1], HumanMessage) and first[1].content == QUESTION
