"""The proxy's only contact with the engine: request JSON in, `headroom_core.compress` on its
messages, request JSON out. No compression logic lives here.

Anthropic Messages and OpenAI Chat Completions bodies carry a `messages` list the core takes
as it is. The Responses API carries `input` items; they are viewed as chat messages (a
`function_call` as an assistant tool call, a `function_call_output` as a tool message) so the
core sees the same conversation, and only the tool outputs the core changed are written back.
Everything else in the body (system, tools, sampling knobs, unknown keys) is left as it was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headroom_core._ccr import RETRIEVE_TOOL_NAME

ANTHROPIC = "anthropic"
OPENAI_CHAT = "openai_chat"
OPENAI_RESPONSES = "openai_responses"

_MARKER_NEEDLE = (RETRIEVE_TOOL_NAME + "(key=").encode()


@dataclass
class Outcome:
    """What compression did to one request."""

    status: str
    """'compressed', 'unchanged', 'bypass', 'off', 'failed-open' or 'timeout'."""
    payload: dict[str, Any] | None = None
    """The body to send when it changed; None: send the client's bytes."""
    tokens_before: int | None = None
    tokens_after: int | None = None
    ccr_keys: tuple[str, ...] = ()
    body: bytes | None = None
    """`payload` serialised (with `headroom_retrieve` added when `intercept`)."""
    intercept: bool = False
    """True when the proxy added `headroom_retrieve` and so answers its calls itself."""


def loads(body: bytes) -> dict[str, Any] | None:
    """The request JSON. The stdlib parser keeps integers of any size exact (orjson would turn
    integers past 64 bits into floats), so values the proxy leaves alone stay the same values."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def dumps(payload: Any) -> bytes:
    """Compact JSON, same key order as received; same value in, same bytes out."""
    try:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \\ud800 escape: keep it escaped
        return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def carries_markers(body: bytes) -> bool:
    return _MARKER_NEEDLE in body


def compress_request(kind: str, payload: Mapping[str, Any], config: Any) -> Outcome:
    """Compress one request body (runs in a worker thread; may raise: the caller fails open)."""
    from headroom_core import compress

    model = payload.get("model")
    model = model if isinstance(model, str) and model else _default_model(kind)
    if kind == OPENAI_RESPONSES:
        return _compress_responses(payload, model, config, compress)
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        return Outcome("unchanged")
    result = compress(messages, model, config=config)
    # Decided by content, not by the token total: a message the engine rewrote is sent rewritten
    # on every turn, even on a turn where that saves nothing, so the upstream prefix never flips.
    if result.messages == messages:
        return Outcome("unchanged", None, result.tokens_before, result.tokens_after)
    new = dict(payload)
    new["messages"] = result.messages
    return Outcome("compressed", new, result.tokens_before, result.tokens_after, tuple(result.ccr_keys))


def _default_model(kind: str) -> str:
    return "claude" if kind == ANTHROPIC else "gpt-4o"


def _text_of_parts(content: Any) -> Any:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = [
            p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
        ]
        return "\n".join(texts)
    return None


def _compress_responses(payload: Mapping[str, Any], model: str, config: Any, compress: Any) -> Outcome:
    items = payload.get("input")
    if not isinstance(items, list) or not items:
        return Outcome("unchanged")  # a plain string input is the user's own text
    messages: list[dict[str, Any]] = []
    outputs: dict[int, int] = {}  # message index -> item index, for tool outputs only
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type", "message")
        if kind == "message" and isinstance(item.get("role"), str):
            messages.append({"role": item["role"], "content": _text_of_parts(item.get("content"))})
        elif kind == "function_call":
            call = {"name": item.get("name", ""), "arguments": item.get("arguments", "")}
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": str(item.get("call_id")), "type": "function", "function": call}],
                }
            )
        elif kind == "function_call_output" and isinstance(item.get("output"), str):
            outputs[len(messages)] = i
            messages.append(
                {"role": "tool", "tool_call_id": str(item.get("call_id")), "content": item["output"]}
            )
    if not outputs:
        return Outcome("unchanged")
    result = compress(messages, model, config=config)
    new_items = list(items)
    for mi, ii in outputs.items():
        text = result.messages[mi]["content"]
        if text != items[ii]["output"]:
            new_items[ii] = {**items[ii], "output": text}
    if new_items == items:
        return Outcome("unchanged", None, result.tokens_before, result.tokens_after)
    new = dict(payload)
    new["input"] = new_items
    return Outcome("compressed", new, result.tokens_before, result.tokens_after, tuple(result.ccr_keys))
