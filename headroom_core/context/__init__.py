"""Context management: fit a conversation into a token budget, keep the prompt cacheable.

`manage_context()` is what `compress()` calls after per-message compression when a
budget applies (`token_budget=`, or `ContextConfig.fit_to_model_window`) or when
`ContextConfig.cache_align` is on. It returns the new messages and a `ContextReport`
(also available as `CompressResult.context`) with every unit's score, factors, action
and the reason for it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from headroom_core import _ccr
from headroom_core._config import HeadroomConfig
from headroom_core._counting import count_tokens
from headroom_core._errors import BudgetExceededError
from headroom_core._messages import detect_format, latest_user_text, validate_messages
from headroom_core._tokenizer import get_tokenizer
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
from headroom_core.context.importance import score_units
from headroom_core.context.learning_store import LearningStore, open_store
from headroom_core.context.model_limits import context_window
from headroom_core.context.rolling_window import group_units


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


def manage_context(
    messages: Sequence[Mapping[str, Any]],
    *,
    model: str = "gpt-4o",
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
    if token_budget is not None and (not isinstance(token_budget, int) or token_budget <= 0):
        raise TypeError(f"token_budget must be a positive int or None, got {token_budget!r}")
    ctx = config.context
    out = [copy.deepcopy(dict(m)) for m in messages]
    fmt = detect_format(out)
    if fmt == "openai" and model.lower().rsplit("/", 1)[-1].startswith(("claude", "anthropic")):
        fmt = "anthropic"  # text-only Claude conversations still need alternating roles
    if query is None:
        query = latest_user_text(out)
    memo: dict[str, int] = {}
    tokens_before = count_tokens(out, model, memo=memo)
    budget = resolve_budget(model, config, token_budget)
    report = ContextReport(budget, tokens_before, tokens_before, strategy=ctx.strategy)

    aligner = CacheAligner()  # breakpoints go in after fitting, on the final messages
    if ctx.cache_align:
        out, report.cache = aligner.align(out, provider=fmt)

    if budget is not None and out:
        if store is None and config.ccr_enabled:
            store = _ccr.store_for(config)
        if not config.ccr_enabled:
            store = None
        learning: LearningStore | None = None
        try:
            learning = open_store(config)
        except Exception as exc:  # learning is an optimisation; never a reason to fail
            report.notes.append(f"learning store unavailable: {type(exc).__name__}: {exc}")
        units = group_units(out, protect_first_user=ctx.protect_first_user)
        scores = score_units(out, units, query, ctx, learning, report.notes)
        outcome = fit(
            out,
            units,
            scores,
            budget,
            model=model,
            fmt=fmt,
            tokenizer=get_tokenizer(model),
            store=store,
            ctx=ctx,
            learning=learning,
            memo=memo,
        )
        if learning is not None:
            try:
                learning.save()
            except Exception as exc:
                report.notes.append(f"learning store not saved: {type(exc).__name__}: {exc}")
        out = outcome.messages
        report.protected_tokens = outcome.protected_tokens
        report.over_budget = outcome.over_budget
        report.summary_key = outcome.summary_key
        report.ccr_keys = list(dict.fromkeys(outcome.ccr_keys))
        report.notes.extend(outcome.notes)
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
        if outcome.over_budget:
            message = (
                f"over budget: the protected messages (system prompt, first user message, current "
                f"question) need {outcome.protected_tokens:,} tokens and, with the marker of the "
                f"dropped turns, {outcome.tokens_after:,}; the budget is {budget:,}"
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
    report.tokens_after = count_tokens(out, model, memo=memo)
    return out, report


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
    "MessageDecision",
    "common_prefix_tokens",
    "context_window",
    "find_dynamic",
    "manage_context",
    "request_tokens",
    "resolve_budget",
]
