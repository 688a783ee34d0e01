"""`HeadroomConfig`: the one configuration object, with documented defaults.

Every knob lives here so that the same input and the same config always give the
same output. Per-compressor settings are small nested dataclasses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headroom_core._ccr import CCRStore


@dataclass(frozen=True)
class JsonConfig:
    """SmartCrusher (JSON arrays of records)."""

    keep_first: int = 3
    """Items always kept from the start of an array."""
    keep_last: int = 2
    """Items always kept from the end of an array."""
    max_items: int = 15
    """Soft cap on kept items per array (errors and anomalies may exceed it)."""
    min_items: int = 8
    """Arrays shorter than this are left alone (beyond lossless compaction)."""
    relevant_items: int = 5
    """Items kept for relevance to the query (BM25 top-k)."""
    target_ratio: float = 0.35
    """Lossless table compaction alone is used when it keeps at most this share of tokens."""
    allow_table_form: bool = True
    """Allow the documented compact table form (not JSON). Off: output is always JSON."""


@dataclass(frozen=True)
class CodeConfig:
    enabled: bool = True
    keep_docstring_first_line: bool = True
    relevant_bodies: int = 2
    """Function bodies kept whole because they rank high against the query."""


@dataclass(frozen=True)
class LogConfig:
    enabled: bool = True
    context_lines: int = 2
    """Lines kept before each warning/error."""
    keep_head: int = 5
    keep_tail: int = 5


@dataclass(frozen=True)
class TextConfig:
    """Prose, search results, diffs, test output, HTML."""

    enabled: bool = True
    target_ratio: float = 0.4
    """Share of tokens prose compression aims to keep."""
    matches_per_file: int = 3
    diff_context_lines: int = 1


@dataclass(frozen=True)
class ImageConfig:
    enabled: bool = True
    allow_remote_fetch: bool = False
    """Remote image URLs are never fetched unless this is True."""
    provider: str | None = None
    """'openai', 'anthropic' or 'gemini'; None infers it from the model name."""


@dataclass(frozen=True)
class ContextConfig:
    """Budget fitting, importance scoring, rolling window, CacheAligner."""

    reserve_output_tokens: int = 4096
    """Subtracted from the model's context window when no explicit budget is given."""
    fit_to_model_window: bool = False
    """When True and no token_budget is given, fit into the model's window minus the reserve."""
    semantic: bool = False
    """Use sentence-transformer embeddings (the [semantic] extra) for relevance."""
    learning: bool = True
    """Keep local statistics of which tool outputs get retrieved/referenced."""
    learning_path: str | None = None
    """Where the learning store lives; None: the user cache directory."""
    cache_align: bool = False
    """Move dynamic values (dates, ids) out of the cacheable prefix."""


def _default_ccr_path() -> str | None:
    return os.environ.get("HEADROOM_CCR_DIR") or None


@dataclass(frozen=True)
class HeadroomConfig:
    """All of Headroom's settings. Immutable; build a new one with `dataclasses.replace`."""

    compress_tool_outputs: bool = True
    """Compress tool results (OpenAI `role: tool`, Anthropic `tool_result`), newest included."""
    compress_user_messages: bool = False
    compress_system_messages: bool = False
    compress_assistant_messages: bool = False
    min_tokens: int = 120
    """Messages (or content parts) under this many tokens are left alone."""

    ccr_enabled: bool = True
    """Store what lossy steps drop so it can be retrieved. Off: only lossless steps run."""
    ccr_path: str | None = field(default_factory=_default_ccr_path)
    """Directory of the diskcache CCR store; None: `$HEADROOM_CCR_DIR` or the user cache dir."""
    ccr_ttl_seconds: float | None = 7 * 24 * 3600
    ccr_size_limit_bytes: int = 1 << 30
    ccr_store: CCRStore | None = None
    """An explicit store object (e.g. `MemoryCCRStore()`); overrides the path settings."""

    max_input_bytes: int = 16 * 1024 * 1024
    """Larger text parts are passed through untouched (and stored in CCR) to bound memory."""

    json: JsonConfig = field(default_factory=JsonConfig)
    code: CodeConfig = field(default_factory=CodeConfig)
    logs: LogConfig = field(default_factory=LogConfig)
    text: TextConfig = field(default_factory=TextConfig)
    images: ImageConfig = field(default_factory=ImageConfig)
    context: ContextConfig = field(default_factory=ContextConfig)

    disabled_compressors: frozenset[str] = frozenset()
    """Compressor names to skip, e.g. frozenset({"prose", "code"})."""

    def with_(self, **changes: Any) -> HeadroomConfig:
        """A copy with some fields changed."""
        from dataclasses import replace

        return replace(self, **changes)
