"""Relevance scoring shared by every compressor: a small, deterministic BM25 on numpy.

Terms are lower-cased and identifier-aware, so that the names agents ask about match
however the text spells them:

- an identifier counts whole *and* by its parts: `with_fallbacks` gives `with_fallbacks`,
  `withfallbacks` and `fallbacks`; `RunnableSequence` gives `runnablesequence`, `runnable`
  and `sequence`; `foo.bar.baz` gives `foo.bar.baz`, `foo`, `bar` and `baz` (also `::`
  and `-` chains). The joined form (`withfallbacks`) lets `runnable_sequence` and
  `RunnableSequence` meet as whole identifiers.
- `key=value`, `key: value` and `"key": "value"` also give the pair term `key=value`, so a
  query for `user_id=42` prefers the record holding exactly that pair. Only texts up to
  `PAIR_TEXT_CHARS` (records, log lines, sentences, queries) give pair terms; a long text
  (a whole function body) still matches the pair's key and value as separate terms.

A text that names an identifier whole therefore shares more (and rarer) terms with a query
naming it than a text holding only one of its parts: whole matches outrank part matches.

Cost: one linear regex pass per text, plus a bounded memo of how each distinct token
expands (tokens repeat heavily, so most are dictionary hits). Pure functions: the memo
never changes a result, so output is identical across runs and hash seeds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

# A token: word characters, optionally chained by `.`, `::` or `-` (`foo.bar`, `a::b`,
# `well-known`). The optional tail recognises a `key=value` / `key: value` pair; the value is
# the next token (the lookahead leaves it for the next match). Both parts are linear: the
# joiners are not word characters, and the tail's `[ \t]*` is scanned once per token.
_TOKEN = re.compile(r"(\w+(?:(?:\.|::|-)\w+)*)(?:([\"']?[ \t]*(?:==?|:)[ \t]*[\"']?)(?=\w))?")
_CHAIN = re.compile(r"\w+(?:(?:\.|::|-)\w+)*")
"""The same tokens without the pair tail: twice as fast, for long texts."""
_TOKEN_ASCII = re.compile(_TOKEN.pattern, re.ASCII)
_CHAIN_ASCII = re.compile(_CHAIN.pattern, re.ASCII)
"""The same patterns for ASCII texts, where they match the same (`\\w` of an ASCII character
is `[A-Za-z0-9_]` either way; nothing else in them depends on the flag) and run faster."""
PAIR_TEXT_CHARS = 4096
"""Pair terms come from texts up to this long (records, log lines, sentences, queries)."""
_SEGMENT_SPLIT = re.compile(r"\.|::|-")
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
_MAX_MEMO = 200_000
_MAX_MEMO_TOKEN = 64
_expansions: dict[str, tuple[str, ...]] = {}
_MAX_PAIR_VALUE = 64
"""Longer values (a base64 blob after `data:`) give no pair term: nobody queries them."""


def _parts(segment: str) -> list[str]:
    """Sub-words of one segment: split on `_`, then on camelCase when the case is mixed."""
    pieces = [p for p in segment.split("_") if p]
    out: list[str] = []
    for piece in pieces:
        if piece.isascii() and not piece.isupper() and not piece.islower() and not piece.isdigit():
            out.extend(_CAMEL.findall(piece) or [piece])
        else:
            out.append(piece)
    return out


def _expand(token: str) -> tuple[str, ...]:
    """The terms one token stands for: itself (whole), its segments, their parts."""
    low = token.lower()
    if token.isalpha() and (low == token or token[1:] == low[1:]):
        return () if low in _STOP else (low,)  # a plain word: the common case
    whole = low.strip("_")
    seen: dict[str, None] = {}
    if whole and whole not in _STOP:
        seen[whole] = None
    segments = [s for s in _SEGMENT_SPLIT.split(token) if s.strip("_")]
    for segment in segments if len(segments) > 1 else [token]:
        seg_low = segment.lower().strip("_")
        if seg_low not in _STOP:
            seen.setdefault(seg_low, None)  # "m5" of "m5.large" matches a query for "m5"
        parts = _parts(segment)
        if len(parts) < 2:
            continue
        lowered = [p.lower() for p in parts]
        joined = "".join(lowered)
        if joined not in _STOP:
            seen.setdefault(joined, None)  # runnable_sequence meets RunnableSequence
        for part in lowered:
            if (len(part) > 1 or part.isdigit()) and part not in _STOP:
                seen.setdefault(part, None)
    return tuple(seen)


def terms(text: str) -> list[str]:
    """Search terms of `text`: words, whole identifiers, their parts and `key=value` pairs."""
    out: list[str] = []
    memo = _expansions
    ascii_only = text.isascii()
    if len(text) > PAIR_TEXT_CHARS or ("=" not in text and ":" not in text):
        for token in (_CHAIN_ASCII if ascii_only else _CHAIN).findall(text):
            expansion = memo.get(token)
            if expansion is None:
                expansion = _expand(token)
                if len(token) <= _MAX_MEMO_TOKEN:
                    if len(memo) >= _MAX_MEMO:
                        memo.clear()
                    memo[token] = expansion
            out.extend(expansion)
        return out
    pending_key: str | None = None
    for token, pair in (_TOKEN_ASCII if ascii_only else _TOKEN).findall(text):
        expansion = memo.get(token)
        if expansion is None:
            expansion = _expand(token)
            if len(token) <= _MAX_MEMO_TOKEN:  # long tokens are rare: memo memory stays small
                if len(memo) >= _MAX_MEMO:
                    memo.clear()
                memo[token] = expansion
        out.extend(expansion)
        if pending_key is not None and len(token) <= _MAX_PAIR_VALUE:
            out.append(pending_key + "=" + token.lower())
        pending_key = token.lower().strip("_") if pair and not token[0].isdigit() else None
    return out


def bm25_from_terms(
    query_terms: Sequence[str], doc_terms: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.75
) -> np.ndarray:
    """BM25 of already tokenized documents (`terms()` of each) against query terms."""
    q_terms = sorted(set(query_terms))
    n = len(doc_terms)
    if n == 0 or not q_terms:
        return np.zeros(n, dtype=np.float64)
    q_index = {t: i for i, t in enumerate(q_terms)}
    lengths = np.fromiter(map(len, doc_terms), dtype=np.float64, count=n)
    # (row, column) of every query-term occurrence, added up in one numpy call: most
    # documents hold no query term, and a set test skips them without a Python loop.
    rows: list[int] = []
    columns: list[int] = []
    column_of = q_index.get
    disjoint = q_index.keys().isdisjoint
    for row, these in enumerate(doc_terms):
        if disjoint(these):
            continue
        hits = [c for c in map(column_of, these) if c is not None]
        rows.extend([row] * len(hits))
        columns.extend(hits)
    tf = np.zeros((n, len(q_terms)), dtype=np.float64)
    if rows:
        np.add.at(tf, (np.asarray(rows, dtype=np.intp), np.asarray(columns, dtype=np.intp)), 1.0)
    df = (tf > 0).sum(axis=0)
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    avgdl = max(lengths.mean(), 1.0)
    denom = tf + k1 * (1.0 - b + b * lengths[:, None] / avgdl)
    return ((tf * (k1 + 1.0)) / denom * idf).sum(axis=1)


def bm25_scores(
    query: str | Sequence[str], docs: Sequence[str], *, k1: float = 1.2, b: float = 0.75
) -> np.ndarray:
    """BM25 score of each document against the query (zeros when the query is empty).

    `query` is a text (tokenized with `terms`) or a list of terms already made by `terms`.
    """
    q_terms = terms(query) if isinstance(query, str) else list(query)
    if not docs or not q_terms:
        return np.zeros(len(docs), dtype=np.float64)
    return bm25_from_terms(q_terms, [terms(doc) for doc in docs], k1=k1, b=b)


def top_k(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the k best positive scores, ties broken by position (deterministic)."""
    if k <= 0 or scores.size == 0:
        return []
    order = np.lexsort((np.arange(scores.size), -scores))
    return [int(i) for i in order[:k] if scores[i] > 0]
