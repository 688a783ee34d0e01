"""BM25 and term extraction shared by every compressor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headroom_core._relevance import bm25_scores, terms, top_k


def test_identifiers_are_split_for_matching():
    got = terms("parseMarkers HTTPServer file_reader.py")
    for t in ("parsemarkers", "parse", "markers", "http", "server", "file", "reader", "py"):
        assert t in got


def test_stop_words_are_ignored():
    assert terms("what is the status of the order") == ["status", "order"]


def test_bm25_ranks_the_matching_document_first():
    docs = ["payment failed for order 48213", "order 1 settled", "nothing to see", "payment ok"]
    scores = bm25_scores("failed payment 48213", docs)
    assert int(np.argmax(scores)) == 0
    assert scores[2] == 0


def test_empty_query_or_docs():
    assert bm25_scores("", ["a"]).tolist() == [0.0]
    assert bm25_scores("x", []).size == 0


def test_top_k_is_deterministic_on_ties():
    scores = np.array([1.0, 2.0, 2.0, 0.0, 1.0])
    assert top_k(scores, 3) == [1, 2, 0]
    assert top_k(scores, 10) == [1, 2, 0, 4]  # zero scores never count as relevant


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=40), st.lists(st.text(max_size=80), max_size=12))
def test_bm25_never_raises_and_is_non_negative(query, docs):
    scores = bm25_scores(query, docs)
    assert scores.shape == (len(docs),)
    assert (scores >= 0).all()


# --------------------------------------------------------------------------- identifiers


def test_identifiers_count_whole_and_by_parts():
    assert terms("with_fallbacks") == ["with_fallbacks", "withfallbacks", "fallbacks"]
    assert terms("RunnableSequence") == ["runnablesequence", "runnable", "sequence"]
    assert terms("foo.bar.baz") == ["foo.bar.baz", "foo", "bar", "baz"]
    got = terms("user_id=42")
    for t in ("user_id", "user", "id", "42", "user_id=42"):
        assert t in got
    assert "std::vec::vec" in terms("std::vec::Vec")
    assert terms("__init__") == ["init"]


def test_key_value_pairs_in_every_spelling_meet():
    for spelling in ("user_id=42", "user_id: 42", '"user_id": 42', "'user_id' = '42'", "user_id == 42"):
        assert "user_id=42" in terms(spelling), spelling
    assert "https=" not in " ".join(terms("https://example.com"))  # a URL is not a pair


def test_query_for_a_pair_prefers_the_record_holding_it():
    docs = ['{"user_id": 41, "order": 42}', '{"user_id": 42, "order": 7}', '{"user_id": 9, "order": 1}']
    scores = bm25_scores("user_id=42", docs)
    assert int(np.argmax(scores)) == 1


@pytest.mark.parametrize(
    ("query", "whole", "part"),
    [
        ("with_fallbacks", "runnable.with_fallbacks([backup])", "fallbacks = [backup]"),
        ("RunnableSequence", "seq = RunnableSequence(first, last)", "a sequence of steps"),
        ("foo.bar.baz", "call foo.bar.baz() here", "baz is set"),
        ("user_id=42", "user_id=42 logged in", "user 42 logged in"),
    ],
)
def test_whole_identifier_outranks_a_part_match(query, whole, part):
    filler = [f"unrelated line number {i}" for i in range(8)]
    scores = bm25_scores(query, [part, whole, *filler])
    assert scores[1] > scores[0] > 0


def test_naming_styles_meet_as_whole_identifiers():
    docs = ["class RunnableSequence:", "def runnable_sequence():", "runnable things", "sequence things"]
    scores = bm25_scores("runnable_sequence", docs)
    assert scores[0] > scores[2] and scores[0] > scores[3]
    assert scores[1] > scores[2] and scores[1] > scores[3]


def test_natural_words_find_identifiers():
    docs = ["def with_fallbacks(self, fallbacks):", "def invoke(self):", "class RunnableSequence:"]
    assert int(np.argmax(bm25_scores("how are fallbacks added", docs))) == 0
    assert int(np.argmax(bm25_scores("runnable sequence", docs))) == 2


def test_terms_are_deterministic_and_memo_independent():
    from headroom_core import _relevance

    text = "parseMarkers with_fallbacks foo.bar.baz user_id=42 HTTPServer " * 3
    first = terms(text)
    _relevance._expansions.clear()
    assert terms(text) == first


@pytest.mark.parametrize(
    "hostile",
    [
        "a." * 50_000,
        "a_" * 50_000,
        "aB" * 50_000,
        "x: " * 33_000,
        "a:" * 50_000,
        "-1" * 50_000,
        "A" * 100_000,
    ],
)
def test_hostile_long_tokens_are_handled(hostile):
    # Linear by construction (no nested quantifiers); timing lives in the benchmarks.
    got = terms(hostile)
    assert isinstance(got, list)
    assert bm25_scores("a", [hostile, "a b"]).shape == (2,)
