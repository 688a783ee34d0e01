"""Headroom's engine: deterministic, reversible compression of LLM context.

    >>> from headroom_core import compress
    >>> result = compress(messages, model="gpt-4o")
    >>> f"{result.compression_ratio:.0%} saved"

Everything public is re-exported here; the modules behind it are private.
"""

from headroom_core._answer import RETRIEVE_TOOL_DESCRIPTION, RETRIEVE_TOOL_PARAMETERS, retrieval_answer
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
from headroom_core._ccr._redis import RedisCCRStore, store_from_url
from headroom_core._config import (
    DEFAULT_MODEL,
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
    MLModelUnavailableError,
    TokenizerUnavailableError,
)
from headroom_core._pipeline import TextResult, compress, compress_text
from headroom_core._result import CompressResult, Transform
from headroom_core._tokenizer import Tokenizer, get_tokenizer
from headroom_core._version import __version__ as __version__

# Imported on first use: the context manager pulls in numpy, which a short-lived command
# (`headroom compress` in a pipeline) should not pay for unless a budget is used.
_LAZY = {
    "CacheAligner": "headroom_core.context",
    "ContextReport": "headroom_core.context",
    "manage_context": "headroom_core.context",
    # Accounting (tokens, usage, cost): loaded when first used.
    "CallAccount": "headroom_core._accounting",
    "Price": "headroom_core._accounting",
    "PriceTable": "headroom_core._accounting",
    "Usage": "headroom_core._accounting",
    "account_call": "headroom_core._accounting",
    "default_prices": "headroom_core._accounting",
    "load_prices": "headroom_core._accounting",
    "parse_usage": "headroom_core._accounting",
    "PriceFileError": "headroom_core._errors",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'headroom_core' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "DEFAULT_MODEL",
    "RETRIEVE_TOOL_DESCRIPTION",
    "RETRIEVE_TOOL_NAME",
    "RETRIEVE_TOOL_PARAMETERS",
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
    "MLModelUnavailableError",
    "MemoryCCRStore",
    "RedisCCRStore",
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
    "retrieval_answer",
    "retrieve",
    "store_original",
    "store_from_url",
    "CacheAligner",
    "ContextReport",
    "manage_context",
    "CallAccount",
    "Price",
    "PriceFileError",
    "PriceTable",
    "Usage",
    "account_call",
    "default_prices",
    "load_prices",
    "parse_usage",
]
