"""Headroom's engine: deterministic, reversible compression of LLM context.

    >>> from headroom_core import compress
    >>> result = compress(messages, model="gpt-4o")
    >>> f"{result.compression_ratio:.0%} saved"

Everything public is re-exported here; the modules behind it are private.
"""

from headroom_core._ccr import (
    RETRIEVE_TOOL_NAME,
    CCRStore,
    DiskCCRStore,
    Marker,
    MemoryCCRStore,
    content_key,
    make_marker,
    parse_markers,
    retrieve,
    store_original,
)
from headroom_core._config import (
    CodeConfig,
    ContextConfig,
    HeadroomConfig,
    ImageConfig,
    JsonConfig,
    LogConfig,
    TextConfig,
)
from headroom_core._counting import count_tokens
from headroom_core._errors import (
    BudgetExceededError,
    CCRKeyNotFoundError,
    CCRStoreError,
    CompressorFailedWarning,
    HeadroomError,
    TokenizerUnavailableError,
)
from headroom_core._pipeline import TextResult, compress, compress_text
from headroom_core._result import CompressResult, Transform
from headroom_core._tokenizer import Tokenizer, get_tokenizer
from headroom_core.context import CacheAligner, ContextReport, manage_context

__version__ = "0.1.0"

__all__ = [
    "RETRIEVE_TOOL_NAME",
    "BudgetExceededError",
    "CCRKeyNotFoundError",
    "CCRStore",
    "CCRStoreError",
    "CodeConfig",
    "CompressResult",
    "CompressorFailedWarning",
    "ContextConfig",
    "DiskCCRStore",
    "HeadroomConfig",
    "HeadroomError",
    "ImageConfig",
    "JsonConfig",
    "LogConfig",
    "Marker",
    "MemoryCCRStore",
    "TextConfig",
    "TextResult",
    "Tokenizer",
    "TokenizerUnavailableError",
    "Transform",
    "compress",
    "compress_text",
    "content_key",
    "count_tokens",
    "get_tokenizer",
    "make_marker",
    "parse_markers",
    "retrieve",
    "store_original",
    "CacheAligner",
    "ContextReport",
    "manage_context",
]
