"""Retrieval with a query (issues 10.2 and 11): values first, identifiers, capped answers."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headroom_core import MemoryCCRStore, _ccr, retrieve
from tests.support.records import order_rows, stash_json


@pytest.fixture
def store():
    return MemoryCCRStore()


def test_field_names_do_not_make_every_row_match(store):
    """10.2: "order" is in the field name `order_id` of all 1,200 rows; only the value picks."""
    rows = order_rows()
    rows[801]["order_id"] = 48_213
    key = stash_json(store, rows)
    assert orjson.loads(retrieve(key, query="order 48213", store=store)) == [rows[801]]


def test_a_term_in_every_value_does_not_drag_every_row_along(store):
    rows = [dict(r, kind="order") for r in order_rows()]
    key = stash_json(store, rows)
    assert orjson.loads(retrieve(key, query="order 40777", store=store)) == [rows[777]]


def test_values_rank_above_field_names(store):
    rows = [{"id": i, "note": "fine"} for i in range(30)]
    rows[3]["timeout_ms"] = 5  # only this row has the field
    rows[20]["note"] = "request timeout after 30s"
    key = stash_json(store, rows)
    got = orjson.loads(retrieve(key, query="timeout", limit=1, store=store))
    assert got == [rows[20]]
    both = orjson.loads(retrieve(key, query="timeout", store=store))
    assert rows[20] in both and rows[3] in both  # a rare field name still counts, weakly


def test_field_qualified_query_matches_that_field(store):
    rows = [{"user_id": i, "amount": 42 if i % 10 == 0 else i, "id": i} for i in range(200)]
    key = stash_json(store, rows)
    got = orjson.loads(retrieve(key, query="user_id=42", limit=1, store=store))
    assert got == [rows[42]]
    got = orjson.loads(retrieve(key, query="user_id: 42", limit=1, store=store))
    assert got == [rows[42]]


def test_nested_values_are_searched(store):
    features = [
        {"type": "Feature", "properties": {"mag": 1.0 + i / 100, "place": f"{i} km N of Town"}}
        for i in range(300)
    ]
    features[123]["properties"]["place"] = "5 km SW of Ridgecrest"
    key = stash_json(store, {"features": features}, paths=(["features"],))
    assert orjson.loads(retrieve(key, query="Ridgecrest", store=store)) == [features[123]]


@pytest.mark.parametrize(
    ("query", "wanted"),
    [
        ("RunnableSequence", {1}),
        ("with_fallbacks", {2}),
        ("foo.bar.baz", {3}),
        ("user_id=42", {4}),
    ],
)
def test_identifiers_in_the_query_find_their_lines(store, query, wanted):
    lines = [f"filler line {i} about nothing in particular" for i in range(5_000)]
    lines[1] = "class RunnableSequence(RunnableSerializable):"
    lines[2] = "    def with_fallbacks(self, fallbacks):"
    lines[3] = "config = foo.bar.baz"
    lines[4] = "WHERE user_id=42 LIMIT 1"
    key = _ccr.stash(store, "\n".join(lines), "code", unit="line")
    got = retrieve(key, query=query, store=store).split("\n")
    assert {lines.index(line) for line in got} >= wanted
    assert len(got) < 50  # only matching lines, never the whole original


def test_query_on_a_one_line_original_returns_the_matching_part(store):
    words = [f"w{i}" for i in range(60_000)]
    words[41_234] = "needle_identifier"
    key = _ccr.stash(store, " ".join(words), "text", unit="line")
    got = retrieve(key, query="needle_identifier", store=store)
    assert "needle_identifier" in got
    assert len(got) < 5_000


def test_query_results_are_capped_by_default(store):
    key = stash_json(store, order_rows())
    got = orjson.loads(retrieve(key, query="settled", store=store))
    assert len(got) == _ccr.DEFAULT_QUERY_LIMIT
    assert len(orjson.loads(retrieve(key, query="settled", limit=500, store=store))) == 500
    assert len(orjson.loads(retrieve(key, store=store))) == 1_200  # no query: the exact original


def test_nothing_matching_is_an_empty_answer(store):
    key = stash_json(store, order_rows(50))
    assert retrieve(key, query="zebra", store=store) == "[]"
    text_key = _ccr.stash(store, "alpha\nbeta", "log", unit="line")
    assert retrieve(text_key, query="zebra", store=store) == ""


def test_query_selection_is_deterministic(store):
    rows = order_rows(300)
    key = stash_json(store, rows)
    answers = {retrieve(key, query="customer-5 settled 17", store=store) for _ in range(3)}
    assert len(answers) == 1


_word = st.text(alphabet="abcxyz019_", min_size=1, max_size=6)
_items = st.lists(
    st.dictionaries(_word, st.one_of(_word, st.integers(0, 50), st.none()), min_size=1, max_size=4),
    min_size=1,
    max_size=30,
)


@settings(max_examples=80, deadline=None)
@given(items=_items, pick=st.integers(0, 29))
def test_an_item_is_found_by_its_own_text(items, pick):
    item = items[pick % len(items)]
    store = MemoryCCRStore()
    key = stash_json(store, items)
    if not any(v is not None for v in item.values()):
        return  # field names alone do not make an item findable
    found = orjson.loads(retrieve(key, query=orjson.dumps(item).decode(), store=store))
    assert item in found
