"""BM25 and term extraction shared by every compressor."""

from __future__ import annotations

import numpy as np
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
