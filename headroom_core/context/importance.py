"""Multi-factor importance of each conversation unit.

score = w_recency·recency + w_role·role + w_relevance·relevance + w_errors·errors
        + w_references·references + w_learned·learned        (each factor in [0, 1])

- recency: halves every `recency_half_life` messages back from the end.
- role: a user's own words weigh most, then assistant prose, then tool traffic.
- relevance: BM25 against the query (`headroom_core._relevance`), normalised by the best
  unit; with `ContextConfig.semantic` the larger of that and the embedding cosine
  similarity (also relative to the best unit, never stretched past 1/0.3).
- errors: tracebacks, exceptions, failed statuses, non-zero exit codes, HTTP 5xx.
- references: ids, file names and long numbers from a tool output that a *later* message
  mentions again (the output is still in use).
- learned: the local learning store's rate of "needed again" for the tool and its fields.

All arithmetic is deterministic; scores are rounded to 6 decimals before ranking.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from headroom_core import _ccr
from headroom_core._messages import message_text
from headroom_core._relevance import bm25_scores
from headroom_core.context.learning_store import LearningStore
from headroom_core.context.rolling_window import Unit

_ERROR_RE = re.compile(
    r"Traceback \(most recent call last\)"
    r"|[a-z0-9](?:Error|Exception)\b|\b(?:Error|Exception):"
    r"|\b(?:FAILED|FAILURE|FATAL|PANIC)\b|\bpanic: |Segmentation fault"
    r"|(?i:\b(?:exit(?:ed)?(?: with)?(?: code| status)|return ?code|exit_code|returncode)\W{0,3}[1-9]\d*)"
    r"|(?i:\"?(?:status|state|result|outcome)\"?\s*[:=]\s*\"?(?:error|failed|failure|fatal)\b)"
    r"|(?i:\"?(?:status|status_code|http_status)\"?\s*[:=]\s*5\d\d\b)"
    r"|\"(?:error|errors)\"\s*:\s*(?!null|\[\]|\{\}|false|\"\")[\"\[{\w]"
    r"|(?i:\b[1-9]\d*\s+(?:\w+\s+)?failed\b)"  # "3 tests failed"
    r"|(?im:^\s*(?:error|fatal)(?:\[\w+\])?:)"  # compiler/CLI "error: ..." lines
)
# Mentionable values: file names/paths, ids mixing letters and digits, long numbers.
_REF_RE = re.compile(
    r"(?<![\w.-])(?:"
    r"[\w/-]*[A-Za-z_]\w*\.[A-Za-z][A-Za-z0-9]{0,5}"  # app.py, src/x/y.ts
    r"|(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9][\w-]{3,}"  # ord_123, INC-4521, a1b2c3
    r"|\d{5,}"  # 48213
    r")(?![\w-])"
)
_MAX_REF_TOKENS = 400
_ERROR_SCAN_CHARS = 100_000
_MAX_JSON_CHARS = 200_000
_MAX_LEAVES = 5000


@dataclass
class UnitScore:
    score: float
    factors: dict[str, float] = field(default_factory=dict)
    has_error: bool = False
    references: int = 0


def unit_text(messages: Sequence[Mapping[str, Any]], unit: Unit) -> str:
    return "\n".join(message_text(messages[i]) for i in unit.indices)


def tool_output_texts(messages: Sequence[Mapping[str, Any]], unit: Unit) -> list[str]:
    """The tool results inside a unit (OpenAI tool messages, Anthropic tool_result blocks)."""
    texts: list[str] = []
    for i in unit.indices:
        message = messages[i]
        if message.get("role") in ("tool", "function"):
            texts.append(message_text(message))
        elif message.get("role") == "user" and isinstance(message.get("content"), list):
            for block in message["content"]:
                if isinstance(block, Mapping) and block.get("type") == "tool_result":
                    texts.append(message_text({"content": [block]}))
    return [t for t in texts if t]


def has_error(text: str) -> bool:
    if len(text) > 2 * _ERROR_SCAN_CHARS:  # bound the work: errors sit near the start or the end
        text = text[:_ERROR_SCAN_CHARS] + "\n" + text[-_ERROR_SCAN_CHARS:]
    return _ERROR_RE.search(text) is not None


def ref_tokens(text: str) -> set[str]:
    found: set[str] = set()
    for match in _REF_RE.finditer(text):
        token = match.group(0).strip("/.-")
        if len(token) >= 4:
            found.add(token)
            if len(found) >= _MAX_REF_TOKENS:
                break
    return found


def _referenced_fields(text: str, tokens: set[str]) -> list[str]:
    """JSON field names whose values contain one of `tokens` (for field-level learning)."""
    stripped = text.lstrip()
    if not tokens or len(text) > _MAX_JSON_CHARS or not stripped.startswith(("{", "[")):
        return []
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return []
    found: set[str] = set()
    stack: list[tuple[str | None, Any]] = [(None, doc)]
    leaves = 0
    while stack and leaves < _MAX_LEAVES:
        name, node = stack.pop()
        if isinstance(node, dict):
            stack.extend((str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((name, v) for v in node)
        else:
            leaves += 1
            if name is not None and isinstance(node, (str, int)) and not isinstance(node, bool):
                value = str(node)
                if any(t in value for t in tokens):
                    found.add(name)
    return sorted(found)


def _json_field_names(text: str) -> set[str]:
    return set(re.findall(r'"([A-Za-z_][\w-]{0,40})"\s*:', text[:_MAX_JSON_CHARS]))


def score_units(
    messages: Sequence[Mapping[str, Any]],
    units: Sequence[Unit],
    query: str | None,
    ctx: Any,
    learning: LearningStore | None = None,
    notes: list[str] | None = None,
) -> list[UnitScore]:
    """A score (and its factors) for every unit; protected units are scored too, for the report."""
    n_messages = len(messages)
    texts = [unit_text(messages, u) for u in units]

    relevance = np.zeros(len(units))
    if query:
        bm25 = bm25_scores(query, texts)
        # Normalise by the best *droppable* unit: the current question always matches itself.
        candidates = [bm25[i] for i, u in enumerate(units) if not u.protected]
        top = max(candidates) if candidates else 0.0
        if top > 0:
            relevance = np.minimum(bm25 / top, 1.0)
        if ctx.semantic:
            try:
                from headroom_core.context.semantic import similarities

                sims = similarities(query, texts)
                # Relative to the best droppable unit, but never stretching weak matches:
                # a best cosine under 0.3 is not scaled up to 1.
                top_sim = max([sims[i] for i, u in enumerate(units) if not u.protected] or [0.0])
                relevance = np.maximum(relevance, np.minimum(sims / max(top_sim, 0.3), 1.0))
            except Exception as exc:  # a missing extra degrades to BM25, visibly
                if notes is not None:
                    notes.append(f"semantic relevance unavailable ({type(exc).__name__}: {exc}); BM25 only")
    relevance = np.round(relevance, 6)

    # Where each mentionable value occurs, to find outputs referenced by later messages.
    message_tokens = [ref_tokens(message_text(m)) for m in messages]
    last_seen: dict[str, int] = {}
    spread: dict[str, int] = {}
    for i, tokens in enumerate(message_tokens):
        for t in tokens:
            last_seen[t] = i
            spread[t] = spread.get(t, 0) + 1
    too_common = max(5, n_messages // 10)

    scores: list[UnitScore] = []
    for ui, unit in enumerate(units):
        recency = 0.5 ** ((n_messages - 1 - unit.end) / max(1, ctx.recency_half_life))
        if unit.tool_names:
            role = 0.4
        elif unit.role == "user":
            role = 1.0
        elif unit.role == "assistant":
            role = 0.6
        else:
            role = 0.3
        outputs = tool_output_texts(messages, unit)
        error = has_error(texts[ui])
        per_output = [
            {t for t in ref_tokens(out) if last_seen.get(t, -1) > unit.end and spread[t] <= too_common}
            for out in outputs
        ]
        refs = len(set().union(*per_output)) if per_output else 0
        learned = 0.0
        if learning is not None and unit.tool_names:
            learned = _learned(learning, unit, outputs, per_output)
        factors = {
            "recency": round(recency, 6),
            "role": role,
            "relevance": float(relevance[ui]),
            "errors": 1.0 if error else 0.0,
            "references": round(min(1.0, refs / 3.0), 6),
            "learned": round(learned, 6),
        }
        score = (
            ctx.weight_recency * factors["recency"]
            + ctx.weight_role * factors["role"]
            + ctx.weight_relevance * factors["relevance"]
            + ctx.weight_errors * factors["errors"]
            + ctx.weight_references * factors["references"]
            + ctx.weight_learned * factors["learned"]
        )
        scores.append(UnitScore(round(score, 6), factors, error, refs))
    return scores


def _learned(learning: LearningStore, unit: Unit, outputs: list[str], referenced: list[set[str]]) -> float:
    """Read the prior for this unit's tool(s) and fields, and record what this call shows."""
    tool = unit.tool_names[0] or "unnamed"
    prior = max(learning.stats(name or "unnamed").rate for name in unit.tool_names)
    known_fields = learning.fields(tool)
    for out, refs in zip(outputs, referenced):
        if known_fields and out.lstrip().startswith(("{", "[")):
            present = _json_field_names(out)
            for name in known_fields:
                if name in present:
                    prior = max(prior, learning.field_rate(tool, name))
        key = _ccr.content_key(out)
        learning.observe_output(key, tool)
        for marker in _ccr.parse_markers(out):
            learning.link_key(marker.key, tool)
        if refs:
            learning.record_reference(key, _referenced_fields(out, refs))
    return prior
