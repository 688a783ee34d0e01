"""Query retrieval: which stored items (JSON) or lines/blocks (text) answer a query.

Scoring, per unit (a JSON item, a line or a block):

- A query term found among the unit's *values* counts its full inverse document frequency
  (`log(1 + n / df)`: rare terms weigh most).
- A term found only among its *field names* counts a quarter of that, and nothing when every
  item has the field (so "order" in `order_id` cannot make 1,200 rows match); a term that is
  a whole field name (`order_id`) counts in full, under the same rule.
- `name=value` / `name: value` in the query (`user_id=42`) is a field-qualified match: units
  whose field `name` holds exactly `value` come first.
- A term that every unit holds tells none apart: it is ignored when another query term
  matches only some units (a unit holding every searched-for value still matches, last).
- Units with any weight match; the best (by weight, then BM25 over their values) are
  returned in their original order, at most `limit` (`DEFAULT_QUERY_LIMIT` when a query is
  given without one).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson

DEFAULT_QUERY_LIMIT = 50
"""At most this many items or lines answer a query when the caller gives no `limit`."""
NAME_WEIGHT = 0.25
_COVERS = 1e-6
WINDOW_CHARS = 2000
"""Text units longer than twice this are cut into windows of about this size, so that a
query on a one-line original returns the part that matches, not the whole line."""
_MAX_DEPTH = 32

# Bounded repetitions: linear on any input.
_PAIR = re.compile(
    r"(?P<name>[A-Za-z_][\w.\-]{0,79})[ \t]{0,3}[:=][ \t]{0,3}\"?(?P<value>[^\s\"',;&()\[\]{}]{1,200})"
)


def select_units(meta: dict[str, Any], original: str, query: str | None, limit: int | None) -> str:
    """The items (JSON) or lines/blocks (text) of a record that match `query`, best `limit`."""
    if query is not None and limit is None:
        limit = DEFAULT_QUERY_LIMIT
    if meta.get("kind") == "json":
        items = _json_items(meta, original)
        if items is not None:
            texts = [orjson.dumps(item).decode() for item in items]
            if query:
                leaves = [list(_leaves(item)) for item in items]
                chosen = _choose(leaves, query, limit)
            else:
                chosen = _first(len(items), limit)
            return "[" + ",".join(texts[i] for i in chosen) + "]"
    units = _text_units(meta, original)
    if query:
        chosen = _choose([[("", unit)] for unit in units], query, limit)
    else:
        chosen = _first(len(units), limit)
    sep = "\n\n" if meta.get("unit") == "block" else "\n"
    return sep.join(units[i] for i in chosen)


def _first(n: int, limit: int | None) -> list[int]:
    return list(range(n if limit is None else min(n, max(0, int(limit)))))


def _json_items(meta: dict[str, Any], original: str) -> list[Any] | None:
    try:
        doc = orjson.loads(original)
    except orjson.JSONDecodeError:
        return None
    items: list[Any] = []
    for path in meta.get("paths") or [[]]:
        node = doc
        try:
            for step in path:
                node = node[step]
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(node, list):
            items.extend(node)
        elif isinstance(node, dict):  # a map (id -> record): each entry is one item
            items.extend({k: v} for k, v in node.items())
    return items


def _text_units(meta: dict[str, Any], original: str) -> list[str]:
    if meta.get("unit") == "block":
        units = [b for b in re.split(r"\n[ \t\r\f\v]*\n", original) if b.strip()]
    else:
        units = [line for line in original.splitlines() if line.strip()]
    out: list[str] = []
    for unit in units:
        out.extend(_windows(unit) if len(unit) > 2 * WINDOW_CHARS else (unit,))
    return out


def _windows(text: str) -> Iterator[str]:
    start = 0
    while start < len(text):
        end = min(len(text), start + WINDOW_CHARS)
        if end < len(text):
            cut = text.rfind(" ", start + WINDOW_CHARS // 2, end)
            end = cut + 1 if cut > 0 else end
        yield text[start:end]
        start = end


def _leaves(item: Any) -> Iterator[tuple[str, str]]:
    """(dotted field path, value text) of every scalar in a JSON item; iterative, bounded depth."""
    stack: list[tuple[str, Any, int]] = [("", item, 0)]
    while stack:
        path, node, depth = stack.pop()
        if isinstance(node, dict) and depth < _MAX_DEPTH:
            for name, value in reversed(list(node.items())):
                stack.append((f"{path}.{name}" if path else str(name), value, depth + 1))
        elif isinstance(node, list) and depth < _MAX_DEPTH:
            for value in reversed(node):
                stack.append((path, value, depth + 1))
        elif isinstance(node, str):
            yield path, node
        elif node is None:
            continue
        elif isinstance(node, bool):
            yield path, "true" if node else "false"
        elif isinstance(node, (int, float)):
            yield path, orjson.dumps(node).decode()
        else:  # too deep: its JSON text still carries its values
            yield path, orjson.dumps(node).decode()


def _choose(units: list[list[tuple[str, str]]], query: str, limit: int | None) -> list[int]:
    from headroom_core._relevance import bm25_scores, terms

    q_terms = sorted(set(terms(query)))
    pairs = [(m.group("name").lower(), m.group("value").lower()) for m in _PAIR.finditer(query)]
    if not q_terms and not pairs:
        return []
    wanted = set(q_terms)
    n = len(units)
    value_hits: list[set[str]] = []
    name_hits: list[set[str]] = []
    whole_names: list[set[str]] = []
    value_texts: list[str] = []
    pair_hits: list[bool] = []
    for leaves in units:
        values = " ".join(v for _, v in leaves)
        value_texts.append(values)
        value_hits.append(wanted.intersection(terms(values)))
        paths = {p for p, _ in leaves if p}
        names = {part for p in paths for part in p.split(".")}
        whole_names.append({name.lower() for name in names} & wanted)
        name_hits.append(wanted.intersection(terms(" ".join(sorted(names)))) if names else set())
        pair_hits.append(bool(pairs) and _pair_match(leaves, pairs))
    df_value = Counter(t for hits in value_hits for t in hits)
    df_name = Counter(t for hits in name_hits for t in hits)
    # A term every unit holds tells no unit apart: it counts only when no term does.
    informative = {t for t in wanted if 0 < df_value[t] < n}
    in_values = {t for t in wanted if df_value[t]}
    weights: list[float] = []
    for i in range(n):
        hits = value_hits[i] & informative if informative else value_hits[i]
        weight = sum(math.log1p(n / df_value[t]) for t in hits)
        if not hits and in_values and in_values <= value_hits[i] | name_hits[i]:
            weight += _COVERS  # it holds every searched-for value, only none that is rare
        for t in name_hits[i] - value_hits[i]:
            if df_name[t] < n or n == 1:  # a field every item has says nothing about any item
                share = 1.0 if t in whole_names[i] else NAME_WEIGHT
                weight += share * math.log1p(n / df_name[t])
        weights.append(weight)
    if any(pair_hits):
        bonus = max(weights, default=0.0) + 1.0
        weights = [w + bonus if hit else w for w, hit in zip(weights, pair_hits, strict=True)]
    candidates = [i for i in range(n) if weights[i] > 0]
    tie_break = bm25_scores(q_terms, [value_texts[i] for i in candidates]) if q_terms else None
    order = sorted(
        range(len(candidates)),
        key=lambda j: (-weights[candidates[j]], -(tie_break[j] if tie_break is not None else 0.0), j),
    )
    ranked = [candidates[j] for j in order]
    if limit is not None:
        ranked = ranked[: max(0, int(limit))]
    return sorted(ranked)  # original order reads best


def _pair_match(leaves: list[tuple[str, str]], pairs: list[tuple[str, str]]) -> bool:
    for path, value in leaves:
        low_path, low_value = path.lower(), value.lower()
        for name, wanted in pairs:
            if low_value == wanted and (low_path == name or low_path.endswith("." + name)):
                return True
    return False
