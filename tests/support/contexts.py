"""The one `CompressContext` factory of the test suite."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from headroom_core import HeadroomConfig, MemoryCCRStore, get_tokenizer
from headroom_core._ccr import CCRStore
from headroom_core._pipeline import resolve_store
from headroom_core.compressors import CompressContext

MODEL = "gpt-4o"
TOKENIZER = get_tokenizer(MODEL)

_SECTIONS = ("json", "code", "logs", "text", "images", "context")


class _Default:
    """`store` not passed: a fresh memory store, or with a `config` the store it names."""

    def __repr__(self) -> str:
        return "<default store>"


_DEFAULT_STORE: Any = _Default()


def make_ctx(
    store: CCRStore | Literal["memory"] | None = _DEFAULT_STORE,
    *,
    query: str | None = None,
    config: HeadroomConfig | None = None,
    path: str | None = None,
    tool_name: str | None = None,
    tool_args: Mapping[str, Any] | None = None,
    model: str = MODEL,
    **sections: Mapping[str, Any],
) -> CompressContext:
    """A context as the pipeline hands it to a compressor.

    `store`: a fresh `MemoryCCRStore` by default (or `"memory"`); None means CCR off
    (lossless transforms only, `ccr_enabled=False` in the config built here). A `config`
    is used as given, with the store `compress()` would use for it unless `store` is
    passed too; without one, a config is built around `store`. `sections` change fields
    of one config section each: `make_ctx(json={"target_ratio": 0.05})`. `path` is the
    shorthand for a `read_file` call on that path (what the code tests need).
    """
    unknown = sorted(set(sections) - set(_SECTIONS))
    if unknown:
        raise TypeError(f"make_ctx() got unknown config sections {unknown}; known: {list(_SECTIONS)}")
    if store is _DEFAULT_STORE:
        store = resolve_store(config) if config is not None else "memory"
    if store == "memory":
        store = MemoryCCRStore()
    if config is None:
        config = HeadroomConfig(ccr_store=store, ccr_enabled=store is not None)
    if sections:
        config = config.with_(
            **{name: replace(getattr(config, name), **changes) for name, changes in sections.items()}
        )
    if path is not None:
        tool_name, tool_args = tool_name or "read_file", {"path": path, **(tool_args or {})}
    return CompressContext(
        config=config,
        tokenizer=get_tokenizer(model),
        store=store,
        query=query,
        tool_name=tool_name,
        tool_args=tool_args,
    )
