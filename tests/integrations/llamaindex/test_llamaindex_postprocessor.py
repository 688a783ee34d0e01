"""HeadroomNodePostprocessor with real LlamaIndex query engines, nodes and synthesizers."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from li_support import CONTEXT_TEMPLATE, FIXTURES, context_of, paragraphs
from llama_index.core import Settings
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import ImageNode, MetadataMode, NodeWithScore, QueryBundle, TextNode
from pydantic import ValidationError

from headroom_core import HeadroomConfig, MemoryCCRStore, count_tokens, parse_markers, retrieve
from headroom_core._relevance import bm25_scores
from headroom_integrations.llamaindex import (
    CCR_KEY_METADATA,
    HeadroomNodePostprocessor,
    headroom_retrieve_tool,
)
from headroom_integrations.llamaindex._tokens import user_settings_tokenizer
from headroom_integrations.llamaindex.postprocessor import OMITTED_IDS_METADATA, OMITTED_NODE_PREFIX

PARAGRAPHS = paragraphs()


def _engine(index, postprocessor, top_k: int = 200):
    return index.as_query_engine(
        llm=MockLLM(),  # echoes the prompt: the response *is* what the LLM was given
        similarity_top_k=top_k,
        text_qa_template=CONTEXT_TEMPLATE,
        node_postprocessors=[postprocessor],
    )


class _ListRetriever(BaseRetriever):
    """Returns a fixed node list: lets hypothesis drive a real query engine."""

    def __init__(self, nodes: list[NodeWithScore]) -> None:
        super().__init__()
        self._nodes = nodes

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return list(self._nodes)


def _note(nodes: list[NodeWithScore]) -> NodeWithScore | None:
    notes = [n for n in nodes if n.node.node_id.startswith(OMITTED_NODE_PREFIX)]
    assert len(notes) <= 1
    return notes[0] if notes else None


def _scored(texts: list[str], scores: list[float | None]) -> list[NodeWithScore]:
    return [
        NodeWithScore(
            node=TextNode(id_=f"node-{i}", text=t, metadata={"source": f"s{i}.txt", "n": i}), score=s
        )
        for i, (t, s) in enumerate(zip(texts, scores))
    ]


# --------------------------------------------------------------------------- query engine


@pytest.mark.parametrize("budget", [250, 900, 2500])
def test_query_engine_context_fits_budget(vector_index, ccr_config, budget):
    postprocessor = HeadroomNodePostprocessor(token_budget=budget, config=ccr_config)
    response = _engine(vector_index, postprocessor).query("How do generators and iterators work?")
    context = context_of(response.response)
    tokens = count_tokens(context, "gpt-4o")
    assert 0 < tokens <= budget
    # The postprocessor's own measure of the rendered context is what the LLM got.
    fit = postprocessor.fit(
        vector_index.as_retriever(similarity_top_k=200).retrieve("How do generators and iterators work?"),
        "How do generators and iterators work?",
    )
    assert fit.context_tokens == tokens
    assert fit.tokens_before > budget  # the index is larger than every budget here
    assert _note(response.source_nodes) is not None


def test_without_budget_the_same_engine_overflows(vector_index):
    """The baseline the postprocessor fixes: all nodes do not fit MockLLM's window."""
    engine = vector_index.as_query_engine(
        llm=MockLLM(), similarity_top_k=200, text_qa_template=CONTEXT_TEMPLATE
    )
    with pytest.raises(ValueError, match=r"not (non-negative|positive)"):
        engine.query("How do generators and iterators work?")


def test_most_relevant_passage_survives_in_query_engine(vector_index, ccr_config):
    question = "Which find options follow symbolic links?"
    nodes = vector_index.as_retriever(similarity_top_k=200).retrieve(question)
    texts = [n.node.get_content(MetadataMode.NONE) for n in nodes]
    best = texts[int(bm25_scores(question, texts).argmax())]  # mock embeddings: scores tie
    postprocessor = HeadroomNodePostprocessor(token_budget=400, config=ccr_config)
    response = _engine(vector_index, postprocessor).query(question)
    context = context_of(response.response)
    assert best in context
    assert count_tokens(context) <= 400


def test_dropped_passage_comes_back_through_the_tool(vector_index, ccr_config):
    question = "How do generators and iterators work?"
    postprocessor = HeadroomNodePostprocessor(token_budget=300, config=ccr_config)
    response = _engine(vector_index, postprocessor).query(question)
    context = context_of(response.response)
    markers = parse_markers(context)
    assert markers, "the LLM must be told how to get the omitted passages back"
    note = _note(response.source_nodes)
    assert note is not None and markers[-1].key == note.node.metadata[CCR_KEY_METADATA]
    omitted_ids = note.node.metadata[OMITTED_IDS_METADATA]
    kept_ids = {n.node.node_id for n in response.source_nodes}
    assert omitted_ids and not (set(omitted_ids) & kept_ids)

    tool = headroom_retrieve_tool(ccr_config, max_tokens=10**7)
    everything = tool.call(key=markers[-1].key).content
    capped = headroom_retrieve_tool(ccr_config).call(key=markers[-1].key).content
    assert count_tokens(capped) <= 2000 and "answer capped" in capped
    for node_id in omitted_ids:
        original = vector_index.docstore.get_node(node_id).get_content(metadata_mode=MetadataMode.NONE)
        assert original in everything
    # A query returns only matching paragraphs, here about the find(1) -prune action.
    focused = tool.call(key=markers[-1].key, query="prune directory", limit=3).content
    assert "prune" in focused.lower()
    assert len(focused) < len(everything)


def test_docstore_nodes_are_not_mutated(vector_index, ccr_config):
    before = {nid: n.get_content() for nid, n in vector_index.docstore.docs.items()}
    postprocessor = HeadroomNodePostprocessor(token_budget=200, config=ccr_config, compress_all=True)
    _engine(vector_index, postprocessor).query("class inheritance and private variables")
    after = {nid: n.get_content() for nid, n in vector_index.docstore.docs.items()}
    assert after == before


async def test_async_query_fits_and_runs_off_the_event_loop(vector_index, ccr_config):
    threads: list[int] = []

    class Recording(HeadroomNodePostprocessor):
        def _postprocess_nodes(self, nodes, query_bundle=None):
            threads.append(threading.get_ident())
            return super()._postprocess_nodes(nodes, query_bundle)

    postprocessor = Recording(token_budget=500, config=ccr_config)
    loop_thread = threading.get_ident()
    response = await _engine(vector_index, postprocessor).aquery("What is a namespace?")
    assert count_tokens(context_of(response.response)) <= 500
    assert threads and all(t != loop_thread for t in threads)


# --------------------------------------------------------------------------- property test


_node_specs = st.lists(
    st.tuples(
        st.integers(0, len(PARAGRAPHS) - 1),
        st.one_of(st.none(), st.floats(0.0, 1.0)),
        st.sampled_from(
            [{}, {"source": "classes.rst"}, {"file_path": "/docs/man/find.1", "section": "OPTIONS"}]
        ),
    ),
    max_size=24,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=_node_specs, budget=st.integers(10, 1800), query=st.sampled_from(["", "symbolic links", "class"])
)
def test_property_llm_context_never_exceeds_budget(specs, budget, query):
    store = MemoryCCRStore()
    config = HeadroomConfig(ccr_store=store)
    nodes = [
        NodeWithScore(node=TextNode(id_=f"n{i}", text=PARAGRAPHS[p], metadata=dict(meta)), score=score)
        for i, (p, score, meta) in enumerate(specs)
    ]
    postprocessor = HeadroomNodePostprocessor(token_budget=budget, config=config)
    engine = RetrieverQueryEngine.from_args(
        _ListRetriever(nodes),
        llm=MockLLM(),
        text_qa_template=CONTEXT_TEMPLATE,
        node_postprocessors=[postprocessor],
    )
    response = engine.query(query or "anything")
    kept = response.source_nodes
    if kept:
        assert count_tokens(context_of(response.response)) <= budget
    by_id = {n.node.node_id: n for n in nodes}
    for item in kept:
        if item.node.node_id.startswith(OMITTED_NODE_PREFIX):
            continue
        original = by_id[item.node.node_id]
        assert item.score == original.score
        for key, value in original.node.metadata.items():
            assert item.node.metadata[key] == value
        if item.node.get_content(MetadataMode.NONE) != original.node.get_content(MetadataMode.NONE):
            key = item.node.metadata[CCR_KEY_METADATA]
            assert retrieve(key, store=store) == original.node.get_content(MetadataMode.NONE)
    note = _note(kept)
    if note is not None:
        stored = retrieve(note.node.metadata[CCR_KEY_METADATA], store=store)
        for node_id in note.node.metadata[OMITTED_IDS_METADATA]:
            assert by_id[node_id].node.get_content(MetadataMode.NONE) in stored
    # Nothing is lost: every input node is kept, or listed in the note, or retrievable by key.
    fit = postprocessor.fit(nodes, query)
    listed = {o.node_id for o in fit.omitted}
    assert {n.node.node_id for n in nodes} == set(fit.kept_ids) | listed
    for omitted in fit.omitted:
        if omitted.ccr_key is not None:
            assert retrieve(omitted.ccr_key, store=store) == by_id[omitted.node_id].node.get_content(
                MetadataMode.NONE
            )


# --------------------------------------------------------------------------- node handling


def test_best_scored_relevant_node_survives_intact(ccr_config):
    texts = PARAGRAPHS[:30]
    query = "what is a namespace"
    target = int(bm25_scores(query, texts).argmax())
    scores = [0.1 + 0.01 * i for i in range(30)]
    scores[target] = 0.99
    nodes = _scored(texts, scores)
    fit = HeadroomNodePostprocessor(token_budget=300, config=ccr_config).fit(nodes, query)
    assert fit.nodes[0] is nodes[target]  # first, and whole: the very same object is passed on
    assert len(fit.kept_ids) < len(nodes)
    assert any(o.reason == "over_budget" for o in fit.omitted)


def test_without_query_weight_the_retriever_score_decides(ccr_config):
    texts = PARAGRAPHS[:30]
    scores = [((i * 7) % 30) / 30 for i in range(30)]  # a shuffled but known order
    nodes = _scored(texts, scores)
    fit = HeadroomNodePostprocessor(token_budget=400, query_weight=0.0, config=ccr_config).fit(nodes, "class")
    kept_scores = [n.score for n in fit.nodes if n.score is not None]
    assert kept_scores == sorted(kept_scores, reverse=True)
    dropped_scores = [o.score for o in fit.omitted if o.reason == "over_budget"]
    assert dropped_scores and max(dropped_scores) <= min(kept_scores)


def test_trimmed_node_keeps_id_score_metadata_and_carries_ccr_key(ccr_config):
    log_text = (FIXTURES / "loghub_HDFS_2k.log").read_text(encoding="utf-8")[:40_000]
    nodes = [
        NodeWithScore(
            node=TextNode(id_="log", text=log_text, metadata={"file_name": "hdfs.log", "page": 3}), score=0.9
        ),
        *_scored(PARAGRAPHS[:3], [0.2, 0.1, 0.05]),
    ]
    fit = HeadroomNodePostprocessor(token_budget=700, config=ccr_config).fit(
        nodes, "PacketResponder terminating"
    )
    assert fit.context_tokens <= 700
    log_node = next(n for n in fit.nodes if n.node.node_id == "log")
    assert log_node.score == 0.9
    assert log_node.node.metadata["file_name"] == "hdfs.log" and log_node.node.metadata["page"] == 3
    key = log_node.node.metadata[CCR_KEY_METADATA]
    assert retrieve(key, store=ccr_config.ccr_store) == log_text
    assert log_node.node.get_content(MetadataMode.NONE) != log_text
    # Bookkeeping stays out of the LLM's and the embedder's view.
    assert CCR_KEY_METADATA not in log_node.node.get_content(MetadataMode.LLM)
    assert CCR_KEY_METADATA not in log_node.node.get_content(MetadataMode.EMBED)
    assert nodes[0].node.get_content(MetadataMode.NONE) == log_text  # the input node is untouched


def test_near_duplicates_are_removed(ccr_config):
    text = PARAGRAPHS[5]
    nodes = _scored([text, text + " ", PARAGRAPHS[40]], [0.9, 0.8, 0.1])
    fit = HeadroomNodePostprocessor(token_budget=5000, config=ccr_config).fit(nodes, None)
    assert fit.kept_ids == ["node-0", "node-2"]
    assert [o.reason for o in fit.omitted] == ["duplicate"]
    assert "near-duplicate" in fit.nodes[-1].node.get_content()


def test_ample_budget_passes_nodes_through(ccr_config):
    nodes = _scored(PARAGRAPHS[:4], [0.9, 0.8, 0.7, 0.6])
    out = HeadroomNodePostprocessor(token_budget=100_000, config=ccr_config).postprocess_nodes(
        nodes, query_str="anything"
    )
    assert [n.node.node_id for n in out] == [n.node.node_id for n in nodes]
    assert all(a is b for a, b in zip(out, nodes))


def test_ccr_disabled_drops_without_note():
    config = HeadroomConfig(ccr_enabled=False)
    nodes = _scored(PARAGRAPHS[:20], [1.0 - i / 20 for i in range(20)])
    fit = HeadroomNodePostprocessor(token_budget=200, config=config).fit(nodes, "class")
    assert fit.context_tokens <= 200
    assert fit.omitted_key is None and all(o.ccr_key is None for o in fit.omitted)
    assert _note(fit.nodes) is None
    for item in fit.nodes:  # lossless only: kept nodes are whole
        assert item.node.get_content() in PARAGRAPHS


def test_same_input_same_output(ccr_config):
    nodes = _scored(PARAGRAPHS[:25], [None] * 25)
    postprocessor = HeadroomNodePostprocessor(token_budget=350, config=ccr_config, compress_all=True)
    first = postprocessor.fit(nodes, "symbolic links")
    second = postprocessor.fit(nodes, "symbolic links")
    assert [n.node.get_content() for n in first.nodes] == [n.node.get_content() for n in second.nodes]
    assert first.omitted == second.omitted


def test_budget_smaller_than_any_note_returns_nothing(ccr_config):
    nodes = _scored(PARAGRAPHS[:5], [0.5] * 5)
    fit = HeadroomNodePostprocessor(token_budget=3, config=ccr_config).fit(nodes, "x")
    assert fit.nodes == [] and fit.context_tokens == 0
    # Still nothing lost: each passage is stored under its own key.
    assert all(retrieve(o.ccr_key, store=ccr_config.ccr_store) for o in fit.omitted)


def test_nodes_without_text_pass_through(ccr_config):
    import base64

    png = base64.b64encode((FIXTURES / "pydocs_logging_flow_diagram.png").read_bytes()).decode()
    image = NodeWithScore(node=ImageNode(id_="diagram", image=png, metadata={"figure": 1}), score=0.5)
    nodes = [*_scored(PARAGRAPHS[:20], [0.9] * 20), image]
    fit = HeadroomNodePostprocessor(token_budget=300, config=ccr_config).fit(nodes, "logging")
    assert image in fit.nodes  # an image is not text to drop; it costs only its metadata line
    assert fit.context_tokens <= 300


def test_empty_input():
    assert HeadroomNodePostprocessor(token_budget=10).postprocess_nodes([]) == []


@pytest.mark.parametrize("budget", [0, -5, "many"])
def test_invalid_budget_is_rejected(budget):
    with pytest.raises(ValidationError):
        HeadroomNodePostprocessor(token_budget=budget)


def test_invalid_nodes_are_rejected():
    postprocessor = HeadroomNodePostprocessor(token_budget=100)
    with pytest.raises(TypeError, match="NodeWithScore"):
        postprocessor.postprocess_nodes("not nodes")
    with pytest.raises(TypeError, match="node 0"):
        postprocessor.postprocess_nodes([TextNode(text="bare node")])
    with pytest.raises(ValidationError):
        HeadroomNodePostprocessor(token_budget=100, config={"ccr_enabled": False})


# --------------------------------------------------------------------------- tokenizers


def test_user_settings_tokenizer_counts_the_budget(restore_global_tokenizer, ccr_config):
    Settings.tokenizer = str.split  # a word counter: clearly different from BPE tokens
    nodes = _scored(PARAGRAPHS[:30], [None] * 30)
    fit = HeadroomNodePostprocessor(token_budget=300, config=ccr_config).fit(nodes, "class")
    context = "\n\n".join(n.node.get_content(MetadataMode.LLM) for n in fit.nodes)
    assert fit.context_tokens == len(context.split()) <= 300
    assert count_tokens(context) > 300  # measured in BPE tokens it would be over


def test_explicit_tokenizer_wins_over_settings(restore_global_tokenizer, ccr_config):
    Settings.tokenizer = str.split
    chars = list  # one "token" per character
    nodes = _scored(PARAGRAPHS[:10], [None] * 10)
    fit = HeadroomNodePostprocessor(token_budget=600, tokenizer=chars, config=ccr_config).fit(nodes, None)
    context = "\n\n".join(n.node.get_content(MetadataMode.LLM) for n in fit.nodes)
    assert fit.context_tokens == len(context) <= 600
    assert fit.kept_ids  # the engine's budget was converted, not just shrunk to nothing


def test_a_tokenizer_counting_far_more_still_gets_content(ccr_config):
    def utf8_bytes(text: str) -> bytes:  # about 4 "tokens" per BPE token
        return text.encode("utf-8")

    nodes = _scored(PARAGRAPHS[:25], [None] * 25)
    fit = HeadroomNodePostprocessor(token_budget=1500, tokenizer=utf8_bytes, config=ccr_config).fit(
        nodes, "class"
    )
    context = "\n\n".join(n.node.get_content(MetadataMode.LLM) for n in fit.nodes)
    assert fit.context_tokens == len(context.encode()) <= 1500
    assert fit.context_tokens > 1500 * 0.8  # and the budget is used, not wasted


def test_llamaindex_default_tokenizer_is_not_a_user_choice(restore_global_tokenizer):
    import llama_index.core
    from llama_index.core.utils import get_tokenizer

    llama_index.core.global_tokenizer = None
    get_tokenizer()  # LlamaIndex installs its own default as a side effect
    assert llama_index.core.global_tokenizer is not None
    assert user_settings_tokenizer() is None


def test_async_apostprocess_matches_sync(ccr_config):
    nodes = _scored(PARAGRAPHS[:12], [0.3] * 12)
    postprocessor = HeadroomNodePostprocessor(token_budget=250, config=ccr_config)
    sync = postprocessor.postprocess_nodes(nodes, query_str="iterator")
    result = asyncio.run(postprocessor.apostprocess_nodes(nodes, query_str="iterator"))
    assert [n.node.get_content() for n in result] == [n.node.get_content() for n in sync]


def test_import_and_use_leave_llamaindex_settings_alone():
    """No TIKTOKEN_CACHE_DIR, no tokenizer installed, no network (run in a fresh interpreter)."""
    import subprocess
    import sys

    script = (
        "import os, socket\n"
        "def refuse(*a, **k): raise RuntimeError('network used')\n"
        "socket.socket.connect = refuse\n"
        "import llama_index.core\n"
        "from llama_index.core.schema import NodeWithScore, TextNode\n"
        "from headroom_core import HeadroomConfig, MemoryCCRStore\n"
        "from headroom_integrations.llamaindex import HeadroomNodePostprocessor\n"
        "nodes = [NodeWithScore(node=TextNode(text='word ' * 400), score=1.0)] * 3\n"
        "pp = HeadroomNodePostprocessor(token_budget=200, config=HeadroomConfig(ccr_store=MemoryCCRStore()))\n"
        "assert pp.fit(nodes, 'word').context_tokens <= 200\n"
        "assert 'TIKTOKEN_CACHE_DIR' not in os.environ\n"
        "assert llama_index.core.global_tokenizer is None\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TIKTOKEN_CACHE_DIR"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_context_chat_engine_fits_budget(vector_index, ccr_config):
    postprocessor = HeadroomNodePostprocessor(token_budget=500, config=ccr_config)
    engine = vector_index.as_chat_engine(
        chat_mode="context",
        llm=MockLLM(),
        similarity_top_k=200,
        node_postprocessors=[postprocessor],
        context_template="<<CONTEXT>>\n{context_str}\n<</CONTEXT>>\n",
    )
    response = engine.chat("How do I make find follow symbolic links?")
    context = context_of(response.response)
    assert 0 < count_tokens(context) <= 500
    assert parse_markers(context)
