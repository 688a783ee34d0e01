"""Token counts of text and of whole conversations.

Conversation overhead follows OpenAI's published accounting for chat models: 3 tokens
per message plus 3 to prime the reply; tool-call names and arguments count as text.
Images are counted by the provider formulas in `headroom_core.images` when that module
can size them, else at the OpenAI low-detail cost (85).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from headroom_core._messages import _block_text, _is_image
from headroom_core._tokenizer import Tokenizer, get_tokenizer

MESSAGE_OVERHEAD = 3
REPLY_PRIMING = 3
FALLBACK_IMAGE_TOKENS = 85


def image_tokens(block: Mapping[str, Any], model: str, provider: str | None = None) -> int:
    try:
        from headroom_core.images import estimate_block_tokens
    except ImportError:  # the [image] extra is not installed
        return FALLBACK_IMAGE_TOKENS
    return estimate_block_tokens(block, model, provider)


class _Counter:
    """Counts text with a memo, so one `compress()` call never encodes the same string twice."""

    def __init__(
        self, tokenizer: Tokenizer, memo: dict[str, int] | None = None, image_provider: str | None = None
    ) -> None:
        self.tokenizer = tokenizer
        self.memo = memo if memo is not None else {}
        self.image_provider = image_provider

    def __call__(self, text: str) -> int:
        if len(text) < 256:  # hashing is not worth it for short strings
            return self.tokenizer.count(text)
        n = self.memo.get(text)
        if n is None:
            n = self.memo[text] = self.tokenizer.count(text)
        return n


def _content_tokens(content: Any, count: Any, model: str) -> int:
    if isinstance(content, str):
        return count(content)
    total = 0
    if isinstance(content, list):
        for block in content:
            if isinstance(block, Mapping) and _is_image(block):
                total += image_tokens(block, model, count.image_provider)
            elif isinstance(block, Mapping) and block.get("type") == "tool_result":
                total += _content_tokens(block.get("content"), count, model)
            else:
                total += sum(count(t) for t in _block_text(block))
    return total


def count_message_tokens(
    message: Mapping[str, Any],
    model: str = "gpt-4o",
    *,
    memo: dict[str, int] | None = None,
    image_provider: str | None = None,
) -> int:
    """Tokens of one message: overhead, content (text, tool results, images), tool calls."""
    count = _Counter(get_tokenizer(model), memo, image_provider)
    total = MESSAGE_OVERHEAD + _content_tokens(message.get("content"), count, model)
    for call in message.get("tool_calls") or ():
        if isinstance(call, Mapping):
            fn = call.get("function") or {}
            total += count(str(fn.get("name", ""))) + count(str(fn.get("arguments", "")))
    if isinstance(message.get("name"), str):
        total += count(message["name"])
    return total


def count_tokens(
    text_or_messages: str | Sequence[Mapping[str, Any]],
    model: str = "gpt-4o",
    *,
    memo: dict[str, int] | None = None,
    image_provider: str | None = None,
) -> int:
    """Tokens in a string, or in a whole conversation (with per-message overhead).

    Images are priced for `image_provider` ('openai', 'anthropic', 'gemini'); None infers
    it from the model name.

    `memo` (text -> count) lets a caller that counts the same long strings again (the
    pipeline: before, per slot, after) pay for each encode once.
    """
    if isinstance(text_or_messages, str):
        return get_tokenizer(model).count(text_or_messages)
    if isinstance(text_or_messages, (bytes, bytearray)):
        raise TypeError("count_tokens() takes text (str) or a list of messages, not bytes")
    if not isinstance(text_or_messages, Sequence):
        raise TypeError(
            f"count_tokens() expected a str or a list of message dicts, got {type(text_or_messages).__name__}"
        )
    if not text_or_messages:
        return 0
    for i, message in enumerate(text_or_messages):
        if not isinstance(message, Mapping):
            raise TypeError(f"message {i} should be a dict, got {type(message).__name__}")
    memo = memo if memo is not None else {}
    return REPLY_PRIMING + sum(
        count_message_tokens(m, model, memo=memo, image_provider=image_provider) for m in text_or_messages
    )


def json_text(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()
