"""Prefix stability through every LangChain adapter (issue 11 section 1).

A provider caches the longest byte-identical prefix of a request. In a 10-turn agent run
(a new question each turn, a large tool output each turn), request N+1 must begin with
request N's messages, byte for byte after JSON serialisation, whichever adapter compresses:
`HeadroomRunnable`, `HeadroomMiddleware` (request and tool-result compression) and the
LangGraph node (persistent and pre-model-hook modes).
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    ToolMessage,
    convert_to_openai_messages,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from lc_fakes import RecordingFakeChatModel, scripted_model

from headroom_core import HeadroomConfig, MemoryCCRStore
from headroom_integrations.langchain import HeadroomMessagesNode, HeadroomMiddleware, HeadroomRunnable
from tests.integrations.prefix_support import (
    TURNS,
    assert_compressed,
    assert_prefix_stable,
    question,
    serialise,
    source_of,
    tool_output,
)


@tool
def fetch(source: str) -> str:
    """Fetch a data source by name (orders-N or log-N)."""
    return tool_output(source)


def requests_of(model: RecordingFakeChatModel) -> list[list[str]]:
    """Each request as the provider receives it (OpenAI format), one JSON text per message."""
    return [serialise(convert_to_openai_messages(request)) for request in model.requests]


def check(model: RecordingFakeChatModel) -> None:
    assert_prefix_stable(requests_of(model))
    last = model.requests[-1]
    assert_compressed([m.content for m in last if isinstance(m, ToolMessage)], TURNS)


def config() -> HeadroomConfig:
    return HeadroomConfig(ccr_store=MemoryCCRStore())


def tool_turn(turn: int) -> list[BaseMessage]:
    call_id = f"call-{turn}"
    return [
        HumanMessage(question(turn)),
        AIMessage("", tool_calls=[{"name": "fetch", "args": {"source": source_of(turn)}, "id": call_id}]),
        ToolMessage(tool_output(source_of(turn)), tool_call_id=call_id, name="fetch"),
    ]


# --------------------------------------------------------------------------- HeadroomRunnable


def test_runnable_in_an_lcel_chain_keeps_the_prefix():
    model = RecordingFakeChatModel(messages=iter([AIMessage(f"answer {t}") for t in range(TURNS)]))
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You answer questions about orders and logs."), MessagesPlaceholder("history")]
    )
    chain = prompt | HeadroomRunnable(model="gpt-4o", headroom_config=config()) | model
    history: list[BaseMessage] = []
    for turn in range(TURNS):
        history.extend(tool_turn(turn))
        history.append(chain.invoke({"history": history}))
    check(model)


# --------------------------------------------------------------------------- HeadroomMiddleware


def agent_script(requests: list[list[BaseMessage]]):
    for turn in range(TURNS):
        yield AIMessage(
            "", tool_calls=[{"name": "fetch", "args": {"source": source_of(turn)}, "id": f"c{turn}"}]
        )
        yield AIMessage(f"answer {turn}")


@pytest.mark.parametrize(
    ("compress_requests", "compress_tool_results"),
    [(True, False), (False, True), (True, True)],
    ids=["requests", "tool-results", "both"],
)
def test_middleware_agent_keeps_the_prefix(compress_requests, compress_tool_results):
    model = scripted_model(agent_script)
    middleware = HeadroomMiddleware(
        model="gpt-4o",
        config=config(),
        compress_requests=compress_requests,
        compress_tool_results=compress_tool_results,
    )
    agent = create_agent(
        model,
        [fetch],
        system_prompt="You answer questions about orders and logs.",
        middleware=[middleware],
        checkpointer=InMemorySaver(),
    )
    thread = {"configurable": {"thread_id": "prefix"}}
    for turn in range(TURNS):
        agent.invoke({"messages": [HumanMessage(question(turn))]}, thread)
    assert len(model.requests) == 2 * TURNS
    check(model)


# --------------------------------------------------------------------------- LangGraph node


class _State(MessagesState):
    llm_input_messages: list[Any]


def _graph(model: RecordingFakeChatModel, node: HeadroomMessagesNode):
    def call_model(state: dict[str, Any]) -> dict[str, Any]:
        messages = state.get("llm_input_messages") or state["messages"]
        return {"messages": [model.invoke(messages)], "llm_input_messages": []}

    builder = StateGraph(_State)
    builder.add_node("compress", node)
    builder.add_node("agent", call_model)
    builder.add_node("tools", ToolNode([fetch]))
    builder.add_edge(START, "compress")
    builder.add_edge("compress", "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "compress")
    return builder.compile(checkpointer=InMemorySaver())


@pytest.mark.parametrize(
    "output_key", ["messages", "llm_input_messages"], ids=["persistent", "pre-model-hook"]
)
def test_langgraph_node_keeps_the_prefix(output_key):
    model = scripted_model(agent_script)
    graph = _graph(model, HeadroomMessagesNode("gpt-4o", config=config(), output_key=output_key))
    thread = {"configurable": {"thread_id": "prefix"}}
    for turn in range(TURNS):
        graph.invoke({"messages": [HumanMessage(question(turn))]}, thread)
    assert len(model.requests) == 2 * TURNS
    check(model)
