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
    has only arrays), so tuple content is counted and compressed like list content.

    Iterative, so a value nested thousands of levels deep (which `json.dumps` accepts)
    is copied instead of raising `RecursionError`."""
    return [copy_value(dict(m)) for m in messages]


def copy_value(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, tuples, scalars) at any nesting depth;
    other objects are deep-copied as Python would, or kept as they are if that fails."""
    if isinstance(value, _SCALARS) or value is None:
        return value
    root: list[Any] = [None]
    # (source container, target container, key in the target) still to fill.
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]
    while stack:
        src, parent, slot = stack.pop()
        if isinstance(src, _SCALARS) or src is None:
            parent[slot] = src
        elif isinstance(src, Mapping):
            target: Any = {}
            parent[slot] = target
            for k, v in src.items():
                target[k] = None
                stack.append((v, target, k))
        elif isinstance(src, (list, tuple)):
            target = [None] * len(src)
            parent[slot] = target
            for i, v in enumerate(src):
                stack.append((v, target, i))
        else:
            try:
                parent[slot] = copy.deepcopy(src)
            except Exception:  # an uncopyable object: share it (we never mutate it)
                parent[slot] = src
    return root[0]


_SCALARS = (str, int, float, bool)


def json_text(value: Any) -> str:
    """`value` as JSON text, for any nesting depth (orjson stops at 255 levels)."""
    try:
        return orjson.dumps(value, default=str).decode()
    except (orjson.JSONEncodeError, TypeError, RecursionError):
        pass
    parts: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Literal):
            parts.append(item.text)
        elif isinstance(item, Mapping):
            parts.append("{")
            stack.append(_Literal("}"))
            entries = list(item.items())
            for n, (k, v) in enumerate(reversed(entries)):
                stack.append(v)
                stack.append(_Literal(orjson.dumps(str(k)).decode() + ":"))
                if n < len(entries) - 1:
                    stack.append(_Literal(","))
        elif isinstance(item, (list, tuple)):
            parts.append("[")
            stack.append(_Literal("]"))
            for n, v in enumerate(reversed(item)):
                stack.append(v)
                if n < len(item) - 1:
                    stack.append(_Literal(","))
        else:
            try:
                parts.append(orjson.dumps(item, default=str).decode())
            except (orjson.JSONEncodeError, TypeError):
                parts.append(orjson.dumps(object.__repr__(item)).decode())
    return "".join(parts)


@dataclass(frozen=True)
class _Literal:
    text: str


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


def call_function(call: Any) -> Mapping[str, Any]:
    """The `function` object of an OpenAI tool call; {} when it is missing or not a dict
    (a malformed entry is passed through, never an `AttributeError`)."""
    if not isinstance(call, Mapping):
        return {}
    fn = call.get("function")
    return fn if isinstance(fn, Mapping) else {}


def _index_calls(message: Mapping[str, Any], index: dict[str, tuple[str, Mapping | None]]) -> None:
    """Add one message's tool calls (both formats) to `index` (tool_call id -> name, args)."""
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, (list, tuple)) else ():
        if isinstance(call, Mapping):
            fn = call_function(call)
            index[str(call.get("id"))] = (str(fn.get("name", "")), _parse_args(fn.get("arguments")))
    content = message.get("content")
    if isinstance(content, list):
        for block in content:
            if isinstance(block, Mapping) and block.get("type") == "tool_use":
                index[str(block.get("id"))] = (str(block.get("name", "")), _parse_args(block.get("input")))


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
    """Every text or image slot of an already-copied message list, in order.

    A tool result is named after the call that *precedes* it (the latest one with that
    id), so what a slot looks like never depends on later messages (prefix stability)."""
    calls: dict[str, tuple[str, Mapping | None]] = {}
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
        _index_calls(message, calls)
    return slots


def _str_slot(
    container: Any,
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
    nested: bool = False,
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
        elif btype == "tool_result" and not nested:
            tid = block.get("tool_use_id")
            tname, targs = calls.get(str(tid), (None, None))
            inner = block.get("content")
            if isinstance(inner, str):
                slots.append(_str_slot(block, "content", mi, role, "tool", tname, targs, tid, pi))
            elif isinstance(inner, list):
                start = len(slots)
                _list_slots(inner, mi, role, "tool", tname, targs, tid, calls, slots, nested=True)
                for slot in slots[start:]:  # name the tool_result block, then the part inside it
                    slot.sub_index, slot.part_index = slot.part_index, pi
        elif _is_image(block):
            slots.append(
                Slot(
                    mi,
                    role,
                    "image",
                    _block_getter(block),
                    _block_setter(content, pi),
                    name,
                    args,
                    call_id,
                    pi,
                )
            )


def _block_getter(block: Any) -> Callable[[], Any]:
    def getter() -> Any:
        return block

    return getter


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
    for name, arguments in tool_call_texts(message):
        parts.append(name)
        parts.append(arguments)
    return "\n".join(p for p in parts if p)


def tool_call_texts(message: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, arguments) text of each OpenAI tool call, as sent. A `function` that is not
    a dict (malformed) counts as its JSON text in the arguments slot."""
    calls = message.get("tool_calls")
    out: list[tuple[str, str]] = []
    for call in calls if isinstance(calls, (list, tuple)) else ():
        if not isinstance(call, Mapping):
            continue
        fn = call.get("function")
        if isinstance(fn, Mapping):
            arguments = fn.get("arguments", "")
            out.append(
                (str(fn.get("name", "")), arguments if isinstance(arguments, str) else json_text(arguments))
            )
        elif fn is not None:
            out.append(("", fn if isinstance(fn, str) else json_text(fn)))
    return out


def _block_text(block: Any, depth: int = 0) -> list[str]:
    if isinstance(block, str):
        return [block]
    if not isinstance(block, Mapping):
        return []
    btype = block.get("type")
    if btype == "text":
        text = block.get("text", "")
        return [text if isinstance(text, str) else json_text(text)]
    if btype == "tool_use":
        return [str(block.get("name", "")), json_text(block.get("input", {}))]
    if btype == "tool_result" and depth == 0:
        inner = block.get("content")
        if isinstance(inner, str):
            return [inner]
        if isinstance(inner, list):
            return [t for b in inner for t in _block_text(b, 1)]
    return []


def user_text(message: Mapping[str, Any]) -> str | None:
    """The human text of a user message (text parts, not tool results), or None."""
    if message.get("role") != "user":
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content if content.strip() else None
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


def latest_user_text(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The text of the newest user message that carries human text (not only tool results)."""
    for message in reversed(messages):
        text = user_text(message)
        if text is not None:
            return text
    return None


def queries_before(messages: Sequence[Mapping[str, Any]]) -> list[str | None]:
    """For each message, the latest user text *before* it (the question that led to it).

    This is the query that steers a message's compression: it depends only on earlier
    messages, so a message compresses the same way on every later turn."""
    out: list[str | None] = []
    current: str | None = None
    for message in messages:
        out.append(current)
        text = user_text(message)
        if text is not None:
            current = text
    return out
