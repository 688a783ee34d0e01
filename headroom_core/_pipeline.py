"""`compress()` and `compress_text()`: the engine's entry points.

Prefix stability (the provider's prompt cache): with no token budget, the compression of
a message depends only on that message, the messages before it and the config. The query
that steers a message is the latest user text *before* it (the question that led to the
tool call), and a tool result is named after the call that precedes it. So for any
conversation `c` and extension `e`, `compress(c + e).messages[:len(c)]` equals
`compress(c).messages` byte for byte. An explicit `query=` steers every message; a query
that changes from turn to turn gives that guarantee up.

The guard (`_run_guarded`) is the one place where failures become pass-through: an
unexpected exception in a compressor leaves that part unchanged with a
`CompressorFailedWarning`; a CCR store that cannot take a record (`CCRStoreError`) makes
that text run again losslessly. Every such fallback is logged on `logging.getLogger("headroom")`.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from headroom_core import _ccr
from headroom_core._ccr import RETRIEVE_TOOL_NAME, TABLE_HEADER_PREFIX
from headroom_core._config import DEFAULT_MODEL, HeadroomConfig
from headroom_core._counting import (
    REPLY_PRIMING,
    count_message_tokens,
    count_tokens,
    counting_scope,
    estimate_limit,
    estimate_tokens,
    is_oversize,
)
from headroom_core._errors import CCRStoreError, CompressorFailedWarning
from headroom_core._messages import (
    Slot,
    copy_messages,
    detect_format,
    iter_slots,
    queries_before,
    user_text,
    validate_messages,
)
from headroom_core._result import CompressResult, Transform
from headroom_core._router import RouteHints, route
from headroom_core._tokenizer import Tokenizer, get_tokenizer
from headroom_core.compressors import CompressContext, get_compressor

log = logging.getLogger("headroom")

_OVERSIZE_KEEP_CHARS = 4000
# ANSI CSI sequences (colours, cursor moves) and OSC sequences (titles, hyperlinks).
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
OUTPUT_KIND = "headroom_output"
"""CCR record kind of a text Headroom produced (keyed by that text's own hash), so that a
re-sent compressed output is recognised exactly and not compressed twice."""


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


@dataclass(frozen=True)
class RunOutcome:
    """What the router and the compressors made of one text."""

    text: str
    route: str
    compressors: str = "none"
    ccr_keys: tuple[str, ...] = ()
    summary: str = ""


def _check_config(config: Any) -> HeadroomConfig:
    if config is None:
        return HeadroomConfig()
    if not isinstance(config, HeadroomConfig):
        raise TypeError(f"config must be a HeadroomConfig, got {type(config).__name__}")
    return config


def resolve_store(config: HeadroomConfig) -> _ccr.CCRStore | None:
    """The config's CCR store, or None when CCR is off or the store cannot be constructed
    (then only lossless work is done, and the reason is logged)."""
    if not config.ccr_enabled:
        return None
    try:
        return _ccr.store_for(config)
    except Exception as exc:  # a corrupt or read-only cache dir must never fail compress()
        log.warning("CCR store unavailable (%s: %s); compressing losslessly only", type(exc).__name__, exc)
        return None


def _context(
    config: HeadroomConfig,
    tokenizer: Tokenizer,
    store: _ccr.CCRStore | None,
    query: str | None,
    stashed: set[str],
    tool_name: str | None = None,
    tool_args: Mapping[str, Any] | None = None,
    role: str = "tool",
) -> CompressContext:
    return CompressContext(
        config=config,
        tokenizer=tokenizer,
        store=store,
        query=query,
        tool_name=tool_name,
        tool_args=tool_args,
        role=role,
        stashed=stashed,
    )


def _compress_oversize(text: str, ctx: CompressContext) -> RunOutcome:
    """Inputs past `max_input_bytes`: keep head and tail, stash the whole (bounded memory)."""
    key = ctx.stash(text, "text", unit="line")
    head, tail = text[:_OVERSIZE_KEEP_CHARS], text[-_OVERSIZE_KEEP_CHARS:]
    omitted = len(text) - len(head) - len(tail)
    marker = ctx.marker(f"{omitted:,} characters omitted from a {len(text):,}-character output", key)
    return RunOutcome(
        f"{head}\n{marker}\n{tail}", "oversize", "oversize", (key,), "oversize input: head and tail kept"
    )


def _safe_compress(compressor: Any, text: str, ctx: CompressContext) -> Any:
    """A compressor bug must not break the caller's LLM call: pass the text through, loudly.
    `CCRStoreError` is not a bug: it goes up to `_run_guarded`, which redoes the text."""
    try:
        return compressor.compress(text, ctx)
    except CCRStoreError:
        raise
    except Exception as exc:
        log.warning(
            "%s compressor failed (%s: %s); that part was left unchanged",
            compressor.name,
            type(exc).__name__,
            exc,
        )
        warnings.warn(
            f"{compressor.name} compressor failed ({type(exc).__name__}: {exc}); that part was left unchanged",
            CompressorFailedWarning,
            stacklevel=2,
        )
        return None


def _run(text: str, ctx: CompressContext) -> RunOutcome:
    """Route one text and run the compressors on its segments; never raises on content."""
    if is_oversize(text, ctx.config.max_input_bytes):
        if not ctx.can_drop:
            return RunOutcome(text, "oversize")
        return _compress_oversize(text, ctx)
    if "\x1b" in text and ctx.can_drop:
        plain = _ANSI_ESCAPE.sub("", text)
        if plain != text and len(route(plain, RouteHints(ctx.tool_name, ctx.tool_args))) == 1:
            # Colour escapes are presentation, not content: compress the plain text, and
            # whatever gets stashed is the caller's exact coloured bytes.
            inner = _run(plain, replace(ctx, original_for={plain: text}))
            new, stored = inner.text, inner.ccr_keys
            if not stored:  # nothing stashed yet, but the escapes are gone: keep them retrievable
                stored = (ctx.stash(text, "text", unit="line"),)
                new += "\n" + ctx.marker("terminal colour codes removed from this output", stored[0])
            summary = "; ".join(s for s in ("terminal colour codes removed", inner.summary) if s)
            return RunOutcome(new, inner.route, inner.compressors, stored, summary)
    segments = route(text, RouteHints(ctx.tool_name, ctx.tool_args))
    routes: list[str] = []
    names: list[str] = []
    keys: list[str] = []
    summaries: list[str] = []
    pieces: list[str] = []
    for segment in segments:
        routes.append(f"{segment.kind}:{segment.language}" if segment.language else segment.kind)
        compressor = None
        if segment.kind not in ctx.config.disabled_compressors:
            compressor = get_compressor(segment.kind)
            if (
                segment.kind == "prose"
                and ctx.config.text.ml
                and "llmlingua2" not in ctx.config.disabled_compressors
            ):
                # Optional ML prose compressor (TextConfig.ml); it falls back to extractive itself.
                compressor = get_compressor("llmlingua2") or compressor
        if compressor is not None and getattr(compressor, "name", "") in ctx.config.disabled_compressors:
            compressor = None
        seg_ctx = replace(ctx, language=segment.language) if segment.language else ctx
        out = _safe_compress(compressor, segment.text, seg_ctx) if compressor is not None else None
        if compressor is None or out is None:
            pieces.append(segment.text)
            continue
        pieces.append(out.text)
        names.append(compressor.name)
        keys.extend(out.ccr_keys)
        if out.summary:
            summaries.append(out.summary)
    return RunOutcome(
        "".join(pieces), "+".join(routes), "+".join(names) or "none", tuple(keys), "; ".join(summaries)
    )


def _run_guarded(text: str, ctx: CompressContext) -> RunOutcome:
    """`_run`, falling back to lossless work (store=None) when the CCR store refuses a record
    or fails: no marker may ever point at a record that was not stored."""
    try:
        return _run(text, ctx)
    except CCRStoreError as exc:
        if ctx.store is None:  # cannot happen (stash needs a store); never loop
            return RunOutcome(text, "none")
        log.warning("CCR store error (%s); that text was compressed losslessly only", exc)
        return _run(text, replace(ctx, store=None))


def _register_output(text: str, ctx: CompressContext) -> None:
    """Remember `text` as Headroom's own output (see `OUTPUT_KIND`); best effort."""
    if ctx.store is None or not (text.startswith(TABLE_HEADER_PREFIX) or RETRIEVE_TOOL_NAME in text):
        return
    try:
        ctx.stash(text, OUTPUT_KIND)
    except Exception as exc:  # only an optimisation against double compression
        log.debug("could not record a compressed output in CCR (%s: %s)", type(exc).__name__, exc)


def _already_compressed(text: str, store: _ccr.CCRStore | None) -> bool:
    """True only for the exact text Headroom produced: its own hash is stored as an
    `OUTPUT_KIND` record holding that very text. A tool output that merely quotes a marker
    (even one whose key is stored) is compressed like any other."""
    is_table = text.startswith(TABLE_HEADER_PREFIX)
    if store is None:
        return is_table  # lossless only: recompressing our own table form cannot pay
    if not is_table and RETRIEVE_TOOL_NAME not in text:
        return False
    key = _ccr.content_key(text)
    if not _ccr.has_key(store, key):
        return False
    try:
        meta, original = _ccr.load(store, key)
    except Exception as exc:  # unreadable or corrupt: compress it again, which is safe
        log.warning("CCR record of a compressed output unreadable (%s: %s)", type(exc).__name__, exc)
        return False
    if meta.get("kind") != OUTPUT_KIND or original != text:
        return False
    _refresh(store, [key, *(m.key for m in _ccr.parse_markers(text))])
    return True


def _refresh(store: _ccr.CCRStore, keys: list[str]) -> None:
    """Re-sending an output re-issues its markers: their records get a full TTL again."""
    touch = getattr(store, "touch", None)
    if not callable(touch):
        return
    for key in dict.fromkeys(keys):
        try:
            touch(key)
        except Exception as exc:  # expiry bookkeeping must not fail compress()
            log.debug("could not refresh CCR record %s (%s: %s)", key, type(exc).__name__, exc)
            return


def _default_query(tool_args: Mapping[str, Any] | None) -> str | None:
    """What the agent asked a tool for: its string arguments (a search phrase, a path)."""
    if not isinstance(tool_args, Mapping):
        return None
    words = [v for v in tool_args.values() if isinstance(v, str) and v.strip()]
    return " ".join(words) or None


def compress_text(
    text: str,
    *,
    model: str = DEFAULT_MODEL,
    query: str | None = None,
    config: HeadroomConfig | None = None,
    tool_name: str | None = None,
    tool_args: Mapping[str, Any] | None = None,
) -> TextResult:
    """Compress one piece of text (a tool output, a retrieved chunk) with the content router.

    This is the per-tool-output policy every adapter uses: texts under
    `config.min_tokens` are returned as they are; the query defaults to the tool's string
    arguments (what the agent asked the tool for); the text is tokenized once. The result
    is never larger than the input: if compression does not pay, the original comes back
    unchanged. Texts above 8 MiB (or `max_input_bytes`) are counted by estimate (see
    `headroom_core._counting`).
    """
    if not isinstance(text, str):
        raise TypeError(f"compress_text() expected a str, got {type(text).__name__}")
    if not isinstance(model, str):
        raise TypeError(f"model must be a str such as 'gpt-4o', got {type(model).__name__}")
    if query is not None and not isinstance(query, str):
        raise TypeError(f"query must be a str or None, got {type(query).__name__}")
    config = _check_config(config)
    tokenizer = get_tokenizer(model)
    limit = estimate_limit(config.max_input_bytes)
    before = estimate_tokens(text, tokenizer, limit)
    if before < config.min_tokens:
        return TextResult(text, before, before, "none", "none")
    if query is None:
        query = _default_query(tool_args)
    store = resolve_store(config)
    ctx = _context(config, tokenizer, store, query, set(), tool_name, tool_args)
    if _already_compressed(text, store):
        return TextResult(text, before, before, "headroom", "none")
    memo = {text: before}
    with counting_scope(memo):  # the compressor reuses `before`; we reuse its output count
        outcome = _run_guarded(text, ctx)
    after = _count_output(outcome.text, text, before, memo, tokenizer, limit)
    if after >= before:
        return TextResult(text, before, before, outcome.route, "none")
    _register_output(outcome.text, ctx)
    return TextResult(
        outcome.text, before, after, outcome.route, outcome.compressors, outcome.ccr_keys, outcome.summary
    )


def _count_output(
    new: str, text: str, before: int, memo: dict[str, int], tokenizer: Tokenizer, limit: int
) -> int:
    """Tokens of a compressor's output: `before` when unchanged, the count a compressor
    already made of it (see `counting_scope`), else counted now."""
    if new == text:
        return before
    known = memo.get(new)
    return known if known is not None else estimate_tokens(new, tokenizer, limit)


def _slot_enabled(slot: Slot, config: HeadroomConfig) -> bool:
    return {
        "tool": config.compress_tool_outputs,
        "user": config.compress_user_messages,
        "system": config.compress_system_messages,
        "assistant": config.compress_assistant_messages,
        "image": config.images.enabled,
    }[slot.kind]


def _image_part_list(messages: list[dict[str, Any]], slot: Slot) -> tuple[list[Any], int] | None:
    """The content list holding an image slot's part and the part's index in it (the
    message's content, or a tool_result's own content list), or None when it cannot be
    found; only then can the part be replaced by several parts."""
    content = messages[slot.message_index].get("content")
    if not isinstance(content, list) or slot.part_index is None:
        return None
    parts, index = content, slot.part_index
    if slot.sub_index is not None:
        holder = content[slot.part_index] if slot.part_index < len(content) else None
        inner = holder.get("content") if isinstance(holder, dict) else None
        if not isinstance(inner, list):
            return None
        parts, index = inner, slot.sub_index
    if not 0 <= index < len(parts) or parts[index] is not slot.get():
        return None
    return parts, index


def _compress_image_slot(
    slot: Slot,
    model: str,
    ctx: CompressContext,
    messages: list[dict[str, Any]] | None = None,
    splices: list[tuple[list[Any], int, tuple[dict[str, Any], ...]]] | None = None,
) -> Transform | None:
    """Compress one image part. With `messages` and `splices`, a near-repeat screenshot
    may become several parts (a note plus the changed box): they are queued in `splices`
    for the caller to insert after every slot has run (inserting now would shift the
    indexes the later slots of the same list write to)."""
    try:
        from headroom_core.images import compress_image_block
    except ModuleNotFoundError as exc:  # the [image] extra (Pillow) is not installed
        if exc.name and exc.name.startswith("headroom_core"):
            raise
        log.debug("images left as they are: %s is not installed", exc.name)
        return None
    where = _image_part_list(messages, slot) if messages is not None and splices is not None else None
    try:
        outcome = compress_image_block(slot.get(), model=model, ctx=ctx, split_ok=where is not None)
    except CCRStoreError as exc:
        log.warning("CCR store error (%s); image left unchanged", exc)
        return None
    if outcome is None:
        return None
    if len(outcome.blocks) > 1 and where is not None and splices is not None:
        splices.append((where[0], where[1], outcome.blocks))
    else:
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
    model: str = DEFAULT_MODEL,
    *,
    query: str | None = None,
    config: HeadroomConfig | None = None,
    token_budget: int | None = None,
) -> CompressResult:
    """Compress a conversation; returns the same format (OpenAI or Anthropic) it was given.

    Tool outputs are compressed by default (the newest too); system, user and assistant
    text only when the config says so. Each message is steered by the latest user text
    before it, so it compresses the same way on every later turn (prefix stability, see
    the module docs); an explicit `query` steers every message instead. With
    `token_budget`, whole turns are then dropped (in blocks, keeping the prefix stable by
    default) until the conversation fits (see the context manager).
    The caller's objects are never mutated.
    """
    validate_messages(messages)
    if not isinstance(model, str):
        raise TypeError(f"model must be a str such as 'gpt-4o', got {type(model).__name__}")
    if query is not None and not isinstance(query, str):
        raise TypeError(f"query must be a str or None, got {type(query).__name__}")
    if token_budget is not None and (
        isinstance(token_budget, bool) or not isinstance(token_budget, int) or token_budget <= 0
    ):
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
    tokenizer: Tokenizer,
    query: str | None,
    config: HeadroomConfig,
    token_budget: int | None,
    notes: list[str],
) -> CompressResult:
    fmt = detect_format(messages)
    out = copy_messages(messages)
    steering = queries_before(out) if query is None else [query] * len(out)
    memo: dict[str, int] = {}
    provider = config.images.provider
    limit = estimate_limit(config.max_input_bytes)  # larger parts: counts are estimates
    tokens_before = count_tokens(out, model, memo=memo, image_provider=provider, estimate_above=limit)
    transforms: list[Transform] = []
    store = resolve_store(config)
    stashed: set[str] = set()  # every key this call stores: the store must not evict them
    # Images: one context for the whole call (its identity scopes the image dedupe memory).
    image_ctx = _context(config, tokenizer, store, query, stashed)
    # Image parts that became several parts (a near-repeat screenshot: a note and the
    # changed box), inserted after the loop.
    splices: list[tuple[list[Any], int, tuple[dict[str, Any], ...]]] = []

    for slot in iter_slots(out):
        if not _slot_enabled(slot, config):
            continue
        if slot.kind == "image":
            # The same context object for every image (the dedupe memory is keyed by its
            # identity), steered like the text of the same message.
            # An image is read against the text sent with it, else the question before it.
            own = user_text(out[slot.message_index]) if query is None else None
            object.__setattr__(image_ctx, "query", own or steering[slot.message_index])
            t = _compress_image_slot(slot, model, image_ctx, out, splices)
            if t is not None:
                transforms.append(t)
            continue
        text = slot.get()
        before = (
            memo[text]
            if text in memo
            else estimate_tokens(text, tokenizer, estimate_limit(config.max_input_bytes))
        )
        if before < config.min_tokens:
            continue
        if _already_compressed(text, store):
            # An agent loop re-sends it, or a wrapped tool compressed it: doing it again would
            # nest CCR records, so the model's key would lead to the compressed text instead
            # of the original. A budget may still shrink it later.
            continue
        ctx = _context(
            config,
            tokenizer,
            store,
            steering[slot.message_index],
            stashed,
            slot.tool_name,
            slot.tool_args,
            slot.role,
        )
        with counting_scope(memo):  # compressors reuse this call's counts, and we theirs
            outcome = _run_guarded(text, ctx)
        new = outcome.text
        after = _count_output(new, text, before, memo, tokenizer, limit)
        memo[new] = after
        if after >= before:
            transforms.append(
                Transform(
                    slot.message_index,
                    slot.role,
                    outcome.route,
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
        _register_output(new, ctx)
        transforms.append(
            Transform(
                slot.message_index,
                slot.role,
                outcome.route,
                outcome.compressors,
                before,
                after,
                outcome.ccr_keys,
                outcome.summary,
                slot.part_index,
                sub_index=slot.sub_index,
            )
        )

    # Last part first: within one content list the queue is in increasing index order,
    # so each insertion leaves the indexes still to come where they were.
    for parts, index, replacement in reversed(splices):
        parts[index : index + 1] = list(replacement)

    context_report = None
    if token_budget is not None or config.context.fit_to_model_window or config.context.cache_align:
        from headroom_core.context import ManagedState, manage_prepared

        # Counted message by message (what `count_tokens` sums), so that fitting prices
        # its units from these counts instead of counting every message again.
        message_tokens = [
            count_message_tokens(m, model, memo=memo, image_provider=provider, estimate_above=limit)
            for m in out
        ]
        state = ManagedState(
            messages=out,
            model=model,
            fmt=fmt,
            tokenizer=tokenizer,
            store=store,
            memo=memo,
            tokens_before=REPLY_PRIMING + sum(message_tokens) if out else 0,
            stashed=stashed,
            message_tokens=message_tokens,
        )
        out, context_report = manage_prepared(state, query=query, config=config, token_budget=token_budget)
    # The context manager's last count is of these very messages, with the same memo (and,
    # like this count, it releases the token ids the first count kept for the compressors).
    tokens_after = (
        context_report.tokens_after
        if context_report is not None
        else count_tokens(out, model, memo=memo, image_provider=provider, estimate_above=limit)
    )
    ccr_keys = list(dict.fromkeys(k for t in transforms for k in t.ccr_keys))
    if context_report is not None:
        ccr_keys.extend(k for k in context_report.ccr_keys if k not in ccr_keys)
    return CompressResult(
        out, tokens_before, tokens_after, transforms, ccr_keys, fmt, model, context_report, notes
    )
