"""`HeadroomNodePostprocessor`: fit retrieved nodes into a token budget.

    >>> engine = index.as_query_engine(
    ...     node_postprocessors=[HeadroomNodePostprocessor(token_budget=3000)]
    ... )

Ranking, near-duplicate removal, content-aware compression and trimming are the
engine's (`headroom_core.chunks.fit_chunks`). This adapter only knows how LlamaIndex
renders nodes for the LLM: each node's metadata header plus its text, joined by blank
lines. It charges that framing to the budget, measures the rendered context with the
budget's tokenizer, and re-asks the engine with a corrected budget when the framing made
the first guess too tight or too loose.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.bridge.pydantic import ConfigDict, Field
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, QueryBundle, TextNode
from pydantic import InstanceOf

from headroom_core import HeadroomConfig, content_key, make_marker, store_original
from headroom_core.chunks import ChunkResult, fit_chunks
from headroom_integrations.llamaindex._tokens import TokenCounter, token_counter

CCR_KEY_METADATA = "headroom_ccr_key"
"""Metadata key of a trimmed node: the CCR key of its original text."""
REASON_METADATA = "headroom_reason"
"""Metadata key of a trimmed node: 'compressed' or 'truncated'."""
OMITTED_IDS_METADATA = "headroom_omitted_node_ids"
"""Metadata key of the note node: ids of the nodes left out."""
OMITTED_NODE_PREFIX = "headroom-omitted-"

_SEPARATOR = "\n\n"  # LlamaIndex's synthesizers join node texts with a blank line
_MAX_PASSES = 5
_CLOSE_ENOUGH = 8  # tokens of unused budget not worth another engine pass
_HIDDEN_KEYS = (CCR_KEY_METADATA, REASON_METADATA, OMITTED_IDS_METADATA)


@dataclass(frozen=True)
class OmittedNode:
    """A node the postprocessor left out."""

    node_id: str
    score: float | None
    reason: str
    """'duplicate' or 'over_budget'."""
    ccr_key: str | None
    """Key of the node's original text (None when CCR is off)."""


@dataclass(frozen=True)
class NodeFit:
    """What `HeadroomNodePostprocessor.fit` did."""

    nodes: list[NodeWithScore]
    """The nodes to hand on, best first; a note node about omitted passages comes last."""
    context_tokens: int
    """Tokens of the rendered context (nodes as the LLM sees them, joined by blank lines)."""
    tokens_before: int
    """The same measure for all input nodes."""
    token_budget: int
    omitted: list[OmittedNode] = field(default_factory=list)
    omitted_key: str | None = None
    """CCR key of all omitted passages together (what the note node's marker points at)."""

    @property
    def kept_ids(self) -> list[str]:
        return [n.node.node_id for n in self.nodes if not n.node.node_id.startswith(OMITTED_NODE_PREFIX)]


@dataclass
class _Attempt:
    kept: list[ChunkResult]
    omitted: list[tuple[int, str, str | None]]  # (input index, reason, ccr key)
    nodes: list[NodeWithScore]
    tokens: int
    omitted_text: str | None
    lossy: bool  # something was trimmed or dropped for lack of budget


def _check_nodes(nodes: Any) -> list[NodeWithScore]:
    if isinstance(nodes, (str, bytes)) or not isinstance(nodes, Sequence):
        raise TypeError(f"expected a list of NodeWithScore, got {type(nodes).__name__}")
    for i, item in enumerate(nodes):
        if not isinstance(item, NodeWithScore):
            raise TypeError(f"node {i} should be a NodeWithScore, got {type(item).__name__}")
    return list(nodes)


def _prior_scores(nodes: Sequence[NodeWithScore]) -> list[float] | None:
    """The retriever's scores; missing or non-finite ones rank below every real score."""

    def usable(score: Any) -> bool:
        return isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score)

    valid = [float(n.score) for n in nodes if usable(n.score)]
    if not valid:
        return None
    floor = min(valid)
    return [float(n.score) if usable(n.score) else floor for n in nodes]


def _hide_from_llm(node: BaseNode, keys: Sequence[str]) -> None:
    for key in keys:
        if key not in node.excluded_llm_metadata_keys:
            node.excluded_llm_metadata_keys.append(key)
        if key not in node.excluded_embed_metadata_keys:
            node.excluded_embed_metadata_keys.append(key)


def _with_text(node: BaseNode, text: str) -> BaseNode:
    """A copy of `node` (same id, metadata, relationships) holding `text`."""
    try:
        copy = node.model_copy(deep=True)
        copy.set_content(text)
        return copy
    except (NotImplementedError, AttributeError, TypeError, ValueError):
        return TextNode(
            id_=node.node_id,
            text=text,
            metadata=dict(node.metadata),
            excluded_llm_metadata_keys=list(node.excluded_llm_metadata_keys),
            excluded_embed_metadata_keys=list(node.excluded_embed_metadata_keys),
            relationships=dict(node.relationships),
        )


class HeadroomNodePostprocessor(BaseNodePostprocessor):
    """Fit retrieved nodes into `token_budget` tokens of LLM context.

    Near-duplicates are dropped, nodes are ranked by their retriever score blended with
    their relevance to the query, the ones that do not fit are compressed by content
    (prose, code, tables, JSON...) or trimmed, and the lowest-value ones are dropped last.
    Node ids, scores and metadata are kept; a trimmed node is a copy whose metadata holds
    `headroom_ccr_key` (hidden from the LLM and the embedder). When passages are dropped,
    a final note node tells the LLM how to get them back with the `headroom_retrieve` tool.

    The budget covers what the response synthesizer puts in `{context_str}`: every node
    rendered with `metadata_mode` and joined by blank lines. Tokens are counted with
    `tokenizer` if given, else with `Settings.tokenizer` if the user set one, else with
    Headroom's tokenizer for `model`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    token_budget: int = Field(gt=0, description="Most tokens the rendered nodes may take together.")
    model: str = Field(default="gpt-4o", description="Model whose tokenizer counts the budget.")
    config: InstanceOf[HeadroomConfig] | None = Field(
        default=None, exclude=True, description="Headroom settings (CCR store, compressors)."
    )
    tokenizer: Callable[[str], Sequence[Any]] | None = Field(
        default=None, exclude=True, description="Explicit tokenizer (text -> tokens) for the budget."
    )
    metadata_mode: MetadataMode = Field(
        default=MetadataMode.LLM, description="How the synthesizer renders nodes (for counting)."
    )
    compress_all: bool = Field(
        default=False, description="Compress every node, not only those that do not fit as they are."
    )
    duplicate_threshold: float = Field(
        default=0.85, description="Word-shingle overlap at which a node is a near-duplicate (>1 disables)."
    )
    query_weight: float = Field(
        default=0.6, ge=0.0, le=1.0, description="Share of query relevance in the ranking (rest: score)."
    )
    note_omitted: bool = Field(
        default=True, description="Append a note node with a CCR marker for the omitted passages."
    )

    @classmethod
    def class_name(cls) -> str:
        return "HeadroomNodePostprocessor"

    # ------------------------------------------------------------------ LlamaIndex hooks

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        return self.fit(nodes, query_bundle).nodes

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        # Tokenizing and compressing is CPU work: keep it off the event loop.
        return await asyncio.to_thread(self._postprocess_nodes, nodes, query_bundle)

    # ------------------------------------------------------------------ the work

    def fit(self, nodes: Sequence[NodeWithScore], query: str | QueryBundle | None = None) -> NodeFit:
        """Fit `nodes` into the budget and report what was kept, trimmed and omitted."""
        nodes = _check_nodes(nodes)
        if isinstance(query, QueryBundle):
            query = query.query_str
        if query is not None and not isinstance(query, str):
            raise TypeError(f"query must be a str, a QueryBundle or None, got {type(query).__name__}")
        budget = self.token_budget
        if not nodes:
            return NodeFit([], 0, 0, budget)
        config = self.config if self.config is not None else HeadroomConfig()
        count = token_counter(self.model, self.tokenizer)
        texts = [n.node.get_content(metadata_mode=MetadataMode.NONE) for n in nodes]
        rendered = [n.node.get_content(metadata_mode=self.metadata_mode) for n in nodes]
        tokens_before = count(_SEPARATOR.join(rendered))
        scores = _prior_scores(nodes)

        # First guess at the engine's budget: the budget minus the framing (metadata header,
        # separator) of about as many nodes as are likely to fit, and room for the note.
        # Later passes correct the guess by the measured slack.
        separator = count(_SEPARATOR)
        text_tokens = [count(t) for t in texts]
        framing = [max(0, count(r) - n) + separator for r, n in zip(rendered, text_tokens)]
        mean_cost = (sum(text_tokens) + sum(framing)) / len(nodes)
        likely_kept = min(len(nodes), math.ceil(budget / max(mean_cost, 1.0)) + 1)
        reserve = math.ceil(sum(framing) / len(nodes) * likely_kept)
        note = count(make_marker(f"{len(nodes)} passages omitted to fit the budget", "0" * 24))
        engine_budget = max(0, budget - reserve - note - separator)

        best: _Attempt | None = None
        last: _Attempt | None = None
        tried: set[int] = set()
        for _ in range(_MAX_PASSES):
            if engine_budget in tried:
                break
            tried.add(engine_budget)
            results = fit_chunks(
                texts,
                token_budget=engine_budget,
                query=query or None,
                model=self.model,
                config=config,
                scores=scores,
                duplicate_threshold=self.duplicate_threshold,
                query_weight=self.query_weight,
                compress_all=self.compress_all,
            )
            # Nodes without text (an ImageNode) cost only their metadata: they stay, last.
            kept = [r for r in results if not r.dropped] + [r for r in results if r.reason == "empty"]
            omitted = [(r.index, r.reason, r.ccr_key) for r in results if r.dropped and r.reason != "empty"]
            last = self._assemble(nodes, texts, kept, omitted, budget, count, config)
            if last.tokens <= budget and (best is None or last.tokens > best.tokens):
                best = last
            slack = budget - last.tokens
            if slack >= 0 and (slack <= _CLOSE_ENOUGH or not last.lossy):
                break
            engine_budget = self._next_engine_budget(engine_budget, kept, last.tokens, budget)
        if best is None:
            assert last is not None
            best = self._shed(nodes, texts, last, budget, count, config)
        return self._finish(nodes, texts, best, tokens_before, budget, config)

    @staticmethod
    def _next_engine_budget(engine_budget: int, kept: list[ChunkResult], used: int, budget: int) -> int:
        """The engine's next budget (its own tokens) from the measured context (budget's tokens).

        `ratio` converts the budget's tokenizer into the engine's; it is about 1 unless the
        user's tokenizer counts very differently (words, characters, another vocabulary).
        """
        engine_used = sum(r.tokens for r in kept)
        ratio = engine_used / used if engine_used > 0 and used > 0 else 1.0
        slack = budget - used
        if slack >= 0:  # offer the engine the unused room as well
            return max(0, engine_budget + math.floor(slack * ratio))
        # Shrink from what the engine actually used (else the same chunks come back), by
        # the overshoot or proportionally, whichever cuts more.
        proportional = math.floor(engine_used * budget / used) if used > 0 else 0
        by_overshoot = engine_used + slack
        return max(0, min(by_overshoot, proportional) if by_overshoot > 0 else proportional)

    def _assemble(
        self,
        nodes: list[NodeWithScore],
        texts: list[str],
        kept: list[ChunkResult],
        omitted: list[tuple[int, str, str | None]],
        budget: int,
        count: TokenCounter,
        config: HeadroomConfig,
    ) -> _Attempt:
        out: list[NodeWithScore] = []
        for r in kept:
            original = nodes[r.index]
            if not r.trimmed:
                out.append(original)
                continue
            node = _with_text(original.node, r.text)
            if r.ccr_key is not None:
                node.metadata[CCR_KEY_METADATA] = r.ccr_key
            node.metadata[REASON_METADATA] = r.reason
            _hide_from_llm(node, (CCR_KEY_METADATA, REASON_METADATA))
            out.append(NodeWithScore(node=node, score=original.score))
        lost = [(i, reason) for i, reason, _ in omitted if texts[i].strip()]
        omitted_text = None
        if lost and self.note_omitted and config.ccr_enabled:
            omitted_text = _SEPARATOR.join(texts[i] for i, _ in lost)
            out.append(self._note_node(nodes, lost, omitted_text, budget))
        tokens = count(_SEPARATOR.join(n.node.get_content(metadata_mode=self.metadata_mode) for n in out))
        lossy = any(r.trimmed for r in kept) or any(reason == "over_budget" for _, reason, _ in omitted)
        return _Attempt(kept, omitted, out, tokens, omitted_text, lossy)

    def _note_node(
        self, nodes: list[NodeWithScore], lost: list[tuple[int, str]], omitted_text: str, budget: int
    ) -> NodeWithScore:
        key = content_key(omitted_text)
        duplicates = sum(1 for _, reason in lost if reason == "duplicate")
        what = f"{len(lost)} lower-ranked retrieved passage{'s' if len(lost) != 1 else ''} omitted"
        what += f" to fit a {budget:,}-token budget"
        if duplicates:
            what += f" ({duplicates} near-duplicate{'s' if duplicates != 1 else ''})"
        node = TextNode(
            id_=OMITTED_NODE_PREFIX + key,
            text=make_marker(what, key),
            metadata={
                CCR_KEY_METADATA: key,
                OMITTED_IDS_METADATA: [nodes[i].node.node_id for i, _ in lost],
            },
        )
        _hide_from_llm(node, _HIDDEN_KEYS)
        return NodeWithScore(node=node, score=None)

    def _shed(
        self,
        nodes: list[NodeWithScore],
        texts: list[str],
        attempt: _Attempt,
        budget: int,
        count: TokenCounter,
        config: HeadroomConfig,
    ) -> _Attempt:
        """Last resort when no engine pass fit (a foreign tokenizer, huge metadata headers).

        Drops the lowest-ranked kept nodes until the rest fits; then the note itself.
        """
        kept, omitted = list(attempt.kept), list(attempt.omitted)
        current = attempt
        while current.tokens > budget and kept:
            dropped = kept.pop()
            omitted.insert(0, (dropped.index, "over_budget", None))
            current = self._assemble(nodes, texts, kept, omitted, budget, count, config)
        if current.tokens > budget:  # the note alone does not fit: leave it out
            current = _Attempt([], omitted, [], 0, None, True)
        return current

    def _finish(
        self,
        nodes: list[NodeWithScore],
        texts: list[str],
        attempt: _Attempt,
        tokens_before: int,
        budget: int,
        config: HeadroomConfig,
    ) -> NodeFit:
        omitted: list[OmittedNode] = []
        for i, reason, key in attempt.omitted:
            if key is None and config.ccr_enabled and texts[i].strip():
                key = store_original(texts[i], unit="line", config=config)
            omitted.append(OmittedNode(nodes[i].node.node_id, nodes[i].score, reason, key))
        omitted_key = None
        if attempt.omitted_text is not None and config.ccr_enabled:
            # Whole passages joined by blank lines: `retrieve(key, query=...)` searches paragraphs.
            omitted_key = store_original(attempt.omitted_text, unit="block", config=config)
        return NodeFit(attempt.nodes, attempt.tokens, tokens_before, budget, omitted, omitted_key)
