"""The core's message model: OpenAI or Anthropic chat messages as plain dicts.

Headroom never converts between formats. It deep-copies the caller's list and walks it
as a list of *slots*: places holding text (or an image) that a compressor may replace.
Writing a slot back changes only that string, so everything else in the message
(ids, tool_call ids, cache_control, extra keys) survives as it was.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

Format = Literal["openai", "anthropic"]
SlotKind = Literal["tool", "user", "system", "assistant", "image"]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


@dataclass
class Slot:
    """One replaceable piece of a message."""

    message_index: int
    role: str
    kind: SlotKind
    get: Callable[[], Any]
    set: Callable[[Any], None]
    tool_name: str | None = None
    tool_args: Mapping[str, Any] | None = None
    tool_call_id: str | None = None
    part_index: int | None = None
    """Index of the content block in the message (for Anthropic tool results: the tool_result block)."""
    sub_index: int | None = None
    """Index inside a tool_result's own content list, when its content is a list."""
    extra: dict[str, Any] = field(default_factory=dict)


def validate_messages(messages: Any) -> None:
    """A clear `TypeError` for anything that is not a list of message dicts."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError(
            "compress() expected a list of chat messages (dicts in OpenAI or Anthropic format), "
            f"got {type(messages).__name__}"
        )
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise TypeError(
                f"message {i} should be a dict with 'role' and 'content', got {type(message).__name__}"
            )
        role = message.get("role")
        if not isinstance(role, str):
            raise TypeError(f"message {i} has no 'role' string (got {role!r})")
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list, tuple)):
            raise TypeError(
                f"message {i} 'content' should be a str, a list of content parts or None, "
                f"got {type(content).__name__}"
            )


def detect_format(messages: Sequence[Mapping[str, Any]]) -> Format:
    """'anthropic' if any content block is Anthropic-only, else 'openai'."""
    for message in messages:
        content = message.get("content")
        if isinstance(content, (list, tuple)):
            for block in content:
                if isinstance(block, Mapping) and (
                    block.get("type") in ("tool_use", "tool_result")
                    or (block.get("type") == "image" and "source" in block)
                ):
                    return "anthropic"
    return "openai"


def copy_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A deep copy, so the caller's objects are never mutated. Tuples become lists (JSON
    has only arrays), so tuple content is counted and compressed like list content."""
    return [_copy_value(dict(m)) for m in messages]


def _copy_value(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {k: _copy_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy_value(v) for v in value]
    return copy.deepcopy(value)


def _parse_args(raw: Any) -> Mapping[str, Any] | None:
    if isinstance(raw, Mapping):
        return raw
    if isinstance(raw, str) and raw:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, Mapping) else None
    return None


def _tool_calls_index(messages: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, Mapping | None]]:
    """tool_call id -> (tool name, arguments), for both formats."""
    index: dict[str, tuple[str, Mapping | None]] = {}
    for message in messages:
        for call in message.get("tool_calls") or ():
            if isinstance(call, Mapping):
                fn = call.get("function") or {}
                index[str(call.get("id"))] = (str(fn.get("name", "")), _parse_args(fn.get("arguments")))
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                if isinstance(block, Mapping) and block.get("type") == "tool_use":
                    index[str(block.get("id"))] = (
                        str(block.get("name", "")),
                        _parse_args(block.get("input")),
                    )
    return index


def _is_image(block: Mapping[str, Any]) -> bool:
    return block.get("type") in ("image_url", "image", "input_image")


def _slot_kind(role: str) -> SlotKind:
    if role in ("tool", "function"):
        return "tool"
    if role in ("system", "developer"):
        return "system"
    if role == "assistant":
        return "assistant"
    return "user"


def iter_slots(messages: list[dict[str, Any]]) -> list[Slot]:
    """Every text or image slot of an already-copied message list, in order."""
    calls = _tool_calls_index(messages)
    slots: list[Slot] = []
    for mi, message in enumerate(messages):
        role = str(message.get("role"))
        kind = _slot_kind(role)
        name, args, call_id = None, None, None
        if kind == "tool":
            call_id = message.get("tool_call_id")
            name, args = calls.get(str(call_id), (message.get("name"), None))
        content = message.get("content")
        if isinstance(content, str):
            slots.append(_str_slot(message, "content", mi, role, kind, name, args, call_id))
        elif isinstance(content, list):
            _list_slots(content, mi, role, kind, name, args, call_id, calls, slots)
    return slots


def _str_slot(
    container: dict,
    key: Any,
    mi: int,
    role: str,
    kind: SlotKind,
    name: Any,
    args: Any,
    call_id: Any,
    part_index: int | None = None,
) -> Slot:
    def setter(value: Any) -> None:
        container[key] = value

    return Slot(mi, role, kind, lambda: container[key], setter, name, args, call_id, part_index)


def _list_slots(
    content: list,
    mi: int,
    role: str,
    kind: SlotKind,
    name: Any,
    args: Any,
    call_id: Any,
    calls: dict,
    slots: list[Slot],
) -> None:
    for pi, block in enumerate(content):
        if isinstance(block, str):
            slots.append(_str_slot(content, pi, mi, role, kind, name, args, call_id, pi))
            continue
        if not isinstance(block, dict):
            continue
        btype = block.get("type")
        if btype == "text" and isinstance(block.get("text"), str):
            slots.append(_str_slot(block, "text", mi, role, kind, name, args, call_id, pi))
        elif btype == "tool_result":
            tid = block.get("tool_use_id")
            tname, targs = calls.get(str(tid), (None, None))
            inner = block.get("content")
            if isinstance(inner, str):
                slots.append(_str_slot(block, "content", mi, role, "tool", tname, targs, tid, pi))
            elif isinstance(inner, list):
                start = len(slots)
                _list_slots(inner, mi, role, "tool", tname, targs, tid, calls, slots)
                for slot in slots[start:]:  # name the tool_result block, then the part inside it
                    slot.sub_index, slot.part_index = slot.part_index, pi
        elif _is_image(block):
            slots.append(
                Slot(
                    mi, role, "image", lambda b=block: b, _block_setter(content, pi), name, args, call_id, pi
                )
            )


def _block_setter(content: list, index: int) -> Callable[[Any], None]:
    def setter(value: Any) -> None:
        content[index] = value

    return setter


def message_text(message: Mapping[str, Any]) -> str:
    """All text of a message (content, tool results, tool-call arguments), for scoring."""
    parts: list[str] = []
    content = message.get("content")
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        for block in content:
            parts.extend(_block_text(block))
    for call in message.get("tool_calls") or ():
        if isinstance(call, Mapping):
            fn = call.get("function") or {}
            parts.append(str(fn.get("name", "")))
            parts.append(str(fn.get("arguments", "")))
    return "\n".join(p for p in parts if p)


def _block_text(block: Any) -> list[str]:
    if isinstance(block, str):
        return [block]
    if not isinstance(block, Mapping):
        return []
    btype = block.get("type")
    if btype == "text":
        return [str(block.get("text", ""))]
    if btype == "tool_use":
        return [str(block.get("name", "")), orjson.dumps(block.get("input", {}), default=str).decode()]
    if btype == "tool_result":
        inner = block.get("content")
        if isinstance(inner, str):
            return [inner]
        if isinstance(inner, list):
            return [t for b in inner for t in _block_text(b)]
    return []


def latest_user_text(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The text of the newest user message that carries human text (not only tool results)."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str) and content.strip():
            return content
        if isinstance(content, list):
            texts = [
                b.get("text", "") if isinstance(b, Mapping) else b
                for b in content
                if isinstance(b, str) or (isinstance(b, Mapping) and b.get("type") == "text")
            ]
            joined = "\n".join(t for t in texts if isinstance(t, str) and t.strip())
            if joined:
                return joined
    return None
