"""Budgets without cache thrash: drop old turns in blocks, decided as the conversation grew.

An agent loop sends the whole conversation again on every turn, and the provider's prompt
cache only pays for a byte-identical prefix. Fitting each request on its own drops one
more message almost every turn, so every request starts differently from the last one.

`plan_stable_drops` instead *replays* the conversation's growth unit by unit (a unit is a
message, or a tool call with its results). Whenever the kept part passes the budget, the
oldest droppable units go at once, down to `low_water_ratio` of the budget. The decision
at each step depends only on the units up to that step, so a longer conversation makes
exactly the same decisions for its earlier part: between two block drops every request
begins with the previous request's messages, and a block drop happens only about every
`(1 - low_water_ratio) * budget` tokens of new conversation.

Never dropped: system prompts, the first user message (with `protect_first_user`), and
the question that is current when a block is dropped (it stays until the next block drop).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from headroom_core._counting import MESSAGE_OVERHEAD, REPLY_PRIMING
from headroom_core._messages import user_text
from headroom_core.context.rolling_window import Unit


@dataclass
class StablePlan:
    dropped: list[int] = field(default_factory=list)
    """Unit indices dropped, oldest first."""
    block_drops: int = 0
    """How many times the replay had to drop a block."""
    last_drop_unit: int | None = None
    """The unit (step) at which the last block was dropped."""
    kept_tokens: int = 0
    """The replay's estimate of the kept conversation (summary included)."""
    reasons: dict[int, str] = field(default_factory=dict)


def plan_stable_drops(
    messages: Sequence[Mapping[str, Any]],
    units: Sequence[Unit],
    budget: int,
    *,
    low_water_ratio: float,
    protect_first_user: bool,
    summary_tokens: Callable[[list[int]], int],
) -> StablePlan:
    """Which units to drop; `units[i].tokens` must be set. `summary_tokens(dropped)` prices
    the summary message that replaces the dropped units (overhead included)."""
    first_user = next((k for k, m in enumerate(messages) if m.get("role") == "user"), None)
    permanent: set[int] = set()
    questions: list[bool] = []
    for ui, unit in enumerate(units):
        if unit.role in ("system", "developer") or (
            protect_first_user and first_user is not None and first_user in unit.indices
        ):
            permanent.add(ui)
        questions.append(any(user_text(messages[i]) is not None for i in unit.indices))

    plan = StablePlan()
    dropped: set[int] = set()
    kept = REPLY_PRIMING
    summary = 0
    current_question: int | None = None
    low_water = low_water_ratio * budget
    for step, unit in enumerate(units):
        kept += unit.tokens
        if questions[step]:
            current_question = step
        if kept + summary <= budget:
            continue
        before = len(dropped)
        # From the start: a question kept because it was current at an earlier block drop
        # is old news now and goes first.
        j = 0
        while j < step and kept + summary > low_water:
            if j not in permanent and j != current_question and j not in dropped:
                dropped.add(j)
                plan.dropped.append(j)
                plan.reasons[j] = (
                    f"dropped in block {plan.block_drops + 1} when message {unit.start + 1} came in "
                    f"(oldest first, down to {low_water_ratio:.0%} of the {budget:,}-token budget)"
                )
                kept -= units[j].tokens
                if len(dropped) == 1:
                    summary = summary_tokens(plan.dropped)
            j += 1
        if len(dropped) > before:
            summary = summary_tokens(plan.dropped)
            plan.block_drops += 1
            plan.last_drop_unit = step
    plan.kept_tokens = kept + summary
    return plan


def summary_cost(tokens_of_text: int) -> int:
    """Tokens of a summary message whose text has `tokens_of_text` tokens."""
    return MESSAGE_OVERHEAD + tokens_of_text
