"""Fit retrieved documents into a token budget with `HeadroomBudgetRetriever`.

Run: python examples/langchain_rag_budget.py

Any retriever works as `base_retriever` (a vector store's `.as_retriever()`, BM25, ...).
To stay offline and dependency-free this example uses a small keyword retriever over the
paragraphs of a real document (the Python tutorial's chapter on classes).
"""

from __future__ import annotations

import re
from pathlib import Path

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from headroom_core import HeadroomConfig, MemoryCCRStore, count_tokens, retrieve
from headroom_integrations.langchain import HeadroomBudgetRetriever

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "pydocs3.11_tutorial_classes.rst.txt"


class KeywordRetriever(BaseRetriever):
    """Returns the k paragraphs sharing the most words with the query."""

    documents: list[Document]
    k: int = 12

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = set(re.findall(r"\w+", query.lower()))

        def overlap(doc: Document) -> int:
            return len(words & set(re.findall(r"\w+", doc.page_content.lower())))

        return sorted(self.documents, key=lambda d: -overlap(d))[: self.k]


def load_paragraphs() -> list[Document]:
    text = CORPUS.read_text(encoding="utf-8")
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if len(b.strip()) > 200]
    return [Document(b, metadata={"source": CORPUS.name, "paragraph": i}) for i, b in enumerate(blocks)]


def main() -> dict:
    store = MemoryCCRStore()
    base = KeywordRetriever(documents=load_paragraphs())
    budgeted = HeadroomBudgetRetriever(
        base_retriever=base, token_budget=600, headroom_config=HeadroomConfig(ccr_store=store)
    )
    query = "How do private variables and name mangling work in classes?"
    raw = base.invoke(query)
    fitted = budgeted.invoke(query)
    originals = {d.metadata["paragraph"]: d.page_content for d in raw}
    # What a stuff-documents chain puts in the prompt: the documents joined by blank lines.
    raw_tokens = count_tokens("\n\n".join(d.page_content for d in raw))
    fitted_tokens = count_tokens("\n\n".join(d.page_content for d in fitted))
    print(f"retrieved: {len(raw)} documents, {raw_tokens:,} tokens")
    print(f"in budget: {len(fitted)} documents, {fitted_tokens:,} tokens (budget 600)")
    for doc in fitted:
        info = doc.metadata["headroom"]
        if "omitted" in info:
            # The last document is a note: what did not fit is stored, and the model can ask for it.
            print(f"  note: {len(info['omitted'])} documents left out; {doc.page_content}")
            assert retrieve(info["ccr_key"], store=store).count("\n\n") >= len(info["omitted"]) - 1
            continue
        note = f" trimmed, full text: retrieve({info['ccr_key']!r})" if info["trimmed"] else ""
        print(f"  #{info['rank']} paragraph {doc.metadata['paragraph']}: {info['tokens']} tokens{note}")
        if info["trimmed"]:
            # nothing is lost: the key gives back the paragraph exactly as retrieved
            assert retrieve(info["ccr_key"], store=store) == originals[doc.metadata["paragraph"]]
    return {"raw_tokens": raw_tokens, "fitted_tokens": fitted_tokens, "documents": len(fitted)}


if __name__ == "__main__":
    main()
