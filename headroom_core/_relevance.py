"""Relevance scoring shared by every compressor: a small, deterministic BM25 on numpy.

Terms are lower-cased word pieces; identifiers are also split on `_`, `.`, `-` and
camelCase so that a query "parse markers" finds `parse_markers` and `parseMarkers`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"[^\W_]+(?:[._-][^\W_]+)*", re.UNICODE)
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "does",
        "do",
        "did",
        "me",
        "my",
        "show",
        "find",
        "get",
    ]
)


def terms(text: str) -> list[str]:
    """Search terms of `text`: words, plus the parts of compound identifiers."""
    out: list[str] = []
    for match in _WORD.finditer(text):
        word = match.group(0)
        low = word.lower()
        if low not in _STOP:
            out.append(low)
        if len(word) > 3 and (any(c in word for c in "._-") or not word.islower()):
            for part in re.split(r"[._-]", word):
                whole = part.lower()
                if whole and whole != low and whole not in _STOP:
                    out.append(whole)  # "m5" in "m5.large" must match a query for "m5"
                for sub in _CAMEL.findall(part) or [part]:
                    sub = sub.lower()
                    if sub and sub not in (low, whole) and sub not in _STOP:
                        out.append(sub)
    return out


def bm25_scores(
    query: str | Sequence[str], docs: Sequence[str], *, k1: float = 1.2, b: float = 0.75
) -> np.ndarray:
    """BM25 score of each document against the query (zeros when the query is empty)."""
    q_terms = sorted(set(terms(query) if isinstance(query, str) else query))
    n = len(docs)
    if n == 0 or not q_terms:
        return np.zeros(n, dtype=np.float64)
    q_index = {t: i for i, t in enumerate(q_terms)}
    tf = np.zeros((n, len(q_terms)), dtype=np.float64)
    lengths = np.empty(n, dtype=np.float64)
    for row, doc in enumerate(docs):
        doc_terms = terms(doc)
        lengths[row] = len(doc_terms)
        for term, count in Counter(t for t in doc_terms if t in q_index).items():
            tf[row, q_index[term]] = count
    df = (tf > 0).sum(axis=0)
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    avgdl = max(lengths.mean(), 1.0)
    denom = tf + k1 * (1.0 - b + b * lengths[:, None] / avgdl)
    return ((tf * (k1 + 1.0)) / denom * idf).sum(axis=1)


def top_k(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the k best positive scores, ties broken by position (deterministic)."""
    if k <= 0 or scores.size == 0:
        return []
    order = np.lexsort((np.arange(scores.size), -scores))
    return [int(i) for i in order[:k] if scores[i] > 0]
