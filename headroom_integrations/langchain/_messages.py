"""LangChain messages <-> the engine's message model (OpenAI-format dicts), and back.

The core only ever rewrites content strings and image blocks. So the conversion is
one-way for everything but content: each `BaseMessage` becomes a dict tagged with its
position, the core compresses the dicts, and each message comes back as a copy of the
*original* object with only `content` replaced. `AIMessage.tool_calls`,
`ToolMessage.tool_call_id`, ids, names, artifacts and metadata are never touched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
)
from langchain_core.prompt_values import PromptValue

from headroom_core import (
    DEFAULT_MODEL,
    CompressResult,
    HeadroomConfig,
    compress,
    count_tokens,
)

logger = logging.getLogger("headroom.langchain")

_INDEX_KEY = "_headroom_lc_index"
_VALID_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def to_messages(value: Any) -> list[BaseMessage]:
    """What a chat model accepts (`PromptValue`, `str`, a list of messages, tuples or
    dicts) as a list of `BaseMessage`; a clear `TypeError` for anything else."""
    if isinstance(value, PromptValue):
        return value.to_messages()
    if isinstance(value, str):
        return [HumanMessage(content=value)]
    if isinstance(value, BaseMessage):
        return [value]
    if isinstance(value, Sequence):
        try:
            return convert_to_messages(value)
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise TypeError(f"cannot read these items as chat messages: {exc}") from exc
    raise TypeError(
        "expected a PromptValue, a str or a list of messages (BaseMessage, (role, text) tuples "
        f"or dicts), got {type(value).__name__}"
    )


def _role(message: BaseMessage) -> str:
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, ToolMessage):
        return "tool"
    if isinstance(message, FunctionMessage):
        return "function"
    if isinstance(message, ChatMessage):
        role = message.role.lower()
        if role in ("human",):
            return "user"
        if role in ("ai",):
            return "assistant"
        return role if role in _VALID_ROLES else "user"
    return "user"


def _content_for_core(content: Any) -> Any:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        # Blocks are dicts or strings; the core deep-copies them and only rewrites text
        # and image slots, so anything else it does not know passes through as it is.
        return [b if isinstance(b, (str, dict)) else str(b) for b in content]
    return str(content)


def _args_text(args: Any) -> str:
    try:
        return json.dumps(args, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError) as exc:
        logger.debug("tool-call arguments are not JSON-serialisable (%s): using their str()", exc)
        return str(args)


def message_to_dict(message: BaseMessage, index: int | None = None) -> dict[str, Any]:
    """One `BaseMessage` as an OpenAI-format dict (the form `compress()` reads)."""
    out: dict[str, Any] = {"role": _role(message), "content": _content_for_core(message.content)}
    if isinstance(message, AIMessage) and message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.get("id") or "",
                "type": "function",
                "function": {"name": call["name"], "arguments": _args_text(call.get("args", {}))},
            }
            for call in message.tool_calls
        ]
    if isinstance(message, ToolMessage):
        out["tool_call_id"] = message.tool_call_id
    if message.name and isinstance(message, (ToolMessage, FunctionMessage)):
        out["name"] = message.name
    if index is not None:
        out[_INDEX_KEY] = index
    return out


def messages_to_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    return [message_to_dict(m) for m in messages]


def managed_by_langchain(message: BaseMessage) -> bool:
    """True for what LangChain's own context middlewares wrote: a tool result that
    `ContextEditingMiddleware` cleared (its "[cleared]" placeholder) or the summary message
    of `SummarizationMiddleware`. Headroom hands these on exactly as they are."""
    if isinstance(message, ToolMessage):
        editing = message.response_metadata.get("context_editing")
        if isinstance(editing, Mapping) and editing.get("cleared"):
            return True
    return message.additional_kwargs.get("lc_source") == "summarization"


def _from_core(item: Mapping[str, Any], originals: Sequence[BaseMessage]) -> BaseMessage:
    index = item.get(_INDEX_KEY)
    if isinstance(index, int) and 0 <= index < len(originals):
        original = originals[index]
        if managed_by_langchain(original):
            return original
        content = item.get("content")
        if content is None:
            content = ""
        if content == original.content:
            return original
        return original.model_copy(update={"content": content})
    # A message the core created (e.g. a summary of dropped turns): plain conversion.
    clean = {k: v for k, v in item.items() if k != _INDEX_KEY}
    return convert_to_messages([clean])[0]


@dataclass(frozen=True)
class CompressedMessages:
    """The compressed LangChain messages and the core's report."""

    messages: list[BaseMessage]
    result: CompressResult

    @property
    def tokens_saved(self) -> int:
        return self.result.tokens_saved


def compress_messages(
    messages: Sequence[BaseMessage],
    *,
    model: str = DEFAULT_MODEL,
    query: str | None = None,
    config: HeadroomConfig | None = None,
    token_budget: int | None = None,
) -> CompressedMessages:
    """Run the engine's `compress()` over LangChain messages; the input is never mutated."""
    originals = list(messages)
    for i, message in enumerate(originals):
        if not isinstance(message, BaseMessage):
            raise TypeError(f"message {i} should be a BaseMessage, got {type(message).__name__}")
    dicts = [message_to_dict(m, i) for i, m in enumerate(originals)]
    result = compress(dicts, model, query=query, config=config, token_budget=token_budget)
    out = [_from_core(item, originals) for item in result.messages]
    return CompressedMessages(out, result)


def count_message_tokens(messages: Sequence[BaseMessage], model: str = DEFAULT_MODEL) -> int:
    """Tokens of a LangChain conversation, counted exactly as the engine counts them."""
    return count_tokens(messages_to_dicts(messages), model)


def content_text(content: Any) -> str:
    """The text a model sees of a message content (str, or the text of its blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
        return "\n".join(parts)
    return str(content)


def latest_human_text(messages: Sequence[Any]) -> str | None:
    """The newest human message's text (the default query), or None."""
    for message in reversed(list(messages)):
        if isinstance(message, HumanMessage):
            text = content_text(message.content)
            if text.strip():
                return text
    return None


def model_name_of(chat_model: Any, default: str = DEFAULT_MODEL) -> str:
    """The model name a LangChain chat model is configured with (for the tokenizer)."""
    for attr in ("model_name", "model", "model_id", "deployment_name"):
        value = getattr(chat_model, attr, None)
        if isinstance(value, str) and value:
            return value
    return default


def check_config(value: Any) -> HeadroomConfig | None:
    """Pydantic field validator body for `HeadroomConfig` fields (typed `Any` so that
    pydantic does not try to build a schema for the frozen dataclass and its store)."""
    if value is None or isinstance(value, HeadroomConfig):
        return value
    raise TypeError(f"expected a HeadroomConfig, got {type(value).__name__}")
