"""`HeadroomNodePostprocessor`: fit retrieved nodes into a token budget.

    >>> engine = index.as_query_engine(
    ...     node_postprocessors=[HeadroomNodePostprocessor(token_budget=3000)]
    ... )

Ranking, near-duplicate removal, content-aware compression, trimming, charging each
node's framing to the budget and announcing what was left out are the engine's
(`headroom_core.chunks.fit_context`). This adapter only tells it how LlamaIndex renders a
node for the LLM (its metadata header plus its text, nodes joined by blank lines) and
turns the result back into nodes. Each call emits `HeadroomFitStartEvent` and
`HeadroomFitEndEvent` through LlamaIndex's instrumentation dispatcher, inside the span
the dispatcher opens around `_postprocess_nodes`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from llama_index.core.bridge.pydantic import ConfigDict, Field
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.base import BaseEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, QueryBundle, TextNode
from pydantic import InstanceOf

from headroom_core import DEFAULT_MODEL, HeadroomConfig
from headroom_core.chunks import ChunkResult, ContextFit, fit_context
from headroom_integrations.llamaindex._tokens import token_counter

dispatcher = get_dispatcher(__name__)
logger = logging.getLogger("headroom.llamaindex")

CCR_KEY_METADATA = "headroom_ccr_key"
"""Metadata key of a trimmed node: the CCR key of its original text."""
REASON_METADATA = "headroom_reason"
"""Metadata key of a trimmed node: 'compressed' or 'truncated'."""
OMITTED_IDS_METADATA = "headroom_omitted_node_ids"
"""Metadata key of the note node: ids of the nodes left out."""
OMITTED_NODE_PREFIX = "headroom-omitted-"

_SEPARATOR = "\n\n"  # LlamaIndex's synthesizers join node texts with a blank line
_HIDDEN_KEYS = (CCR_KEY_METADATA, REASON_METADATA, OMITTED_IDS_METADATA)


class HeadroomFitStartEvent(BaseEvent):
    """Emitted before `HeadroomNodePostprocessor` fits nodes into its budget."""

    query: str | None
    nodes: list[NodeWithScore]
    token_budget: int

    @classmethod
    def class_name(cls) -> str:
        return "HeadroomFitStartEvent"


class HeadroomFitEndEvent(BaseEvent):
    """Emitted with what `HeadroomNodePostprocessor` handed on and what it left out."""

    nodes: list[NodeWithScore]
    tokens_before: int
    context_tokens: int
    token_budget: int
    omitted_node_ids: list[str]
    omitted_key: str | None

    @classmethod
    def class_name(cls) -> str:
        return "HeadroomFitEndEvent"


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


def _check_nodes(nodes: Any) -> list[NodeWithScore]:
    if isinstance(nodes, (str, bytes)) or not isinstance(nodes, Sequence):
        raise TypeError(f"expected a list of NodeWithScore, got {type(nodes).__name__}")
    for i, item in enumerate(nodes):
        if not isinstance(item, NodeWithScore):
            raise TypeError(f"node {i} should be a NodeWithScore, got {type(item).__name__}")
    return list(nodes)


def _prior_scores(nodes: Sequence[NodeWithScore]) -> list[float] | None:
    """The retriever's scores; missing or non-finite ones rank below every real score."""

    def usable(score: Any) -> float | None:
        if isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score):
            return float(score)
        return None

    scores = [usable(n.score) for n in nodes]
    valid = [s for s in scores if s is not None]
    if not valid:
        return None
    floor = min(valid)
    return [floor if s is None else s for s in scores]


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
    except (NotImplementedError, AttributeError, TypeError, ValueError) as exc:
        logger.debug("a %s cannot hold new text (%s): handing on a TextNode copy", type(node).__name__, exc)
        return TextNode(
            id_=node.node_id,
            text=text,
            metadata=dict(node.metadata),
            excluded_llm_metadata_keys=list(node.excluded_llm_metadata_keys),
            excluded_embed_metadata_keys=list(node.excluded_embed_metadata_keys),
            relationships=dict(node.relationships),
        )


def _trimmed_node(original: NodeWithScore, result: ChunkResult) -> NodeWithScore:
    node = _with_text(original.node, result.text)
    if result.ccr_key is not None:
        node.metadata[CCR_KEY_METADATA] = result.ccr_key
    node.metadata[REASON_METADATA] = result.reason
    _hide_from_llm(node, (CCR_KEY_METADATA, REASON_METADATA))
    return NodeWithScore(node=node, score=original.score)


def _note_node(nodes: list[NodeWithScore], fitted: ContextFit) -> NodeWithScore:
    assert fitted.note is not None and fitted.note_key is not None
    node = TextNode(
        id_=OMITTED_NODE_PREFIX + fitted.note_key,
        text=fitted.note,
        metadata={
            CCR_KEY_METADATA: fitted.note_key,
            OMITTED_IDS_METADATA: [nodes[r.index].node.node_id for r in fitted.omitted if r.ccr_key],
        },
    )
    _hide_from_llm(node, _HIDDEN_KEYS)
    return NodeWithScore(node=node, score=None)


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
    model: str = Field(default=DEFAULT_MODEL, description="Model whose tokenizer counts the budget.")
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
    strategy: Literal["extractive", "llmlingua2"] = Field(
        default="extractive",
        description="Prose compression: whole sentences, or words dropped by LLMLingua-2 (llmlingua extra).",
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
        dispatcher.event(HeadroomFitStartEvent(query=query, nodes=nodes, token_budget=self.token_budget))
        fitted = self._fit(nodes, query)
        dispatcher.event(
            HeadroomFitEndEvent(
                nodes=fitted.nodes,
                tokens_before=fitted.tokens_before,
                context_tokens=fitted.context_tokens,
                token_budget=fitted.token_budget,
                omitted_node_ids=[o.node_id for o in fitted.omitted],
                omitted_key=fitted.omitted_key,
            )
        )
        return fitted

    def _fit(self, nodes: list[NodeWithScore], query: str | None) -> NodeFit:
        if not nodes:
            return NodeFit([], 0, 0, self.token_budget)
        texts = [n.node.get_content(metadata_mode=MetadataMode.NONE) for n in nodes]

        def render(index: int, text: str) -> str:
            node = nodes[index].node if text == texts[index] else _with_text(nodes[index].node, text)
            return node.get_content(metadata_mode=self.metadata_mode)

        fitted = fit_context(
            texts,
            token_budget=self.token_budget,
            query=query or None,
            model=self.model,
            config=self.config,
            scores=_prior_scores(nodes),
            render=render,
            separator=_SEPARATOR,
            count=token_counter(self.model, self.tokenizer),
            note_omitted=self.note_omitted,
            duplicate_threshold=self.duplicate_threshold,
            query_weight=self.query_weight,
            compress_all=self.compress_all,
            strategy=self.strategy,
        )
        out = [_trimmed_node(nodes[r.index], r) if r.trimmed else nodes[r.index] for r in fitted.kept]
        if fitted.note is not None:
            out.append(_note_node(nodes, fitted))
        omitted = [
            OmittedNode(nodes[r.index].node.node_id, nodes[r.index].score, r.reason, r.ccr_key)
            for r in fitted.omitted
        ]
        return NodeFit(
            out, fitted.context_tokens, fitted.tokens_before, fitted.token_budget, omitted, fitted.note_key
        )
