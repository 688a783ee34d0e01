"""`headroom_core.chunks.fit_chunks`: the engine behind every retriever budget adapter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headroom_core import HeadroomConfig, MemoryCCRStore, count_tokens, parse_markers, retrieve
from headroom_core.chunks import fit_chunks
from headroom_core.compressors import REGISTRY

LOG = "The password reset flow sends a one-time link by email; the link expires after 30 minutes. " * 12
BILLING = "Invoices are issued on the first day of each month and paid by card or transfer. " * 12
CATS = "Cats sleep for most of the day and prefer warm places near windows. " * 3


def test_ranking_by_query_then_prior(memory_config):
    out = fit_chunks(
        [BILLING, LOG, CATS], token_budget=10_000, query="password reset link", config=memory_config
    )
    assert [r.index for r in out] == [1, 0, 2]
    assert all(not r.dropped and not r.trimmed for r in out)
    assert all(r.text == [BILLING, LOG, CATS][r.index] for r in out)


def test_prior_scores_order_without_query(memory_config):
    out = fit_chunks(
        ["a b c d", "e f g h", "i j k l"], token_budget=100, scores=[0.2, 0.9, 0.5], config=memory_config
    )
    assert [r.index for r in out] == [1, 2, 0]


def test_input_order_is_the_default_prior(memory_config):
    out = fit_chunks(["one two three", "four five six"], token_budget=100, config=memory_config)
    assert [r.index for r in out] == [0, 1]


def test_duplicates_are_dropped_and_recoverable():
    store = MemoryCCRStore()
    twin = LOG.replace("30 minutes", "thirty minutes", 1)
    out = fit_chunks([LOG, twin, BILLING], token_budget=10_000, config=HeadroomConfig(ccr_store=store))
    dup = next(r for r in out if r.index == 1)
    assert dup.dropped and dup.duplicate_of == 0 and dup.reason == "duplicate"
    assert retrieve(dup.ccr_key, store=store) == twin
    assert fit_chunks([LOG, twin], token_budget=10_000, duplicate_threshold=1.1)[1].dropped is False


def test_over_budget_chunk_is_compressed_first(memory_config):
    store = memory_config.ccr_store
    out = fit_chunks([LOG, BILLING], token_budget=count_tokens(LOG) + 60, config=memory_config)
    second = out[1]
    assert second.trimmed and second.reason in ("compressed", "truncated")
    assert second.tokens == count_tokens(second.text) <= 60
    assert retrieve(second.ccr_key, store=store) == BILLING


def test_over_budget_chunk_is_truncated_with_a_marker():
    store = MemoryCCRStore()
    # every content compressor off: the only way to fit is a head plus a marker
    config = HeadroomConfig(ccr_store=store, disabled_compressors=frozenset(REGISTRY) | {"text"})
    out = fit_chunks([LOG, BILLING], token_budget=count_tokens(LOG) + 60, config=config)
    first, second = out
    assert first.text == LOG and not first.trimmed
    assert second.trimmed and second.reason == "truncated"
    assert second.tokens == count_tokens(second.text) <= 60
    assert parse_markers(second.text)[0].key == second.ccr_key
    assert retrieve(second.ccr_key, store=store) == BILLING
    assert BILLING.startswith(second.text[: second.text.index("\n[headroom")])


def test_tiny_budget_drops_everything(memory_config):
    out = fit_chunks([LOG, BILLING], token_budget=5, config=memory_config)
    assert all(r.dropped and r.reason == "over_budget" and r.ccr_key for r in out)
    assert fit_chunks([LOG], token_budget=0, config=memory_config)[0].dropped


def test_ccr_disabled_keeps_or_drops_whole_chunks():
    out = fit_chunks(
        [LOG, BILLING], token_budget=count_tokens(LOG) + 60, config=HeadroomConfig(ccr_enabled=False)
    )
    assert out[0].text == LOG
    assert out[1].dropped and out[1].ccr_key is None


def test_empty_chunks_and_empty_input(memory_config):
    assert fit_chunks([], token_budget=10) == []
    out = fit_chunks(["", "  ", "text here"], token_budget=10, config=memory_config)
    assert [r.reason for r in out if r.dropped] == ["empty", "empty"]


def test_deterministic(memory_config):
    args = dict(token_budget=300, query="reset", config=memory_config)
    assert fit_chunks([LOG, BILLING, CATS], **args) == fit_chunks([LOG, BILLING, CATS], **args)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"texts": "abc", "token_budget": 1}, TypeError),
        ({"texts": [1], "token_budget": 1}, TypeError),
        ({"texts": ["a"], "token_budget": -1}, TypeError),
        ({"texts": ["a"], "token_budget": 1.5}, TypeError),
        ({"texts": ["a"], "token_budget": 1, "scores": [1, 2]}, ValueError),
        ({"texts": ["a"], "token_budget": 1, "scores": [float("nan")]}, TypeError),
        ({"texts": ["a"], "token_budget": 1, "config": {}}, TypeError),
        ({"texts": ["a"], "token_budget": 1, "query_weight": 2.0}, ValueError),
    ],
)
def test_bad_arguments(kwargs, error):
    texts = kwargs.pop("texts")
    with pytest.raises(error):
        fit_chunks(texts, **kwargs)


WORDS = st.sampled_from(
    [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "error",
        "timeout",
        "retry",
        "cache",
        "index",
        "token",
        "json",
        "{}",
        "[]",
        ":",
        ",",
    ]
)
TEXT = st.lists(WORDS, min_size=0, max_size=150).map(" ".join)


@settings(max_examples=40, deadline=None)
@given(
    texts=st.lists(TEXT, min_size=0, max_size=7),
    budget=st.integers(min_value=0, max_value=300),
    query=st.one_of(st.none(), TEXT),
    with_scores=st.booleans(),
    compress_all=st.booleans(),
)
def test_property_budget_and_recoverability(texts, budget, query, with_scores, compress_all):
    store = MemoryCCRStore()
    scores = [float(i % 3) for i in range(len(texts))] if with_scores else None
    out = fit_chunks(
        texts,
        token_budget=budget,
        query=query,
        scores=scores,
        compress_all=compress_all,
        config=HeadroomConfig(ccr_store=store),
    )
    assert sorted(r.index for r in out) == list(range(len(texts)))
    kept = [r for r in out if not r.dropped]
    assert sum(r.tokens for r in kept) <= budget
    for r in kept:
        assert r.tokens == count_tokens(r.text)
        if r.trimmed:
            assert retrieve(r.ccr_key, store=store) == texts[r.index]
        else:
            assert r.text == texts[r.index]
    for r in out:
        if r.dropped and texts[r.index].strip():
            assert retrieve(r.ccr_key, store=store) == texts[r.index]
