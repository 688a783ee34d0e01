"""`compress()` with a context step counts each message once after compressing and reuses
that count (fitting prices units from it; the last count of the context manager is the
result's): every figure must equal a plain count of the messages it describes, and the
token ids kept for the compressors must not outlive the call."""

from __future__ import annotations

import itertools

import pytest

from headroom_core import HeadroomConfig, MemoryCCRStore, _counting, compress, count_tokens
from headroom_core._config import ContextConfig


def _session(turns: int) -> list[dict]:
    messages: list[dict] = [
        {"role": "system", "content": "You are a careful assistant. " * 5},
        {"role": "user", "content": "Audit the orders and the test runs."},
    ]
    for turn in range(turns):
        call_id = f"call_{turn}"
        rows = "\n".join(
            f'{{"order_id": "ord_{turn:02d}{k:02d}", "status": "shipped", "total": {k * 7 + turn}}}'
            for k in range(25)
        )
        output = (
            f"[\n{rows}\n]"
            if turn % 2
            else "\n".join(f"tests/t{turn}.py::case_{k} PASSED" for k in range(40))
        )
        messages += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": call_id, "type": "function", "function": {"name": "run", "arguments": '{"n": 1}'}}
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": output},
        ]
        if turn % 4 == 3:
            messages.append({"role": "user", "content": f"Keep going after turn {turn}."})
    messages.append({"role": "user", "content": "Which tests failed?"})
    return messages


def _anthropic(messages: list[dict]) -> list[dict]:
    out: list[dict] = []
    for m in messages:
        if m["role"] == "assistant" and m.get("tool_calls"):
            call = m["tool_calls"][0]
            block = {"type": "tool_use", "id": call["id"], "name": "run", "input": {"n": 1}}
            out.append({"role": "assistant", "content": [block]})
        elif m["role"] == "tool":
            result = {"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": m["content"]}
            out.append({"role": "user", "content": [result]})
        elif m["role"] == "user" and out and out[-1]["role"] == "user":
            out[-1]["content"] = [*out[-1]["content"], {"type": "text", "text": m["content"]}]
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


CASES = list(
    itertools.product(
        (None, 300, 1500, 4000, 10**6),  # budgets: none, over, tight, loose, never reached
        ("stable", "importance"),
        (False, True),  # cache_align
        ("openai", "anthropic"),
    )
)


@pytest.mark.parametrize(("budget", "strategy", "align", "fmt"), CASES)
def test_reused_counts_equal_plain_counts(budget, strategy, align, fmt) -> None:
    messages = _session(24)
    model = "gpt-4o"
    if fmt == "anthropic":
        messages, model = _anthropic(messages), "claude-sonnet-4"
    context = ContextConfig(
        learning=False, strategy=strategy, cache_align=align, cache_anthropic_breakpoints=align
    )
    result = compress(
        messages,
        model,
        config=HeadroomConfig(ccr_store=MemoryCCRStore(), context=context),
        token_budget=budget,
    )
    assert result.tokens_after == count_tokens(result.messages, model)
    assert result.tokens_before == count_tokens(messages, model)
    report = result.context
    if report is None:
        assert budget is None and not align
        return
    assert report.tokens_after == result.tokens_after
    if not align:  # the context manager received the compressed conversation as it is
        plain = compress(messages, model, config=HeadroomConfig(ccr_store=MemoryCCRStore()))
        assert report.tokens_before == count_tokens(plain.messages, model)
        if report.strategy == "stable":
            by_unit = sum(d.tokens for d in report.decisions)
            assert report.tokens_before == by_unit + _counting.REPLY_PRIMING
    # The large texts' token ids kept for the compressors are released by the last count.
    assert _counting._token_ids.get() is None
