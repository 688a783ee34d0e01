"""`retrieval_answer`: the one text a model gets back from `headroom_retrieve`."""

from __future__ import annotations

import logging
import re

import orjson
import pytest

from headroom_core import (
    RETRIEVE_TOOL_DESCRIPTION,
    RETRIEVE_TOOL_NAME,
    RETRIEVE_TOOL_PARAMETERS,
    CCRStoreError,
    HeadroomConfig,
    MemoryCCRStore,
    _ccr,
    count_tokens,
    make_marker,
    retrieval_answer,
)
from headroom_core._answer import DEFAULT_ANSWER_MAX_TOKENS
from tests.support.records import order_rows, stash_json


@pytest.fixture
def store():
    return MemoryCCRStore()


def _body(answer: str) -> str:
    """The answer without its trailing capping note."""
    return answer.rsplit("\n[headroom: answer capped", 1)[0]


def test_schema_and_description_are_the_agreed_interface():
    assert RETRIEVE_TOOL_PARAMETERS["type"] == "object"
    assert set(RETRIEVE_TOOL_PARAMETERS["properties"]) == {"key", "query", "limit"}
    assert RETRIEVE_TOOL_PARAMETERS["properties"]["limit"]["type"] == "integer"
    assert RETRIEVE_TOOL_PARAMETERS["required"] == ["key"]
    assert RETRIEVE_TOOL_NAME in RETRIEVE_TOOL_DESCRIPTION
    for word in ("key", "query", "limit", "Example"):
        assert word in RETRIEVE_TOOL_DESCRIPTION


def test_small_original_comes_back_exactly(store):
    text = "line one\nline two\n\u00e9\ud83d lone surrogate\n"
    key = _ccr.stash(store, text, "text", unit="line")
    assert retrieval_answer(key, store=store) == text


def test_config_selects_the_store(memory_config):
    key = _ccr.stash(memory_config.ccr_store, "hello there", "text", unit="line")
    assert retrieval_answer(key, config=memory_config) == "hello there"


@pytest.mark.parametrize("key", [None, "", "   "])
def test_missing_key_says_how_to_call(key, store):
    answer = retrieval_answer(key, store=store)
    assert "needs a `key`" in answer and RETRIEVE_TOOL_NAME in answer


@pytest.mark.parametrize("key", [123, {"key": "abc"}, ["a"], 4.5])
def test_non_string_key_is_explained(key, store):
    assert "must be the text of a Headroom key" in retrieval_answer(key, store=store)


def test_huge_or_malformed_key_is_echoed_briefly(store):
    huge = "not a key " * 5000
    answer = retrieval_answer(huge, store=store)
    assert "is not a Headroom key" in answer
    assert len(answer) < 300  # the pasted text is not echoed back
    assert "not a key not a key not a key not a key" in answer  # ~40 characters of it


def test_key_is_found_when_quoted_or_inside_a_whole_marker(store):
    key = _ccr.stash(store, "the original", "text", unit="line")
    assert retrieval_answer(f'  "{key.upper()}" ', store=store) == "the original"
    marker = make_marker("12 lines omitted", key)
    assert retrieval_answer(marker, store=store) == "the original"


def test_unknown_key_tells_the_model_what_to_do(store):
    answer = retrieval_answer("ab" * 12, store=store)
    assert answer.startswith(f'No stored content for key "{"ab" * 12}"')
    assert "expired" in answer and "Re-run the tool" in answer


class _BrokenStore:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def put(self, key, value):
        raise self.exc

    def get(self, key):
        raise self.exc


@pytest.mark.parametrize("exc", [CCRStoreError("corrupt CCR record header"), OSError("disk I/O error")])
def test_store_errors_become_a_sentence_and_a_log_line(exc, caplog):
    with caplog.at_level(logging.WARNING, logger="headroom.ccr"):
        answer = retrieval_answer("cd" * 12, store=_BrokenStore(exc))
    assert "cannot be read right now" in answer and "Re-run the tool" in answer
    assert any(r.name == "headroom.ccr" and "cd" * 12 in r.getMessage() for r in caplog.records)


def test_corrupt_record_becomes_a_sentence(store):
    store.put("ef" * 12, b"not a record")
    assert "cannot be read right now" in retrieval_answer("ef" * 12, store=store)


def test_query_matching_nothing_is_said_clearly_for_json_and_text(store):
    json_key = stash_json(store, order_rows(50))
    text_key = _ccr.stash(store, "alpha\nbeta\ngamma\n", "text", unit="line")
    for key in (json_key, text_key):
        answer = retrieval_answer(key, query="zzzqqq", store=store)
        assert answer.startswith(f'Nothing stored under key "{key}" matches the query "zzzqqq"')
        assert "without `query`" in answer


def test_query_returns_matching_items(store):
    rows = order_rows(300)
    rows[17]["note"] = "chargeback disputed"
    rows[230]["note"] = "chargeback won"
    key = stash_json(store, rows)
    answer = retrieval_answer(key, query="chargeback", store=store)
    assert orjson.loads(answer) == [rows[17], rows[230]]


@pytest.mark.parametrize("limit", [0, -3, True, "many", 2.5, [1]])
def test_bad_limit_is_explained(limit, store):
    key = _ccr.stash(store, "a\nb\n", "text", unit="line")
    assert "`limit` must be a whole number" in retrieval_answer(key, limit=limit, store=store)


def test_quoted_numeric_limit_is_accepted(store):
    key = _ccr.stash(store, "a\nb\nc\nd", "text", unit="line")
    assert retrieval_answer(key, limit="2", store=store) == "a\nb"


def test_non_text_query_is_explained_and_blank_query_ignored(store):
    key = _ccr.stash(store, "a\nb", "text", unit="line")
    assert "`query` must be text" in retrieval_answer(key, query=42, store=store)
    assert retrieval_answer(key, query="   ", store=store) == "a\nb"


def test_whole_json_original_is_capped_as_valid_json_with_a_paging_note(store):
    key = stash_json(store, order_rows())
    answer = retrieval_answer(key, store=store)
    assert count_tokens(answer) <= DEFAULT_ANSWER_MAX_TOKENS
    items = orjson.loads(_body(answer))
    assert items == order_rows()[: len(items)] and 10 < len(items) < 1200
    assert f"showing the first {len(items):,} of 1,200 items" in answer
    assert "`limit`" in answer and "query=" in answer and key in answer


def test_capped_query_answer_shows_the_best_matches(store):
    rows = order_rows(600)
    for i in range(0, 600, 2):
        rows[i]["note"] = "refund pending"
    rows[451]["note"] = "refund requested by customer"
    key = stash_json(store, rows)
    answer = retrieval_answer(key, query="refund requested", max_tokens=400, store=store)
    assert count_tokens(answer) <= 400
    items = orjson.loads(_body(answer))
    assert rows[451] in items  # the best match is shown even though 451 is late in the list
    # How many items a query matches is the store's ranking policy; the note says how many.
    assert re.search(r"showing the \d+ best matches of [\d,]+ items", answer)
    assert "more specific words" in answer


def test_text_is_capped_by_lines(store):
    text = "\n".join(
        f"2024-05-01 12:00:{i % 60:02d} INFO request {i} served in {i % 90} ms" for i in range(5000)
    )
    key = _ccr.stash(store, text, "log", unit="line")
    answer = retrieval_answer(key, max_tokens=500, store=store)
    assert count_tokens(answer) <= 500
    shown = _body(answer).split("\n")
    assert shown == text.split("\n")[: len(shown)]
    assert "of 5,000 lines" in answer


def test_one_huge_line_is_cut_inside_the_cap(store):
    text = "x" * 50 + "".join(f"{i:06d}," for i in range(60000))
    key = _ccr.stash(store, text, "text", unit="line")
    answer = retrieval_answer(key, max_tokens=300, store=store)
    assert count_tokens(answer) <= 300
    assert answer.startswith("x" * 50) and "showing the start" in answer


def test_max_tokens_override_and_validation(store):
    key = _ccr.stash(store, "\n".join(f"line {i}" for i in range(3000)), "text", unit="line")
    assert count_tokens(retrieval_answer(key, max_tokens=100, store=store)) <= 100
    assert "capped" not in retrieval_answer(key, max_tokens=100_000, store=store)
    for bad in (0, -1, 1.5, "10", True):
        with pytest.raises(TypeError, match="max_tokens"):
            retrieval_answer(key, max_tokens=bad, store=store)


def test_answers_are_deterministic(store):
    key = stash_json(store, order_rows())
    first = retrieval_answer(key, query="customer-7 settled", max_tokens=300, store=store)
    assert all(
        retrieval_answer(key, query="customer-7 settled", max_tokens=300, store=store) == first
        for _ in range(3)
    )


def test_disabled_ccr_config_still_answers():
    config = HeadroomConfig(ccr_store=MemoryCCRStore(), ccr_enabled=False)
    assert "No stored content" in retrieval_answer("ab" * 12, config=config)
