"""LlamaIndex `ChatMessage` <-> OpenAI-format message dicts (the engine's message model).

Only what the engine reads is converted: text, images with a URL or inline bytes, tool
calls and tool-call ids. Every dict carries the index of the message it came from, so
the way back starts from the original `ChatMessage` and replaces only the text (or image)
the engine changed; other blocks (thinking, audio, documents...) and `additional_kwargs`
survive untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, MessageRole, TextBlock, ToolCallBlock

logger = logging.getLogger("headroom.llamaindex")

SOURCE_INDEX_KEY = "headroom_source_index"
"""Extra key on each converted dict: position of the ChatMessage it came from."""

_ROLE_TO_OPENAI = {
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "developer",
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.FUNCTION: "function",
    MessageRole.TOOL: "tool",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
}


def _image_url(block: ImageBlock) -> str | None:
    """A URL the engine can size, without touching the network or the file system."""
    if block.url is not None:
        return str(block.url)
    if isinstance(block.image, bytes) and block.image:
        mimetype = block.image_mimetype or "image/png"
        return f"data:{mimetype};base64,{block.image.decode('ascii', 'replace')}"
    return None


def _arguments(kwargs: Any) -> str:
    if isinstance(kwargs, str):
        return kwargs
    return orjson.dumps(kwargs, default=str, option=orjson.OPT_SORT_KEYS).decode()


def _tool_calls(message: ChatMessage) -> list[dict[str, Any]]:
    calls = [
        {
            "id": block.tool_call_id or f"call_{i}",
            "type": "function",
            "function": {"name": block.tool_name, "arguments": _arguments(block.tool_kwargs)},
        }
        for i, block in enumerate(message.blocks)
        if isinstance(block, ToolCallBlock)
    ]
    if calls:
        return calls
    # Older integrations keep OpenAI tool-call objects in additional_kwargs.
    for raw in message.additional_kwargs.get("tool_calls") or ():
        call = raw.model_dump() if hasattr(raw, "model_dump") else raw
        if isinstance(call, Mapping) and isinstance(call.get("function"), Mapping):
            fn = call["function"]
            calls.append(
                {
                    "id": str(call.get("id", "")),
                    "type": "function",
                    "function": {
                        "name": str(fn.get("name", "")),
                        "arguments": _arguments(fn.get("arguments")),
                    },
                }
            )
    return calls


def _parts(message: ChatMessage) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            url = _image_url(block)
            if url is not None:
                part: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
                if block.detail:
                    part["image_url"]["detail"] = block.detail
                parts.append(part)
    return parts


def to_openai(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """OpenAI-format dicts for `messages`, each tagged with its source index."""
    out: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, ChatMessage):
            raise TypeError(
                f"message {index} should be a llama_index ChatMessage, got {type(message).__name__}"
            )
        parts = _parts(message)
        content: Any
        if any(p["type"] != "text" for p in parts):
            content = parts
        else:
            content = "\n".join(p["text"] for p in parts) if parts else None
        entry: dict[str, Any] = {
            "role": _ROLE_TO_OPENAI.get(message.role, "user"),
            "content": content,
            SOURCE_INDEX_KEY: index,
        }
        calls = _tool_calls(message)
        if calls:
            entry["tool_calls"] = calls
        call_id = message.additional_kwargs.get("tool_call_id")
        if call_id is not None and entry["role"] in ("tool", "function"):
            entry["tool_call_id"] = str(call_id)
        name = message.additional_kwargs.get("name")
        if isinstance(name, str) and entry["role"] in ("tool", "function"):
            entry["name"] = name
        out.append(entry)
    return out


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text"
        )
    return ""


def _replace_text(message: ChatMessage, text: str) -> ChatMessage:
    """`message` with its text blocks replaced by one block holding `text` (others kept)."""
    blocks: list[Any] = []
    placed = False
    for block in message.blocks:
        if isinstance(block, TextBlock):
            if not placed:
                blocks.append(TextBlock(text=text))
                placed = True
            continue
        blocks.append(block)
    if not placed:
        blocks.insert(0, TextBlock(text=text))
    return message.model_copy(update={"blocks": blocks})


def _replace_parts(message: ChatMessage, parts: list[Any]) -> ChatMessage:
    """Map changed content parts back onto the text/image blocks they came from, in order."""
    originals = _parts(message)
    if len(parts) != len(originals):  # the engine reshaped the message: keep its text only
        return _replace_text(message, _text_of(parts))
    convertible = [b for b in message.blocks if isinstance(b, (TextBlock, ImageBlock)) and _is_sent(b)]
    replacement: dict[int, Any] = {}
    for block, before, after in zip(convertible, originals, parts):
        if after == before or not isinstance(after, Mapping):
            continue
        if after.get("type") == "text":
            replacement[id(block)] = TextBlock(text=str(after.get("text", "")))
        elif after.get("type") == "image_url":
            try:
                replacement[id(block)] = ImageBlock(url=str(after["image_url"]["url"]))
            except (KeyError, TypeError, ValueError) as exc:
                logger.warning("keeping the original image block: the compressed one is unusable (%s)", exc)
                continue
    blocks = [replacement.get(id(b), b) for b in message.blocks]
    return message.model_copy(update={"blocks": blocks})


def _is_sent(block: Any) -> bool:
    return isinstance(block, TextBlock) or (isinstance(block, ImageBlock) and _image_url(block) is not None)


def from_openai(dicts: Sequence[Mapping[str, Any]], originals: Sequence[ChatMessage]) -> list[ChatMessage]:
    """ChatMessages for the engine's output `dicts`, reusing `originals` where they came from."""
    out: list[ChatMessage] = []
    sent = to_openai(originals)
    for entry in dicts:
        index = entry.get(SOURCE_INDEX_KEY)
        if isinstance(index, int) and 0 <= index < len(originals):
            original = originals[index]
            content = entry.get("content")
            if content == sent[index]["content"]:
                out.append(original)
            elif isinstance(content, list) and isinstance(sent[index]["content"], list):
                out.append(_replace_parts(original, content))
            else:
                out.append(_replace_text(original, _text_of(content)))
            continue
        # A message the engine wrote itself (e.g. a summary of dropped turns).
        role = str(entry.get("role") or "user")
        try:
            message_role = MessageRole(role)
        except ValueError:
            logger.debug("unknown role %r in a message the engine wrote; using 'user'", role)
            message_role = MessageRole.USER
        out.append(ChatMessage(role=message_role, content=_text_of(entry.get("content"))))
    return out


def chat_messages_to_openai(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Public form of the conversion, without the bookkeeping key."""
    return [{k: v for k, v in d.items() if k != SOURCE_INDEX_KEY} for d in to_openai(messages)]
