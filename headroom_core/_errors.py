"""Every exception Headroom raises, in one place."""

from __future__ import annotations


class HeadroomError(Exception):
    """Base class for all Headroom errors."""


class TokenizerUnavailableError(HeadroomError):
    """No BPE vocabulary could be loaded (no packaged copy, no cache, no network)."""


KEY_ECHO_CHARS = 40
"""Errors quote at most this many characters of a CCR key: a caller (or a model) may pass a
whole document as a "key", and the error text goes back to that model."""


def echo_key(key: object) -> str:
    """`key` as errors quote it: a short prefix, never the whole of a huge string."""
    text = key if isinstance(key, str) else repr(key)
    if len(text) <= KEY_ECHO_CHARS:
        return text
    return f"{text[:KEY_ECHO_CHARS]}... ({len(text):,} characters)"


class CCRKeyNotFoundError(HeadroomError, KeyError):
    """A CCR key is unknown or its entry has expired."""

    def __init__(self, key: str) -> None:
        short = echo_key(key)
        super().__init__(short)
        self.key = short
        """The key as given, cut to a short prefix when it is long (see `KEY_ECHO_CHARS`)."""

    def __str__(self) -> str:  # KeyError would repr() the key; keep it readable
        return (
            f"no stored content for key {self.key!r}: it never existed, expired (TTL) "
            "or was evicted (size limit)"
        )


class CCRStoreError(HeadroomError):
    """The CCR store cannot take or give back a record.

    Raised when a record fails its integrity check (corrupt or tampered), when the store
    cannot be opened, read or written (corrupt database, read-only or missing directory, a
    path that is a file), and when a record is refused because it cannot fit in the store.
    `compress()` never lets it escape (it falls back to lossless compression); `retrieve()`
    raises it so the caller can tell the model the content is unavailable.
    """


class BudgetExceededError(HeadroomError):
    """Raised only when the caller asks for strict budgets and the protected part alone is over."""


class CompressorFailedWarning(UserWarning):
    """A compressor failed on some input; that part was passed through unchanged.

    Users get a safe pass-through (nothing lost); the test suite turns this into an error.
    """


class MLModelUnavailableError(HeadroomError):
    """An optional ML compressor (LLMLingua-2) cannot load its model: the weights are not
    in the given directory or the local Hugging Face cache, or the `llmlingua` extra is not
    installed. The message names the model expected and how to fetch it. `compress()` never
    lets it escape: the text is compressed by the extractive prose compressor instead."""


class PriceFileError(HeadroomError, ValueError):
    """A price file (shipped, `$HEADROOM_PRICES` or given to `load_prices`) cannot be read or
    has a bad entry. The message is one line naming the file and the entry."""
