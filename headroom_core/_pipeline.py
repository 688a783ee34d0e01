"""`compress()` and `compress_text()`: the engine's entry points."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from headroom_core import _ccr
from headroom_core._ccr import RETRIEVE_TOOL_NAME, TABLE_HEADER_PREFIX
from headroom_core._config import HeadroomConfig
from headroom_core._counting import count_tokens
from headroom_core._errors import CompressorFailedWarning
from headroom_core._messages import (
    Slot,
    copy_messages,
    detect_format,
    iter_slots,
    latest_user_text,
    validate_messages,
)
from headroom_core._result import CompressResult, Transform
from headroom_core._router import RouteHints, route
from headroom_core._tokenizer import get_tokenizer
from headroom_core.compressors import CompressContext, get_compressor

_OVERSIZE_KEEP_CHARS = 4000
# ANSI CSI sequences (colours, cursor moves) and OSC sequences (titles, hyperlinks).
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


@dataclass(frozen=True)
class TextResult:
    """`compress_text()`'s answer for one piece of text."""

    text: str
    tokens_before: int
    tokens_after: int
    route: str
    compressor: str
    ccr_keys: tuple[str, ...] = ()
    summary: str = ""

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after

    @property
    def compression_ratio(self) -> float:
        return self.tokens_saved / self.tokens_before if self.tokens_before else 0.0


def _check_config(config: Any) -> HeadroomConfig:
    if config is None:
        return HeadroomConfig()
    if not isinstance(config, HeadroomConfig):
        raise TypeError(f"config must be a HeadroomConfig, got {type(config).__name__}")
    return config


def _context(
    config: HeadroomConfig,
    model: str,
    query: str | None,
    tool_name: str | None = None,
    tool_args: Mapping[str, Any] | None = None,
    role: str = "tool",
) -> CompressContext:
    store = _ccr.store_for(config) if config.ccr_enabled else None
    return CompressContext(
        config=config,
        tokenizer=get_tokenizer(model),
        store=store,
        query=query,
        tool_name=tool_name,
        tool_args=tool_args,
        role=role,
    )


def _compress_oversize(text: str, ctx: CompressContext) -> tuple[str, tuple[str, ...], str]:
    """Inputs past `max_input_bytes`: keep head and tail, stash the whole (bounded memory)."""
    key = ctx.stash(text, "text", unit="line")
    head, tail = text[:_OVERSIZE_KEEP_CHARS], text[-_OVERSIZE_KEEP_CHARS:]
    omitted = len(text) - len(head) - len(tail)
    marker = ctx.marker(f"{omitted:,} characters omitted from a {len(text):,}-character output", key)
    return f"{head}\n{marker}\n{tail}", (key,), "oversize input: head and tail kept"


def _safe_compress(compressor: Any, text: str, ctx: CompressContext) -> Any:
    """A compressor bug must not break the caller's LLM call: pass the text through, loudly."""
    try:
        return compressor.compress(text, ctx)
    except Exception as exc:
        warnings.warn(
            f"{compressor.name} compressor failed ({type(exc).__name__}: {exc}); that part was left unchanged",
            CompressorFailedWarning,
            stacklevel=2,
        )
        return None


def _run(text: str, ctx: CompressContext) -> tuple[str, str, str, tuple[str, ...], str]:
    """(new text, route, compressors, ccr keys, summary) for one text; never raises on content."""
    if (
        len(text) * 4 > ctx.config.max_input_bytes
        and len(text.encode("utf-8", "surrogatepass")) > ctx.config.max_input_bytes
    ):
        if not ctx.can_drop:
            return text, "oversize", "none", (), ""
        new, keys, summary = _compress_oversize(text, ctx)
        return new, "oversize", "oversize", keys, summary
    if "\x1b" in text and ctx.can_drop:
        plain = _ANSI_ESCAPE.sub("", text)
        if plain != text and len(route(plain, RouteHints(ctx.tool_name, ctx.tool_args))) == 1:
            # Colour escapes are presentation, not content: compress the plain text, and
            # whatever gets stashed is the caller's exact coloured bytes.
            new, route_name, names, keys, summary = _run(plain, replace(ctx, original_for={plain: text}))
            if not keys:  # nothing stashed yet, but the escapes are gone: keep them retrievable
                keys = (ctx.stash(text, "text", unit="line"),)
                new += "\n" + ctx.marker("terminal colour codes removed from this output", keys[0])
            summary = "; ".join(s for s in ("terminal colour codes removed", summary) if s)
            return new, route_name, names, keys, summary
    segments = route(text, RouteHints(ctx.tool_name, ctx.tool_args))
    routes, names, keys, summaries, pieces = [], [], [], [], []
    for segment in segments:
        routes.append(f"{segment.kind}:{segment.language}" if segment.language else segment.kind)
        compressor = None
        if segment.kind not in ctx.config.disabled_compressors:
            compressor = get_compressor(segment.kind)
        if compressor is not None and getattr(compressor, "name", "") in ctx.config.disabled_compressors:
            compressor = None
        seg_ctx = replace(ctx, language=segment.language) if segment.language else ctx
        out = _safe_compress(compressor, segment.text, seg_ctx) if compressor is not None else None
        if out is None:
            pieces.append(segment.text)
            continue
        pieces.append(out.text)
        names.append(compressor.name)
        keys.extend(out.ccr_keys)
        if out.summary:
            summaries.append(out.summary)
    new_text = "".join(pieces)
    return new_text, "+".join(routes), "+".join(names) or "none", tuple(keys), "; ".join(summaries)


def compress_text(
    text: str,
    *,
    model: str = "gpt-4o",
    query: str | None = None,
    config: HeadroomConfig | None = None,
    tool_name: str | None = None,
    tool_args: Mapping[str, Any] | None = None,
) -> TextResult:
    """Compress one piece of text (a tool output, a retrieved chunk) with the content router.

    The result is never larger than the input: if compression does not pay, the original
    comes back unchanged.
    """
    if not isinstance(text, str):
        raise TypeError(f"compress_text() expected a str, got {type(text).__name__}")
    config = _check_config(config)
    ctx = _context(config, model, query, tool_name, tool_args)
    before = ctx.tokenizer.count(text)
    new, route_name, names, keys, summary = _run(text, ctx)
    after = ctx.tokenizer.count(new) if new is not text else before
    if after >= before:
        return TextResult(text, before, before, route_name, "none")
    return TextResult(new, before, after, route_name, names, keys, summary)


def _already_compressed(text: str, store: Any) -> bool:
    """True for our own output: the table form, or text whose markers are all ours (their keys
    are in the store). A tool output that merely quotes a marker is still compressed."""
    if text.startswith(TABLE_HEADER_PREFIX):
        return True  # SmartCrusher's own lossless table form
    if store is None or RETRIEVE_TOOL_NAME not in text:
        return False
    markers = _ccr.parse_markers(text)
    return bool(markers) and all(_ccr.has_key(store, m.key) for m in markers)


def _slot_enabled(slot: Slot, config: HeadroomConfig) -> bool:
    return {
        "tool": config.compress_tool_outputs,
        "user": config.compress_user_messages,
        "system": config.compress_system_messages,
        "assistant": config.compress_assistant_messages,
        "image": config.images.enabled,
    }[slot.kind]


def _compress_image_slot(slot: Slot, model: str, ctx: CompressContext) -> Transform | None:
    try:
        from headroom_core.images import compress_image_block
    except ModuleNotFoundError as exc:  # the [image] extra (Pillow) is not installed
        if exc.name and exc.name.startswith("headroom_core"):
            raise
        return None
    outcome = compress_image_block(slot.get(), model=model, ctx=ctx)
    if outcome is None:
        return None
    slot.set(outcome.block)
    return Transform(
        slot.message_index,
        slot.role,
        "image",
        outcome.strategy,
        outcome.tokens_before,
        outcome.tokens_after,
        tuple(outcome.ccr_keys),
        outcome.summary,
        slot.part_index,
        sub_index=slot.sub_index,
    )


def compress(
    messages: Sequence[Mapping[str, Any]],
    model: str = "gpt-4o",
    *,
    query: str | None = None,
    config: HeadroomConfig | None = None,
    token_budget: int | None = None,
) -> CompressResult:
    """Compress a conversation; returns the same format (OpenAI or Anthropic) it was given.

    Tool outputs are compressed by default (the newest too); system, user and assistant
    text only when the config says so. `query` (default: the latest user message) steers
    what counts as relevant. With `token_budget`, whole messages are then shrunk or
    dropped by importance until the conversation fits (see the context manager).
    The caller's objects are never mutated.
    """
    validate_messages(messages)
    if not isinstance(model, str):
        raise TypeError(f"model must be a str such as 'gpt-4o', got {type(model).__name__}")
    if query is not None and not isinstance(query, str):
        raise TypeError(f"query must be a str or None, got {type(query).__name__}")
    if token_budget is not None and (not isinstance(token_budget, int) or token_budget <= 0):
        raise TypeError(f"token_budget must be a positive int or None, got {token_budget!r}")
    config = _check_config(config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tokenizer = get_tokenizer(model)
    notes = [str(w.message) for w in caught]
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    with warnings.catch_warnings(record=True) as failures:
        warnings.simplefilter("always", CompressorFailedWarning)
        result = _compress(messages, model, tokenizer, query, config, token_budget, notes)
    for failure in failures:
        result.warnings.append(str(failure.message))
        warnings.warn_explicit(failure.message, failure.category, failure.filename, failure.lineno)
    return result


def _compress(
    messages: Sequence[Mapping[str, Any]],
    model: str,
    tokenizer: Any,
    query: str | None,
    config: HeadroomConfig,
    token_budget: int | None,
    notes: list[str],
) -> CompressResult:
    fmt = detect_format(messages)
    out = copy_messages(messages)
    if query is None:
        query = latest_user_text(out)
    memo: dict[str, int] = {}
    tokens_before = count_tokens(out, model, memo=memo, image_provider=config.images.provider)
    transforms: list[Transform] = []
    base_ctx = _context(config, model, query)

    for slot in iter_slots(out):
        if not _slot_enabled(slot, config):
            continue
        if slot.kind == "image":
            t = _compress_image_slot(slot, model, base_ctx)
            if t is not None:
                transforms.append(t)
            continue
        text = slot.get()
        before = memo[text] if text in memo else tokenizer.count(text)
        if before < config.min_tokens:
            continue
        if _already_compressed(text, base_ctx.store):
            # An agent loop re-sends it, or a wrapped tool compressed it: doing it again would
            # nest CCR records, so the model's key would lead to the compressed text instead
            # of the original. A budget may still shrink it later.
            continue
        ctx = CompressContext(
            config=config,
            tokenizer=tokenizer,
            store=base_ctx.store,
            query=query,
            tool_name=slot.tool_name,
            tool_args=slot.tool_args,
            role=slot.role,
        )
        new, route_name, names, keys, summary = _run(text, ctx)
        after = tokenizer.count(new) if new != text else before
        memo[new] = after
        if after >= before:
            transforms.append(
                Transform(
                    slot.message_index,
                    slot.role,
                    route_name,
                    "none",
                    before,
                    before,
                    (),
                    "",
                    slot.part_index,
                    sub_index=slot.sub_index,
                )
            )
            continue
        slot.set(new)
        transforms.append(
            Transform(
                slot.message_index,
                slot.role,
                route_name,
                names,
                before,
                after,
                keys,
                summary,
                slot.part_index,
                sub_index=slot.sub_index,
            )
        )

    context_report = None
    if token_budget is not None or config.context.fit_to_model_window or config.context.cache_align:
        from headroom_core.context import manage_context

        out, context_report = manage_context(
            out, model=model, query=query, config=config, token_budget=token_budget, store=base_ctx.store
        )
    tokens_after = count_tokens(out, model, memo=memo, image_provider=config.images.provider)
    ccr_keys = list(dict.fromkeys(k for t in transforms for k in t.ccr_keys))
    if context_report is not None:
        ccr_keys.extend(k for k in getattr(context_report, "ccr_keys", ()) if k not in ccr_keys)
    return CompressResult(
        out, tokens_before, tokens_after, transforms, ccr_keys, fmt, model, context_report, notes
    )
