"""Prefix stability: a message compresses the same way on every later turn (issue 11 §1).

With no token budget, `compress(c + e).messages[:len(c)] == compress(c).messages` byte for
byte after JSON serialisation, in both formats. With a budget, the default 'stable'
strategy drops old turns in blocks, so requests keep a stable prefix between block drops.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom_core import HeadroomConfig, MemoryCCRStore, compress, retrieve
from headroom_core._config import ContextConfig
from tests.support import anthropic_tool_turn, openai_conversation, openai_tool_turn

QUESTIONS = [
    "Which payments failed?",
    "Did pay_00412 or pay_00613 get refunded as fraudulent?",
    "Show the ach payments of cus_17.",
    "What is the largest amount?",
    "Why did the worker crash at 10:02?",
    "List errors in auth.py",
]


def _payments(rng: random.Random, n: int, prefix: str = "pay") -> str:
    rows = [
        {
            "id": f"{prefix}_{i:05d}",
            "status": "failed" if i % 97 == 5 else "succeeded",
            "amount": rng.randint(100, 99_999),
            "customer": f"cus_{rng.randint(1, 500)}",
            "method": rng.choice(["card", "sepa", "ach"]),
        }
        for i in range(n)
    ]
    return json.dumps(rows)


def _log(rng: random.Random, n: int) -> str:
    levels = ["INFO"] * 8 + ["WARN", "ERROR"]
    return "\n".join(
        f"2026-11-2{rng.randint(0, 9)}T10:{i % 60:02d}:00Z {rng.choice(levels)} worker-{rng.randint(1, 9)} "
        f"processed job id={rng.randint(1000, 99999)} user=cus_{rng.randint(1, 500)} in {rng.randint(1, 900)}ms"
        for i in range(n)
    )


def _output(rng: random.Random, kind: int) -> str:
    if kind == 0:
        return _payments(rng, rng.randint(40, 400))
    if kind == 1:
        return _log(rng, rng.randint(40, 300))
    return "short result: ok"


def _json(messages: list[Any]) -> str:
    return json.dumps(messages, ensure_ascii=False)


def _openai_session(seed: int, turns: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are a payments assistant."}]
    for t in range(turns):
        messages.append({"role": "user", "content": rng.choice(QUESTIONS)})
        for c in range(rng.randint(1, 2)):
            tool = rng.choice(["list_payments", "read_log"])
            output = _output(rng, rng.randint(0, 2))
            messages += openai_tool_turn(output, call_id=f"call_{t}_{c}", tool=tool)
        messages.append({"role": "assistant", "content": f"Answer {t}: see above."})
    return messages


def _anthropic_session(seed: int, turns: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    messages: list[dict[str, Any]] = []
    for t in range(turns):
        messages.append({"role": "user", "content": [{"type": "text", "text": rng.choice(QUESTIONS)}]})
        output = _output(rng, rng.randint(0, 2))
        as_blocks = rng.random() < 0.5  # a tool_result's content: a string or text blocks
        messages += anthropic_tool_turn(
            [output] if as_blocks else output, call_id=f"toolu_{t}", tool="list_payments", args={"page": t}
        )
        messages.append({"role": "assistant", "content": [{"type": "text", "text": f"Answer {t}."}]})
    return messages


def _assert_prefix_stable(conversation: list[dict[str, Any]], cuts: list[int], model: str, same_store: bool):
    shared = MemoryCCRStore()

    def run(messages: list[dict[str, Any]]) -> list[Any]:
        store = shared if same_store else MemoryCCRStore()
        return compress(messages, model, config=HeadroomConfig(ccr_store=store)).messages

    full = run(conversation)
    for cut in cuts:
        prefix = run(conversation[:cut])
        assert _json(full[:cut]) == _json(prefix), (
            f"message(s) before {cut} changed when the conversation grew"
        )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), turns=st.integers(1, 4), same_store=st.booleans(), data=st.data())
def test_openai_prefix_stability(seed, turns, same_store, data):
    conversation = _openai_session(seed, turns)
    cuts = data.draw(st.lists(st.integers(1, len(conversation)), min_size=1, max_size=3, unique=True))
    _assert_prefix_stable(conversation, cuts, "gpt-4o", same_store)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), turns=st.integers(1, 4), same_store=st.booleans(), data=st.data())
def test_anthropic_prefix_stability(seed, turns, same_store, data):
    conversation = _anthropic_session(seed, turns)
    cuts = data.draw(st.lists(st.integers(1, len(conversation)), min_size=1, max_size=3, unique=True))
    _assert_prefix_stable(conversation, cuts, "claude-sonnet-4", same_store)


def _issue_conversation() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(3)
    c = openai_conversation(
        _payments(rng, 800),
        system="You are a payments assistant.",
        question="Which payments failed?",
        tool="list_payments",
    )
    e = [
        {"role": "assistant", "content": "Seven payments failed."},
        {"role": "user", "content": "Did pay_00412 or pay_00613 get refunded as fraudulent?"},
        *openai_tool_turn(_payments(rng, 300, prefix="ref"), call_id="call_2", tool="list_refunds"),
    ]
    return c, e


def test_issue_reproduction_first_tool_result_is_unchanged_next_turn():
    """Issue 11: the first tool result used to be re-steered by the newer question."""
    c, e = _issue_conversation()
    store = MemoryCCRStore()
    first = compress(c, config=HeadroomConfig(ccr_store=store))
    second = compress(c + e, config=HeadroomConfig(ccr_store=store))
    assert first.tokens_after < first.tokens_before / 5
    assert _json(second.messages[: len(c)]) == _json(first.messages)
    for key in first.ccr_keys:
        assert retrieve(key, store=store) == c[3]["content"]


def test_explicit_query_steers_every_message():
    """A caller's query applies everywhere (documented: a changing query gives up stability)."""
    c, e = _issue_conversation()
    config = HeadroomConfig(ccr_store=MemoryCCRStore())
    query = "pay_00412 pay_00613"
    steered = compress(c + e, config=config, query=query)
    assert "pay_00412" in steered.messages[3]["content"]


def test_query_is_the_user_text_before_the_message():
    from headroom_core._messages import queries_before

    c, e = _issue_conversation()
    queries = queries_before(c + e)
    assert queries[0] is None and queries[1] is None
    assert queries[3] == "Which payments failed?"
    assert queries[5] == "Which payments failed?"  # the question itself is not "before" itself
    assert queries[7] == "Did pay_00412 or pay_00613 get refunded as fraudulent?"


def test_tool_name_comes_from_the_preceding_call_only():
    """A later call reusing an id must not rename an earlier tool result."""
    from headroom_core._messages import iter_slots

    c, _ = _issue_conversation()
    later = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "other", "arguments": "{}"}}
        ],
    }
    slots = [s for s in iter_slots([dict(m) for m in [*c, later]]) if s.kind == "tool"]
    assert slots[0].tool_name == "list_payments"


# --------------------------------------------------------------------------- budgets


def _growing_requests(make, turns: int, budget: int, model: str, strategy: str = "stable"):
    conversation = make(7, turns)
    store = MemoryCCRStore()
    config = HeadroomConfig(ccr_store=store, context=ContextConfig(strategy=strategy))
    # Requests end where an agent would send them: after each tool result / user message.
    ends = [i + 1 for i, m in enumerate(conversation) if m["role"] in ("user", "tool")]
    return [compress(conversation[:end], model, config=config, token_budget=budget) for end in ends]


@pytest.mark.parametrize(
    ("make", "model"), [(_openai_session, "gpt-4o"), (_anthropic_session, "claude-sonnet-4")]
)
def test_budget_drops_in_blocks_and_keeps_a_stable_prefix(make, model):
    budget = 6_000
    results = _growing_requests(make, 14, budget, model)
    assert any(r.context.block_drops for r in results), "the session must outgrow the budget"
    breaks = 0
    for prev, cur in itertools.pairwise(results):
        assert cur.tokens_after <= budget
        stable = _json(cur.messages[: len(prev.messages)]) == _json(prev.messages)
        if cur.context.block_drops == prev.context.block_drops:
            assert stable, "no new block drop, yet the prefix changed"
            assert cur.context.stable_prefix_since == prev.context.stable_prefix_since
        else:
            breaks += 1
            assert cur.context.stable_prefix_since >= (prev.context.stable_prefix_since or 0)
    # Blocks: far fewer cache breaks than requests.
    assert breaks <= len(results) // 3, f"{breaks} cache breaks in {len(results)} requests"


def test_importance_strategy_breaks_the_prefix_more_often():
    """What the 'stable' default avoids (documented on `ContextConfig.strategy`)."""

    def breaks(strategy: str) -> int:
        results = _growing_requests(_openai_session, 9, 5_000, "gpt-4o", strategy)
        return sum(
            _json(b.messages[: len(a.messages)]) != _json(a.messages) for a, b in itertools.pairwise(results)
        )

    assert breaks("stable") < breaks("importance")


def test_stable_report_and_retrievable_drops():
    results = _growing_requests(_openai_session, 10, 5_000, "gpt-4o")
    last = results[-1]
    report = last.context
    assert report.strategy == "stable" and report.block_drops >= 1
    assert report.stable_prefix_since and report.stable_prefix_since > 0
    assert report.summary_key in last.ccr_keys
    dropped = [d for d in report.decisions if d.action == "dropped"]
    assert dropped and all("block" in d.reason for d in dropped)
