"""Every exception Headroom raises, in one place."""

from __future__ import annotations


class HeadroomError(Exception):
    """Base class for all Headroom errors."""


class TokenizerUnavailableError(HeadroomError):
    """No BPE vocabulary could be loaded (no packaged copy, no cache, no network)."""


class CCRKeyNotFoundError(HeadroomError, KeyError):
    """A CCR key is unknown or its entry has expired."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:  # KeyError would repr() the key; keep it readable
        return (
            f"no stored content for key {self.key!r}: it never existed, expired (TTL) "
            "or was evicted (size limit)"
        )


class CCRStoreError(HeadroomError):
    """The CCR store holds a record Headroom refuses to read (corrupt or foreign)."""


class BudgetExceededError(HeadroomError):
    """Raised only when the caller asks for strict budgets and the protected part alone is over."""


class CompressorFailedWarning(UserWarning):
    """A compressor failed on some input; that part was passed through unchanged.

    Users get a safe pass-through (nothing lost); the test suite turns this into an error.
    """
