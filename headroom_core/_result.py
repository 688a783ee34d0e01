"""What `compress()` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headroom_core._config import DEFAULT_MODEL

if TYPE_CHECKING:
    from headroom_core.context import ContextReport


@dataclass(frozen=True)
class Transform:
    """What happened to one message (or one content part of it)."""

    message_index: int
    role: str
    route: str
    """Content kinds found, e.g. 'json', 'log', 'code:python', 'text+json'."""
    compressor: str
    """Compressors that ran, e.g. 'smart_crusher'; 'none' when left as it was."""
    tokens_before: int
    tokens_after: int
    ccr_keys: tuple[str, ...] = ()
    summary: str = ""
    part_index: int | None = None
    """Content block index within the message (None for plain string content)."""
    sub_index: int | None = None
    """For an Anthropic tool_result whose content is a list: the part inside it."""


@dataclass(frozen=True)
class CompressResult:
    """The compressed messages, in the format they came in, and what was done to them."""

    messages: list[Any]
    tokens_before: int
    tokens_after: int
    transforms_applied: list[Transform] = field(default_factory=list)
    ccr_keys: list[str] = field(default_factory=list)
    format: str = "openai"
    model: str = DEFAULT_MODEL
    context: ContextReport | None = None
    """Budget fitting / cache alignment report, when those ran (`ContextReport`; with the
    default 'stable' budget strategy, `context.stable_prefix_since` says from which turn
    on the requests share their prefix)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after

    @property
    def compression_ratio(self) -> float:
        """Share of tokens saved: `f"{r.compression_ratio:.0%}"` reads e.g. '92%'."""
        return self.tokens_saved / self.tokens_before if self.tokens_before else 0.0
