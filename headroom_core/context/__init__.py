"""Context management: fit a conversation into a token budget, keep the prompt cacheable.

`manage_context()` fits a conversation into a budget (`token_budget=`, or
`ContextConfig.fit_to_model_window`) and/or aligns it for prompt caching
(`ContextConfig.cache_align`). It returns the new messages and a `ContextReport` (also
available as `CompressResult.context`) with every unit's action and the reason for it.

`compress()` does not go through `manage_context()`: it hands over what it already has
(`ManagedState`: the validated copy, the format, the tokenizer, the CCR store, the token
memo) to `manage_prepared()`, so nothing is validated, copied, detected, resolved or
counted twice, and images are priced with the same provider as the result's counts.

Budget strategies (`ContextConfig.strategy`): 'stable' (default) drops old turns in
blocks so the prompt prefix stays byte-identical between block drops (see
`headroom_core.context.stable`); 'importance' and 'rolling_window' fit each call on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from headroom_core import _ccr
from headroom_core._config import DEFAULT_MODEL, HeadroomConfig
from headroom_core._counting import count_message_tokens, count_tokens, estimate_limit
from headroom_core._errors import BudgetExceededError, CCRStoreError
from headroom_core._messages import copy_messages, detect_format, latest_user_text, validate_messages
from headroom_core._tokenizer import Tokenizer, get_tokenizer
from headroom_core.context.budget import fit
from headroom_core.context.cache_aligner import (
    NOTE_PREFIX,
    CacheAligner,
    CacheReport,
    DynamicValue,
    common_prefix_tokens,
    find_dynamic,
    request_tokens,
)
from headroom_core.context.importance import has_error, score_units, unit_text
from headroom_core.context.learning_store import LearningStore, open_store
from headroom_core.context.model_limits import context_window
from headroom_core.context.rolling_window import assemble, dropped_record, group_units, summary_text
from headroom_core.context.stable import plan_stable_drops, summary_cost

log = logging.getLogger("headroom")


@dataclass(frozen=True)
class MessageDecision:
    """What happened to one unit (a message, or a tool call with its results)."""

    message_indices: tuple[int, ...]
    """Positions in the conversation `manage_context` received."""
    role: str
    tool_names: tuple[str, ...]
    action: str
    """'protected', 'kept', 'shrunk' or 'dropped'."""
    reason: str
    score: float
    factors: dict[str, float]
    tokens: int
    """Tokens of the unit as it was received (before shrinking)."""


@dataclass
class ContextReport:
    """The context manager's account of one call (`CompressResult.context`)."""

    budget: int | None
    tokens_before: int
    tokens_after: int
    protected_tokens: int = 0
    over_budget: bool = False
    """True only when the protected messages alone exceed the budget (nothing else left to cut)."""
    strategy: str = "importance"
    decisions: list[MessageDecision] = field(default_factory=list)
    summary_key: str | None = None
    """CCR key of the dropped messages (a JSON array: `retrieve(key, query=...)` finds them)."""
    ccr_keys: list[str] = field(default_factory=list)
    cache: CacheReport | None = None
    notes: list[str] = field(default_factory=list)
    stable_prefix_since: int | None = None
    """'stable' strategy: index (in the conversation received) of the first message of the
    turn at which a block of old turns was last dropped; 0 when no block had to be
    dropped. Every request since that turn begins with the same messages, so the
    provider's cache hits up to the newest turn. None when another strategy ran (each call
    is fitted on its own) or no budget applied."""
    block_drops: int = 0
    """'stable' strategy: how many block drops the conversation's growth has caused so far."""

    @property
    def fits(self) -> bool:
        return self.budget is None or self.tokens_after <= self.budget

    @property
    def dropped(self) -> list[MessageDecision]:
        return [d for d in self.decisions if d.action == "dropped"]

    @property
    def shrunk(self) -> list[MessageDecision]:
        return [d for d in self.decisions if d.action == "shrunk"]


def resolve_budget(model: str, config: HeadroomConfig, token_budget: int | None) -> int | None:
    """The explicit budget, else the model window minus the output reserve (if asked), else None."""
    if token_budget is not None:
        return token_budget
    if config.context.fit_to_model_window:
        return max(1, context_window(model) - config.context.reserve_output_tokens)
    return None


@dataclass
class ManagedState:
    """What `compress()` hands to the context manager: nothing is redone."""

    messages: list[dict[str, Any]]
    """Already validated and copied (owned: changed in place is fine)."""
    model: str
    fmt: str
    tokenizer: Tokenizer
    store: _ccr.CCRStore | None
    memo: dict[str, int]
    tokens_before: int
    stashed: set[str] = field(default_factory=set)
    """Keys stored by this call (the store must not evict them)."""
    message_tokens: list[int] | None = None
    """Tokens of each message of `messages` (`tokens_before` is their sum plus the reply
    priming), so fitting prices its units without counting them again; None counts them."""


def manage_context(
    messages: Sequence[Mapping[str, Any]],
    *,
    model: str = DEFAULT_MODEL,
    query: str | None = None,
    config: HeadroomConfig | None = None,
    token_budget: int | None = None,
    store: _ccr.CCRStore | None = None,
) -> tuple[list[dict[str, Any]], ContextReport]:
    """Fit `messages` into the budget and/or align them for prompt caching.

    Never mutates `messages`. `store` defaults to the config's CCR store (None when CCR
    is disabled: then dropped turns are summarized but not retrievable, and nothing is
    shrunk). Raises `BudgetExceededError` only with `ContextConfig.strict_budget` when the
    protected messages alone exceed the budget.
    """
    validate_messages(messages)
    if not isinstance(model, str):
        raise TypeError(f"model must be a str such as 'gpt-4o', got {type(model).__name__}")
    if query is not None and not isinstance(query, str):
        raise TypeError(f"query must be a str or None, got {type(query).__name__}")
    config = config if config is not None else HeadroomConfig()
    if not isinstance(config, HeadroomConfig):
        raise TypeError(f"config must be a HeadroomConfig, got {type(config).__name__}")
    if token_budget is not None and (
        isinstance(token_budget, bool) or not isinstance(token_budget, int) or token_budget <= 0
    ):
        raise TypeError(f"token_budget must be a positive int or None, got {token_budget!r}")
    out = copy_messages(messages)
    if store is None and config.ccr_enabled:
        from headroom_core._pipeline import resolve_store

        store = resolve_store(config)
    memo: dict[str, int] = {}
    provider = config.images.provider
    state = ManagedState(
        messages=out,
        model=model,
        fmt=detect_format(out),
        tokenizer=get_tokenizer(model),
        store=store if config.ccr_enabled else None,
        memo=memo,
        tokens_before=count_tokens(out, model, memo=memo, image_provider=provider),
    )
    return manage_prepared(state, query=query, config=config, token_budget=token_budget)


def manage_prepared(
    state: ManagedState,
    *,
    query: str | None,
    config: HeadroomConfig,
    token_budget: int | None,
) -> tuple[list[dict[str, Any]], ContextReport]:
    """`manage_context()` on a conversation `compress()` has already prepared."""
    ctx = config.context
    out = state.messages
    model, memo = state.model, state.memo
    provider = config.images.provider
    limit = estimate_limit(config.max_input_bytes)  # huge parts: counted by estimate
    fmt = state.fmt
    if fmt == "openai" and model.lower().rsplit("/", 1)[-1].startswith(("claude", "anthropic")):
        fmt = "anthropic"  # text-only Claude conversations still need alternating roles
    if query is None:
        query = latest_user_text(out)
    tokens_before = state.tokens_before
    budget = resolve_budget(model, config, token_budget)
    report = ContextReport(budget, tokens_before, tokens_before, strategy=ctx.strategy)

    message_tokens = state.message_tokens
    aligner = CacheAligner()  # breakpoints go in after fitting, on the final messages
    if ctx.cache_align:
        out, report.cache = aligner.align(out, provider=fmt)
        message_tokens = None  # the aligned messages are counted again

    # True once `report.tokens_after` is the count of `out` as it stands (the stable
    # strategy counts its result to check it): the final count is then not repeated.
    counted = False
    if budget is not None and out:
        fitted = (
            _fit_stable(out, budget, state, fmt, config, report, message_tokens)
            if ctx.strategy == "stable"
            else None
        )
        if fitted is not None:
            out, counted = fitted, True
        else:
            out = _fit_scored(out, budget, state, fmt, query, config, report)
        if report.over_budget:
            message = (
                f"over budget: the protected messages (system prompt, first user message, current "
                f"question) need {report.protected_tokens:,} tokens and, with the marker of the "
                f"dropped turns, {report.tokens_after:,}; the budget is {budget:,}"
            )
            report.notes.append(message)
            if ctx.strict_budget:
                raise BudgetExceededError(message)

    if (
        ctx.cache_align
        and ctx.cache_anthropic_breakpoints
        and fmt == "anthropic"
        and report.cache is not None
    ):
        stable = _note_index(out)
        report.cache.breakpoints = aligner.add_breakpoints(out, stable if stable is not None else len(out))
        counted = counted and not report.cache.breakpoints  # placing one rewrites a message
    if not counted:
        report.tokens_after = count_tokens(
            out, model, memo=memo, image_provider=provider, estimate_above=limit
        )
    report.ccr_keys = list(dict.fromkeys(report.ccr_keys))
    return out, report


def _fit_stable(
    out: list[dict[str, Any]],
    budget: int,
    state: ManagedState,
    fmt: str,
    config: HeadroomConfig,
    report: ContextReport,
    message_tokens: list[int] | None = None,
) -> list[dict[str, Any]] | None:
    """The 'stable' strategy; None when it cannot reach the budget (the caller then fits
    this call on its own, and the report says the prefix may move). `message_tokens`: the
    count of each message of `out`, when known. On success `report.tokens_after` is the
    count of the messages returned."""
    ctx = config.context
    model, memo, tokenizer, store = state.model, state.memo, state.tokenizer, state.store
    provider = config.images.provider
    limit = estimate_limit(config.max_input_bytes)
    units = group_units(out, protect_first_user=ctx.protect_first_user)
    for unit in units:
        unit.tokens = sum(
            message_tokens[i]
            if message_tokens is not None
            else count_message_tokens(out[i], model, memo=memo, image_provider=provider, estimate_above=limit)
            for i in unit.indices
        )
    placeholder_key = "0" * _ccr.KEY_LENGTH if store is not None else None

    def price(dropped: list[int]) -> int:
        text = summary_text([units[u] for u in sorted(dropped)], 0, placeholder_key)
        return summary_cost(tokenizer.count(text)) + 8  # slack for error counts and digits

    plan = plan_stable_drops(
        out,
        units,
        budget,
        low_water_ratio=ctx.low_water_ratio,
        protect_first_user=ctx.protect_first_user,
        summary_tokens=price,
    )
    dropped = set(plan.dropped)
    new = out
    if dropped:
        dropped_units = [units[u] for u in sorted(dropped)]
        record = dropped_record([out[i] for u in dropped_units for i in u.indices])
        key = None
        if store is not None:
            try:
                key = _ccr.stash(store, record, "json", keep=state.stashed, paths=[[]])
                state.stashed.add(key)
            except CCRStoreError as exc:
                log.warning("CCR store error (%s); dropped turns are summarised but not retrievable", exc)
                report.notes.append(f"dropped turns not retrievable: {exc}")
        else:
            report.notes.append("CCR is disabled: dropped messages are summarized but not retrievable")
        n_errors = sum(1 for u in dropped_units if has_error(unit_text(out, u)))
        summary = summary_text(dropped_units, n_errors, key)
        new = assemble(out, units, dropped, summary, fmt)
        if key is not None:
            report.summary_key = key
            report.ccr_keys.append(key)
    actual = count_tokens(new, model, memo=memo, image_provider=provider, estimate_above=limit)
    if actual > budget:
        log.info(
            "stable budget strategy could not reach %s tokens (%s); fitting this call on its own",
            budget,
            actual,
        )
        report.notes.append(
            f"stable strategy: {actual:,} tokens after dropping old turns in blocks; fitting this "
            "call on its own instead (the prompt prefix may change on the next turn)"
        )
        report.strategy = "importance"  # what actually ran
        return None
    report.tokens_after = actual
    report.protected_tokens = sum(u.tokens for u in units if u.protected) + 3
    report.block_drops = plan.block_drops
    report.stable_prefix_since = units[plan.last_drop_unit].start if plan.last_drop_unit is not None else 0
    for ui, unit in enumerate(units):
        if ui in dropped:
            action, reason = "dropped", plan.reasons[ui]
        elif unit.protected:
            action, reason = "protected", unit.protected
        else:
            action, reason = "kept", "fits in the budget"
        report.decisions.append(
            MessageDecision(
                tuple(unit.indices), unit.role, unit.tool_names, action, reason, 0.0, {}, unit.tokens
            )
        )
    report.strategy = "stable"
    return new


def _fit_scored(
    out: list[dict[str, Any]],
    budget: int,
    state: ManagedState,
    fmt: str,
    query: str | None,
    config: HeadroomConfig,
    report: ContextReport,
) -> list[dict[str, Any]]:
    """The 'importance' and 'rolling_window' strategies (also the 'stable' fallback)."""
    ctx = config.context
    model, memo, store = state.model, state.memo, state.store
    learning: LearningStore | None = None
    try:
        learning = open_store(config)
    except Exception as exc:  # learning is an optimisation; never a reason to fail
        log.warning("learning store unavailable (%s: %s)", type(exc).__name__, exc)
        report.notes.append(f"learning store unavailable: {type(exc).__name__}: {exc}")
    units = group_units(out, protect_first_user=ctx.protect_first_user)
    scores = score_units(out, units, query, ctx, learning, report.notes)
    fit_ctx = ctx if ctx.strategy != "stable" else replace(ctx, strategy="importance")
    outcome = fit(
        out,
        units,
        scores,
        budget,
        model=model,
        fmt=fmt,
        tokenizer=state.tokenizer,
        store=store,
        ctx=fit_ctx,
        learning=learning,
        memo=memo,
        stashed=state.stashed,
    )
    if learning is not None:
        try:
            learning.save()
        except Exception as exc:
            log.warning("learning store not saved (%s: %s)", type(exc).__name__, exc)
            report.notes.append(f"learning store not saved: {type(exc).__name__}: {exc}")
    report.protected_tokens = outcome.protected_tokens
    report.over_budget = outcome.over_budget
    report.summary_key = outcome.summary_key
    report.ccr_keys = list(dict.fromkeys(outcome.ccr_keys))
    report.notes.extend(outcome.notes)
    report.tokens_after = outcome.tokens_after
    report.decisions.clear()
    for ui, unit in enumerate(units):
        action = outcome.actions[ui]
        report.decisions.append(
            MessageDecision(
                tuple(unit.indices),
                unit.role,
                unit.tool_names,
                action,
                outcome.reasons.get(ui, "fits in the budget" if action == "kept" else action),
                scores[ui].score,
                scores[ui].factors,
                unit.extras.get("tokens_received", unit.tokens),
            )
        )
    return outcome.messages


def _note_index(messages: Sequence[Mapping[str, Any]]) -> int | None:
    from headroom_core._messages import message_text

    for i in range(len(messages) - 1, -1, -1):
        if NOTE_PREFIX in message_text(messages[i]):
            return i
    return None


__all__ = [
    "CacheAligner",
    "CacheReport",
    "ContextReport",
    "DynamicValue",
    "ManagedState",
    "MessageDecision",
    "common_prefix_tokens",
    "context_window",
    "find_dynamic",
    "manage_context",
    "manage_prepared",
    "request_tokens",
    "resolve_budget",
]
