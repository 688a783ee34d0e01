"""LangGraph node / pre-model hook, and the callback handler on its own."""

from __future__ import annotations

from uuid import uuid4

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langgraph.graph import END, START, MessagesState, StateGraph
from lc_fakes import RecordingFakeChatModel

from headroom_integrations.langchain import (
    HeadroomCallbackHandler,
    HeadroomMessagesNode,
    count_message_tokens,
    headroom_pre_model_hook,
)


def turn(orders_json: str) -> list:
    return [
        HumanMessage("which orders failed?", id="h1"),
        AIMessage("", tool_calls=[{"name": "query_orders", "args": {}, "id": "c1"}], id="a1"),
        ToolMessage(orders_json, tool_call_id="c1", id="t1"),
    ]


def graph_with(node, model):
    def agent(state: MessagesState) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("compress", node)
    builder.add_node("agent", agent)
    builder.add_edge(START, "compress")
    builder.add_edge("compress", "agent")
    builder.add_edge("agent", END)
    return builder.compile()


def test_node_replaces_the_messages_channel(orders_json, hconfig):
    model = RecordingFakeChatModel(messages=iter([AIMessage("ORD-00013")]))
    graph = graph_with(HeadroomMessagesNode(config=hconfig), model)
    state = graph.invoke({"messages": turn(orders_json)})
    assert [m.id for m in state["messages"][:3]] == ["h1", "a1", "t1"]
    assert len(state["messages"]) == 4
    assert len(state["messages"][2].content) < len(orders_json) / 5
    assert state["messages"][1].tool_calls[0]["id"] == "c1"
    assert count_message_tokens(model.requests[0]) < 0.2 * count_message_tokens(turn(orders_json))


async def test_node_async_graph(orders_json, hconfig):
    model = RecordingFakeChatModel(messages=iter([AIMessage("ok")]))
    graph = graph_with(HeadroomMessagesNode(config=hconfig), model)
    state = await graph.ainvoke({"messages": turn(orders_json)})
    assert len(state["messages"][2].content) < len(orders_json) / 5


def test_node_leaves_small_conversations_alone(hconfig):
    node = HeadroomMessagesNode(config=hconfig)
    assert node({"messages": [HumanMessage("hi")]}) == {}


def test_pre_model_hook_is_ephemeral(orders_json, hconfig):
    hook = headroom_pre_model_hook(config=hconfig)
    update = hook({"messages": turn(orders_json)})
    assert set(update) == {"llm_input_messages"}
    assert len(update["llm_input_messages"][2].content) < len(orders_json) / 5


def test_node_errors_clearly(hconfig):
    with pytest.raises(KeyError, match="messages"):
        HeadroomMessagesNode(config=hconfig)({"other": []})
    with pytest.raises(TypeError):
        HeadroomMessagesNode(config={"not": "a config"})  # type: ignore[arg-type]


def test_handler_reads_usage_metadata_and_prices_it():
    handler = HeadroomCallbackHandler(pricing={"gpt-4o": (2.0, 8.0)})
    run_id = uuid4()
    handler.on_chat_model_start(
        {"kwargs": {"model_name": "gpt-4o"}},
        [[HumanMessage("hello there")]],
        run_id=run_id,
        invocation_params={"model": "gpt-4o"},
    )
    message = AIMessage(
        "hi", usage_metadata={"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500}
    )
    handler.on_llm_end(LLMResult(generations=[[ChatGeneration(message=message)]]), run_id=run_id)
    summary = handler.summary()
    assert summary["models"]["gpt-4o"]["input_tokens"] == 1000
    assert summary["models"]["gpt-4o"]["output_tokens"] == 500
    assert summary["cost_usd"] == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6)
    assert summary["tokens_sent"] == count_message_tokens([HumanMessage("hello there")])
    handler.reset()
    assert handler.summary()["model_calls"] == 0


def test_handler_counts_tool_errors_and_ignores_foreign_events():
    handler = HeadroomCallbackHandler()
    run_id = uuid4()
    handler.on_tool_start({"name": "grep"}, "x", run_id=run_id)
    handler.on_tool_error(RuntimeError("boom"), run_id=run_id)
    handler.on_custom_event("something_else", {"tokens_before": 10, "tokens_after": 1}, run_id=uuid4())
    summary = handler.summary()
    assert summary["tools"]["grep"] == {"calls": 1, "errors": 1, "output_tokens": 0, "tokens_saved": 0}
    assert summary["tokens_saved"] == 0


def test_unknown_model_has_no_price_but_still_counts():
    handler = HeadroomCallbackHandler()
    run_id = uuid4()
    handler.on_chat_model_start(
        {}, [[HumanMessage("hello")]], run_id=run_id, invocation_params={"model": "my-local-llm"}
    )
    handler.on_llm_end(LLMResult(generations=[[ChatGeneration(message=AIMessage("x"))]]), run_id=run_id)
    summary = handler.summary()
    assert summary["models"]["my-local-llm"]["calls"] == 1 and summary["cost_usd"] == 0
    assert summary["tokens_sent"] > 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_pre_model_hook_in_create_react_agent(orders_json, hconfig):
    import warnings

    from langchain_core.tools import tool

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langgraph.prebuilt import create_react_agent

    @tool
    def query_orders(day: str) -> str:
        """Return the orders of a day."""
        return orders_json

    from lc_fakes import RecordingFakeChatModel as Model

    model = Model(
        messages=iter(
            [
                AIMessage("", tool_calls=[{"name": "query_orders", "args": {"day": "x"}, "id": "c1"}]),
                AIMessage("done"),
            ]
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agent = create_react_agent(
            model, [query_orders], pre_model_hook=headroom_pre_model_hook(config=hconfig)
        )
    state = agent.invoke({"messages": [HumanMessage("which orders failed?")]})
    # the model saw the compressed copy, the state kept the original
    assert len(model.requests[1][-1].content) < len(orders_json) / 5
    assert next(m for m in state["messages"] if isinstance(m, ToolMessage)).content == orders_json
