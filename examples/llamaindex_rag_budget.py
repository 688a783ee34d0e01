"""Fit a LlamaIndex query engine's retrieved nodes into a token budget.

Run: python examples/llamaindex_rag_budget.py

A real `VectorStoreIndex` over two real documents (the Python tutorial's chapter on
classes and the find(1) man page). To stay offline it uses LlamaIndex's `MockEmbedding`
and `MockLLM` (which echoes its prompt, so we can see exactly what the LLM was given);
with a real embedding model and LLM the code is the same.
"""

from __future__ import annotations

import re
from pathlib import Path

from llama_index.core import Document, PromptTemplate, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.node_parser import SentenceSplitter

from headroom_core import HeadroomConfig, MemoryCCRStore, count_tokens, parse_markers
from headroom_integrations.llamaindex import HeadroomNodePostprocessor, headroom_retrieve_tool

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
SOURCES = ("pydocs3.11_tutorial_classes.rst.txt", "man_find.1.txt")
TOP_K = 200  # every node: mock embeddings score them all the same, so the postprocessor ranks
TEMPLATE = PromptTemplate("<<CONTEXT>>\n{context_str}\n<</CONTEXT>>\nQuestion: {query_str}\n")


def node_id(position: int, document: Document) -> str:
    return f"{document.doc_id}#{position}"


def build_index() -> VectorStoreIndex:
    documents = [
        Document(id_=name, text=(FIXTURES / name).read_text(encoding="utf-8"), metadata={"source": name})
        for name in SOURCES
    ]
    return VectorStoreIndex.from_documents(
        documents,
        embed_model=MockEmbedding(embed_dim=8),
        # Stable node ids: with mock embeddings every score ties, and ids break the ties.
        transformations=[SentenceSplitter(chunk_size=200, chunk_overlap=0, id_func=node_id)],
    )


def answer_context(response_text: str) -> str:
    """The `{context_str}` part of the prompt MockLLM echoed back."""
    match = re.search(r"<<CONTEXT>>\n(.*)\n<</CONTEXT>>", response_text, re.DOTALL)
    return match.group(1) if match else ""


def main(budget: int = 800) -> dict:
    config = HeadroomConfig(ccr_store=MemoryCCRStore())  # use the default disk store in an app
    index = build_index()
    question = "How do I make find follow symbolic links?"

    retrieved = index.as_retriever(similarity_top_k=TOP_K).retrieve(question)
    raw_tokens = count_tokens("\n\n".join(n.node.get_content(metadata_mode="llm") for n in retrieved))

    engine = index.as_query_engine(
        llm=MockLLM(),
        similarity_top_k=TOP_K,
        text_qa_template=TEMPLATE,
        node_postprocessors=[HeadroomNodePostprocessor(token_budget=budget, config=config)],
    )
    response = engine.query(question)
    context = answer_context(response.response)
    context_tokens = count_tokens(context)
    print(f"retrieved: {len(retrieved)} nodes, {raw_tokens:,} tokens of context")
    print(
        f"sent to the LLM: {len(response.source_nodes)} nodes, {context_tokens:,} tokens (budget {budget:,})"
    )
    for item in response.source_nodes:
        text = item.node.get_content()
        score = "note" if item.score is None else f"{item.score:.3f}"
        print(f"  {item.node.node_id[:40]:<40} {score:>6}  {text[:60]!r}")

    markers = parse_markers(context)
    recovered = ""
    if markers:
        tool = headroom_retrieve_tool(config)
        recovered = tool.call(key=markers[-1].key, query="symbolic links", limit=3).content
        print(f"\nthe LLM can call headroom_retrieve(key={markers[-1].key!r}, query='symbolic links'):")
        print("  " + recovered[:300].replace("\n", "\n  "))
    return {
        "raw_tokens": raw_tokens,
        "context_tokens": context_tokens,
        "budget": budget,
        "nodes": len(response.source_nodes),
        "markers": len(markers),
        "recovered": recovered,
    }


if __name__ == "__main__":
    main()
