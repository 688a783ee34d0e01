"""`headroom_core.chunks.fit_context`: the one chunk-fitting policy behind every RAG adapter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headroom_core import HeadroomConfig, MemoryCCRStore, count_tokens, parse_markers, retrieve
from headroom_core.chunks import fit_context

WORDS = ["alpha", "beta", "gamma", "delta", "error", "timeout", "retry", "cache", "index", "budget"]
PASSAGES = [
    " ".join(WORDS[(i + j) % len(WORDS)] for j in range(60 + 7 * i)) + f" passage {i}." for i in range(12)
]


def _config(**changes) -> HeadroomConfig:
    return HeadroomConfig(ccr_store=MemoryCCRStore(), **changes)


def _header(index: int, text: str) -> str:
    return f"source: file_{index}.txt\npage: {index + 1}\n\n{text}"


def _context(fit, render=lambda i, t: t, separator="\n\n") -> str:
    parts = [render(r.index, r.text) for r in fit.kept]
    if fit.note is not None:
        parts.append(fit.note)
    return separator.join(parts)


def test_framing_is_charged_and_the_rendered_context_fits():
    fit = fit_context(PASSAGES, token_budget=600, query="timeout retry", config=_config(), render=_header)
    context = _context(fit, _header)
    assert fit.context_tokens == count_tokens(context) <= 600
    assert fit.tokens_before == count_tokens("\n\n".join(_header(i, t) for i, t in enumerate(PASSAGES)))
    assert len(fit.kept) + len(fit.omitted) == len(PASSAGES)


def test_the_note_names_a_stored_key_that_returns_every_omitted_passage():
    config = _config()
    fit = fit_context(PASSAGES, token_budget=500, config=config)
    assert fit.omitted and fit.note is not None
    (marker,) = parse_markers(fit.note)
    assert marker.key == fit.note_key
    stored = retrieve(fit.note_key, store=config.ccr_store)
    assert stored == "\n\n".join(PASSAGES[r.index] for r in fit.omitted)
    for r in fit.omitted:  # and each one alone
        assert retrieve(r.ccr_key, store=config.ccr_store) == PASSAGES[r.index]
    assert f"{len(fit.omitted)} lower-ranked retrieved passages omitted" in fit.note


def test_a_foreign_tokenizer_counts_the_budget():
    def count_words(text: str) -> int:
        return len(text.split())

    fit = fit_context(PASSAGES, token_budget=300, config=_config(), count=count_words)
    assert count_words(_context(fit)) == fit.context_tokens <= 300
    assert fit.kept


def test_max_chunks_counts_the_note_and_omits_the_rest_with_keys():
    config = _config()
    fit = fit_context(PASSAGES, token_budget=100_000, config=config, max_chunks=4)
    assert len(fit.kept) == 3 and fit.note is not None
    assert {r.reason for r in fit.omitted} == {"over_limit"}
    assert all(retrieve(r.ccr_key, store=config.ccr_store) == PASSAGES[r.index] for r in fit.omitted)
    one = fit_context(PASSAGES, token_budget=100_000, config=config, max_chunks=1)
    assert len(one.kept) == 1 and one.note is None and all(r.ccr_key for r in one.omitted)


def test_everything_that_fits_is_kept_whole_without_a_note():
    fit = fit_context(PASSAGES[:3], token_budget=100_000, config=_config())
    assert [r.index for r in fit.kept] == [0, 1, 2] and not fit.omitted and fit.note is None
    assert all(r.text == PASSAGES[r.index] for r in fit.kept)


def test_ccr_off_means_no_note_and_no_keys():
    fit = fit_context(PASSAGES, token_budget=400, config=HeadroomConfig(ccr_enabled=False))
    assert fit.omitted and fit.note is None and fit.note_key is None
    assert all(r.ccr_key is None for r in fit.omitted) and not any(r.trimmed for r in fit.kept)


def test_empty_chunks_stay_last_and_duplicates_are_announced():
    texts = [PASSAGES[0], "", PASSAGES[0] + " again", PASSAGES[1]]
    fit = fit_context(texts, token_budget=100_000, config=_config())
    assert fit.kept[-1].index == 1 and fit.kept[-1].reason == "empty"
    assert [r.reason for r in fit.omitted] == ["duplicate"]
    assert "(1 near-duplicate)" in fit.note


def test_same_input_same_output():
    args = {"token_budget": 450, "query": "cache index", "render": _header}
    assert fit_context(PASSAGES, config=_config(), **args) == fit_context(PASSAGES, config=_config(), **args)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(TypeError, match="list of str"):
        fit_context("text", token_budget=10)
    with pytest.raises(TypeError, match="chunk 1"):
        fit_context(["a", 2], token_budget=10)
    with pytest.raises(TypeError, match="token_budget"):
        fit_context(["a"], token_budget=-1)
    with pytest.raises(TypeError, match="max_chunks"):
        fit_context(["a"], token_budget=10, max_chunks=True)
    assert fit_context([], token_budget=10).kept == []


@settings(max_examples=40, deadline=None)
@given(
    picks=st.lists(st.integers(min_value=0, max_value=len(PASSAGES) - 1), max_size=10),
    budget=st.integers(min_value=0, max_value=900),
    framed=st.booleans(),
)
def test_property_rendered_context_never_exceeds_the_budget(picks, budget, framed):
    texts = [PASSAGES[i] for i in picks]
    render = _header if framed else (lambda i, t: t)
    config = _config()
    fit = fit_context(texts, token_budget=budget, config=config, render=render)
    assert count_tokens(_context(fit, render)) == fit.context_tokens <= budget
    assert sorted([r.index for r in fit.kept] + [r.index for r in fit.omitted]) == list(range(len(texts)))
    for r in fit.omitted:
        assert retrieve(r.ccr_key, store=config.ccr_store) == texts[r.index]


class _RefusingStore:
    """A custom CCRStore (put/get) that cannot take records, e.g. a read-only mount."""

    def put(self, key, value):
        from headroom_core import CCRStoreError

        raise CCRStoreError("store is read-only")

    def get(self, key):
        return None


def test_a_store_that_refuses_records_degrades_to_lossless_fitting(caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="headroom"):
        fit = fit_context(PASSAGES, token_budget=500, config=HeadroomConfig(ccr_store=_RefusingStore()))
    assert fit.kept and fit.omitted and fit.note is None
    assert all(r.text == PASSAGES[r.index] for r in fit.kept)  # whole chunks only
    assert fit.context_tokens <= 500
    assert any("CCR store error" in r.getMessage() for r in caplog.records)
