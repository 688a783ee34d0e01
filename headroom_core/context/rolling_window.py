"""Conversation units, the dropped-turns summary and reassembly of a valid conversation.

A *unit* is what may be dropped as a whole: one message, or an assistant message that
calls tools together with the results of those calls (OpenAI `tool_calls` + `role: tool`
messages, legacy `function_call` + `role: function`, Anthropic `tool_use` blocks + the
next user message's `tool_result` blocks). Splitting a unit would leave a call without
its result (or the reverse), which providers reject.

What is dropped is replaced by one summary message, e.g.
"turns 3–41 omitted (39 messages): 12 tool calls (search x8, read_file x4), 2 errors",
followed by a CCR marker whose key holds the dropped messages as a JSON array, so
`retrieve(key, query="ord_123")` returns just the messages that mention it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from headroom_core import _ccr
from headroom_core._messages import json_text
from headroom_core._text import plural

SUMMARY_PREFIX = "[headroom context]"
_MAX_RANGES = 6


@dataclass
class Unit:
    """Messages `start..end` (inclusive) that stay or go together."""

    start: int
    end: int
    role: str
    tool_names: tuple[str, ...] = ()
    protected: str | None = None
    """Why this unit may never be dropped (None: it may)."""
    tokens: int = 0
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def indices(self) -> range:
        return range(self.start, self.end + 1)


def _tool_call_names(message: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for call in message.get("tool_calls") or ():
        if isinstance(call, Mapping):
            fn = call.get("function") or {}
            names.append(str(fn.get("name", "")) if isinstance(fn, Mapping) else "")
    fc = message.get("function_call")
    if isinstance(fc, Mapping):
        names.append(str(fc.get("name", "")))
    content = message.get("content")
    if isinstance(content, list):
        for block in content:
            if isinstance(block, Mapping) and block.get("type") == "tool_use":
                names.append(str(block.get("name", "")))
    return names


def _has_tool_results(message: Mapping[str, Any]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(b, Mapping) and b.get("type") == "tool_result" for b in content
    )


def _human_text(message: Mapping[str, Any]) -> bool:
    content = message.get("content")
    if isinstance(content, str):
        return bool(content.strip())
    if isinstance(content, list):
        return any(
            (isinstance(b, str) and b.strip())
            or (isinstance(b, Mapping) and b.get("type") == "text" and str(b.get("text", "")).strip())
            for b in content
        )
    return False


def group_units(messages: Sequence[Mapping[str, Any]], *, protect_first_user: bool = True) -> list[Unit]:
    """Split a conversation into units and mark the protected ones."""
    units: list[Unit] = []
    n = len(messages)
    i = 0
    while i < n:
        message = messages[i]
        role = str(message.get("role"))
        names = _tool_call_names(message) if role == "assistant" else []
        end = i
        if names:
            j = i + 1
            if message.get("tool_calls") or message.get("function_call"):
                while j < n and messages[j].get("role") in ("tool", "function"):
                    j += 1
            if j == i + 1 and j < n and messages[j].get("role") == "user" and _has_tool_results(messages[j]):
                j += 1
            end = j - 1
        units.append(Unit(i, end, role, tuple(names)))
        i = end + 1

    current_question = next(
        (k for k in range(n - 1, -1, -1) if messages[k].get("role") == "user" and _human_text(messages[k])),
        None,
    )
    first_user = next((k for k in range(n) if messages[k].get("role") == "user"), None)
    for unit in units:
        if unit.role in ("system", "developer"):
            unit.protected = "system prompt"
        elif current_question is not None and current_question in unit.indices:
            unit.protected = "current question"
        elif protect_first_user and first_user is not None and first_user in unit.indices:
            unit.protected = "first user message"
        elif unit.end == n - 1 and unit.role == "assistant" and not unit.tool_names:
            unit.protected = "assistant prefill"
    return units


def _ranges(indices: Sequence[int]) -> str:
    """[3,4,5,9] -> '3–5, 9' (1-based message numbers)."""
    parts: list[str] = []
    ordered = sorted(indices)
    if ordered:
        start = prev = ordered[0]
        for i in ordered[1:]:
            if i == prev + 1:
                prev = i
                continue
            parts.append(f"{start + 1}" if start == prev else f"{start + 1}–{prev + 1}")
            start = prev = i
        parts.append(f"{start + 1}" if start == prev else f"{start + 1}–{prev + 1}")
    if len(parts) > _MAX_RANGES:  # a long list helps nobody; the CCR record has every message
        first, last = min(indices) + 1, max(indices) + 1
        return f"{first}–{last} (in {len(parts)} stretches)"
    return ", ".join(parts)


def summary_text(dropped: Sequence[Unit], n_errors: int, key: str | None, *, compact: bool = False) -> str:
    """One line describing what was dropped, plus the CCR marker to get it back."""
    indices = [i for u in dropped for i in u.indices]
    calls = Counter(name or "unnamed" for u in dropped for name in u.tool_names)
    n_calls = sum(calls.values())
    description = f"{len(indices)} earlier messages omitted"
    if key is None:
        return f"{SUMMARY_PREFIX} {description} to fit the context budget (not retrievable: CCR is off)."
    marker = _ccr.make_marker(description, key)
    if compact:
        return marker
    what = []
    if n_calls:
        top = ", ".join(
            f"{name} x{count}" for name, count in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        what.append(f"{plural(n_calls, 'tool call')} ({top})")
    other = len(indices) - sum(len(u.indices) for u in dropped if u.tool_names)
    if other:
        what.append(plural(other, "other message"))
    if n_errors:
        what.append(plural(n_errors, "error"))
    return (
        f"{SUMMARY_PREFIX} turns {_ranges(indices)} omitted to fit the context budget: "
        f"{', '.join(what)}. {marker}"
    )


def dropped_record(messages: Sequence[Mapping[str, Any]]) -> str:
    """The dropped messages as one JSON array (stashed with kind "json", paths [[]]), so each
    message is an item that `retrieve(key, query=...)` can return on its own."""
    return json_text(list(messages))  # any nesting depth (orjson stops at 255)


def _as_blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return list(content)
    return []


def merge_same_role(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Anthropic needs user/assistant to alternate: merge neighbours with the same role.

    Content becomes a block list; `tool_result` blocks are kept first in a user message
    (the API requires them to lead). System messages are left alone.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        prev = out[-1] if out else None
        role = message.get("role")
        if prev is not None and role in ("user", "assistant") and prev.get("role") == role:
            blocks = _as_blocks(prev.get("content")) + _as_blocks(message.get("content"))
            if role == "user":
                results = [b for b in blocks if isinstance(b, Mapping) and b.get("type") == "tool_result"]
                others = [
                    b for b in blocks if not (isinstance(b, Mapping) and b.get("type") == "tool_result")
                ]
                blocks = results + others
            merged = {**prev, **{k: v for k, v in message.items() if k not in prev}, "content": blocks}
            out[-1] = merged
        else:
            out.append(message)
    return out


def assemble(
    messages: Sequence[dict[str, Any]],
    units: Sequence[Unit],
    dropped: set[int],
    summary: str | None,
    fmt: str,
) -> list[dict[str, Any]]:
    """The kept messages in order, with the summary where the first dropped unit was."""
    out: list[dict[str, Any]] = []
    placed = summary is None
    for ui, unit in enumerate(units):
        if ui in dropped:
            if not placed:
                prev_role = out[-1].get("role") if out else "system"
                following = next((units[k] for k in range(ui + 1, len(units)) if k not in dropped), None)
                next_role = messages[following.start].get("role") if following is not None else None
                # The role that merges with no neighbour; when one merge is unavoidable
                # (Anthropic), merge into the earlier message, never into the next user
                # message (it may be the current question).
                if prev_role == "user" or (prev_role == "assistant" and next_role == "user"):
                    role = "assistant"
                else:
                    role = "user"
                if fmt == "anthropic":
                    out.append({"role": role, "content": [{"type": "text", "text": summary}]})
                else:
                    out.append({"role": role, "content": summary})
                placed = True
            continue
        out.extend(messages[i] for i in unit.indices)
    if fmt == "anthropic":
        out = merge_same_role(out)
    return out
