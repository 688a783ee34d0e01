"""Retriever context budget: fit retrieved `Document`s into a token budget.

The ranking, de-duplication, fitting and the announcement of what was left out are the
engine's (`headroom_core.chunks.fit_context`, the same policy as the LlamaIndex
postprocessor); these classes only move `Document`s in and out. When documents are left
out, a last note `Document` (id `headroom-omitted-<key>`) carries a CCR marker, so the
model can fetch them with `headroom_retrieve`; nothing is dropped silently.

- `HeadroomDocumentCompressor` is a `BaseDocumentCompressor`, for
  `ContextualCompressionRetriever` (langchain-classic) or direct use.
- `HeadroomBudgetRetriever` wraps any retriever with the same budget, with
  langchain-core only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
    Callbacks,
)
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field, field_validator

from headroom_core import DEFAULT_MODEL
from headroom_core.chunks import ChunkResult, ContextFit, fit_context
from headroom_integrations.langchain._messages import check_config

METADATA_KEY = "headroom"
"""Every returned document gets `metadata["headroom"]`: tokens, original_tokens, score,
rank, trimmed, and `ccr_key` (retrieve the full original) when it was trimmed. The note
document gets `{"omitted": [...], "ccr_key": ...}` (ids or input positions of the documents
left out, each with its reason and key)."""
OMITTED_DOCUMENT_PREFIX = "headroom-omitted-"
_SEPARATOR = "\n\n"  # what LangChain's stuff-documents chains put between documents


class _BudgetSettings:
    """Fields shared by the compressor and the retriever (a pydantic mixin)."""

    token_budget: int = Field(default=2000, ge=0)
    """The most tokens the returned documents' `page_content` may take together, joined by
    blank lines, the note about omitted documents included."""
    k: int | None = Field(default=None, ge=1)
    """Return at most this many documents (the note about omitted ones comes on top)."""
    model: str = DEFAULT_MODEL
    score_key: str | None = "relevance_score"
    """Metadata key holding a prior score (vector similarity, reranker); used when every
    document has it. None: the input order is the prior."""
    duplicate_threshold: float = 0.85
    query_weight: float = Field(default=0.6, ge=0.0, le=1.0)
    compress_all: bool = False
    """Also compress documents that would fit as they are (fits more documents)."""
    strategy: Literal["extractive", "llmlingua2"] = "extractive"
    """How prose documents are compressed: whole sentences, or words dropped by LLMLingua-2
    (the `llmlingua` extra and a local model; docs/compressors/llmlingua.md)."""
    headroom_config: Any = Field(default=None, exclude=True)

    def _fit(self, documents: Sequence[Document], query: str, k: int | None = None) -> list[Document]:
        docs = list(documents)
        for i, doc in enumerate(docs):
            if not isinstance(doc, Document):
                raise TypeError(f"item {i} should be a langchain Document, got {type(doc).__name__}")
        if not docs:
            return []
        scores = None
        if self.score_key and all(isinstance(d.metadata.get(self.score_key), (int, float)) for d in docs):
            scores = [float(d.metadata[self.score_key]) for d in docs]
        fitted = fit_context(
            [d.page_content for d in docs],
            token_budget=self.token_budget,
            query=query or None,
            model=self.model,
            config=self.headroom_config,
            scores=scores,
            separator=_SEPARATOR,
            max_chunks=k if k is not None else self.k,
            duplicate_threshold=self.duplicate_threshold,
            query_weight=self.query_weight,
            compress_all=self.compress_all,
            strategy=self.strategy,
        )
        out = [_to_document(docs[r.index], r, rank) for rank, r in enumerate(fitted.kept)]
        if fitted.note is not None:
            out.append(_note_document(docs, fitted))
        return out


def _note_document(docs: list[Document], fitted: ContextFit) -> Document:
    omitted = [
        {"id": docs[r.index].id, "position": r.index, "reason": r.reason, "ccr_key": r.ccr_key}
        for r in fitted.omitted
    ]
    return Document(
        page_content=fitted.note or "",
        id=f"{OMITTED_DOCUMENT_PREFIX}{fitted.note_key}",
        metadata={METADATA_KEY: {"omitted": omitted, "ccr_key": fitted.note_key}},
    )


def _to_document(doc: Document, result: ChunkResult, rank: int) -> Document:
    info: dict[str, Any] = {
        "tokens": result.tokens,
        "original_tokens": result.original_tokens,
        "score": round(result.score, 6),
        "rank": rank,
        "trimmed": result.trimmed,
    }
    if result.ccr_key:
        info["ccr_key"] = result.ccr_key
    metadata = {**doc.metadata, METADATA_KEY: info}
    return doc.model_copy(update={"page_content": result.text, "metadata": metadata})


class HeadroomDocumentCompressor(_BudgetSettings, BaseDocumentCompressor):
    """Fits documents into `token_budget`: near-duplicates removed, ranked by relevance
    to the query (blended with a prior score), compressed by content when they do not
    fit, trimmed with a CCR key as a last resort. Metadata and ids are preserved."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _check_config = field_validator("headroom_config")(classmethod(lambda cls, v: check_config(v)))

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        return self._fit(documents, query)

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        return await run_in_executor(None, self._fit, documents, query)


class HeadroomBudgetRetriever(_BudgetSettings, BaseRetriever):
    """Any retriever, with its results fitted into a token budget (langchain-core only).

    retriever = HeadroomBudgetRetriever(base_retriever=vectorstore.as_retriever(), token_budget=1500)
    """

    base_retriever: BaseRetriever

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _check_config = field_validator("headroom_config")(classmethod(lambda cls, v: check_config(v)))

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        docs = self.base_retriever.invoke(query, config={"callbacks": run_manager.get_child()})
        return self._fit(docs, query, k)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        docs = await self.base_retriever.ainvoke(query, config={"callbacks": run_manager.get_child()})
        return await run_in_executor(None, self._fit, docs, query, k)
