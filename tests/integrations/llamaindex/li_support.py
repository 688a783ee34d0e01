"""Helpers for the LlamaIndex tests (imported by conftest and the test modules)."""

from __future__ import annotations

import re
from pathlib import Path

from llama_index.core import Document, PromptTemplate

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DOC_FILES = ("pydocs3.11_tutorial_classes.rst.txt", "man_find.1.txt")

# A prompt whose context the test can cut out of MockLLM's echo exactly.
CONTEXT_TEMPLATE = PromptTemplate("<<CONTEXT>>\n{context_str}\n<</CONTEXT>>\nQuestion: {query_str}\n")


def context_of(prompt: str) -> str:
    """The `{context_str}` the synthesizer put into the prompt MockLLM echoed back."""
    match = re.search(r"<<CONTEXT>>\n(.*)\n<</CONTEXT>>", prompt, re.DOTALL)
    assert match is not None, "the prompt does not contain the context block"
    return match.group(1)


def load_documents() -> list[Document]:
    return [
        Document(id_=name, text=(FIXTURES / name).read_text(encoding="utf-8"), metadata={"source": name})
        for name in DOC_FILES
    ]


def paragraphs() -> list[str]:
    """Real paragraphs (blank-line separated) of both documents, for random node sets."""
    out: list[str] = []
    for doc in load_documents():
        out.extend(p.strip() for p in re.split(r"\n\s*\n", doc.text) if len(p.strip()) > 40)
    return out


def stable_node_id(position: int, document: Document) -> str:
    """Node ids that are the same on every run ("file#position"): mock embeddings tie every score."""
    return f"{document.doc_id}#{position}"
