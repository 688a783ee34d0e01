"""One chunk-fitting policy: the LangChain and LlamaIndex RAG adapters behave the same.

Issue 10, defect 3: the LangChain adapters dropped 32 of 40 documents with no note and no key
while the LlamaIndex postprocessor announced them. Both now call
`headroom_core.chunks.fit_context`; given the same passages, scores, query and budget they
keep the same passages in the same order and announce the rest with the same CCR marker.
The postprocessor also reports its work through LlamaIndex's instrumentation dispatcher.
"""

from __future__ import annotations

from typing import Any

import llama_index.core.instrumentation as instrument
import pytest
from langchain_core.documents import Document
from llama_index.core.bridge.pydantic import Field
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.base import BaseEvent
from llama_index.core.llms import MockLLM
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode

from headroom_core import HeadroomConfig, MemoryCCRStore, count_tokens, parse_markers, retrieve
from headroom_integrations.langchain import HeadroomBudgetRetriever, HeadroomDocumentCompressor
from headroom_integrations.langchain.retrievers import OMITTED_DOCUMENT_PREFIX
from headroom_integrations.llamaindex import HeadroomNodePostprocessor
from headroom_integrations.llamaindex.postprocessor import (
    OMITTED_NODE_PREFIX,
    HeadroomFitEndEvent,
    HeadroomFitStartEvent,
)

QUERY = "How does find prune directories and match file names?"


def _passages(real_paragraphs: list[str]) -> list[str]:
    return real_paragraphs[:40]


def _scores(n: int) -> list[float]:
    return [round(1.0 - i / (2 * n), 4) for i in range(n)]


def _langchain(texts, scores, budget, config):
    docs = [
        Document(t, id=f"p{i}", metadata={"relevance_score": s})
        for i, (t, s) in enumerate(zip(texts, scores))
    ]
    return HeadroomDocumentCompressor(token_budget=budget, headroom_config=config).compress_documents(
        docs, QUERY
    )


def _llamaindex(texts, scores, budget, config):
    nodes = [
        NodeWithScore(node=TextNode(id_=f"p{i}", text=t), score=s)
        for i, (t, s) in enumerate(zip(texts, scores))
    ]
    postprocessor = HeadroomNodePostprocessor(
        token_budget=budget, config=config, metadata_mode=MetadataMode.NONE
    )
    return postprocessor.fit(nodes, QUERY)


@pytest.mark.parametrize("budget", [300, 600, 1500])
def test_both_adapters_keep_the_same_passages_and_announce_the_rest(real_paragraphs, budget):
    texts = _passages(real_paragraphs)
    assert len(texts) == 40
    scores = _scores(len(texts))
    store = MemoryCCRStore()
    config = HeadroomConfig(ccr_store=store)
    docs = _langchain(texts, scores, budget, config)
    fit = _llamaindex(texts, scores, budget, config)

    *kept_docs, note_doc = docs
    *kept_nodes, note_node = fit.nodes
    assert note_doc.id.startswith(OMITTED_DOCUMENT_PREFIX) and note_node.node.node_id.startswith(
        OMITTED_NODE_PREFIX
    )
    assert [d.id for d in kept_docs] == [n.node.node_id for n in kept_nodes]
    assert [d.page_content for d in kept_docs] == [n.node.get_content() for n in kept_nodes]
    assert note_doc.page_content == note_node.node.get_content()

    # Nothing dropped silently: every omitted passage has its own key and the note's key
    # returns all of them, in both adapters.
    omitted = note_doc.metadata["headroom"]["omitted"]
    assert len(omitted) + len(kept_docs) == 40 and len(omitted) == len(fit.omitted) > 0
    for entry in omitted:
        assert retrieve(entry["ccr_key"], store=store) == texts[entry["position"]]
    (marker,) = parse_markers(note_doc.page_content)
    everything = retrieve(marker.key, store=store)
    assert all(texts[entry["position"]] in everything for entry in omitted)
    assert count_tokens("\n\n".join(d.page_content for d in docs)) <= budget
    assert fit.context_tokens <= budget


def test_budget_retriever_k_counts_the_note_and_never_drops_silently(real_paragraphs):
    from langchain_core.retrievers import BaseRetriever

    texts = _passages(real_paragraphs)

    class Fixed(BaseRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
            return [Document(t, id=f"p{i}") for i, t in enumerate(texts)]

    store = MemoryCCRStore()
    retriever = HeadroomBudgetRetriever(
        base_retriever=Fixed(), token_budget=5000, headroom_config=HeadroomConfig(ccr_store=store)
    )
    out = retriever.invoke(QUERY, k=4)
    assert len(out) == 4
    *kept, note = out
    assert note.id.startswith(OMITTED_DOCUMENT_PREFIX)
    omitted = note.metadata["headroom"]["omitted"]
    assert len(kept) + len(omitted) == 40
    assert {o["reason"] for o in omitted} <= {"over_limit", "over_budget", "duplicate"}
    assert all(retrieve(o["ccr_key"], store=store) == texts[o["position"]] for o in omitted)


class _Recorder(BaseEventHandler):
    events: list[BaseEvent] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "HeadroomTestRecorder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, (HeadroomFitStartEvent, HeadroomFitEndEvent)):
            self.events.append(event)


@pytest.fixture
def recorder():
    root = instrument.get_dispatcher()
    handler = _Recorder(events=[])
    root.add_event_handler(handler)
    yield handler
    root.event_handlers.remove(handler)


def test_postprocessor_emits_instrumentation_events_inside_its_span(vector_index, ccr_config, recorder):
    postprocessor = HeadroomNodePostprocessor(token_budget=300, config=ccr_config)
    engine = vector_index.as_query_engine(
        llm=MockLLM(), similarity_top_k=40, node_postprocessors=[postprocessor]
    )
    response = engine.query(QUERY)
    start, end = recorder.events
    assert isinstance(start, HeadroomFitStartEvent) and isinstance(end, HeadroomFitEndEvent)
    assert start.token_budget == end.token_budget == 300 and start.query == QUERY
    assert len(start.nodes) == 40
    assert [n.node.node_id for n in end.nodes] == [n.node.node_id for n in response.source_nodes]
    assert end.context_tokens <= 300 < end.tokens_before
    assert end.omitted_node_ids and end.omitted_key is not None
    # Both events belong to the span the dispatcher opened around `_postprocess_nodes`.
    assert start.span_id and start.span_id == end.span_id
    assert "HeadroomNodePostprocessor._postprocess_nodes" in start.span_id
