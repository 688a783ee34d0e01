"""Property tests: over random conversations with tool calls, in both formats."""

from __future__ import annotations

import orjson
from context_helpers import assert_anthropic_valid, assert_openai_pairs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom_core import (
    HeadroomConfig,
    MemoryCCRStore,
    count_tokens,
    manage_context,
    parse_markers,
    retrieve,
)
from headroom_core._config import ContextConfig

WORDS = st.sampled_from(
    ["alpha", "beta", "error", "ord_17", "app.py", "Traceback", "ok", "42", "id-9f3a", "the"]
)
TEXT = st.lists(WORDS, min_size=1, max_size=60).map(" ".join)

# A turn: ("user", text) | ("assistant", text) | ("tools", [(name, output), ...])
TURN = st.one_of(
    st.tuples(st.just("user"), TEXT),
    st.tuples(st.just("assistant"), TEXT),
    st.tuples(
        st.just("tools"),
        st.lists(st.tuples(st.sampled_from(["grep", "read", "run"]), TEXT), min_size=1, max_size=3),
    ),
)


def build_openai(system: str, turns: list) -> list[dict]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "task: " + system}]
    n = 0
    for kind, payload in turns:
        if kind == "tools":
            calls, results = [], []
            for name, output in payload:
                n += 1
                calls.append(
                    {"id": f"c{n}", "type": "function", "function": {"name": name, "arguments": "{}"}}
                )
                results.append({"role": "tool", "tool_call_id": f"c{n}", "content": output})
            messages.append({"role": "assistant", "content": None, "tool_calls": calls})
            messages.extend(results)
        else:
            messages.append({"role": kind, "content": payload})
    messages.append({"role": "user", "content": "question: what failed?"})
    return messages


def build_anthropic(system: str, turns: list) -> list[dict]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "task: " + system}]
    n = 0
    for kind, payload in turns:
        last = messages[-1]["role"]
        if kind == "tools":
            if last == "assistant":
                messages.append({"role": "user", "content": "go on"})
            uses, results = [], []
            for name, output in payload:
                n += 1
                uses.append({"type": "tool_use", "id": f"t{n}", "name": name, "input": {}})
                results.append({"type": "tool_result", "tool_use_id": f"t{n}", "content": output})
            messages.append({"role": "assistant", "content": uses})
            messages.append({"role": "user", "content": results})
        else:
            if last == kind:
                messages.append({"role": "assistant" if kind == "user" else "user", "content": "hm"})
            messages.append({"role": kind, "content": payload})
    if messages[-1]["role"] == "user":
        messages.append({"role": "assistant", "content": "noted"})
    messages.append({"role": "user", "content": "question: what failed?"})
    return messages


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    system=TEXT,
    turns=st.lists(TURN, min_size=0, max_size=14),
    fmt=st.sampled_from(["openai", "anthropic"]),
    budget_share=st.floats(min_value=0.05, max_value=1.2),
    strategy=st.sampled_from(["stable", "importance", "rolling_window"]),
)
def test_budget_pairs_and_determinism(system, turns, fmt, budget_share, strategy):
    messages = build_openai(system, turns) if fmt == "openai" else build_anthropic(system, turns)
    model = "gpt-4o" if fmt == "openai" else "claude-sonnet-4"
    budget = max(1, int(count_tokens(messages, model) * budget_share))
    store = MemoryCCRStore()
    config = HeadroomConfig(ccr_store=store, context=ContextConfig(learning=False, strategy=strategy))

    out, report = manage_context(messages, model=model, config=config, token_budget=budget)
    tokens = count_tokens(out, model)
    assert tokens == report.tokens_after
    if tokens > budget:
        # only allowed when nothing but protected messages (and the drop marker) is left
        assert report.over_budget
        # what is left over the budget is at most the one-line marker of the dropped turns
        assert report.protected_tokens > budget - 60
        assert all(d.action in ("protected", "dropped") for d in report.decisions)
    else:
        assert not report.over_budget

    if fmt == "openai":
        assert_openai_pairs(out)
    else:
        assert_anthropic_valid(out)
    assert out[0] == messages[0]  # the system prompt is never cut
    assert out[-1] == messages[-1]  # nor the current question

    # nothing is lost: every marker in the output resolves, and the dropped messages come back
    for m in out:
        for marker in parse_markers(orjson.dumps(m).decode()):
            assert retrieve(marker.key, store=store)
    for key in report.ccr_keys:
        assert retrieve(key, store=store)
    if report.dropped:
        restored = orjson.loads(retrieve(report.summary_key, store=store))
        assert restored == [messages[i] for d in report.dropped for i in d.message_indices]

    again, _ = manage_context(messages, model=model, config=config, token_budget=budget)
    assert orjson.dumps(again) == orjson.dumps(out)
