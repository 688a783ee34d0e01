"""Conversion between LangChain messages and the engine's model, through `HeadroomRunnable`."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from langchain_core.messages import (
    AIMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.prompts import ChatPromptTemplate

from headroom_core import parse_markers, retrieve
from headroom_integrations.langchain import HeadroomRunnable, compress_messages
from headroom_integrations.langchain._messages import message_to_dict, to_messages

FIXTURES = Path(__file__).parents[2] / "fixtures"


def conversation(big_json: str) -> list:
    png = base64.b64encode((FIXTURES / "pydocs_logging_flow_diagram.png").read_bytes()).decode()
    return [
        SystemMessage("You are a support agent.", id="sys-1"),
        HumanMessage(
            content=[
                {"type": "text", "text": "Which orders failed? See the screenshot."},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
            ],
            id="human-1",
        ),
        AIMessage(
            content="Let me look.",
            tool_calls=[{"name": "query_orders", "args": {"day": "yesterday"}, "id": "call_1"}],
            id="ai-1",
            response_metadata={"model_name": "gpt-4o"},
        ),
        ToolMessage(
            big_json, tool_call_id="call_1", name="query_orders", id="tool-1", artifact={"rows": 2000}
        ),
    ]


def test_only_tool_content_changes(orders_json, hconfig):
    messages = conversation(orders_json)
    snapshot = [m.model_copy(deep=True) for m in messages]
    out = compress_messages(messages, config=hconfig)
    assert out.result.tokens_after < out.result.tokens_before
    assert [type(m) for m in out.messages] == [type(m) for m in messages]
    # the caller's messages are never mutated
    assert messages == snapshot
    # everything but the tool result is the very same object
    assert out.messages[:3] == messages[:3]
    assert out.messages[0] is messages[0] and out.messages[2] is messages[2]
    tool = out.messages[3]
    assert (tool.tool_call_id, tool.name, tool.id, tool.artifact) == (
        "call_1",
        "query_orders",
        "tool-1",
        {"rows": 2000},
    )
    assert len(tool.content) < len(orders_json) / 5
    assert out.messages[2].tool_calls == messages[2].tool_calls
    # the image block survives as a block
    assert out.messages[1].content[1]["type"] == "image_url"
    assert out.messages[1].content[0] == messages[1].content[0]


def test_tool_calls_are_visible_to_the_engine():
    ai = AIMessage("", tool_calls=[{"name": "grep", "args": {"pattern": "TODO"}, "id": "c9"}])
    as_dict = message_to_dict(ai)
    assert as_dict["tool_calls"][0]["function"] == {"name": "grep", "arguments": '{"pattern": "TODO"}'}
    assert message_to_dict(ToolMessage("x", tool_call_id="c9"))["tool_call_id"] == "c9"
    assert message_to_dict(ChatMessage(role="developer", content="x"))["role"] == "developer"
    assert message_to_dict(ChatMessage(role="wizard", content="x"))["role"] == "user"


@pytest.mark.parametrize(
    "value",
    [
        "hello",
        [("system", "be brief"), ("human", "hello")],
        [{"role": "user", "content": "hello"}],
        ChatPromptTemplate.from_messages([("human", "{q}")]).invoke({"q": "hello"}),
        [HumanMessage("hello")],
    ],
)
def test_accepts_what_a_chat_model_accepts(value, hconfig):
    out = HeadroomRunnable(headroom_config=hconfig).invoke(value)
    assert isinstance(out, ChatPromptValue)
    assert out.messages[-1].content == "hello"
    assert isinstance(out.messages[-1], HumanMessage)


@pytest.mark.parametrize("value", [42, {"role": "user"}, [object()], None])
def test_bad_input_is_a_clear_type_error(value):
    with pytest.raises(TypeError):
        to_messages(value)


def test_compress_messages_rejects_non_messages():
    with pytest.raises(TypeError, match="message 0"):
        compress_messages([{"role": "user", "content": "x"}])  # dicts go through to_messages first


def test_same_input_same_output(orders_json, hconfig):
    first = compress_messages(conversation(orders_json), config=hconfig).messages
    second = compress_messages(conversation(orders_json), config=hconfig).messages
    assert [m.content for m in first] == [m.content for m in second]


def test_already_compressed_messages_are_not_compressed_again(orders_json, hconfig, store):
    once = compress_messages(conversation(orders_json), config=hconfig)
    twice = compress_messages(once.messages, config=hconfig)
    assert twice.messages[3].content == once.messages[3].content
    assert twice.result.tokens_after == twice.result.tokens_before
    key = parse_markers(twice.messages[3].content)[0].key
    assert retrieve(key, store=store) == orders_json


@pytest.mark.parametrize(
    "make_block",
    [
        lambda b64: {"type": "image", "base64": b64, "mime_type": "image/jpeg"},
        lambda b64: {"type": "image", "source_type": "base64", "data": b64, "mime_type": "image/jpeg"},
        lambda b64: {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{b64}"}},
        lambda b64: {"type": "image", "url": "https://example.com/chart.png"},
    ],
)
def test_image_blocks_keep_their_langchain_shape(make_block, hconfig):
    b64 = base64.b64encode((FIXTURES / "skimage_hubble_deep_field.jpg").read_bytes()).decode()
    block = make_block(b64)
    message = HumanMessage(content=[{"type": "text", "text": "What is in this picture?"}, block], id="img-1")
    out = compress_messages([message], config=hconfig)
    new_block = out.messages[0].content[1]
    assert sorted(new_block) == sorted(block) and new_block["type"] == block["type"]
    assert out.messages[0].id == "img-1"
    assert out.messages[0].content[0] == message.content[0]
    assert out.result.tokens_after <= out.result.tokens_before
