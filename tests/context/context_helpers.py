"""Checks shared by the context-manager tests: the conversations they return are still valid
for the provider (conversations themselves are built with `tests.support`)."""

from __future__ import annotations

import itertools
from typing import Any


def assert_openai_pairs(messages: list[dict[str, Any]]) -> None:
    """Every tool call is answered right after it, and every tool result follows its call."""
    i = 0
    while i < len(messages):
        m = messages[i]
        if m.get("role") == "assistant" and m.get("tool_calls"):
            ids = {c["id"] for c in m["tool_calls"]}
            j = i + 1
            answered = set()
            while j < len(messages) and messages[j].get("role") == "tool":
                answered.add(messages[j]["tool_call_id"])
                j += 1
            assert answered == ids, f"message {i}: calls {ids} answered by {answered}"
            i = j
            continue
        assert m.get("role") != "tool", f"orphan tool result at {i}"
        i += 1


def _blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == kind]


def assert_anthropic_valid(messages: list[dict[str, Any]]) -> None:
    """Alternating user/assistant, user first, tool_use answered by the next message's tool_result."""
    turns = [m for m in messages if m.get("role") != "system"]
    assert turns and turns[0]["role"] == "user"
    for a, b in itertools.pairwise(turns):
        assert a["role"] != b["role"], f"two {a['role']} messages in a row"
    for k, m in enumerate(turns):
        uses = {b["id"] for b in _blocks(m, "tool_use")}
        results = _blocks(m, "tool_result")
        if uses:
            nxt = turns[k + 1] if k + 1 < len(turns) else None
            assert nxt is not None, "tool_use without a following message"
            assert {b["tool_use_id"] for b in _blocks(nxt, "tool_result")} == uses
        if results:
            prev_uses = {b["id"] for b in _blocks(turns[k - 1], "tool_use")} if k else set()
            assert {b["tool_use_id"] for b in results} == prev_uses
            content = m["content"]
            n = len(results)
            assert all(isinstance(b, dict) and b.get("type") == "tool_result" for b in content[:n])
