"""A LlamaIndex agent whose tool output is compressed, and which fetches originals back.

Run: python examples/llamaindex_agent.py

The tool returns a real 2,000-line HDFS log (~97k tokens). `compress_tool` shrinks it
before the agent sees it; the log compressor leaves markers such as
`[headroom: ...; retrieve with headroom_retrieve(key="...")]`, and the agent calls the
`headroom_retrieve` tool to get the lines it needs back.

To stay offline the LLM is LlamaIndex's `MockFunctionCallingLLM` following a short
script (call the tool, follow the marker, answer). With a real model, replace it with
e.g. `from llama_index.llms.openai import OpenAI; llm = OpenAI(model="gpt-4o")`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.tools import FunctionTool

from headroom_core import HeadroomConfig, MemoryCCRStore, count_tokens, parse_markers
from headroom_integrations.llamaindex import compress_tool, headroom_retrieve_tool

LOG_FILE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "loghub_HDFS_2k.log"
BLOCK = "blk_-8775602795571523802"


def read_datanode_log(query: str) -> str:
    """Return the HDFS datanode log (the query is a hint of what to look for)."""
    return LOG_FILE.read_text(encoding="utf-8")


def scripted_llm(messages: list[ChatMessage], **kwargs: Any) -> ChatMessage:
    """Stands in for a real model: read the log, follow the marker, answer."""
    results = [m for m in messages if m.role == MessageRole.TOOL]
    if not results:
        call = ToolCallBlock(tool_call_id="c1", tool_name="read_datanode_log", tool_kwargs={"query": BLOCK})
        return ChatMessage(role="assistant", blocks=[call])
    markers = parse_markers(results[0].content or "")
    if len(results) == 1 and markers:
        args = {"key": markers[-1].key, "query": BLOCK, "limit": 5}
        call = ToolCallBlock(tool_call_id="c2", tool_name="headroom_retrieve", tool_kwargs=args)
        return ChatMessage(role="assistant", blocks=[call])
    return ChatMessage(role="assistant", content=f"Lines about {BLOCK}:\n{results[-1].content}")


async def run() -> dict:
    config = HeadroomConfig(ccr_store=MemoryCCRStore())  # the tool and the retriever share a store
    agent = FunctionAgent(
        tools=[
            compress_tool(FunctionTool.from_defaults(fn=read_datanode_log), config=config),
            headroom_retrieve_tool(config),
        ],
        llm=MockFunctionCallingLLM(response_generator=scripted_llm),
        system_prompt="Answer questions about the cluster's logs.",
    )
    handler = agent.run(user_msg=f"What happened to block {BLOCK}?")
    calls = [ev async for ev in handler.stream_events() if isinstance(ev, ToolCallResult)]
    output = await handler
    raw_tokens = count_tokens(read_datanode_log(""))
    seen_tokens = count_tokens(calls[0].tool_output.content)
    print(f"tool output: {raw_tokens:,} tokens raw, {seen_tokens:,} tokens seen by the agent")
    for call in calls:
        print(f"called {call.tool_name}({call.tool_kwargs})")
    print(str(output.response.content)[:400])
    return {
        "raw_tokens": raw_tokens,
        "seen_tokens": seen_tokens,
        "tools": [c.tool_name for c in calls],
        "answer": str(output.response.content),
    }


def main() -> dict:
    return asyncio.run(run())


if __name__ == "__main__":
    main()
