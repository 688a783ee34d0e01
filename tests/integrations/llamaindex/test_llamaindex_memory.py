"""ChatMessage <-> OpenAI dicts, and HeadroomChatMemory over real LlamaIndex memories."""

from __future__ import annotations

from typing import Any

import pytest
from li_support import FIXTURES
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import (
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.memory import ChatMemoryBuffer, Memory
from pydantic import ValidationError

from headroom_core import count_tokens, retrieve
from headroom_integrations.llamaindex import HeadroomChatMemory, chat_messages_to_openai
from headroom_integrations.llamaindex._messages import SOURCE_INDEX_KEY, from_openai, to_openai

LOG = (FIXTURES / "loghub_HDFS_2k.log").read_text(encoding="utf-8")
TUTORIAL = (FIXTURES / "pydocs3.11_tutorial_classes.rst.txt").read_text(encoding="utf-8")


def _conversation() -> list[ChatMessage]:
    paragraphs = [p for p in TUTORIAL.split("\n\n") if len(p) > 200]
    messages = [ChatMessage(role="system", content="You are a careful assistant.")]
    for turn in range(8):
        messages.append(
            ChatMessage(role="user", content=f"Question {turn}: explain this.\n{paragraphs[turn]}")
        )
        messages.append(ChatMessage(role="assistant", content=f"Answer {turn}: {paragraphs[turn + 20]}"))
    messages.append(
        ChatMessage(
            role="assistant",
            blocks=[
                ToolCallBlock(tool_call_id="call-log", tool_name="read_log", tool_kwargs={"path": "hdfs.log"})
            ],
        )
    )
    messages.append(
        ChatMessage(role="tool", content=LOG[:60_000], additional_kwargs={"tool_call_id": "call-log"})
    )
    messages.append(ChatMessage(role="user", content="Which PacketResponder errors did the log show?"))
    return messages


# --------------------------------------------------------------------------- conversion


def test_conversion_produces_openai_messages():
    image = ImageBlock(url="https://example.org/diagram.png")
    messages = [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", blocks=[TextBlock(text="What is in this image?"), image]),
        ChatMessage(
            role="assistant",
            blocks=[
                ThinkingBlock(content="I should look it up."),
                ToolCallBlock(tool_call_id="c1", tool_name="search", tool_kwargs={"q": "diagram"}),
            ],
        ),
        ChatMessage(
            role="tool", content="three boxes", additional_kwargs={"tool_call_id": "c1", "name": "search"}
        ),
        ChatMessage(role=MessageRole.CHATBOT, content="It shows three boxes."),
    ]
    dicts = chat_messages_to_openai(messages)
    assert dicts == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "https://example.org/diagram.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "search", "arguments": '{"q":"diagram"}'},
                }
            ],
        },
        {"role": "tool", "content": "three boxes", "tool_call_id": "c1", "name": "search"},
        {"role": "assistant", "content": "It shows three boxes."},
    ]
    assert count_tokens(dicts) > 0


def test_round_trip_returns_the_original_objects():
    messages = _conversation()
    back = from_openai(to_openai(messages), messages)
    assert all(a is b for a, b in zip(back, messages)) and len(back) == len(messages)


def test_changed_text_replaces_only_text_blocks():
    thinking = ThinkingBlock(content="private reasoning")
    original = ChatMessage(
        role="assistant",
        blocks=[thinking, TextBlock(text="long text"), TextBlock(text="more")],
        additional_kwargs={"tool_call_id": "x", "custom": 1},
    )
    dicts = to_openai([original])
    dicts[0]["content"] = "short"
    (back,) = from_openai(dicts, [original])
    assert back.blocks[0] is thinking
    assert back.content == "short"
    assert back.additional_kwargs == original.additional_kwargs and back.role == original.role
    assert original.content == "long text\nmore"  # the input is not mutated


def test_changed_part_maps_back_onto_its_block():
    image = ImageBlock(url="https://example.org/a.png")
    original = ChatMessage(role="user", blocks=[TextBlock(text="first"), image, TextBlock(text="second")])
    dicts = to_openai([original])
    dicts[0]["content"][2]["text"] = "2nd"
    (back,) = from_openai(dicts, [original])
    assert [type(b) for b in back.blocks] == [TextBlock, ImageBlock, TextBlock]
    assert back.blocks[1] is image and back.blocks[2].text == "2nd" and back.blocks[0].text == "first"


def test_messages_written_by_the_engine_become_chat_messages():
    originals = [ChatMessage(role="user", content="hello")]
    dicts = [{"role": "system", "content": "[headroom: 12 earlier messages omitted]"}, *to_openai(originals)]
    back = from_openai(dicts, originals)
    assert back[0].role == MessageRole.SYSTEM and "omitted" in back[0].content
    assert back[1] is originals[0]


def test_conversion_rejects_non_messages():
    with pytest.raises(TypeError, match="ChatMessage"):
        to_openai([{"role": "user", "content": "hi"}])
    assert SOURCE_INDEX_KEY not in chat_messages_to_openai([ChatMessage(content="hi")])[0]


# --------------------------------------------------------------------------- memory


def _tokens(messages: list[ChatMessage]) -> int:
    return count_tokens(chat_messages_to_openai(messages), "gpt-4o")


@pytest.mark.parametrize("budget", [1500, 4000])
def test_memory_get_fits_the_budget(ccr_config, budget):
    history = _conversation()
    assert _tokens(history) > 4 * budget
    memory = HeadroomChatMemory.from_defaults(token_budget=budget, config=ccr_config, chat_history=history)
    fitted = memory.get()
    assert _tokens(fitted) <= budget
    assert fitted[-1].content == history[-1].content  # the question being asked survives
    assert memory.get_all() == history  # storage keeps everything


def test_memory_fit_reports_retrievable_keys(ccr_config):
    history = _conversation()
    memory = HeadroomChatMemory.from_defaults(token_budget=2000, config=ccr_config, chat_history=history)
    fitted, result = memory.fit(history, "PacketResponder")
    assert fitted[-1] is history[-1] and fitted[0] is history[0]  # untouched messages are the originals
    assert result.tokens_after <= 2000 < result.tokens_before
    assert result.ccr_keys
    originals = [retrieve(k, store=ccr_config.ccr_store) for k in result.ccr_keys]
    assert any(LOG[:2000] in o or o in LOG for o in originals)


async def test_memory_wraps_llamaindex_memory_async(ccr_config):
    inner = Memory.from_defaults(session_id="headroom-test", token_limit=1_000_000)
    memory = HeadroomChatMemory(memory=inner, token_budget=1500, config=ccr_config)
    history = _conversation()
    await memory.aput_messages(history)
    assert len(await memory.aget_all()) == len(history)
    fitted = await memory.aget()
    assert _tokens(fitted) <= 1500
    await memory.areset()
    assert await memory.aget() == []


def test_memory_delegates_storage(ccr_config):
    inner = ChatMemoryBuffer.from_defaults(token_limit=1_000_000)
    memory = HeadroomChatMemory.from_defaults(inner, token_budget=500, config=ccr_config)
    memory.put(ChatMessage(role="user", content="one"))
    memory.put_messages([ChatMessage(role="assistant", content="two")])
    assert [m.content for m in inner.get_all()] == ["one", "two"]
    assert [m.content for m in memory.get()] == ["one", "two"]  # under budget: untouched
    memory.set([ChatMessage(role="user", content="three")])
    assert [m.content for m in memory.get_all()] == ["three"]
    memory.reset()
    assert memory.get() == []


def test_memory_rejects_bad_settings():
    with pytest.raises(ValidationError):
        HeadroomChatMemory.from_defaults(token_budget=0)
    with pytest.raises(ValidationError):
        HeadroomChatMemory(memory=ChatMemoryBuffer.from_defaults(), token_budget=100, config="nope")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_agent_with_headroom_memory_sees_a_fitted_history(ccr_config):
    seen: list[list[ChatMessage]] = []

    def respond(messages: list[ChatMessage], **kwargs: Any) -> ChatMessage:
        seen.append(list(messages))
        return ChatMessage(role="assistant", content="The log shows PacketResponder terminations.")

    memory = HeadroomChatMemory.from_defaults(
        token_budget=2500, config=ccr_config, chat_history=_conversation()[:-1]
    )
    agent = FunctionAgent(
        tools=[], llm=MockFunctionCallingLLM(response_generator=respond), system_prompt="Be brief."
    )
    output = await agent.run(user_msg="Which PacketResponder errors did the log show?", memory=memory)
    assert "PacketResponder" in str(output.response.content)
    # The agent adds its system prompt on top of the memory's fitted history.
    sent = [m for m in seen[0] if m.content != "Be brief."]
    assert _tokens(sent) <= 2500
    assert sent[-1].content == "Which PacketResponder errors did the log show?"
    assert len(memory.get_all()) == len(_conversation()) + 1  # question and answer stored whole
