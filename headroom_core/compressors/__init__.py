"""Content-aware compressors, one module each, looked up by content kind.

The registry maps a content kind (as the router names it) to `module:Class`. Modules
are imported lazily, so an extra that is not installed (tree-sitter for code) simply
means that kind passes through untouched.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module

from headroom_core.compressors._base import CompressContext, Compressed, Compressor

# kind -> (module, class). Kinds are the router's `ContentKind` values.
REGISTRY: dict[str, tuple[str, str]] = {
    "json": ("headroom_core.compressors.json", "SmartCrusher"),
    "code": ("headroom_core.compressors.code_compressor", "CodeCompressor"),
    "log": ("headroom_core.compressors.log_compressor", "LogCompressor"),
    "test_output": ("headroom_core.compressors.runner_output", "TestOutputCompressor"),
    "search_results": ("headroom_core.compressors.search_results", "SearchResultsCompressor"),
    "diff": ("headroom_core.compressors.diff_compressor", "DiffCompressor"),
    "html": ("headroom_core.compressors.html_text", "HtmlCompressor"),
    "prose": ("headroom_core.compressors.prose", "ProseCompressor"),
    "blob": ("headroom_core.compressors.blobs", "BlobCompressor"),
    "records": ("headroom_core.compressors.records", "RecordsCompressor"),
    # Not a router kind: the pipeline uses it for "prose" when TextConfig.ml == "llmlingua2".
    "llmlingua2": ("headroom_core.compressors.llmlingua", "LLMLinguaCompressor"),
}


@cache
def get_compressor(kind: str) -> Compressor | None:
    """The compressor for a content kind, or None if none is available."""
    entry = REGISTRY.get(kind)
    if entry is None:
        return None
    module_name, class_name = entry
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only a missing optional dependency (or a compressor not shipped) means "none";
        # a broken import inside our own module must surface.
        if exc.name and exc.name.startswith("headroom_core") and exc.name != module_name:
            raise
        return None
    return getattr(module, class_name)()


__all__ = ["Compressed", "CompressContext", "Compressor", "REGISTRY", "get_compressor"]
