"""Fit a conversation into a token budget: shrink, then drop, the least important units.

Order of work, on units that are not protected (system prompt, first user message,
current question):

1. *Shrink*: the least important units first, any text of at least
   `shrink_min_tokens` keeps its first `shrink_keep_tokens` tokens (cut at a line) and a
   CCR marker to the whole text.
2. *Drop*: still over budget, whole units go (least important first, or oldest first
   with `strategy="rolling_window"`), replaced by one summary message whose CCR key
   holds the dropped messages (their pre-shrink form).
3. *Verify*: the assembled conversation is counted with `count_tokens` (the same
   tokenizer as the caller's), and units keep going until it fits. Only when the
   protected units alone are over the budget does the result exceed it, and the report
   says so (`over_budget`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from headroom_core import _ccr
from headroom_core._counting import REPLY_PRIMING, count_message_tokens, count_tokens
from headroom_core._errors import CCRStoreError
from headroom_core._messages import copy_value, iter_slots
from headroom_core._text import plural
from headroom_core._tokenizer import Tokenizer
from headroom_core.context.importance import UnitScore
from headroom_core.context.learning_store import LearningStore
from headroom_core.context.rolling_window import Unit, assemble, dropped_record, summary_text

log = logging.getLogger("headroom")


@dataclass
class FitOutcome:
    messages: list[dict[str, Any]]
    actions: dict[int, str] = field(default_factory=dict)
    """unit index -> 'kept' | 'shrunk' | 'dropped' | 'protected'."""
    reasons: dict[int, str] = field(default_factory=dict)
    ccr_keys: list[str] = field(default_factory=list)
    summary_key: str | None = None
    tokens_after: int = 0
    protected_tokens: int = 0
    over_budget: bool = False
    notes: list[str] = field(default_factory=list)


def _cut_head(text: str, keep_tokens: int, tokenizer: Tokenizer) -> str:
    """About `keep_tokens` tokens from the start of `text`, ending at a line break if one is near."""
    ids = tokenizer.encode(text[: keep_tokens * 16])
    head = tokenizer.encoding.decode(ids[:keep_tokens])
    cut = head.rfind("\n")
    if cut >= len(head) // 2:
        head = head[:cut]
    return head.rstrip("\ufffd")


def _stash_kind(text: str) -> tuple[str, dict[str, Any]]:
    if text.lstrip().startswith("["):
        try:
            if isinstance(orjson.loads(text), list):
                return "json", {"paths": [[]]}
        except orjson.JSONDecodeError:
            pass
    return "text", {"unit": "line"}


def _shrink_unit(
    unit: Unit,
    slots_by_message: dict[int, list[Any]],
    tokenizer: Tokenizer,
    store: _ccr.CCRStore,
    ctx: Any,
    learning: LearningStore | None,
    room: int,
    stashed: set[str],
) -> list[str]:
    """Shrink the large texts of one unit in place; returns the CCR keys created.

    `room` is what the unit may take without breaking the budget; shrunk texts keep as
    much of it as they can (never less than `shrink_keep_tokens`).
    """
    big: list[tuple[Any, str, int]] = []
    for i in unit.indices:
        for slot in slots_by_message.get(i, ()):
            if slot.kind in ("image", "system"):
                continue
            text = slot.get()
            if not isinstance(text, str) or len(text) < ctx.shrink_min_tokens:
                continue
            tokens = tokenizer.count(text)
            if tokens >= ctx.shrink_min_tokens:
                big.append((slot, text, tokens))
    keys: list[str] = []
    # What the big texts may keep: the room minus the unit's other content and a marker each.
    other = unit.tokens - sum(t for _, _, t in big)
    share = (room - other - 60 * len(big)) * 0.95 / max(1, len(big))
    keep_tokens = max(ctx.shrink_keep_tokens, int(share))
    for slot, text, tokens in big:
        if keep_tokens >= tokens - 60:
            continue  # shrinking this one would not pay
        head = _cut_head(text, keep_tokens, tokenizer)
        kind, meta = _stash_kind(text)
        try:
            key = _ccr.stash(store, text, kind, keep=stashed, **meta)
        except CCRStoreError as exc:  # not stored: keep the text whole (no dead marker)
            log.warning("CCR store error (%s); a large message was not shrunk", exc)
            continue
        stashed.add(key)
        rest_lines = text.count("\n") - head.count("\n")
        # A cut inside one long line leaves no whole line out: say nothing about lines then.
        lines = f" ({plural(rest_lines, 'line')})" if rest_lines > 0 else ""
        description = f"{tokens - tokenizer.count(head):,} more tokens{lines} of this output omitted"
        slot.set(f"{head}\n{_ccr.make_marker(description, key)}")
        keys.append(key)
        if learning is not None and slot.tool_name:
            learning.link_key(key, slot.tool_name)
    return keys


def _would_merge_into_question(
    messages: Sequence[dict[str, Any]], units: Sequence[Unit], dropped: set[int]
) -> list[int]:
    """Kept droppable units right before the current question with the same role."""
    kept = [ui for ui in range(len(units)) if ui not in dropped]
    out: list[int] = []
    for prev, nxt in itertools.pairwise(kept):
        unit, following = units[prev], units[nxt]
        if (
            following.protected == "current question"
            and not unit.protected
            and messages[unit.end].get("role") == messages[following.start].get("role")
        ):
            out.append(prev)
    return out


def _why(score: UnitScore) -> str:
    top = sorted(score.factors.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return f"score {score.score:.3f} (" + ", ".join(f"{k} {v:.2f}" for k, v in top) + ")"


def fit(
    messages: list[dict[str, Any]],
    units: Sequence[Unit],
    scores: Sequence[UnitScore],
    budget: int,
    *,
    model: str,
    fmt: str,
    tokenizer: Tokenizer,
    store: _ccr.CCRStore | None,
    ctx: Any,
    learning: LearningStore | None = None,
    memo: dict[str, int] | None = None,
    stashed: set[str] | None = None,
) -> FitOutcome:
    memo = memo if memo is not None else {}
    stashed = stashed if stashed is not None else set()
    outcome = FitOutcome(messages)
    for ui, unit in enumerate(units):
        unit.tokens = sum(count_message_tokens(messages[i], model, memo=memo) for i in unit.indices)
        unit.extras["tokens_received"] = unit.tokens
        outcome.actions[ui] = "protected" if unit.protected else "kept"
        if unit.protected:
            outcome.reasons[ui] = unit.protected
    outcome.protected_tokens = REPLY_PRIMING + sum(u.tokens for u in units if u.protected)
    total = REPLY_PRIMING + sum(u.tokens for u in units)
    if total <= budget:
        outcome.tokens_after = total
        return outcome

    droppable = [ui for ui, u in enumerate(units) if not u.protected]
    if ctx.strategy == "rolling_window":
        order = sorted(droppable, key=lambda ui: units[ui].start)
    elif ctx.strategy == "importance":
        order = sorted(droppable, key=lambda ui: (scores[ui].score, units[ui].start))
    else:
        raise ValueError(
            f"ContextConfig.strategy must be 'importance' or 'rolling_window', got {ctx.strategy!r}"
        )

    # 1. shrink large texts, least important first
    originals: dict[int, dict[str, Any]] = {}
    shrink_keys: dict[int, list[str]] = {}
    if store is not None:
        slots_by_message: dict[int, list[Any]] = {}
        for slot in iter_slots(messages):
            slots_by_message.setdefault(slot.message_index, []).append(slot)
        for ui in order:
            if total <= budget:
                break
            unit = units[ui]
            if unit.tokens < ctx.shrink_min_tokens:
                continue
            before = {i: copy_value(messages[i]) for i in unit.indices}
            room = budget - (total - unit.tokens)
            keys = _shrink_unit(unit, slots_by_message, tokenizer, store, ctx, learning, room, stashed)
            if not keys:
                continue
            originals.update(before)
            new_tokens = sum(count_message_tokens(messages[i], model, memo=memo) for i in unit.indices)
            outcome.reasons[ui] = f"shrunk: {_why(scores[ui])}; over budget by {total - budget:,} tokens"
            total += new_tokens - unit.tokens
            unit.tokens = new_tokens
            outcome.actions[ui] = "shrunk"
            shrink_keys[ui] = keys
    elif total > budget:
        outcome.notes.append("CCR is disabled: dropped messages are summarized but not retrievable")

    # 2. drop whole units, same order, until the estimate fits; 3. verify with the real count
    dropped: set[int] = set()
    pending = list(order)
    n_errors = 0
    compact = False
    out = messages
    while True:
        while pending and total > budget:
            ui = pending.pop(0)
            dropped.add(ui)
            n_errors += int(scores[ui].has_error)
            outcome.reasons[ui] = f"dropped: {_why(scores[ui])}; over budget by {total - budget:,} tokens"
            outcome.actions[ui] = "dropped"
            total -= units[ui].tokens
            if len(dropped) == 1:
                total += 3 + tokenizer.count(summary_text([units[ui]], 0, "0" * 24)) + 24  # estimate
        while (
            fmt == "anthropic" and dropped and (clash := _would_merge_into_question(messages, units, dropped))
        ):
            for ui in clash:
                # Anthropic turns alternate: this unit would be merged into the current
                # question, changing it. It goes too (summarised and stored like the rest).
                dropped.add(ui)
                if ui in pending:
                    pending.remove(ui)
                outcome.actions[ui] = "dropped"
                outcome.reasons[ui] = "dropped: would have been merged into the current question"
                total -= units[ui].tokens
        record = key = summary = None
        if dropped:
            dropped_units = [units[ui] for ui in sorted(dropped)]
            dropped_messages = [originals.get(i, messages[i]) for u in dropped_units for i in u.indices]
            record = dropped_record(dropped_messages)
            # The key is content-derived, so it is known before anything is stored.
            key = _ccr.content_key(record) if store is not None else None
            summary = summary_text(dropped_units, n_errors, key, compact=compact)
        out = assemble(messages, units, dropped, summary, fmt)
        actual = count_tokens(out, model, memo=memo)
        if actual <= budget:
            break
        total = max(actual, budget + 1)
        if pending:
            continue
        if dropped and not compact:
            compact = True  # last resort before reporting: the bare marker as the summary
            continue
        outcome.over_budget = True
        break
    if key is not None and record is not None and store is not None:
        try:
            outcome.summary_key = _ccr.stash(store, record, "json", keep=stashed, paths=[[]])
            stashed.add(outcome.summary_key)
            outcome.ccr_keys.append(outcome.summary_key)
        except CCRStoreError as exc:  # the marker would point nowhere: say so instead
            log.warning("CCR store error (%s); dropped turns are summarised but not retrievable", exc)
            outcome.notes.append(f"dropped turns not retrievable: {exc}")
            summary = summary_text([units[ui] for ui in sorted(dropped)], n_errors, None)
            out = assemble(messages, units, dropped, summary, fmt)
            actual = count_tokens(out, model, memo=memo)
    for ui, keys in shrink_keys.items():
        if ui not in dropped:  # a shrunk unit that was dropped later lives in the summary record
            outcome.ccr_keys.extend(keys)
    outcome.messages = out
    outcome.tokens_after = actual
    return outcome
