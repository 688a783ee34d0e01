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

import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np

from headroom_core import _ccr
from headroom_core._config import DEFAULT_MODEL, HeadroomConfig
from headroom_core._errors import CCRStoreError
from headroom_core._pipeline import compress_text
from headroom_core._relevance import bm25_scores
from headroom_core._text import head_that_fits, plural
from headroom_core._tokenizer import get_tokenizer

__all__ = ["ChunkResult", "ContextFit", "fit_chunks", "fit_context"]

_SHINGLE = 3
_WORDS = re.compile(r"\w+", re.UNICODE)
logger = logging.getLogger("headroom.chunks")
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
    """'kept', 'compressed', 'truncated', 'duplicate', 'over_budget', 'empty', or (from
    `fit_context` with `max_chunks`) 'over_limit'."""


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


def _check_chunks(function: str, texts: Any, token_budget: Any) -> None:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"{function}() expected a list of str, got {type(texts).__name__}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"chunk {i} should be a str, got {type(text).__name__}")
    if isinstance(token_budget, bool) or not isinstance(token_budget, int) or token_budget < 0:
        raise TypeError(f"token_budget must be an int >= 0, got {token_budget!r}")


STRATEGIES = ("extractive", "llmlingua2")
"""How `fit_chunks`/`fit_context` compress prose chunks that do not fit."""


def _with_strategy(config: Any, strategy: Any) -> HeadroomConfig:
    """`config` with prose compression set by `strategy` (validated)."""
    if not isinstance(config, HeadroomConfig):
        raise TypeError(f"config must be a HeadroomConfig, got {type(config).__name__}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(map(repr, STRATEGIES))}, got {strategy!r}")
    if strategy == "llmlingua2" and config.text.ml != "llmlingua2":
        return config.with_(text=replace(config.text, ml="llmlingua2"))
    return config


def fit_chunks(
    texts: Sequence[str],
    *,
    token_budget: int,
    query: str | None = None,
    model: str = DEFAULT_MODEL,
    config: HeadroomConfig | None = None,
    scores: Sequence[float] | None = None,
    duplicate_threshold: float = 0.85,
    query_weight: float = 0.6,
    compress_all: bool = False,
    strategy: str = "extractive",
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
        strategy: how prose chunks are compressed: "extractive" (whole sentences, the
            default) or "llmlingua2" (low-information words dropped by the LLMLingua-2
            model of `config.text.ml_model`; falls back to extractive when the model is
            missing or slow; docs/compressors/llmlingua.md). Other content is unaffected.

    Returns:
        One `ChunkResult` per input chunk, kept chunks first in rank order, then the
        dropped ones in rank order.
    """
    _check_chunks("fit_chunks", texts, token_budget)
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
    config = _with_strategy(config if config is not None else HeadroomConfig(), strategy)
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
        common = partial(ChunkResult, index=i, original_tokens=original_tokens, score=score)
        if not text.strip():
            dropped.append(common(text="", tokens=0, dropped=True, reason="empty"))
            continue
        shingles = _shingles(text)
        twin = None
        if duplicate_threshold <= 1.0:
            twin = next((j for j, s in kept_shingles if _jaccard(shingles, s) >= duplicate_threshold), None)
        if twin is not None:
            dropped.append(
                common(
                    text="", tokens=0, ccr_key=stash(i), dropped=True, duplicate_of=twin, reason="duplicate"
                )
            )
            continue

        candidate, tokens, key, reason = text, original_tokens, None, "kept"
        if compress_all or tokens > remaining:
            result = compress_text(text, model=model, query=query, config=config)
            if result.tokens_after < tokens:
                candidate, tokens, reason = result.text, tokenizer.count(result.text), "compressed"
        if tokens > remaining and store is not None and remaining >= _MIN_TRIM_TOKENS:
            key = _ccr.stash(store, text, "text", unit="line")
            marker = _ccr.make_marker(f"rest of a {original_tokens:,}-token chunk omitted", key)
            head = head_that_fits(candidate, remaining, marker, tokenizer.count, cut="word")
            if head is not None and head != marker:  # the marker alone is no trim
                candidate, tokens = head, tokenizer.count(head)
                reason = "truncated"
        if tokens > remaining:
            dropped.append(common(text="", tokens=0, ccr_key=stash(i), dropped=True, reason="over_budget"))
            continue
        if candidate != text and key is None:
            key = stash(i)
        remaining -= tokens
        kept_shingles.append((i, shingles))
        kept.append(
            common(text=candidate, tokens=tokens, ccr_key=key, trimmed=candidate != text, reason=reason)
        )
    return kept + dropped


# --------------------------------------------------------------------------- framed context


@dataclass(frozen=True)
class ContextFit:
    """What `fit_context` did: the chunks to hand on, and what was left out."""

    kept: list[ChunkResult]
    """Chunks to use, best first (chunks without text, which cost only their framing, last).
    A trimmed one has `trimmed=True` and the `ccr_key` of its original."""
    omitted: list[ChunkResult]
    """Chunks left out (duplicates, over the budget or over `max_chunks`), best first; each
    has the `ccr_key` of its own text when CCR is on."""
    note: str | None
    """A CCR marker announcing the omitted chunks, to append after the kept ones; None when
    nothing with text was omitted, CCR is off or the note was not asked for."""
    note_key: str | None
    """Key of all omitted chunks together (blank-line separated), the one `note` names."""
    context_tokens: int
    """Tokens of the rendered context: kept chunks rendered, plus the note, joined by `separator`."""
    tokens_before: int
    """The same measure for all input chunks."""
    token_budget: int


_MAX_PASSES = 5
_CLOSE_ENOUGH = 8
"""Tokens of unused budget not worth another fitting pass."""


def _omitted_description(n: int, duplicates: int, budget: int) -> str:
    what = f"{plural(n, 'lower-ranked retrieved passage')} omitted to fit a {budget:,}-token budget"
    if duplicates:
        what += f" ({plural(duplicates, 'near-duplicate')})"
    return what


@dataclass
class _Attempt:
    kept: list[ChunkResult]
    omitted: list[ChunkResult]
    tokens: int
    lossy: bool
    """Something was trimmed or dropped for lack of budget (a looser budget could keep more)."""


def fit_context(
    texts: Sequence[str],
    *,
    token_budget: int,
    query: str | None = None,
    model: str = DEFAULT_MODEL,
    config: HeadroomConfig | None = None,
    scores: Sequence[float] | None = None,
    render: Callable[[int, str], str] | None = None,
    separator: str = "\n\n",
    count: Callable[[str], int] | None = None,
    max_chunks: int | None = None,
    note_omitted: bool = True,
    duplicate_threshold: float = 0.85,
    query_weight: float = 0.6,
    compress_all: bool = False,
    strategy: str = "extractive",
) -> ContextFit:
    """Fit chunks into `token_budget` tokens of *rendered* context: the policy every RAG adapter uses.

    `fit_chunks` budgets the chunks' own text. A framework renders more than that: a
    metadata header per chunk, a separator between chunks. This function charges that
    framing, measures the rendered context with the caller's tokenizer, and re-runs
    `fit_chunks` with a corrected budget (a few passes at most) until the context is as
    full as it can be without passing the budget. What is left out is stashed in CCR and,
    unless `note_omitted` is False, announced by `note` (a marker to append last).

    Args:
        texts: the chunks' text, in the retriever's order (best first if it ranks).
        token_budget: the most tokens the rendered context may take (>= 0).
        render: `render(index, text)` is what the model sees for chunk `index` holding
            `text` (the original or a trimmed version); default: the text itself.
        separator: what joins rendered chunks (LlamaIndex and LangChain's stuff chains
            use a blank line).
        count: the budget's token counter; default: Headroom's tokenizer for `model`.
        max_chunks: hand on at most this many items, the note included (it takes the last
            slot when something is omitted); the rest are omitted like any other. With
            `max_chunks=1` the one item is the best chunk and no note is made (the omitted
            chunks are still stored and listed in `omitted`).
        Others: as for `fit_chunks`.

    Guarantee: `context_tokens <= token_budget` (when nothing fits, nothing is kept and
    the note is left out too if it alone does not fit).
    """
    _check_chunks("fit_context", texts, token_budget)
    texts = list(texts)
    if max_chunks is not None and (
        isinstance(max_chunks, bool) or not isinstance(max_chunks, int) or max_chunks < 0
    ):
        raise TypeError(f"max_chunks must be an int >= 0 or None, got {max_chunks!r}")
    config = _with_strategy(config if config is not None else HeadroomConfig(), strategy)
    budget = token_budget
    if not texts:
        return ContextFit([], [], None, None, 0, 0, budget)
    if count is None:
        count = get_tokenizer(model).count
    if render is None:

        def render(index: int, text: str) -> str:
            return text

    rendered = [render(i, t) for i, t in enumerate(texts)]
    tokens_before = count(separator.join(rendered))

    def run(config: HeadroomConfig) -> ContextFit:
        store = _ccr.store_for(config) if config.ccr_enabled else None
        # With room for one item only, that item is the best chunk, not a note about the others.
        announce = note_omitted and store is not None and (max_chunks is None or max_chunks >= 2)

        def note_for(omitted: Sequence[ChunkResult]) -> tuple[str, str, str] | None:
            """(note, its description, the omitted texts joined by blank lines), or None when
            there is nothing to announce."""
            lost = [r for r in omitted if texts[r.index].strip()]
            if not lost or not announce:
                return None
            joined = "\n\n".join(texts[r.index] for r in lost)
            # Sizing only: the marker that ships names the key storing returns (see `_finish`).
            description = _omitted_description(len(lost), sum(r.reason == "duplicate" for r in lost), budget)
            return _ccr.make_marker(description, _ccr.content_key(joined)), description, joined

        def measure(kept: Sequence[ChunkResult], omitted: Sequence[ChunkResult]) -> int:
            parts = [rendered[r.index] if not r.trimmed else render(r.index, r.text) for r in kept]
            note = note_for(omitted)
            if note is not None:
                parts.append(note[0])
            return count(separator.join(parts)) if parts else 0

        def attempt(engine_budget: int) -> _Attempt:
            results = fit_chunks(
                texts,
                token_budget=engine_budget,
                query=query,
                model=model,
                config=config,
                scores=scores,
                duplicate_threshold=duplicate_threshold,
                query_weight=query_weight,
                compress_all=compress_all,
            )
            # Chunks without text cost only their framing: they stay, last.
            kept = [r for r in results if not r.dropped] + [
                replace(r, text=texts[r.index], tokens=r.original_tokens, dropped=False)
                for r in results
                if r.reason == "empty"
            ]
            omitted = [r for r in results if r.dropped and r.reason != "empty"]
            if max_chunks is not None:
                # The note takes one of the `max_chunks` slots when there is something to announce.
                lost = len(kept) > max_chunks or any(texts[r.index].strip() for r in omitted)
                room = max_chunks - 1 if announce and lost else max_chunks
                if len(kept) > room:
                    omitted = [_over(r, "over_limit") for r in kept[room:]] + omitted
                    kept = kept[:room]
            lossy = any(r.trimmed for r in kept) or any(
                r.reason in ("over_budget", "truncated") for r in omitted
            )
            return _Attempt(kept, omitted, measure(kept, omitted), lossy)

        def _over(r: ChunkResult, reason: str) -> ChunkResult:
            return replace(r, text="", tokens=0, dropped=True, trimmed=False, reason=reason)

        # First guess at the engine's budget: the budget minus the framing (header, separator)
        # of about as many chunks as are likely to fit, and room for the note. Later passes
        # correct the guess by the measured slack.
        separator_tokens = count(separator)
        text_tokens = [count(t) for t in texts]
        framing = [max(0, count(r) - n) + separator_tokens for r, n in zip(rendered, text_tokens)]
        mean_cost = (sum(text_tokens) + sum(framing)) / len(texts)
        likely_kept = min(len(texts), math.ceil(budget / max(mean_cost, 1.0)) + 1)
        reserve = math.ceil(sum(framing) / len(texts) * likely_kept)
        note_reserve = count(
            _ccr.make_marker(_omitted_description(len(texts), 0, budget), "0" * _ccr.KEY_LENGTH)
        )
        engine_budget = max(0, budget - reserve - note_reserve - separator_tokens)
        if tokens_before <= budget and not compress_all:
            engine_budget = budget  # everything fits as it is: no room to set aside for a note

        best: _Attempt | None = None
        last: _Attempt | None = None
        tried: set[int] = set()
        for _ in range(_MAX_PASSES):
            if engine_budget in tried:
                break
            tried.add(engine_budget)
            last = attempt(engine_budget)
            if last.tokens <= budget and (best is None or last.tokens > best.tokens):
                best = last
            slack = budget - last.tokens
            if slack >= 0 and (slack <= _CLOSE_ENOUGH or not last.lossy):
                break
            engine_budget = _next_engine_budget(engine_budget, last.kept, last.tokens, budget)
        if best is None:
            assert last is not None
            best = _shed(last, budget, measure, _over)
        return _finish(
            best, texts, store, note_for, separator, rendered, render, count, tokens_before, budget
        )

    try:
        return run(config)
    except CCRStoreError as exc:
        if not config.ccr_enabled:
            raise
        # The store refused a record: fit again with lossless steps only (whole chunks kept
        # or left out, no keys, no note), as the pipeline does for one text.
        logger.warning("CCR store error (%s); fitting chunks without storing what is left out", exc)
        return run(config.with_(ccr_enabled=False))


def _next_engine_budget(engine_budget: int, kept: Sequence[ChunkResult], used: int, budget: int) -> int:
    """The engine's next budget (its own tokens) from the measured context (budget's tokens).

    `ratio` converts the budget's tokenizer into the engine's; it is about 1 unless the
    caller's tokenizer counts very differently (words, characters, another vocabulary).
    """
    engine_used = sum(r.tokens for r in kept)
    ratio = engine_used / used if engine_used > 0 and used > 0 else 1.0
    slack = budget - used
    if slack >= 0:  # offer the engine the unused room as well
        return max(0, engine_budget + math.floor(slack * ratio))
    # Shrink from what the engine actually used (else the same chunks come back), by the
    # overshoot or proportionally, whichever cuts more.
    proportional = math.floor(engine_used * budget / used) if used > 0 else 0
    by_overshoot = engine_used + slack
    return max(0, min(by_overshoot, proportional) if by_overshoot > 0 else proportional)


def _shed(
    attempt: _Attempt, budget: int, measure: Callable[..., int], over: Callable[..., ChunkResult]
) -> _Attempt:
    """Last resort when no pass fit (a foreign tokenizer, huge framing): drop the
    lowest-ranked kept chunks until the rest fits; then the note itself."""
    kept, omitted = list(attempt.kept), list(attempt.omitted)
    tokens = attempt.tokens
    while tokens > budget and kept:
        omitted.insert(0, over(kept.pop(), "over_budget"))
        tokens = measure(kept, omitted)
    if tokens > budget:  # only the note is left and it does not fit: no note
        return _Attempt([], omitted, -1, True)
    return _Attempt(kept, omitted, tokens, True)


def _finish(
    attempt: _Attempt,
    texts: list[str],
    store: _ccr.CCRStore | None,
    note_for: Callable[[Sequence[ChunkResult]], tuple[str, str, str] | None],
    separator: str,
    rendered: list[str],
    render: Callable[[int, str], str],
    count: Callable[[str], int],
    tokens_before: int,
    budget: int,
) -> ContextFit:
    omitted = [
        replace(r, ccr_key=_ccr.stash(store, texts[r.index], "text", unit="line"))
        if r.ccr_key is None and store is not None and texts[r.index].strip()
        else r
        for r in attempt.omitted
    ]
    note = note_key = None
    planned = note_for(omitted) if attempt.tokens >= 0 else None
    if planned is not None and store is not None:
        _, description, joined = planned
        # Whole passages joined by blank lines: `retrieve(key, query=...)` searches paragraphs.
        note_key = _ccr.stash(store, joined, "text", unit="block")
        note = _ccr.make_marker(description, note_key)
    parts = [rendered[r.index] if not r.trimmed else render(r.index, r.text) for r in attempt.kept]
    if note is not None:
        parts.append(note)
    tokens = count(separator.join(parts)) if parts else 0
    return ContextFit(attempt.kept, omitted, note, note_key, tokens, tokens_before, budget)
