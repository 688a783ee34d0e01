"""Keep a long LlamaIndex chat within a token budget with `HeadroomChatMemory`.

Run: python examples/llamaindex_chat_memory.py

The memory stores every message (here in LlamaIndex's `Memory`, an in-memory SQLite
chat store); `get()` returns the history fitted into the budget by Headroom's context
manager: the big tool output is compressed, old turns are shrunk or dropped by
importance, and the latest question always survives. Pass the memory to an agent with
`agent.run(..., memory=memory)`.
"""

from __future__ import annotations

from pathlib import Path

from llama_index.core.base.llms.types import ChatMessage, ToolCallBlock
from llama_index.core.memory import Memory

from headroom_core import HeadroomConfig, MemoryCCRStore, count_tokens
from headroom_integrations.llamaindex import HeadroomChatMemory, chat_messages_to_openai

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def long_chat() -> list[ChatMessage]:
    """A support chat: tutorial paragraphs as turns, then a real 2,000-line log as a tool result."""
    paragraphs = [
        p
        for p in (FIXTURES / "pydocs3.11_tutorial_classes.rst.txt").read_text(encoding="utf-8").split("\n\n")
        if len(p) > 200
    ]
    chat = [ChatMessage(role="system", content="You help engineers with Python and Hadoop.")]
    for turn in range(10):
        chat.append(ChatMessage(role="user", content=f"Can you explain this?\n{paragraphs[turn]}"))
        chat.append(ChatMessage(role="assistant", content=paragraphs[turn + 20]))
    chat.append(
        ChatMessage(role="assistant", blocks=[ToolCallBlock(tool_call_id="t1", tool_name="read_log")])
    )
    log = (FIXTURES / "loghub_HDFS_2k.log").read_text(encoding="utf-8")
    chat.append(ChatMessage(role="tool", content=log, additional_kwargs={"tool_call_id": "t1"}))
    chat.append(ChatMessage(role="user", content="Which blocks did the NameSystem ask to delete?"))
    return chat


def tokens(messages: list[ChatMessage]) -> int:
    return count_tokens(chat_messages_to_openai(messages))


def main(budget: int = 3000) -> dict:
    config = HeadroomConfig(ccr_store=MemoryCCRStore())
    memory = HeadroomChatMemory(
        memory=Memory.from_defaults(session_id="example", token_limit=10_000_000),
        token_budget=budget,
        config=config,
    )
    memory.put_messages(long_chat())
    stored = memory.get_all()
    fitted = memory.get()
    print(f"stored: {len(stored)} messages, {tokens(stored):,} tokens")
    print(f"get():  {len(fitted)} messages, {tokens(fitted):,} tokens (budget {budget:,})")
    print(f"last message kept: {fitted[-1].content!r}")
    return {
        "stored_tokens": tokens(stored),
        "fitted_tokens": tokens(fitted),
        "budget": budget,
        "last": fitted[-1].content,
        "stored": len(stored),
        "fitted": len(fitted),
    }


if __name__ == "__main__":
    main()
