"""Fit retrieved chunks (RAG documents, nodes) into a token budget.

This is the engine half of every "retriever context budget" adapter (LangChain's
`HeadroomDocumentCompressor` / `HeadroomBudgetRetriever`, LlamaIndex's node
postprocessor). It knows nothing about frameworks: it takes plain strings and returns
one `ChunkResult` per input chunk.

    >>> from headroom_core.chunks import fit_chunks
    >>> results = fit_chunks(texts, query="reset a password", token_budget=800)
    >>> kept = [r for r in results if not r.dropped]        # best first
    >>> [texts[r.index] for r in kept]                        # the originals, if needed

Steps, all deterministic:

1. **Near-duplicate removal.** Chunks whose word 3-shingles overlap another, better
   ranked chunk by at least `duplicate_threshold` (Jaccard) are dropped as duplicates
   (`duplicate_of` names the chunk kept in their place).
2. **Ranking.** BM25 of each chunk against `query` (`headroom_core._relevance`),
   normalised to [0, 1], blended with a prior: the caller's per-chunk `scores` (a
   vector-store similarity, a reranker score; min-max normalised) or, when none are
   given, the input order (retrievers return best first). Ties keep input order.
3. **Budget fitting**, best first. A chunk that fits the remaining budget is kept as it
   is. One that does not is compressed with `compress_text` (content-aware: JSON, logs,
   code, prose...); if it still does not fit and enough budget is left, its head is kept
   with a CCR marker; otherwise it is dropped.

Nothing is lost silently: whenever a chunk is trimmed or dropped and CCR is enabled, its
whole original text is stashed and `ccr_key` is set, so `retrieve(ccr_key)` gives it
back byte for byte. With CCR disabled only lossless steps run (whole chunks are kept or
dropped; `compress_text` is lossless then), and dropped chunks carry no key.

Guarantee: `sum(r.tokens for r in results if not r.dropped) <= token_budget`, where
`r.tokens == count_tokens(r.text, model)`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from headroom_core import _ccr
from headroom_core._config import HeadroomConfig
from headroom_core._pipeline import compress_text
from headroom_core._relevance import bm25_scores
from headroom_core._tokenizer import Tokenizer, get_tokenizer

__all__ = ["ChunkResult", "fit_chunks"]

_SHINGLE = 3
_WORDS = re.compile(r"\w+", re.UNICODE)
_MIN_TRIM_TOKENS = 24
"""A head shorter than this is not worth keeping; the chunk is dropped instead."""


@dataclass(frozen=True)
class ChunkResult:
    """What `fit_chunks` did with one input chunk."""

    index: int
    """Position of the chunk in the input list."""
    text: str
    """The text to use: the original, a compressed or trimmed version, or "" if dropped."""
    tokens: int
    """Tokens of `text` (0 when dropped)."""
    original_tokens: int
    score: float
    """The blended relevance used for ranking (higher is better)."""
    ccr_key: str | None = None
    """Key of the stashed original when the chunk was trimmed or dropped (CCR on)."""
    dropped: bool = False
    trimmed: bool = False
    """True when `text` is shorter than the original (compressed and/or truncated)."""
    duplicate_of: int | None = None
    """For a near-duplicate: index of the chunk kept instead."""
    reason: str = "kept"
    """'kept', 'compressed', 'truncated', 'duplicate', 'over_budget' or 'empty'."""


def _shingles(text: str) -> frozenset[str]:
    words = _WORDS.findall(text.lower())
    if len(words) < _SHINGLE:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 1.0 if a == b else 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def _normalise(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    if hi - lo <= 1e-12:
        return np.ones_like(values) if hi > 0 else np.zeros_like(values)
    return (values - lo) / (hi - lo)


def _blend(
    texts: Sequence[str], query: str | None, scores: Sequence[float] | None, query_weight: float
) -> np.ndarray:
    n = len(texts)
    if scores is not None:
        prior = _normalise(np.asarray(scores, dtype=np.float64))
    else:
        prior = 1.0 - np.arange(n, dtype=np.float64) / max(n, 1)  # input order, best first
    if not query:
        return prior
    relevance = bm25_scores(query, texts)
    peak = float(relevance.max()) if n else 0.0
    if peak <= 0:
        return prior
    return query_weight * (relevance / peak) + (1.0 - query_weight) * prior


def _head(text: str, budget: int, marker: str, tokenizer: Tokenizer) -> tuple[str, int] | None:
    """The longest head of `text` (cut at whitespace) that, with the marker, fits `budget`."""
    cuts = [m.start() for m in re.finditer(r"\s+", text)] or list(range(1, len(text)))
    best: tuple[str, int] | None = None
    lo, hi = 0, len(cuts) - 1
    while lo <= hi:  # binary search over cut points; token count grows with the head
        mid = (lo + hi) // 2
        candidate = text[: cuts[mid]].rstrip() + "\n" + marker
        n = tokenizer.count(candidate)
        if n <= budget:
            best = (candidate, n)
            lo = mid + 1
        else:
            hi = mid - 1
    if best is None or best[0].startswith("\n"):
        return None
    return best


def fit_chunks(
    texts: Sequence[str],
    *,
    token_budget: int,
    query: str | None = None,
    model: str = "gpt-4o",
    config: HeadroomConfig | None = None,
    scores: Sequence[float] | None = None,
    duplicate_threshold: float = 0.85,
    query_weight: float = 0.6,
    compress_all: bool = False,
) -> list[ChunkResult]:
    """Rank, de-duplicate, compress and fit `texts` into `token_budget` tokens.

    Args:
        texts: the chunks, in the retriever's order (best first if it ranks).
        token_budget: the most tokens the kept chunks may take together (>= 0).
        query: what the user asked; steers ranking and content-aware compression.
        model: tokenizer used for every count.
        config: `HeadroomConfig` (CCR store, compressor settings); default one if None.
        scores: optional prior score per chunk (higher is better), e.g. the vector
            store's similarity. Without it the input order is the prior.
        duplicate_threshold: Jaccard overlap of word 3-shingles at which a chunk counts as
            a near-duplicate of a better-ranked one; above 1.0 disables de-duplication.
        query_weight: share of the query's BM25 in the blended score (the rest is the prior).
        compress_all: also compress chunks that would fit as they are (more chunks fit).

    Returns:
        One `ChunkResult` per input chunk, kept chunks first in rank order, then the
        dropped ones in rank order.
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"fit_chunks() expected a list of str, got {type(texts).__name__}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"chunk {i} should be a str, got {type(text).__name__}")
    if isinstance(token_budget, bool) or not isinstance(token_budget, int) or token_budget < 0:
        raise TypeError(f"token_budget must be an int >= 0, got {token_budget!r}")
    if scores is not None:
        scores = list(scores)
        if len(scores) != len(texts):
            raise ValueError(f"got {len(scores)} scores for {len(texts)} chunks")
        if not all(isinstance(s, (int, float)) and np.isfinite(s) for s in scores):
            raise TypeError("scores must be finite numbers")
    if query is not None and not isinstance(query, str):
        raise TypeError(f"query must be a str or None, got {type(query).__name__}")
    if not 0.0 <= query_weight <= 1.0:
        raise ValueError("query_weight must be between 0 and 1")
    config = config if config is not None else HeadroomConfig()
    if not isinstance(config, HeadroomConfig):
        raise TypeError(f"config must be a HeadroomConfig, got {type(config).__name__}")
    if not texts:
        return []

    tokenizer = get_tokenizer(model)
    store = _ccr.store_for(config) if config.ccr_enabled else None
    blended = _blend(texts, query, scores, query_weight)
    order = sorted(range(len(texts)), key=lambda i: (-float(blended[i]), i))

    def stash(i: int) -> str | None:
        return _ccr.stash(store, texts[i], "text", unit="line") if store is not None else None

    kept: list[ChunkResult] = []
    dropped: list[ChunkResult] = []
    kept_shingles: list[tuple[int, frozenset[str]]] = []
    remaining = token_budget
    for i in order:
        text, score = texts[i], float(blended[i])
        original_tokens = tokenizer.count(text)
        common = {"index": i, "original_tokens": original_tokens, "score": score}
        if not text.strip():
            dropped.append(ChunkResult(text="", tokens=0, dropped=True, reason="empty", **common))
            continue
        shingles = _shingles(text)
        twin = None
        if duplicate_threshold <= 1.0:
            twin = next((j for j, s in kept_shingles if _jaccard(shingles, s) >= duplicate_threshold), None)
        if twin is not None:
            dropped.append(
                ChunkResult(
                    text="",
                    tokens=0,
                    ccr_key=stash(i),
                    dropped=True,
                    duplicate_of=twin,
                    reason="duplicate",
                    **common,
                )
            )
            continue

        candidate, tokens, key, reason = text, original_tokens, None, "kept"
        if compress_all or tokens > remaining:
            result = compress_text(text, model=model, query=query, config=config)
            if result.tokens_after < tokens:
                candidate, tokens, reason = result.text, tokenizer.count(result.text), "compressed"
        if tokens > remaining and store is not None and remaining >= _MIN_TRIM_TOKENS:
            key = stash(i)
            marker = _ccr.make_marker(f"rest of a {original_tokens:,}-token chunk omitted", key)
            head = _head(candidate, remaining, marker, tokenizer)
            if head is not None:
                candidate, tokens = head
                reason = "truncated"
        if tokens > remaining:
            dropped.append(
                ChunkResult(text="", tokens=0, ccr_key=stash(i), dropped=True, reason="over_budget", **common)
            )
            continue
        if candidate != text and key is None:
            key = stash(i)
        remaining -= tokens
        kept_shingles.append((i, shingles))
        kept.append(
            ChunkResult(
                text=candidate, tokens=tokens, ccr_key=key, trimmed=candidate != text, reason=reason, **common
            )
        )
    return kept + dropped
