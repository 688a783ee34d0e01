"""Token counts of text and of whole conversations.

Conversation overhead follows OpenAI's published accounting for chat models: 3 tokens
per message plus 3 to prime the reply; tool-call names and arguments count as text.
Images are counted by the provider formulas in `headroom_core.images` when that module
can size them, else at the OpenAI low-detail cost (85).

Huge texts (`estimate_tokens`): inside `compress()`, a text part larger than
`ESTIMATE_ABOVE_BYTES` (8 MiB) or than `HeadroomConfig.max_input_bytes`, whichever is
smaller, is not encoded whole: three evenly spaced samples of `SAMPLE_CHARS` each are
counted exactly and the rest is extrapolated by their tokens per character. Such parts are
mostly cut (above `max_input_bytes` only head and tail are kept), and encoding them whole
would be most of the time `compress()` takes. `compress()` reports their counts as
estimates; everything else, and `count_tokens()` itself, is exact.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from headroom_core._config import DEFAULT_MODEL
from headroom_core._messages import _block_text, _is_image, tool_call_texts
from headroom_core._tokenizer import Tokenizer, get_tokenizer

MESSAGE_OVERHEAD = 3
REPLY_PRIMING = 3
FALLBACK_IMAGE_TOKENS = 85
SAMPLE_CHARS = 128 << 10
ESTIMATE_ABOVE_BYTES = 8 << 20


_MEMO_MIN_CHARS = 256
"""Shorter texts are encoded again: hashing them costs about as much as counting."""
_call_counts: ContextVar[dict[str, int] | None] = ContextVar("headroom_call_counts", default=None)


@contextmanager
def counting_scope(memo: dict[str, int]) -> Iterator[dict[str, int]]:
    """Within the block, `known_count` and `count_once` share `memo` (text -> tokens, the
    pipeline's counts for this call): a compressor that needs the count of the text it was
    given, or of the output it made, reuses the pipeline's encode instead of repeating it,
    and the pipeline reuses the compressor's. Scoped to one call (a context variable), so
    no text outlives the call and concurrent calls never share counts."""
    token = _call_counts.set(memo)
    try:
        yield memo
    finally:
        _call_counts.reset(token)


def known_count(text: str) -> int | None:
    """The tokens of `text` if counted already in the current `counting_scope`, else None
    (for a text above the pipeline's estimate limit, the pipeline's estimate)."""
    memo = _call_counts.get()
    if memo is None or len(text) < _MEMO_MIN_CHARS:
        return None
    return memo.get(text)


def count_once(text: str, tokenizer: Tokenizer) -> int:
    """`tokenizer.count(text)`, remembered for the rest of the current `counting_scope`."""
    memo = _call_counts.get()
    if memo is None or len(text) < _MEMO_MIN_CHARS:
        return tokenizer.count(text)
    n = memo.get(text)
    if n is None:
        n = memo[text] = tokenizer.count(text)
    return n


def estimate_limit(max_input_bytes: int) -> int:
    """The size above which `compress()` estimates a part's tokens."""
    return min(max_input_bytes, ESTIMATE_ABOVE_BYTES)


def is_oversize(text: str, limit_bytes: int) -> bool:
    """More than `limit_bytes` of UTF-8 (cheap test first: a char is at most 4 bytes)."""
    return len(text) * 4 > limit_bytes and len(text.encode("utf-8", "surrogatepass")) > limit_bytes


def estimate_tokens(text: str, tokenizer: Tokenizer, above_bytes: int | None = None) -> int:
    """Exact, unless `text` is larger than `above_bytes` of UTF-8: then extrapolated from
    three samples (head, middle, tail), so the cost is bounded whatever the size.
    Deterministic."""
    if above_bytes is None or len(text) <= 3 * SAMPLE_CHARS or not is_oversize(text, above_bytes):
        return tokenizer.count(text)
    mid = len(text) // 2 - SAMPLE_CHARS // 2
    samples = (text[:SAMPLE_CHARS], text[mid : mid + SAMPLE_CHARS], text[-SAMPLE_CHARS:])
    sampled = sum(tokenizer.count(s) for s in samples)
    return max(1, round(sampled * len(text) / (3 * SAMPLE_CHARS)))


def image_tokens(block: Mapping[str, Any], model: str, provider: str | None = None) -> int:
    try:
        from headroom_core.images import estimate_block_tokens
    except ImportError:  # the [image] extra is not installed
        return FALLBACK_IMAGE_TOKENS
    return estimate_block_tokens(block, model, provider)


class _Counter:
    """Counts text with a memo, so one `compress()` call never encodes the same string twice."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        memo: dict[str, int] | None = None,
        image_provider: str | None = None,
        estimate_above: int | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.memo = memo if memo is not None else {}
        self.image_provider = image_provider
        self.estimate_above = estimate_above

    def __call__(self, text: str) -> int:
        if len(text) < 256:  # hashing is not worth it for short strings
            return self.tokenizer.count(text)
        n = self.memo.get(text)
        if n is None:
            n = self.memo[text] = estimate_tokens(text, self.tokenizer, self.estimate_above)
        return n


def _content_tokens(content: Any, count: Any, model: str, nested: bool = False) -> int:
    if isinstance(content, str):
        return count(content)
    total = 0
    if isinstance(content, list):
        for block in content:
            if isinstance(block, Mapping) and _is_image(block):
                total += image_tokens(block, model, count.image_provider)
            elif isinstance(block, Mapping) and block.get("type") == "tool_result" and not nested:
                total += _content_tokens(block.get("content"), count, model, nested=True)
            else:
                total += sum(count(t) for t in _block_text(block))
    return total


def count_message_tokens(
    message: Mapping[str, Any],
    model: str = DEFAULT_MODEL,
    *,
    memo: dict[str, int] | None = None,
    image_provider: str | None = None,
    estimate_above: int | None = None,
) -> int:
    """Tokens of one message: overhead, content (text, tool results, images), tool calls.

    `estimate_above` (what `compress()` passes: `max_input_bytes`) estimates larger texts."""
    count = _Counter(get_tokenizer(model), memo, image_provider, estimate_above)
    total = MESSAGE_OVERHEAD + _content_tokens(message.get("content"), count, model)
    for name, arguments in tool_call_texts(message):
        total += count(name) + count(arguments)
    if isinstance(message.get("name"), str):
        total += count(message["name"])
    return total


def count_tokens(
    text_or_messages: str | Sequence[Mapping[str, Any]],
    model: str = DEFAULT_MODEL,
    *,
    memo: dict[str, int] | None = None,
    image_provider: str | None = None,
    estimate_above: int | None = None,
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
    messages: list[Mapping[str, Any]] = []
    for i, message in enumerate(text_or_messages):
        if not isinstance(message, Mapping):
            raise TypeError(f"message {i} should be a dict, got {type(message).__name__}")
        messages.append(message)
    memo = memo if memo is not None else {}
    return REPLY_PRIMING + sum(
        count_message_tokens(
            m, model, memo=memo, image_provider=image_provider, estimate_above=estimate_above
        )
        for m in messages
    )
