"""The public surface: flat, complete, framework-free."""

from __future__ import annotations

import subprocess
import sys

import headroom_core

# The public surface, pinned: adding, removing or renaming an export is a decision, made here
# on purpose (and noted in CHANGELOG.md), never a side effect of an edit to __init__.py.
PUBLIC_API = frozenset(
    {
        "BudgetExceededError",
        "CCRKeyNotFoundError",
        "DEFAULT_MODEL",
        "CCRStore",
        "CCRStoreError",
        "CacheAligner",
        "CallAccount",
        "CodeConfig",
        "CompressResult",
        "CompressorFailedWarning",
        "ContextConfig",
        "ContextReport",
        "DiskCCRStore",
        "HeadroomConfig",
        "HeadroomError",
        "ImageConfig",
        "JsonConfig",
        "LogConfig",
        "MLModelUnavailableError",
        "Marker",
        "MemoryCCRStore",
        "Price",
        "PriceFileError",
        "PriceTable",
        "RETRIEVE_TOOL_DESCRIPTION",
        "RETRIEVE_TOOL_NAME",
        "RETRIEVE_TOOL_PARAMETERS",
        "RedisCCRStore",
        "TextConfig",
        "TextResult",
        "Tokenizer",
        "TokenizerUnavailableError",
        "Transform",
        "Usage",
        "account_call",
        "compress",
        "compress_text",
        "content_key",
        "count_tokens",
        "default_prices",
        "get_tokenizer",
        "load_prices",
        "make_marker",
        "manage_context",
        "parse_markers",
        "parse_usage",
        "retrieval_answer",
        "retrieve",
        "store_from_url",
        "store_original",
    }
)


def test_all_is_pinned():
    assert len(headroom_core.__all__) == len(set(headroom_core.__all__)), "a name is exported twice"
    assert set(headroom_core.__all__) - PUBLIC_API == set(), "new export: add it to PUBLIC_API"
    assert PUBLIC_API - set(headroom_core.__all__) == set(), "export removed: drop it from PUBLIC_API"


def test_all_names_resolve():
    for name in headroom_core.__all__:
        assert hasattr(headroom_core, name), name


def test_issue_names_are_top_level():
    for name in ("compress", "count_tokens", "parse_markers", "retrieve", "HeadroomConfig", "CompressResult"):
        assert name in headroom_core.__all__


def test_engine_imports_no_framework():
    code = (
        "import sys, headroom_core, headroom_core.compressors;"
        "from headroom_core import compress;"
        "compress([{'role': 'user', 'content': 'hi'}]);"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('langchain', 'langchain_core', 'llama_index', 'torch', 'sentence_transformers')];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_config_is_immutable_and_copyable():
    cfg = headroom_core.HeadroomConfig()
    changed = cfg.with_(min_tokens=10)
    assert changed.min_tokens == 10 and cfg.min_tokens == 120
    try:
        cfg.min_tokens = 5  # type: ignore[misc]
    except AttributeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("HeadroomConfig must be frozen")


def test_one_default_model():
    import inspect

    from headroom_core._config import DEFAULT_MODEL

    for fn in (headroom_core.compress, headroom_core.compress_text, headroom_core.count_tokens):
        assert inspect.signature(fn).parameters["model"].default == DEFAULT_MODEL, fn.__name__
    assert inspect.signature(headroom_core.manage_context).parameters["model"].default == DEFAULT_MODEL
    from headroom_core.chunks import fit_chunks, fit_context

    for fn in (headroom_core.get_tokenizer, headroom_core.retrieval_answer, fit_chunks, fit_context):
        assert inspect.signature(fn).parameters["model"].default == DEFAULT_MODEL, fn.__name__
