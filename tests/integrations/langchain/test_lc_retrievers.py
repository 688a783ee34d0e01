"""Retrieved documents in a token budget: compressor, budget retriever, standard suite."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests
from lc_fakes import make_orders
from lc_real import tutorial_sections, vector_store

from headroom_core import HeadroomConfig, MemoryCCRStore, count_tokens, parse_markers, retrieve
from headroom_integrations.langchain import HeadroomBudgetRetriever, HeadroomDocumentCompressor
from headroom_integrations.langchain.retrievers import OMITTED_DOCUMENT_PREFIX

pytestmark = pytest.mark.semantic


class TestBudgetRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[HeadroomBudgetRetriever]:
        return HeadroomBudgetRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {
            "base_retriever": vector_store().as_retriever(search_kwargs={"k": 6}),
            "token_budget": 3000,
            "headroom_config": HeadroomConfig(ccr_store=MemoryCCRStore()),
        }

    @property
    def retriever_query_example(self) -> str:
        return "How does a derived class inherit methods from its base class?"


QUERY = "How do private variables and name mangling work?"


def _context(docs: list[Document]) -> int:
    """Tokens of what a stuff-documents chain puts in the prompt."""
    return count_tokens("\n\n".join(d.page_content for d in docs))


def _split(docs: list[Document]) -> tuple[list[Document], Document | None]:
    """(the documents, the note about omitted ones or None); the note is always last."""
    if docs and (docs[-1].id or "").startswith(OMITTED_DOCUMENT_PREFIX):
        return list(docs[:-1]), docs[-1]
    return list(docs), None


def test_budget_is_respected_and_metadata_kept(hconfig, store):
    docs = vector_store().as_retriever(search_kwargs={"k": 10}).invoke(QUERY)
    compressor = HeadroomDocumentCompressor(token_budget=400, headroom_config=hconfig)
    out = compressor.compress_documents(docs, QUERY)
    assert out
    assert _context(out) <= 400
    by_id = {d.id: d for d in docs}
    out, note = _split(out)
    assert note is not None  # 10 tutorial sections do not fit 400 tokens: the rest is announced
    omitted = note.metadata["headroom"]["omitted"]
    assert {o["id"] for o in omitted} == set(by_id) - {d.id for d in out}
    assert all(retrieve(o["ccr_key"], store=store) == by_id[o["id"]].page_content for o in omitted)
    assert parse_markers(note.page_content)[0].key == note.metadata["headroom"]["ccr_key"]
    for doc in out:
        original = by_id[doc.id]
        info = doc.metadata["headroom"]
        assert {k: v for k, v in doc.metadata.items() if k != "headroom"} == original.metadata
        assert info["tokens"] == count_tokens(doc.page_content)
        if info["trimmed"]:
            assert retrieve(info["ccr_key"], store=store) == original.page_content
        else:
            assert doc.page_content == original.page_content
    # the most relevant passage (name mangling) ranks first
    assert "mangling" in out[0].page_content.lower()


def test_near_duplicates_are_removed(hconfig):
    sections = tutorial_sections()[:5]
    twin = Document(sections[0].page_content + " (mirror)", metadata={"mirror": True}, id="twin")
    out = HeadroomDocumentCompressor(token_budget=10_000, headroom_config=hconfig).compress_documents(
        [*sections, twin], "classes"
    )
    out, note = _split(out)
    ids = [d.id for d in out]
    assert "twin" not in ids and sections[0].id in ids
    assert len(out) == 5
    assert "1 near-duplicate" in note.page_content  # dropped, but announced and retrievable
    assert note.metadata["headroom"]["omitted"][0]["id"] == "twin"


def test_prior_scores_from_metadata(hconfig):
    docs = [
        Document(f"passage number {i} about nothing in particular " * 5, metadata={"relevance_score": s})
        for i, s in enumerate([0.1, 0.9, 0.5])
    ]
    out = HeadroomDocumentCompressor(token_budget=10_000, headroom_config=hconfig).compress_documents(
        docs, ""
    )
    assert [d.metadata["relevance_score"] for d in out] == [0.9, 0.5, 0.1]


def test_content_aware_compression_of_a_json_document(hconfig, store):
    rows = json.dumps(make_orders(300))
    docs = [Document("Orders export for May.", id="a"), Document(rows, id="b", metadata={"kind": "json"})]
    out = HeadroomDocumentCompressor(token_budget=1500, headroom_config=hconfig).compress_documents(
        docs, "failed orders"
    )
    by_id = {d.id: d for d in out}
    assert set(by_id) == {"a", "b"}
    info = by_id["b"].metadata["headroom"]
    assert info["trimmed"] and info["tokens"] < info["original_tokens"]
    assert retrieve(info["ccr_key"], store=store) == rows
    assert "ORD-00000" in by_id["b"].page_content  # content-aware: rows kept, not a blind cut


def test_contextual_compression_retriever(hconfig):
    from langchain_classic.retrievers import ContextualCompressionRetriever

    retriever = ContextualCompressionRetriever(
        base_compressor=HeadroomDocumentCompressor(token_budget=300, headroom_config=hconfig),
        base_retriever=vector_store().as_retriever(search_kwargs={"k": 8}),
    )
    out = retriever.invoke(QUERY)
    assert out and _context(out) <= 300


async def test_budget_retriever_async_matches_sync(hconfig):
    retriever = HeadroomBudgetRetriever(
        base_retriever=vector_store().as_retriever(search_kwargs={"k": 8}),
        token_budget=500,
        headroom_config=hconfig,
    )
    assert isinstance(retriever, BaseRetriever)
    sync = retriever.invoke(QUERY)
    assert await retriever.ainvoke(QUERY) == sync
    assert len(retriever.invoke(QUERY, k=2)) == 2


def test_bad_documents_are_a_clear_error(hconfig):
    with pytest.raises(TypeError, match="Document"):
        HeadroomDocumentCompressor(headroom_config=hconfig).compress_documents(["text"], "q")


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
        "budget",
        "json",
    ]
)
PARAGRAPH = st.lists(WORDS, min_size=0, max_size=120).map(" ".join)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(PARAGRAPH, min_size=0, max_size=8),
    budget=st.integers(min_value=0, max_value=400),
    query=st.one_of(st.none(), PARAGRAPH),
)
def test_property_never_over_budget(texts, budget, query):
    store = MemoryCCRStore()
    compressor = HeadroomDocumentCompressor(
        token_budget=budget, headroom_config=HeadroomConfig(ccr_store=store)
    )
    docs = [Document(t, metadata={"n": i}) for i, t in enumerate(texts)]
    out = compressor.compress_documents(docs, query or "")
    assert _context(out) <= budget
    out, note = _split(out)
    if note is not None:
        omitted = note.metadata["headroom"]["omitted"]
        # Blank passages are dropped with nothing to store; every other one comes back exactly.
        assert all(not texts[o["position"]].strip() for o in omitted if o["ccr_key"] is None)
        assert all(
            retrieve(o["ccr_key"], store=store) == texts[o["position"]] for o in omitted if o["ccr_key"]
        )
    elif {d.metadata["n"] for d in out} < {i for i, t in enumerate(texts) if t.strip()}:
        assert not out  # something left out but no note: only when not even the note fits
    for doc in out:
        original = texts[doc.metadata["n"]]
        if doc.metadata["headroom"]["trimmed"]:
            assert retrieve(doc.metadata["headroom"]["ccr_key"], store=store) == original
        else:
            assert doc.page_content == original
