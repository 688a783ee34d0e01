"""`HeadroomConfig`: the one configuration object, with documented defaults.

Every knob lives here so that the same input and the same config always give the
same output. Per-compressor settings are small nested dataclasses.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from headroom_core._ccr import CCRStore

DEFAULT_MODEL = "gpt-4o"
"""The model `compress()`, `compress_text()` and `count_tokens()` assume when none is named."""

BudgetStrategy = Literal["stable", "importance", "rolling_window"]
ImageProvider = Literal["openai", "anthropic", "gemini"]
MLTextCompressor = Literal["llmlingua2"]
LLMLINGUA2_DEFAULT_MODEL = "microsoft/llmlingua-2-bert-base-multilingual-cased-meetingbank"
"""The LLMLingua-2 model `TextConfig.ml_model` names by default (fetch it once with
`huggingface-cli download microsoft/llmlingua-2-bert-base-multilingual-cased-meetingbank`)."""

_UNIT_INTERVAL = frozenset(
    {"target_ratio", "min_ssim", "min_detail", "low_water_ratio"}
)  # fields that are shares: 0 <= x <= 1
_POSITIVE = frozenset({"max_input_bytes", "ccr_size_limit_bytes", "recency_half_life"})


def _check_fields(obj: Any) -> None:
    """Validate a config dataclass by its annotations: bools are bools, ints are
    non-negative ints, floats are finite non-negative numbers, shares lie in [0, 1].
    A wrong value is a `ValueError`/`TypeError` naming the field, at construction."""
    cls = type(obj).__name__
    for f in fields(obj):
        value = getattr(obj, f.name)
        annotation = str(f.type).replace(" ", "")
        optional = annotation.endswith("|None") or annotation.startswith("None|")
        base = annotation.replace("|None", "").replace("None|", "")
        if value is None:
            if optional:
                continue
            if base in ("bool", "int", "float"):
                raise TypeError(f"{cls}.{f.name} must be {base}, got None")
            continue
        if base == "bool":
            if not isinstance(value, bool):
                raise TypeError(f"{cls}.{f.name} must be True or False, got {value!r}")
        elif base == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{cls}.{f.name} must be an int, got {value!r}")
        elif base == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise TypeError(f"{cls}.{f.name} must be a finite number, got {value!r}")
        else:
            continue
        if base in ("int", "float"):
            if value < 0:
                raise ValueError(f"{cls}.{f.name} must be >= 0, got {value!r}")
            if f.name in _POSITIVE and value <= 0:
                raise ValueError(f"{cls}.{f.name} must be > 0, got {value!r}")
            if f.name in _UNIT_INTERVAL and value > 1:
                raise ValueError(f"{cls}.{f.name} must be between 0 and 1, got {value!r}")


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
    lossless_max_tokens: int | None = 2000
    """The lossless form is used only up to this many tokens (None: no cap); a larger
    document keeps selected items and stashes the rest, even when its table is small
    relative to the input."""
    max_extreme_fields: int = 4
    """Numeric fields whose maximum and minimum rows are kept (query-named fields first):
    at most twice this many extra rows per array."""
    nested_depth: int = 3
    """Nested record fields are analysed by dotted path (`properties.mag`) to this depth."""
    map_min_keys: int = 200
    """Objects with at least this many keys are treated as maps (like arrays): query-named
    keys, the first and last entries and notable values kept, the rest stashed."""


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
    """Longer sources are outlined by parts (cut between top-level definitions) of at least
    a quarter of this, one parse tree at a time."""
    max_line_chars: int = 5000
    """Texts with a longer line (minified, generated, binary) are left alone."""

    def __post_init__(self) -> None:
        _check_fields(self)


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

    def __post_init__(self) -> None:
        _check_fields(self)


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
    ml: MLTextCompressor | None = None
    """Optional ML compressor for prose and retrieved passages: 'llmlingua2' (the
    `llmlingua` extra; docs/compressors/llmlingua.md) drops low-information words inside
    sentences. None (default): the extractive prose compressor only; nothing ML is imported."""
    ml_model: str = LLMLINGUA2_DEFAULT_MODEL
    """A local model directory, or a Hugging Face model id looked up in the local cache only."""
    ml_rate: float = 0.4
    """Share of the text's tokens LLMLingua-2 keeps (identifiers, numbers, URLs... always stay)."""
    ml_device: str = "cpu"
    """Torch device the model runs on ('cpu', 'cuda', 'cuda:1', 'mps')."""
    ml_timeout_seconds: float = 30.0
    """Longest one text may take (model loading included); past it the extractive
    compressor is used for that text."""
    ml_allow_download: bool = False
    """Let transformers download `ml_model` from the Hugging Face Hub when it is not cached.
    Off: no network at run time."""

    def __post_init__(self) -> None:
        _check_fields(self)
        if self.ml is not None and self.ml != "llmlingua2":
            raise ValueError(f"TextConfig.ml must be 'llmlingua2' or None, got {self.ml!r}")
        if not isinstance(self.ml_model, str) or not self.ml_model.strip():
            raise TypeError(f"TextConfig.ml_model must be a model directory or id, got {self.ml_model!r}")
        if not isinstance(self.ml_device, str) or not self.ml_device.strip():
            raise TypeError(f"TextConfig.ml_device must be a torch device name, got {self.ml_device!r}")
        if not 0 < self.ml_rate <= 1:
            raise ValueError(f"TextConfig.ml_rate must be in (0, 1], got {self.ml_rate!r}")
        if self.ml_timeout_seconds <= 0:
            raise ValueError(f"TextConfig.ml_timeout_seconds must be > 0, got {self.ml_timeout_seconds!r}")


@dataclass(frozen=True)
class ImageConfig:
    enabled: bool = True
    allow_remote_fetch: bool = False
    """Remote image URLs are never fetched unless this is True."""
    provider: ImageProvider | None = None
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

    ocr: bool = True
    """Measure legibility with tesseract at run time when it is installed (the `ocr`
    extra and the `tesseract-ocr` package): a text-bearing image keeps OCR word recall
    >= min_ocr_recall. Off, or tesseract missing: the router's OCR-trained prediction
    caps the level (a learned guess; docs/images.md has its held-out figures)."""
    min_ocr_recall: float = 0.95
    """OCR bar: share of the confidently read words still read after compression."""
    min_detail_without_text: float = 0.70
    """Detail retention bar for images without text (photos): `min_detail` is the text
    legibility proxy, which the OCR bar and the text detector now cover."""
    query_aware: bool = True
    """A question that asks to read text/numbers/code keeps text-bearing images out of
    low detail; one about layout/colour/objects lets them go there (docs/images.md)."""

    def __post_init__(self) -> None:
        _check_fields(self)
        if self.provider is not None and self.provider not in ("openai", "anthropic", "gemini"):
            raise ValueError(
                f"ImageConfig.provider must be 'openai', 'anthropic', 'gemini' or None, got {self.provider!r}"
            )
        if not 0.0 <= self.min_ocr_recall <= 1.0:
            raise ValueError(f"ImageConfig.min_ocr_recall must be in [0, 1], got {self.min_ocr_recall!r}")


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
    strategy: BudgetStrategy = "stable"
    """How a budget drops turns.

    'stable' (default): the oldest droppable turns go in blocks, down to `low_water_ratio`
    of the budget, decided turn by turn as the conversation grew. Between two block drops
    every request begins with the previous request's messages byte for byte, so the
    provider's prompt cache keeps hitting (`ContextReport.stable_prefix_since`).
    'importance' (multi-factor score, lowest first) and 'rolling_window' (oldest first)
    re-decide on every call: best for one-off fitting, but as a conversation grows they
    drop one more message almost every turn, which breaks prompt caching."""
    low_water_ratio: float = 0.5
    """'stable' strategy: when the budget is exceeded, drop down to this share of it, so the
    next turns fit without dropping again (a lower mark means fewer cache breaks and less
    history kept)."""
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

    def __post_init__(self) -> None:
        _check_fields(self)
        if self.strategy not in ("stable", "importance", "rolling_window"):
            raise ValueError(
                "ContextConfig.strategy must be 'stable', 'importance' or 'rolling_window', "
                f"got {self.strategy!r}"
            )
        if not 0 < self.low_water_ratio <= 1:
            raise ValueError(f"ContextConfig.low_water_ratio must be in (0, 1], got {self.low_water_ratio!r}")


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
    ccr_path: str | None = None
    """Directory of the disk CCR store; None: `$HEADROOM_CCR_DIR`, read when the store is opened
    (`headroom_core._ccr.store_dir`, the one place that reads it), else the user cache dir."""
    ccr_ttl_seconds: float | None = 7 * 24 * 3600
    ccr_size_limit_bytes: int = 1 << 30
    ccr_store: CCRStore | str | None = None
    """An explicit store object (e.g. `MemoryCCRStore()`) or a Redis URL (`redis://host:6379/0`,
    `rediss://`, `unix://`; docs/deploying.md); overrides the path settings. None: the URL in
    `$HEADROOM_CCR_URL` if set, else the disk store."""
    tenant: str | None = None
    """Whose records these are in a shared store: 1-128 letters, digits, '.', '_', '-'. A tenant
    reads only its own records (another tenant's key is unknown). None: the shared namespace."""

    max_input_bytes: int = 16 * 1024 * 1024
    """Larger text parts are passed through untouched (and stored in CCR) to bound memory."""

    json: JsonConfig = field(default_factory=JsonConfig)
    code: CodeConfig = field(default_factory=CodeConfig)
    logs: LogConfig = field(default_factory=LogConfig)
    text: TextConfig = field(default_factory=TextConfig)
    images: ImageConfig = field(default_factory=ImageConfig)
    context: ContextConfig = field(default_factory=ContextConfig)

    disabled_compressors: frozenset[str] = frozenset()
    """Compressor names to skip, e.g. frozenset({"prose", "code"}) (any iterable of names
    is accepted and stored as a frozenset)."""

    def __post_init__(self) -> None:
        _check_fields(self)
        if self.ccr_path is not None and not isinstance(self.ccr_path, (str, os.PathLike)):
            raise TypeError(f"HeadroomConfig.ccr_path must be a str path or None, got {self.ccr_path!r}")
        if self.ccr_ttl_seconds is not None and self.ccr_ttl_seconds <= 0:
            raise ValueError(
                f"HeadroomConfig.ccr_ttl_seconds must be > 0 or None, got {self.ccr_ttl_seconds!r}"
            )
        store = self.ccr_store
        if isinstance(store, str):
            from headroom_core._ccr._redis import is_store_url, redact_url

            if not is_store_url(store):
                raise ValueError(
                    "HeadroomConfig.ccr_store as a str must be a redis://, rediss:// or unix:// URL, "
                    f"got {redact_url(store)!r}"
                )
        elif store is not None and not (
            callable(getattr(store, "put", None)) and callable(getattr(store, "get", None))
        ):
            raise TypeError(
                f"HeadroomConfig.ccr_store must have put(key, value) and get(key), got {type(store).__name__}"
            )
        if self.tenant is not None:
            from headroom_core._ccr._redis import validate_tenant

            validate_tenant(self.tenant)
        for name, cls in (
            ("json", JsonConfig),
            ("code", CodeConfig),
            ("logs", LogConfig),
            ("text", TextConfig),
            ("images", ImageConfig),
            ("context", ContextConfig),
        ):
            if not isinstance(getattr(self, name), cls):
                raise TypeError(
                    f"HeadroomConfig.{name} must be a {cls.__name__}, got {getattr(self, name)!r}"
                )
        _check_fields(self.json)  # JsonConfig validates by the same rules, checked here
        names = self.disabled_compressors
        if isinstance(names, (str, bytes)) or not all(isinstance(n, str) for n in names):
            raise TypeError(
                "HeadroomConfig.disabled_compressors must be a set of compressor names, "
                f"e.g. frozenset({{'prose'}}), got {names!r}"
            )
        if not isinstance(names, frozenset):
            object.__setattr__(self, "disabled_compressors", frozenset(names))

    def with_(self, **changes: Any) -> HeadroomConfig:
        """A copy with some fields changed."""
        from dataclasses import replace

        return replace(self, **changes)
