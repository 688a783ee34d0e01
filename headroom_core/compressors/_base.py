"""The contract every compressor implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from headroom_core import _ccr

if TYPE_CHECKING:
    from headroom_core._config import HeadroomConfig
    from headroom_core._tokenizer import Tokenizer


@dataclass(frozen=True)
class CompressContext:
    """Everything a compressor may consult. Compressors keep no state between calls."""

    config: HeadroomConfig
    tokenizer: Tokenizer
    store: _ccr.CCRStore | None
    """None when CCR is disabled: then only lossless transforms are allowed."""
    query: str | None = None
    tool_name: str | None = None
    tool_args: Mapping[str, Any] | None = None
    role: str = "tool"
    language: str | None = None
    """Set for code segments: the language the router detected ('python', 'go', ...)."""
    original_for: Mapping[str, str] | None = None
    """Texts the pipeline cleaned before routing (terminal colour codes removed) -> the
    caller's exact text, so that what a compressor stashes is always the caller's bytes."""
    stashed: set[str] = field(default_factory=set, compare=False, repr=False)
    """Keys stored through this context (shared by its `dataclasses.replace` copies): the
    store never evicts them to make room for another record of the same call. The pipeline
    passes one set to every context of a `compress()` call."""

    def stash(self, original: str, kind: str, **meta: Any) -> str:
        """Store `original` in CCR and return its key (requires `can_drop`).

        Raises `CCRStoreError` when the store cannot take the record (too large, full of
        this call's records, read-only, corrupt, I/O error): compressors let it propagate
        and the pipeline redoes that text losslessly, so no marker ever points nowhere.
        """
        if self.store is None:
            raise RuntimeError("CCR is disabled; a lossy compressor must check ctx.can_drop")
        if self.original_for is not None and original in self.original_for:
            original = self.original_for[original]
        key = _ccr.stash(self.store, original, kind, keep=self.stashed, **meta)
        self.stashed.add(key)
        return key

    @property
    def can_drop(self) -> bool:
        """True when lossy steps are allowed (CCR is on, so nothing is lost)."""
        return self.store is not None

    def marker(self, description: str, key: str) -> str:
        return _ccr.make_marker(description, key)


@dataclass(frozen=True)
class Compressed:
    """A compressor's output for one piece of text."""

    text: str
    ccr_keys: tuple[str, ...] = ()
    summary: str = ""
    """One line for humans and `transforms_applied`, e.g. '310 passed, 2 failed'."""


class Compressor(Protocol):
    """Turns one piece of text into a smaller one, or returns None to leave it alone.

    Must be deterministic, must never raise on odd input (return None instead), and must
    either keep, summarize or stash (via `ctx.stash`) everything it drops.
    """

    name: ClassVar[str]

    def compress(self, text: str, ctx: CompressContext) -> Compressed | None: ...
