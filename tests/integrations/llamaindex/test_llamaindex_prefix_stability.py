"""Prefix stability through the LlamaIndex adapters (issue 11 section 1).

A 10-turn `FunctionAgent` run (a new question and a large tool output each turn): what the
LLM receives on call N+1 begins with what it received on call N, byte for byte after JSON
serialisation, with `compress_tool` compressing each tool output, with and without
`HeadroomChatMemory` compressing the history (memory alone: see its own test below).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.tools import FunctionTool

from headroom_core import HeadroomConfig, MemoryCCRStore
from headroom_integrations.llamaindex import HeadroomChatMemory, chat_messages_to_openai, compress_tool
from tests.integrations.prefix_support import (
    TURNS,
    assert_compressed,
    assert_prefix_stable,
    question,
    serialise,
    source_of,
    tool_output,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside llama_index workflows


def fetch(source: str) -> str:
    """Fetch a data source by name (orders-N or log-N)."""
    return tool_output(source)


class ScriptedAgentLLM:
    """One tool call per user question, then an answer; keeps every request it received."""

    def __init__(self) -> None:
        self.seen: list[list[ChatMessage]] = []
        self.turn = 0

    def __call__(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        self.seen.append(list(messages))
        if messages[-1].role == MessageRole.USER:
            call = ToolCallBlock(
                tool_call_id=f"call-{self.turn}",
                tool_name="fetch",
                tool_kwargs={"source": source_of(self.turn)},
            )
            return ChatMessage(role="assistant", blocks=[call])
        self.turn += 1
        return ChatMessage(role="assistant", content=f"answer {self.turn - 1}")


def requests_of(llm: ScriptedAgentLLM) -> list[list[str]]:
    """Each request in the form the engine (and an OpenAI-style provider) reads, as JSON text."""
    return [serialise(chat_messages_to_openai(request)) for request in llm.seen]


def tool_texts(request: list[ChatMessage]) -> list[str]:
    return [m.content or "" for m in request if m.role == MessageRole.TOOL]


async def _run(memory, tool) -> ScriptedAgentLLM:
    llm = ScriptedAgentLLM()
    agent = FunctionAgent(tools=[tool], llm=MockFunctionCallingLLM(response_generator=llm))
    for turn in range(TURNS):
        await agent.run(user_msg=question(turn), memory=memory)
    assert len(llm.seen) == 2 * TURNS
    return llm


@pytest.mark.parametrize("use_memory", [True, False], ids=["memory-and-tools", "tools"])
async def test_function_agent_keeps_the_prefix(use_memory):
    config = HeadroomConfig(ccr_store=MemoryCCRStore())
    tool = compress_tool(FunctionTool.from_defaults(fn=fetch), config=config)
    if use_memory:
        # A budget far above the conversation: compression only, no turn is dropped.
        memory = HeadroomChatMemory.from_defaults(token_budget=10**6, config=config)
    else:
        memory = ChatMemoryBuffer.from_defaults(token_limit=10**7)
    llm = await _run(memory, tool)
    assert_prefix_stable(requests_of(llm))
    assert_compressed(tool_texts(llm.seen[-1]), TURNS)


async def test_memory_alone_keeps_the_prefix_of_what_it_returns():
    """Without `compress_tool`, a run's own tool results sit in the agent's scratchpad, outside
    memory, and reach the LLM raw until the run ends (a LlamaIndex design, documented in
    `HeadroomChatMemory`). What memory returns is still prefix-stable across the 10 runs, and
    within a run every request extends the one before."""
    config = HeadroomConfig(ccr_store=MemoryCCRStore())
    memory = HeadroomChatMemory.from_defaults(token_budget=10**6, config=config)
    llm = await _run(memory, FunctionTool.from_defaults(fn=fetch))
    requests = requests_of(llm)
    assert_prefix_stable(requests[0::2])  # each run's first request is memory.get() alone
    for first, second in zip(requests[0::2], requests[1::2]):
        assert_prefix_stable([first, second], at_least=2)
    assert_compressed(tool_texts(llm.seen[-2]), TURNS - 1)
