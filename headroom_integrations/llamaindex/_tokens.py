"""Which tokenizer counts a budget: the caller's, LlamaIndex's `Settings.tokenizer`, or the core's.

LlamaIndex lazily installs its own default tokenizer (tiktoken's gpt-3.5-turbo encoding)
the first time anything asks for `Settings.tokenizer`. That default is not a user
choice, so it must not override the core tokenizer of the model the caller named. We
read the module global directly: calling the `Settings.tokenizer` getter would install
the default as a side effect.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from headroom_core import count_tokens

TokenizerFn = Callable[[str], Sequence[Any]]
TokenCounter = Callable[[str], int]


def _is_llamaindex_default(tokenizer: Any) -> bool:
    """True for the tokenizer `llama_index.core.utils.get_tokenizer()` installs by itself."""
    if not isinstance(tokenizer, functools.partial) or tokenizer.args:
        return False
    if tokenizer.keywords != {"allowed_special": "all"}:
        return False
    encoding = getattr(tokenizer.func, "__self__", None)
    return (
        getattr(tokenizer.func, "__name__", "") == "encode"
        and type(encoding).__name__ == "Encoding"
        and getattr(encoding, "name", None) == "cl100k_base"
    )


def user_settings_tokenizer() -> TokenizerFn | None:
    """The tokenizer the user set through `Settings.tokenizer`, or None if they set none."""
    import llama_index.core

    tokenizer = getattr(llama_index.core, "global_tokenizer", None)
    if tokenizer is None or _is_llamaindex_default(tokenizer):
        return None
    return tokenizer


def token_counter(model: str, tokenizer: TokenizerFn | None = None) -> TokenCounter:
    """A text -> token count function: explicit tokenizer, else Settings.tokenizer, else the core's."""
    chosen = tokenizer if tokenizer is not None else user_settings_tokenizer()
    if chosen is None:
        return lambda text: count_tokens(text, model)

    def count(text: str) -> int:
        return len(chosen(text)) if text else 0

    return count
