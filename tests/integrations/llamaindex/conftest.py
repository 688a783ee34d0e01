"""Shared LlamaIndex fixtures: a real VectorStoreIndex over real documents, offline."""

from __future__ import annotations

import pytest
from li_support import load_documents, paragraphs, stable_node_id
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.node_parser import SentenceSplitter

from headroom_core import HeadroomConfig, MemoryCCRStore


@pytest.fixture(scope="session")
def documents() -> list[Document]:
    return load_documents()


@pytest.fixture(scope="session")
def vector_index(documents: list[Document]) -> VectorStoreIndex:
    """The two fixture documents, split into ~200-token nodes, with constant mock embeddings."""
    return VectorStoreIndex.from_documents(
        documents,
        embed_model=MockEmbedding(embed_dim=8),
        transformations=[SentenceSplitter(chunk_size=200, chunk_overlap=0, id_func=stable_node_id)],
    )


@pytest.fixture(scope="session")
def real_paragraphs() -> list[str]:
    return paragraphs()


@pytest.fixture
def ccr_config() -> HeadroomConfig:
    return HeadroomConfig(ccr_store=MemoryCCRStore())


@pytest.fixture
def restore_global_tokenizer():
    """Put LlamaIndex's global tokenizer back after a test that sets Settings.tokenizer."""
    import llama_index.core

    before = llama_index.core.global_tokenizer
    yield
    llama_index.core.global_tokenizer = before
