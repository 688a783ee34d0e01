"""Agents that read Headroom markers and call headroom_retrieve (scripted function-calling LLM).

The LLM is LlamaIndex's own `MockFunctionCallingLLM` driven by a script: it sees the real
messages the agent builds (tool results included), finds Headroom markers in them with
`parse_markers`, and calls the real tools through the agent's real tool-calling loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from li_support import CONTEXT_TEMPLATE, FIXTURES
from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent, ReActAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms import MockLLM
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.schema import MetadataMode, QueryBundle
from llama_index.core.tools import FunctionTool, QueryEngineTool

from headroom_core import compress_text, parse_markers
from headroom_integrations.llamaindex import (
    CCR_KEY_METADATA,
    HeadroomNodePostprocessor,
    compress_tool,
    headroom_retrieve_tool,
)
from headroom_integrations.llamaindex.postprocessor import OMITTED_IDS_METADATA

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside llama_index workflows

QUESTION = "How do generators and iterators work?"


class ScriptedLLM:
    """Turns the agent's messages into the next assistant message, and keeps what it saw."""

    def __init__(
        self, first_tool: str, first_args: dict[str, Any], retrieve_args: dict[str, Any] | None = None
    ):
        self.first_tool = first_tool
        self.first_args = first_args
        self.retrieve_args = retrieve_args or {}
        self.seen: list[list[ChatMessage]] = []

    def __call__(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        self.seen.append(list(messages))
        results = [m for m in messages if m.role == MessageRole.TOOL]
        if not results:
            return self._call(self.first_tool, self.first_args, "call-1")
        if len(results) == 1:
            markers = parse_markers(results[0].content or "")
            if not markers:
                return ChatMessage(role="assistant", content="No markers: nothing to fetch.")
            args = {"key": markers[-1].key, **self.retrieve_args}
            return self._call("headroom_retrieve", args, "call-2")
        return ChatMessage(
            role="assistant", content=f"FINAL ANSWER from retrieved text:\n{results[-1].content}"
        )

    @staticmethod
    def _call(name: str, args: dict[str, Any], call_id: str) -> ChatMessage:
        return ChatMessage(
            role="assistant", blocks=[ToolCallBlock(tool_call_id=call_id, tool_name=name, tool_kwargs=args)]
        )


async def _run(agent, question: str) -> tuple[str, list[ToolCallResult]]:
    handler = agent.run(user_msg=question)
    calls = [ev async for ev in handler.stream_events() if isinstance(ev, ToolCallResult)]
    output = await handler
    return str(output.response.content), calls


async def test_function_agent_gets_a_dropped_passage_back(vector_index, ccr_config):
    postprocessor = HeadroomNodePostprocessor(token_budget=300, config=ccr_config)
    engine = vector_index.as_query_engine(
        llm=MockLLM(),
        similarity_top_k=200,
        text_qa_template=CONTEXT_TEMPLATE,
        node_postprocessors=[postprocessor],
    )
    docs_tool = QueryEngineTool.from_defaults(engine, name="python_docs", description="Search the docs.")
    script = ScriptedLLM("python_docs", {"input": QUESTION})
    agent = FunctionAgent(
        # Uncapped so that every omitted passage comes back in one answer (the default cap
        # would cut this 200-passage answer and say how to narrow it).
        tools=[docs_tool, headroom_retrieve_tool(ccr_config, max_tokens=10**7)],
        llm=MockFunctionCallingLLM(response_generator=script),
    )
    answer, calls = await _run(agent, QUESTION)

    assert [c.tool_name for c in calls] == ["python_docs", "headroom_retrieve"]
    first_output = calls[0].tool_output.content
    key = parse_markers(first_output)[-1].key
    # The key the agent used belongs to the passages the postprocessor left out...
    note = next(n for n in engine.retrieve(QueryBundle(QUESTION)) if n.score is None)
    assert note.node.metadata[CCR_KEY_METADATA] == key
    dropped = [vector_index.docstore.get_node(i) for i in note.node.metadata[OMITTED_IDS_METADATA]]
    # ...and what came back through the tool is their original text, now in front of the LLM.
    retrieved = calls[1].tool_output.content
    for node in dropped:
        text = node.get_content(metadata_mode=MetadataMode.NONE)
        assert text not in first_output
        assert text in retrieved
    assert retrieved in answer
    last_prompt = script.seen[-1]
    assert any(m.role == MessageRole.TOOL and m.content == retrieved for m in last_prompt)


async def test_function_agent_with_compressed_tool_output(ccr_config):
    log = (FIXTURES / "loghub_HDFS_2k.log").read_text(encoding="utf-8")

    def read_datanode_log(query: str) -> str:
        """Return the HDFS datanode log."""
        return log

    needle = "blk_-8775602795571523802"
    script = ScriptedLLM("read_datanode_log", {"query": "exception"}, {"query": needle, "limit": 4})
    agent = FunctionAgent(
        tools=[
            compress_tool(FunctionTool.from_defaults(fn=read_datanode_log), config=ccr_config),
            headroom_retrieve_tool(ccr_config),
        ],
        llm=MockFunctionCallingLLM(response_generator=script),
    )
    answer, calls = await _run(agent, "Which blocks had problems?")
    assert [c.tool_name for c in calls] == ["read_datanode_log", "headroom_retrieve"]
    compressed = calls[0].tool_output.content
    assert len(compressed) < len(log) / 2
    # What the agent saw first is the compressed output, under the tool's own name.
    first_tool_message = next(m for m in script.seen[1] if m.role == MessageRole.TOOL)
    assert first_tool_message.content == compressed
    wanted = [line for line in log.splitlines() if needle in line]
    assert wanted and not any(line in compressed for line in wanted)  # only retrieval has them
    assert all(line in answer for line in wanted)


async def test_react_agent_calls_the_retrieve_tool(ccr_config):
    log = (FIXTURES / "loghub_HDFS_2k.log").read_text(encoding="utf-8")
    compressed = compress_text(log, config=ccr_config).text
    key = parse_markers(compressed)[0].key
    steps = iter(
        [
            "Thought: The log was shortened; I need the omitted lines.\n"
            "Action: headroom_retrieve\n"
            f'Action Input: {{"key": "{key}", "query": "blk_-8775602795571523802", "limit": 4}}',
            "Thought: I can answer without using any more tools.\nAnswer: done",
        ]
    )
    seen: list[list[ChatMessage]] = []

    def react_script(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        seen.append(list(messages))
        return ChatMessage(role="assistant", content=next(steps))

    agent = ReActAgent(
        tools=[headroom_retrieve_tool(ccr_config)],
        llm=MockFunctionCallingLLM(response_generator=react_script),
    )
    _, calls = await _run(agent, f"Here is a log:\n{compressed}\nWhat happened to blk_-8775602795571523802?")
    assert [c.tool_name for c in calls] == ["headroom_retrieve"]
    lines = calls[0].tool_output.content.splitlines()
    assert 1 <= len(lines) <= 4 and "blk_-8775602795571523802" in lines[0]
    # The observation with the retrieved lines reached the LLM on its next turn.
    assert any(
        "blk_-8775602795571523802" in (m.content or "") and "Observation" in (m.content or "")
        for m in seen[-1]
    )


async def test_agent_workflow_uses_the_tools(ccr_config):
    log = (FIXTURES / "loghub_HDFS_2k.log").read_text(encoding="utf-8")

    def read_datanode_log(query: str) -> str:
        """Return the HDFS datanode log."""
        return log

    script = ScriptedLLM("read_datanode_log", {"query": "delete"}, {"limit": 2})
    worker = FunctionAgent(
        name="log_reader",
        description="Reads cluster logs.",
        tools=[
            compress_tool(FunctionTool.from_defaults(fn=read_datanode_log), config=ccr_config),
            headroom_retrieve_tool(ccr_config),
        ],
        llm=MockFunctionCallingLLM(response_generator=script),
    )
    workflow = AgentWorkflow(agents=[worker], root_agent="log_reader")
    answer, calls = await _run(workflow, "What was deleted?")
    assert [c.tool_name for c in calls] == ["read_datanode_log", "headroom_retrieve"]
    key = parse_markers(calls[0].tool_output.content)[-1].key
    assert calls[1].tool_kwargs == {"key": key, "limit": 2}
    assert calls[1].tool_output.content in answer and calls[1].tool_output.content.count("\n") == 1
