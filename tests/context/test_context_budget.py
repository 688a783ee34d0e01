"""Budget fitting: never over budget, protected messages kept, drops summarized and retrievable."""

from __future__ import annotations

import orjson
import pytest
from context_helpers import assert_anthropic_valid, assert_openai_pairs

from headroom_core import (
    BudgetExceededError,
    HeadroomConfig,
    compress,
    count_tokens,
    manage_context,
    parse_markers,
    retrieve,
)
from headroom_core._config import ContextConfig
from headroom_core.context import resolve_budget
from headroom_core.context.model_limits import DEFAULT_CONTEXT_WINDOW, context_window
from headroom_core.context.rolling_window import SUMMARY_PREFIX
from tests.support import openai_tool_turn

SYSTEM = {"role": "system", "content": "You are a support agent for Acme. Be precise."}


def _conversation(turns: int = 12) -> list[dict]:
    messages = [SYSTEM, {"role": "user", "content": "Investigate order problems for customer Dana."}]
    for t in range(turns):
        rows = [
            {"order_id": f"ord_{t}{k:02d}", "status": "shipped", "note": f"batch {t} item {k}"}
            for k in range(8)
        ]
        messages += openai_tool_turn(
            orjson.dumps(rows).decode(), call_id=f"call_{t}", tool="list_orders" if t % 2 else "read_file"
        )
        messages.append({"role": "assistant", "content": f"Turn {t}: looked at batch {t}, nothing unusual."})
        messages.append({"role": "user", "content": f"Ok, continue with batch {t + 1}."})
    messages.append({"role": "user", "content": "Which orders are delayed?"})
    return messages


def _text(messages: list[dict]) -> str:
    return orjson.dumps(messages).decode()


def test_fits_budget_and_keeps_protected(config):
    messages = _conversation()
    before = count_tokens(messages, "gpt-4o")
    budget = before // 3
    out, report = manage_context(messages, model="gpt-4o", config=config, token_budget=budget)
    assert count_tokens(out, "gpt-4o") <= budget
    assert report.tokens_after == count_tokens(out, "gpt-4o")
    assert out[0] == SYSTEM
    assert out[1] == messages[1]
    assert out[-1] == messages[-1]
    assert report.dropped and not report.over_budget
    assert_openai_pairs(out)


def test_under_budget_is_a_no_op(config):
    messages = _conversation(3)
    out, report = manage_context(messages, model="gpt-4o", config=config, token_budget=100_000)
    assert out == messages
    assert not report.dropped and report.summary_key is None
    assert all(d.action in ("kept", "protected") for d in report.decisions)


def test_input_is_not_mutated(config):
    messages = _conversation()
    snapshot = _text(messages)
    manage_context(messages, model="gpt-4o", config=config, token_budget=300)
    assert _text(messages) == snapshot


def test_summary_message_and_ccr_round_trip(config, store):
    messages = _conversation()
    out, report = manage_context(messages, model="gpt-4o", config=config, token_budget=600)
    summaries = [m for m in out if SUMMARY_PREFIX in str(m.get("content"))]
    assert len(summaries) == 1
    text = summaries[0]["content"]
    assert "omitted" in text and "tool call" in text
    (marker,) = parse_markers(text)
    assert marker.key == report.summary_key and marker.key in report.ccr_keys
    dropped = orjson.loads(retrieve(marker.key, store=store))
    dropped_indices = [i for d in report.dropped for i in d.message_indices]
    assert dropped == [messages[i] for i in dropped_indices]
    # a query finds the individual message that mentions a value
    (hit,) = orjson.loads(retrieve(marker.key, query="ord_205", limit=1, store=store))
    assert hit["role"] == "tool" and "ord_205" in hit["content"]


def test_every_drop_has_a_reason_and_scores(config):
    _out, report = manage_context(_conversation(), model="gpt-4o", config=config, token_budget=700)
    for decision in report.decisions:
        assert set(decision.factors) == {"recency", "role", "relevance", "errors", "references", "learned"}
        assert decision.reason
    for decision in report.dropped:
        assert decision.reason.startswith("dropped: score")
        assert "over budget by" in decision.reason


def test_deterministic(config):
    messages = _conversation()
    a = manage_context(messages, model="gpt-4o", config=config, token_budget=800)
    b = manage_context(messages, model="gpt-4o", config=config, token_budget=800)
    assert _text(a[0]) == _text(b[0])
    assert [d.score for d in a[1].decisions] == [d.score for d in b[1].decisions]


def test_protected_over_budget_is_reported_not_cut(config):
    big_question = "Please check: " + "order details " * 400
    messages = [
        SYSTEM,
        *openai_tool_turn("x " * 300, call_id="c1", tool="read_file"),
        {"role": "user", "content": big_question},
    ]
    out, report = manage_context(messages, model="gpt-4o", config=config, token_budget=100)
    assert report.over_budget and not report.fits
    assert report.protected_tokens > 100
    assert out[0] == SYSTEM and out[-1]["content"] == big_question
    assert any("over budget" in note for note in report.notes)


def test_strict_budget_raises(store, tmp_path):
    config = HeadroomConfig(ccr_store=store, context=ContextConfig(strict_budget=True, learning=False))
    messages = [SYSTEM, {"role": "user", "content": "word " * 500}]
    with pytest.raises(BudgetExceededError):
        manage_context(messages, model="gpt-4o", config=config, token_budget=50)


def test_shrinks_large_output_before_dropping(config, store, fixtures_dir):
    log = (fixtures_dir / "loghub_HDFS_2k.log").read_text()
    messages = [
        SYSTEM,
        {"role": "user", "content": "look at the logs"},
        *openai_tool_turn(log, call_id="c1", tool="cat"),
    ]
    messages.append({"role": "user", "content": "what happened to block blk_-1608999687919862906?"})
    out, report = manage_context(messages, model="gpt-4o", config=config, token_budget=2000)
    assert count_tokens(out, "gpt-4o") <= 2000
    assert [d.action for d in report.decisions] == ["protected", "protected", "shrunk", "protected"]
    tool_text = out[3]["content"]
    assert tool_text.startswith(log[:200])
    (marker,) = parse_markers(tool_text)
    assert retrieve(marker.key, store=store) == log
    assert count_tokens(out, "gpt-4o") > 1000  # it used the room it had, not a fixed stub


def test_rolling_window_drops_oldest_first(store):
    config = HeadroomConfig(ccr_store=store, context=ContextConfig(strategy="rolling_window", learning=False))
    messages = _conversation()
    _out, report = manage_context(messages, model="gpt-4o", config=config, token_budget=900)
    droppable = [d for d in report.decisions if d.action != "protected"]
    actions = [d.action for d in droppable]
    # a prefix of the droppable units went, the rest stayed
    assert actions == sorted(actions, key=lambda a: a != "dropped")
    assert "dropped" in actions and "kept" in actions


def test_bad_strategy_is_a_clear_error(store):
    with pytest.raises(ValueError, match="strategy"):
        ContextConfig(strategy="random", learning=False)


def test_ccr_disabled_still_fits_and_says_so():
    config = HeadroomConfig(ccr_enabled=False, context=ContextConfig(learning=False))
    out, report = manage_context(_conversation(), model="gpt-4o", config=config, token_budget=700)
    assert count_tokens(out, "gpt-4o") <= 700
    assert report.summary_key is None
    assert any("CCR is disabled" in n for n in report.notes)
    assert any("not retrievable" in str(m.get("content")) for m in out)


def test_anthropic_conversation_stays_valid(config, store):
    messages = [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": "Start the audit."},
    ]
    for t in range(10):
        messages.append(
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": f"tu_{t}", "name": "grep", "input": {"q": t}}],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"tu_{t}", "content": f"match line {t} " * 60},
                    {"type": "text", "text": f"note {t}"},
                ],
            }
        )
        messages.append({"role": "assistant", "content": f"Reviewed chunk {t}."})
        messages.append({"role": "user", "content": f"Continue {t}."})
    messages[-1] = {"role": "user", "content": "Final: summarize chunk 9."}
    out, report = manage_context(messages, model="claude-sonnet-4", config=config, token_budget=900)
    assert count_tokens(out, "claude-sonnet-4") <= 900
    assert report.dropped
    assert_anthropic_valid(out)
    summary = next(m for m in out if SUMMARY_PREFIX in orjson.dumps(m).decode())
    assert isinstance(summary["content"], list)


def test_compress_applies_budget_after_per_message_compression(config):
    messages = _conversation(20)
    result = compress(messages, "gpt-4o", config=config, token_budget=1200)
    assert result.tokens_after <= 1200
    assert result.tokens_after == count_tokens(result.messages, "gpt-4o")
    assert result.context is not None and result.context.summary_key in result.ccr_keys
    assert_openai_pairs(result.messages)


def test_fit_to_model_window():
    config = HeadroomConfig(context=ContextConfig(fit_to_model_window=True, reserve_output_tokens=4096))
    assert resolve_budget("gpt-4", config, None) == 8192 - 4096
    assert resolve_budget("gpt-4", config, 500) == 500
    assert resolve_budget("gpt-4", HeadroomConfig(), None) is None
    assert context_window("openai/gpt-4o-mini") == 128_000
    assert context_window("claude-3-5-sonnet-latest") == 200_000
    assert context_window("some-new-model") == DEFAULT_CONTEXT_WINDOW


def test_fit_to_model_window_through_compress(store, tmp_path):
    config = HeadroomConfig(
        ccr_store=store,
        min_tokens=10**9,  # no per-message compression: only the window fitting acts
        context=ContextConfig(fit_to_model_window=True, reserve_output_tokens=4096, learning=False),
    )
    messages = [SYSTEM, {"role": "user", "content": "go"}]
    for t in range(40):
        messages += openai_tool_turn(f"line {t} " * 200, call_id=f"c{t}", tool="read_file")
    messages.append({"role": "user", "content": "done?"})
    assert count_tokens(messages, "gpt-4") > 8192
    result = compress(messages, "gpt-4", config=config)
    assert result.tokens_after <= 8192 - 4096


@pytest.mark.parametrize("bad", [0, -5, 1.5, "100"])
def test_bad_budget_is_a_type_error(bad):
    with pytest.raises(TypeError):
        manage_context(_conversation(2), token_budget=bad)


def test_bad_arguments_are_type_errors():
    with pytest.raises(TypeError):
        manage_context("hello", token_budget=10)
    with pytest.raises(TypeError):
        manage_context(_conversation(1), model=None, token_budget=10)
    with pytest.raises(TypeError):
        manage_context(_conversation(1), query=3, token_budget=10)
    with pytest.raises(TypeError):
        manage_context(_conversation(1), config={"strategy": "x"}, token_budget=10)


def test_empty_and_tiny_conversations(config):
    assert manage_context([], config=config, token_budget=10)[0] == []
    only_system = [SYSTEM]
    out, report = manage_context(only_system, config=config, token_budget=1)
    assert out == only_system and report.over_budget
