"""The one conversation builder of the test suite: provider-format agent turns.

OpenAI chat format: an assistant message with `tool_calls`, then a `tool` message.
Anthropic Messages format: an assistant message with a `tool_use` block, then a user
message holding the `tool_result` (its content a string or a list of text blocks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

SYSTEM = "You are a careful engineering assistant."
QUESTION = "What went wrong here? Point me at the errors and the parts that matter."


def tool_call(call_id: str, name: str, args: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One entry of an OpenAI assistant message's `tool_calls` (arguments as compact JSON)."""
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(dict(args or {})).decode()},
    }


def openai_tool_turn(
    output: Any,
    *,
    call_id: str = "call_1",
    tool: str = "read_file",
    args: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The assistant's tool call and the tool's answer `output` (a str, parts or anything)."""
    return [
        {"role": "assistant", "content": None, "tool_calls": [tool_call(call_id, tool, args)]},
        {"role": "tool", "tool_call_id": call_id, "content": output},
    ]


def openai_conversation(
    output: Any,
    *,
    system: str | None = SYSTEM,
    question: str = QUESTION,
    call_id: str = "call_1",
    tool: str = "read_file",
    args: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """System prompt (unless None), the user's question, then one tool call and its output
    (the tool message is at index 3 with a system prompt)."""
    head: list[dict[str, Any]] = [{"role": "system", "content": system}] if system is not None else []
    return [
        *head,
        {"role": "user", "content": question},
        *openai_tool_turn(output, call_id=call_id, tool=tool, args=args),
    ]


def anthropic_tool_turn(
    output: str | Sequence[str],
    *,
    call_id: str = "toolu_1",
    tool: str = "bash",
    args: Mapping[str, Any] | None = None,
    preface: str | None = "Let me look.",
    cache_control: bool = False,
) -> list[dict[str, Any]]:
    """The assistant's `tool_use` (after a `preface` text block unless None) and the user
    message with its `tool_result`: a str output as is, a list as one text block each."""
    content: Any = output if isinstance(output, str) else [{"type": "text", "text": t} for t in output]
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id, "content": content}
    if cache_control:
        result["cache_control"] = {"type": "ephemeral"}
    preface_blocks = [{"type": "text", "text": preface}] if preface is not None else []
    return [
        {
            "role": "assistant",
            "content": [
                *preface_blocks,
                {"type": "tool_use", "id": call_id, "name": tool, "input": dict(args or {})},
            ],
        },
        {"role": "user", "content": [result]},
    ]


def anthropic_conversation(
    outputs: str | Sequence[str],
    *,
    question: str = QUESTION,
    call_id: str = "toolu_1",
    tool: str = "bash",
    args: Mapping[str, Any] | None = None,
    preface: str | None = "Let me look.",
    cache_control: bool = True,
) -> list[dict[str, Any]]:
    """The user's question, then one tool call whose `tool_result` (message 2) holds
    `outputs`, marked for prompt caching by default as agents do."""
    return [
        {"role": "user", "content": [{"type": "text", "text": question}]},
        *anthropic_tool_turn(
            outputs, call_id=call_id, tool=tool, args=args, preface=preface, cache_control=cache_control
        ),
    ]
