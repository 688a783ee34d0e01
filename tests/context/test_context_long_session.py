"""A 200-turn agent session fits 32k; facts from dropped early turns come back through CCR."""

from __future__ import annotations

import orjson
import pytest
from context_helpers import assert_anthropic_valid, assert_openai_pairs

from benchmarks.workloads.context_workloads import agent_session, to_anthropic
from headroom_core import HeadroomConfig, MemoryCCRStore, compress, count_tokens, parse_markers, retrieve
from headroom_core._config import ContextConfig
from headroom_core._messages import message_text


@pytest.fixture(scope="module")
def session():
    return agent_session(200)


def _find(needle: str, key: str, store, depth: int = 3) -> bool:
    """Is `needle` in the record under `key` or behind a marker inside it (a few hops)?"""
    text = retrieve(key, store=store)
    if needle in text:
        return True
    return depth > 0 and any(_find(needle, m.key, store, depth - 1) for m in parse_markers(text))


def test_openai_session_fits_32k_and_dropped_facts_are_retrievable(session, tmp_path):
    messages, needles = session
    store = MemoryCCRStore()
    config = HeadroomConfig(ccr_store=store, context=ContextConfig(learning_path=str(tmp_path)))
    assert count_tokens(messages, "gpt-4o") > 100_000
    result = compress(messages, "gpt-4o", config=config, token_budget=32_000)
    assert result.tokens_after <= 32_000
    assert count_tokens(result.messages, "gpt-4o") == result.tokens_after
    assert_openai_pairs(result.messages)
    report = result.context
    assert report.summary_key in result.ccr_keys and report.dropped

    kept_text = "\n".join(message_text(m) for m in result.messages)
    dropped_needles = [n for n in needles if n not in kept_text]
    assert dropped_needles, "the workload should push some early facts out"
    for needle in needles:
        assert needle in kept_text or _find(needle, report.summary_key, store), needle

    # a query against the dropped-turns record returns the very message holding the fact
    dropped = orjson.loads(retrieve(report.summary_key, store=store))
    direct = [n for n in dropped_needles if any(n in orjson.dumps(m).decode() for m in dropped)]
    assert direct
    for needle in direct:
        (hit,) = orjson.loads(retrieve(report.summary_key, query=needle, limit=1, store=store))
        assert needle in orjson.dumps(hit).decode()


def test_anthropic_session_fits_and_stays_valid(session):
    messages, needles = session
    anthropic = to_anthropic(messages)
    store = MemoryCCRStore()
    config = HeadroomConfig(ccr_store=store, context=ContextConfig(learning=False))
    result = compress(anthropic, "claude-sonnet-4", config=config, token_budget=32_000)
    assert result.format == "anthropic"
    assert result.tokens_after <= 32_000
    assert_anthropic_valid(result.messages)
    for needle in needles:
        kept = any(needle in message_text(m) for m in result.messages)
        assert kept or any(_find(needle, k, store) for k in result.ccr_keys), needle
