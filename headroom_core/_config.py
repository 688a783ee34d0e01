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
    truncate_chars: int = 160
    """All-rows mode: long strings of ordinary items are cut to this many characters."""
    max_error_items: int = 200
    """Cap on error-like items kept per array (the rest are counted and retrievable)."""
    max_anomalies: int = 10
    """Cap on numeric outliers kept per array (strongest first)."""
    table_min_rows: int = 3
    """Uniform record arrays shorter than this are never turned into a table."""


@dataclass(frozen=True)
class CodeConfig:
    """The code compressor (tree-sitter outlines: signatures kept, bodies elided to CCR)."""

    enabled: bool = True
    keep_docstring_first_line: bool = True
    relevant_bodies: int = 2
    """Function bodies kept whole because they rank high against the query."""
    min_body_lines: int = 4
    """Bodies with fewer lines than this are never elided (the marker would not pay)."""
    shorten_comments: bool = True
    """Shorten comment blocks and module/class docstrings to their first line."""
    max_comment_lines: int = 3
    """Comment blocks and docstrings of at most this many lines are left whole."""
    max_relevant_body_lines: int = 400
    """Functions longer than this are not kept whole for BM25 relevance (name matches are)."""
    max_relevant_chars: int = 4000
    """Characters of each function scored against the query (bounds the work)."""
    max_chars: int = 4_000_000
    """Longer texts are left alone."""
    max_line_chars: int = 5000
    """Texts with a longer line (minified, generated, binary) are left alone."""


@dataclass(frozen=True)
class LogConfig:
    enabled: bool = True
    context_lines: int = 2
    """Lines kept before each warning/error."""
    keep_head: int = 5
    keep_tail: int = 5
    relevant_lines: int = 5
    """Other lines kept verbatim because they rank highest against the query (BM25)."""
    test_failure_lines: int = 40
    """Test output: a failure's traceback longer than this keeps its key lines (the failing
    source line, `E` lines, file:line locations, head and tail); the rest goes to CCR."""


@dataclass(frozen=True)
class TextConfig:
    """Prose, search results, diffs, test output, HTML."""

    enabled: bool = True
    target_ratio: float = 0.4
    """Share of tokens prose compression aims to keep."""
    matches_per_file: int = 3
    """Search results: matches shown per file beyond the query-relevant ones."""
    max_shown_matches: int = 40
    """Search results: soft cap on matches shown in total (query-relevant ones first)."""
    search_context_lines: int = 1
    """Search results with context (`rg -C`): context lines kept around a shown match that
    is not query-relevant (relevant matches keep all of theirs)."""
    diff_context_lines: int = 1
    """Diffs: unchanged lines kept on each side of a change."""
    diff_focus_min_files: int = 6
    """Diffs: when the query names some files and the diff touches at least this many,
    the other files are reduced to their headers and line counts."""
    min_prose_tokens: int = 200
    """Prose: shorter texts are left alone (not worth an extractive pass)."""


@dataclass(frozen=True)
class ImageConfig:
    enabled: bool = True
    allow_remote_fetch: bool = False
    """Remote image URLs are never fetched unless this is True."""
    provider: str | None = None
    """'openai', 'anthropic' or 'gemini'; None infers it from the model name."""
    min_ssim: float = 0.85
    """Quality bar: SSIM against what the provider would have seen of the original."""
    min_detail: float = 0.78
    """Quality bar: share of edge strength kept at half resolution (text-legibility proxy)."""
    use_router: bool = True
    """Let the trained router pick the first level to try; off: try the strongest first."""
    allow_low_detail: bool = True
    """Allow OpenAI `detail: "low"` (and the small size on other providers)."""
    crop_borders: bool = True
    dedupe: bool = True
    """Later copies of an image in one `compress()` call become a reference to the first."""
    jpeg_quality: int = 85
    max_pixels: int = 40_000_000
    """Images with more pixels (from the header) are never decoded: passed through."""
    max_payload_bytes: int = 25 * 1024 * 1024
    """Larger images are passed through untouched."""
    min_tokens: int = 100
    """Images that cost fewer tokens are left alone."""
    fetch_timeout_seconds: float = 10.0


@dataclass(frozen=True)
class ContextConfig:
    """Budget fitting, importance scoring, rolling window, CacheAligner."""

    reserve_output_tokens: int = 4096
    """Subtracted from the model's context window when no explicit budget is given."""
    fit_to_model_window: bool = False
    """When True and no token_budget is given, fit into the model's window minus the reserve."""
    semantic: bool = False
    """Use sentence-transformer embeddings (the [semantic] extra) for relevance."""
    learning: bool = False
    """Keep local statistics of which tool outputs get retrieved/referenced, and let them
    raise those tools' priority in budget fitting. Off by default: with it on, the same
    input can be fitted differently as the store learns, and the brief promises
    byte-identical output for the same input and config."""
    learning_path: str | None = None
    """Where the learning store lives; None: the user cache directory."""
    cache_align: bool = False
    """Move dynamic values (dates, ids) out of the cacheable prefix."""
    strategy: str = "importance"
    """Budget fitting order: 'importance' (multi-factor score, lowest first) or
    'rolling_window' (oldest first)."""
    strict_budget: bool = False
    """Raise `BudgetExceededError` when the protected messages alone exceed the budget
    (default: return them, with `ContextReport.over_budget` set)."""
    protect_first_user: bool = True
    """Never drop the first user message (the task statement)."""
    shrink_min_tokens: int = 600
    """Messages at least this large are shrunk (head kept, rest to CCR) before being dropped."""
    shrink_keep_tokens: int = 200
    """Tokens of a shrunk text kept inline (cut at a line boundary)."""
    recency_half_life: int = 16
    """Messages: the recency factor halves every this many messages back from the end."""
    weight_recency: float = 0.30
    weight_role: float = 0.10
    weight_relevance: float = 0.25
    weight_errors: float = 0.15
    weight_references: float = 0.10
    weight_learned: float = 0.10
    learning_max_tools: int = 200
    """Bound on the learning store: tools tracked (least used evicted first)."""
    learning_max_keys: int = 4000
    """Bound on the learning store: CCR keys remembered (to credit retrievals to a tool)."""
    cache_anthropic_breakpoints: bool = False
    """With `cache_align`: add Anthropic `cache_control` breakpoints on the stable prefix."""


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
