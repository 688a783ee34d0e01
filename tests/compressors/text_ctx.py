"""The CompressContext the text-compressor tests (prose, search results, diffs) build."""

from __future__ import annotations

from headroom_core import HeadroomConfig, MemoryCCRStore, TextConfig, get_tokenizer
from headroom_core.compressors import CompressContext


def make_ctx(query: str | None = None, ccr: bool = True, **text_options) -> CompressContext:
    store = MemoryCCRStore() if ccr else None
    config = HeadroomConfig(ccr_store=store, ccr_enabled=ccr)
    if text_options:
        config = config.with_(text=TextConfig(**text_options))
    return CompressContext(config=config, tokenizer=get_tokenizer("gpt-4o"), store=store, query=query)
