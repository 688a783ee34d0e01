"""The semantic relevance path, with the real packaged all-MiniLM-L6-v2 model (offline)."""

from __future__ import annotations

import pytest

from headroom_core import HeadroomConfig, MemoryCCRStore, manage_context
from headroom_core._config import ContextConfig
from headroom_core.context import semantic
from tests.support import openai_tool_turn

pytestmark = pytest.mark.semantic

QUESTION = "Why can't the web app reach its database?"
RELATED = "postgres listener on port 5432 refuses sessions from the frontend hosts"


def _listing(t: int) -> str:
    return "\n".join(f"docs/chapter{t}/page_{k}.md {k * 3} words about gardening" for k in range(20))


def test_model_is_packaged_cached_and_offline():
    first = semantic.load_model()
    assert semantic.load_model() is first  # one load per process
    sims = semantic.similarities(
        "database connection refused", ["postgres would not accept the connection", "a banana bread recipe"]
    )
    assert sims[0] > sims[1] + 0.2
    assert ((sims >= 0) & (sims <= 1)).all()


def test_similarities_are_deterministic():
    docs = ["the cache misses on every call", "tomorrow it will rain"]
    assert (
        semantic.similarities("prompt caching", docs).tolist()
        == semantic.similarities("prompt caching", docs).tolist()
    )


def _session() -> list[dict]:
    messages = [
        {"role": "system", "content": "You are an SRE assistant."},
        {"role": "user", "content": "Triage."},
    ]
    for t in range(8):
        output = RELATED + "\n" + _listing(t) if t == 3 else _listing(t)
        messages += openai_tool_turn(output, call_id=f"c{t}", tool="read")
    messages.append({"role": "user", "content": QUESTION})
    return messages


def _decide(semantic_on: bool):
    config = HeadroomConfig(
        ccr_store=MemoryCCRStore(),
        context=ContextConfig(semantic=semantic_on, learning=False, strategy="importance"),
    )
    _, report = manage_context(_session(), model="gpt-4o", config=config, token_budget=1400)
    return {d.message_indices: d for d in report.decisions}, report


def test_semantic_relevance_keeps_the_related_output():
    lexical, lexical_report = _decide(False)
    meaning, meaning_report = _decide(True)
    related_unit = (8, 9)  # turn 3's call and result
    assert lexical[related_unit].factors["relevance"] == 0.0
    assert meaning[related_unit].factors["relevance"] > 0.4
    assert lexical[related_unit].action == "dropped"
    assert meaning[related_unit].action == "kept"
    assert not any("semantic relevance unavailable" in n for n in meaning_report.notes)
    assert meaning_report.tokens_after <= 1400 and lexical_report.tokens_after <= 1400
