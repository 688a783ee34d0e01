"""HeadroomMiddleware next to LangChain's own ContextEditingMiddleware and SummarizationMiddleware.

Their output ("[cleared]" placeholders, the summary message) reaches the model exactly as they
wrote it: Headroom never recompresses what another context manager already decided on.
"""

from __future__ import annotations

import json

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import ClearToolUsesEdit, ContextEditingMiddleware, SummarizationMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from lc_fakes import make_orders, scripted_model

from headroom_core import HeadroomConfig, MemoryCCRStore
from headroom_integrations.langchain import HeadroomMiddleware, compress_messages

ROWS = json.dumps(make_orders(400))
# A summary long and repetitive enough that Headroom would compress it if it were allowed to.
SUMMARY = "\n".join(
    f"2024-05-01 10:{i % 60:02d}:00 INFO step {i}: the agent listed orders and found nothing new"
    for i in range(300)
)


@tool
def list_orders(day: str) -> str:
    """Every order of `day`, as JSON rows."""
    return ROWS


def _calls(n: int):
    def script(requests):
        for i in range(n):
            yield AIMessage(
                "", tool_calls=[{"name": "list_orders", "args": {"day": f"d{i}"}, "id": f"call-{i}"}]
            )
        yield AIMessage("done")

    return script


def _config() -> HeadroomConfig:
    # compress_user_messages: the summary is a user message; it must still be left alone.
    return HeadroomConfig(ccr_store=MemoryCCRStore(), compress_user_messages=True)


def test_cleared_placeholders_reach_the_model_untouched():
    model = scripted_model(_calls(3))
    editing = ContextEditingMiddleware(
        edits=[ClearToolUsesEdit(trigger=2000, keep=1, placeholder="[cleared]")]
    )
    agent = create_agent(
        model,
        [list_orders],
        middleware=[editing, HeadroomMiddleware(config=_config(), compress_tool_results=False)],
    )
    agent.invoke({"messages": [HumanMessage("Which orders failed this week?")]})
    last = model.requests[-1]
    tool_contents = [m.content for m in last if isinstance(m, ToolMessage)]
    assert tool_contents[:-1] == ["[cleared]"] * (len(tool_contents) - 1)
    assert len(tool_contents) == 3
    cleared = [m for m in last if isinstance(m, ToolMessage) and m.content == "[cleared]"]
    assert all(m.response_metadata["context_editing"]["cleared"] for m in cleared)


def test_a_cleared_message_is_never_recompressed_even_when_large():
    big_placeholder = ToolMessage(
        ROWS,
        tool_call_id="c1",
        response_metadata={"context_editing": {"cleared": True, "strategy": "clear_tool_uses"}},
    )
    ordinary = ToolMessage(ROWS, tool_call_id="c2")
    messages = [
        HumanMessage("Which orders failed?"),
        AIMessage("", tool_calls=[{"name": "list_orders", "args": {}, "id": "c1"}]),
        big_placeholder,
        AIMessage("", tool_calls=[{"name": "list_orders", "args": {}, "id": "c2"}]),
        ordinary,
    ]
    out = compress_messages(messages, config=_config()).messages
    assert out[2] is big_placeholder
    assert len(out[4].content) < len(ROWS) / 3  # the same text without the flag is compressed


def test_summary_message_reaches_the_model_untouched():
    summarizer = GenericFakeChatModel(messages=iter([AIMessage(SUMMARY)] * 5))
    summarization = SummarizationMiddleware(summarizer, trigger=("messages", 6), keep=("messages", 2))
    model = scripted_model(_calls(4))
    agent = create_agent(
        model, [list_orders], middleware=[summarization, HeadroomMiddleware(config=_config())]
    )
    agent.invoke({"messages": [HumanMessage("Which orders failed this week?")]})
    summaries = [
        m
        for request in model.requests
        for m in request
        if isinstance(m, HumanMessage) and m.additional_kwargs.get("lc_source") == "summarization"
    ]
    assert summaries, "the summarization middleware should have run"
    assert all(m.content.endswith(SUMMARY) for m in summaries)


@pytest.mark.parametrize("compress_tool_results", [True, False])
def test_both_middlewares_together(compress_tool_results):
    summarizer = GenericFakeChatModel(messages=iter([AIMessage(SUMMARY)] * 5))
    model = scripted_model(_calls(5))
    agent = create_agent(
        model,
        [list_orders],
        middleware=[
            SummarizationMiddleware(summarizer, trigger=("messages", 8), keep=("messages", 4)),
            ContextEditingMiddleware(edits=[ClearToolUsesEdit(trigger=1500, keep=1)]),
            HeadroomMiddleware(config=_config(), compress_tool_results=compress_tool_results),
        ],
    )
    state = agent.invoke({"messages": [HumanMessage("Which orders failed this week?")]})
    assert state["messages"][-1].content == "done"
    for request in model.requests:
        for m in request:
            if isinstance(m, ToolMessage) and m.response_metadata.get("context_editing", {}).get("cleared"):
                assert m.content == "[cleared]"
            if m.additional_kwargs.get("lc_source") == "summarization":
                # A later summary may be LangChain's own fallback sentence; either way, as written.
                assert "[headroom" not in m.content
                assert m.content.endswith(SUMMARY) or m.content.endswith("too long to summarize.")
