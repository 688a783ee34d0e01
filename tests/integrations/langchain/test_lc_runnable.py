"""`HeadroomRunnable` in LCEL: invoke, async, batch, stream, tracing and config fields."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.tracers.context import collect_runs
from lc_fakes import RecordingFakeChatModel

from headroom_core import retrieve
from headroom_integrations.langchain import HeadroomCallbackHandler, HeadroomRunnable, count_message_tokens

PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "You answer questions about orders."),
        MessagesPlaceholder("history"),
        ("human", "{question}"),
    ]
)


def history(orders_json: str) -> list:
    return [
        HumanMessage("load yesterday's orders"),
        AIMessage("", tool_calls=[{"name": "query_orders", "args": {}, "id": "c1"}]),
        ToolMessage(orders_json, tool_call_id="c1"),
    ]


def inputs(orders_json: str) -> dict:
    return {"history": history(orders_json), "question": "Which orders failed?"}


def test_chain_prompt_runnable_model(orders_json, hconfig):
    llm = RecordingFakeChatModel(messages=iter([AIMessage("ORD-00013 failed")]))
    chain = PROMPT | HeadroomRunnable(model="gpt-4o", headroom_config=hconfig) | llm
    answer = chain.invoke(inputs(orders_json))
    assert answer.content == "ORD-00013 failed"
    sent = llm.requests[0]
    full = PROMPT.invoke(inputs(orders_json)).to_messages()
    assert count_message_tokens(sent) < 0.2 * count_message_tokens(full)
    assert sent[2].tool_calls[0]["id"] == "c1" and sent[3].tool_call_id == "c1"


def test_invoke_batch_stream_agree(orders_json, hconfig):
    runnable = HeadroomRunnable(headroom_config=hconfig)
    prompt_value = PROMPT.invoke(inputs(orders_json))
    single = runnable.invoke(prompt_value)
    assert runnable.batch([prompt_value, prompt_value]) == [single, single]
    assert list(runnable.stream(prompt_value)) == [single]


async def test_async_variants(orders_json, hconfig):
    runnable = HeadroomRunnable(headroom_config=hconfig)
    prompt_value = PROMPT.invoke(inputs(orders_json))
    single = runnable.invoke(prompt_value)
    assert await runnable.ainvoke(prompt_value) == single
    assert await runnable.abatch([prompt_value, prompt_value]) == [single, single]
    assert [chunk async for chunk in runnable.astream(prompt_value)] == [single]


def test_shows_up_as_its_own_run(orders_json, hconfig):
    chain = PROMPT | HeadroomRunnable(headroom_config=hconfig)
    with collect_runs() as collector:
        chain.invoke(inputs(orders_json))
    root = collector.traced_runs[0]
    names = [child.name for child in root.child_runs]
    assert "HeadroomRunnable" in names
    run = next(c for c in root.child_runs if c.name == "HeadroomRunnable")
    assert isinstance(run.outputs["output"], ChatPromptValue)


def test_reports_savings_to_the_callback_handler(orders_json, hconfig, store):
    handler = HeadroomCallbackHandler()
    out = HeadroomRunnable(headroom_config=hconfig).invoke(
        PROMPT.invoke(inputs(orders_json)), config={"callbacks": [handler]}
    )
    summary = handler.summary()
    assert summary["compressions"] == 1
    assert summary["tokens_saved_by_source"]["runnable"] == summary["tokens_saved"] > 0
    # and what was dropped can be fetched back
    from headroom_core import parse_markers

    key = parse_markers(out.messages[-2].content)[0].key
    assert retrieve(key, store=store) == orders_json


def test_config_fields(orders_json, hconfig):
    prompt_value = PROMPT.invoke(inputs(orders_json))
    off = HeadroomRunnable(headroom_config=hconfig, compress_tool_outputs=False).invoke(prompt_value)
    assert off.messages[3].content == orders_json
    no_json = HeadroomRunnable(headroom_config=hconfig, disabled_compressors=["smart_crusher", "json"])
    assert no_json.invoke(prompt_value).messages[3].content == orders_json
    assert (
        HeadroomRunnable(compress_user_messages=True, headroom_config=hconfig)
        .effective_config()
        .compress_user_messages
    )


def test_token_budget_field(orders_json, hconfig):
    budget = 600
    out = HeadroomRunnable(headroom_config=hconfig, token_budget=budget).invoke(
        PROMPT.invoke(inputs(orders_json))
    )
    assert count_message_tokens(out.messages) <= budget
    assert out.messages[-1].content == "Which orders failed?"


def test_serializable_fields():
    runnable = HeadroomRunnable(model="gpt-4o-mini", token_budget=1000, disabled_compressors=["prose"])
    data = runnable.to_json()
    assert data["kwargs"]["model"] == "gpt-4o-mini" and data["kwargs"]["token_budget"] == 1000


def test_streaming_through_a_chain(orders_json, hconfig):
    llm = RecordingFakeChatModel(messages=iter([AIMessage("ORD-00013 failed")]))
    chain = PROMPT | HeadroomRunnable(headroom_config=hconfig) | llm
    chunks = list(chain.stream(inputs(orders_json)))
    assert "".join(c.content for c in chunks) == "ORD-00013 failed"
    assert len(llm.requests[0][3].content) < len(orders_json) / 5


@pytest.mark.filterwarnings("ignore:The function `load` is in beta")
def test_round_trips_through_langchain_serialization():
    from langchain_core.load import dumpd, load

    runnable = HeadroomRunnable(model="gpt-4o-mini", token_budget=1000, compress_user_messages=True)
    restored = load(
        dumpd(runnable), valid_namespaces=["headroom_integrations"], allowed_objects=[HeadroomRunnable]
    )
    assert restored == runnable
