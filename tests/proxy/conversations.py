"""Agent conversations in both providers' shapes, with tool outputs large enough to compress."""

from __future__ import annotations

import json
from typing import Any

SYSTEM = "You are a coding agent. Use the tools to answer questions about the payments service."


def tool_output(turn: int, rows: int = 300) -> str:
    """A realistic JSON tool result: many similar records, a few failures."""
    records = [
        {
            "id": 10_000 * turn + i,
            "customer": f"cust_{(i * 7919) % 1000:04d}",
            "amount_cents": (i * 137) % 50_000,
            "currency": "EUR" if i % 3 else "USD",
            "status": "failed" if i % 97 == 13 else "succeeded",
            "created": f"2026-03-{1 + i % 28:02d}T10:{i % 60:02d}:00Z",
        }
        for i in range(rows)
    ]
    return json.dumps(records, indent=1)


QUESTIONS = [
    "Which payments failed last month?",
    "Now list refunds above 100 EUR.",
    "And which customers had more than one failure?",
    "Summarise the currency split.",
]


def anthropic_turn(turn: int, cache: bool = True) -> list[dict[str, Any]]:
    """User question, assistant tool call, user tool result (cache_control on it: Claude Code)."""
    result: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": f"toolu_{turn}",
        "content": tool_output(turn),
    }
    if cache:
        result["cache_control"] = {"type": "ephemeral"}
    return [
        {"role": "user", "content": [{"type": "text", "text": QUESTIONS[turn % len(QUESTIONS)]}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Querying the payments table."},
                {
                    "type": "tool_use",
                    "id": f"toolu_{turn}",
                    "name": "query_db",
                    "input": {"sql": f"select {turn}"},
                },
            ],
        },
        {"role": "user", "content": [result]},
    ]


def anthropic_conversation(turns: int) -> list[dict[str, Any]]:
    """`turns` agent turns; an assistant answer between them (so the roles alternate)."""
    messages: list[dict[str, Any]] = []
    for t in range(turns):
        if t:
            messages.append({"role": "assistant", "content": [{"type": "text", "text": f"Answer {t}."}]})
        messages.extend(anthropic_turn(t))
    return messages


def openai_conversation(turns: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    for t in range(turns):
        if t:
            messages.append({"role": "assistant", "content": f"Answer {t}."})
        messages += [
            {"role": "user", "content": QUESTIONS[t % len(QUESTIONS)]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{t}",
                        "type": "function",
                        "function": {"name": "query_db", "arguments": json.dumps({"sql": f"select {t}"})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": f"call_{t}", "content": tool_output(t)},
        ]
    return messages


def responses_input(turns: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for t in range(turns):
        if t:
            items.append({"role": "assistant", "content": f"Answer {t}."})
        items += [
            {"role": "user", "content": QUESTIONS[t % len(QUESTIONS)]},
            {
                "type": "function_call",
                "call_id": f"call_{t}",
                "name": "query_db",
                "arguments": json.dumps({"sql": f"select {t}"}),
            },
            {"type": "function_call_output", "call_id": f"call_{t}", "output": tool_output(t)},
        ]
    return items


ANTHROPIC_SYSTEM = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
ANTHROPIC_TOOLS = [
    {
        "name": "query_db",
        "description": "Run SQL against the payments database.",
        "input_schema": {"type": "object", "properties": {"sql": {"type": "string"}}, "required": ["sql"]},
    },
    {
        "name": "get_weather",
        "description": "Weather for a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
]
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {"name": t["name"], "description": t["description"], "parameters": t["input_schema"]},
    }
    for t in ANTHROPIC_TOOLS
]
RESPONSES_TOOLS = [
    {"type": "function", "name": t["name"], "description": t["description"], "parameters": t["input_schema"]}
    for t in ANTHROPIC_TOOLS
]
