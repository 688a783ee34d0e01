"""Planning: which items of one large array (or entries of one large map) are kept."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from headroom_core.compressors._base import CompressContext
from headroom_core.compressors.json._numbers import ExactNumber, dumps, is_number
from headroom_core.compressors.json._signals import (
    _ELLIPSIS,
    _MAX_FIELDS,
    _MISSING,
    _STATUS_KEYS,
    _change_points,
    _Column,
    _columns,
    _error_indices,
    _extreme_positions,
    _fmt_num,
    _long_text_bytes,
    _median,
    _nested_columns,
    _positional_columns,
    _query_fields,
    _rare_first_indices,
    _relevant,
    _robust_outliers,
    _short,
)
from headroom_core.compressors.json._table import _Table

# --------------------------------------------------------------------------- array plans


@dataclass
class _Plan:
    """What to do with one large array, or with one large map (then `keys` is set)."""

    path: tuple[Any, ...]
    items: list[Any]
    keep: list[int]
    """Sorted indices of items kept in selection mode."""
    important: set[int]
    """Errors, outliers, change points, query matches: never shortened."""
    head: str
    """'1,843 of 1,860 rows omitted (kept: ...)'."""
    stats: list[str]
    """Distribution notes: category counts, id range, numeric ranges."""
    table: _Table | None
    long_text: bool
    """Most of the array's bytes are in long strings (all-rows mode may pay)."""
    noun: str = "items"
    """What the items are called in gap notes: rows, numbers or items."""
    mode: str = "select"
    """'select' (drop items) or 'cut' (keep every item, shorten long text)."""
    keys: list[str] | None = None
    """For a map: the key of each item (the items are its values)."""
    cuts: dict[int, tuple[Any, bool]] = field(default_factory=dict, repr=False)
    """`cut_item` results by index: each item is cut once, however often it is rendered."""

    def cut_item(self, index: int, limit: int) -> tuple[Any, bool]:
        """Item `index` with its long strings cut to about `limit` characters, and whether
        anything was cut (`limit` is the same for every call on one plan)."""
        done = self.cuts.get(index)
        if done is None:
            done = self.cuts[index] = _cut_item(self.items[index], limit)
        return done


@dataclass
class _Selection:
    reasons: dict[int, str] = field(default_factory=dict)

    def add(self, index: int, reason: str) -> bool:
        if index in self.reasons:
            return False
        self.reasons[index] = reason
        return True


_MIN_ARRAY_BYTES = 600
_MAX_PLANS = 64
"""Arrays analysed per document at most; later ones are only minified (bounds the work
on documents made of thousands of small arrays)."""


def _plan_array(
    items: list[Any],
    path: tuple[Any, ...],
    ctx: CompressContext,
    table: _Table | None,
    keys: list[str] | None = None,
) -> _Plan | None:
    """Choose what to keep from one array, or from the values of one map (`keys` given);
    None when dropping would not pay."""
    cfg = ctx.config.json
    n = len(items)
    if keys is None:
        texts = [dumps(item) for item in items]
    else:  # a map entry is found by its key as much as by its value
        texts = [dumps(key) + ":" + dumps(item) for key, item in zip(keys, items)]
    sizes = np.fromiter((len(t) for t in texts), dtype=np.int64, count=n)
    if int(sizes.sum()) < _MIN_ARRAY_BYTES:
        return None  # too small for a marker to pay; skip the statistics
    selection = _Selection()
    mandatory: list[tuple[int, str]] = []

    record_share = sum(1 for item in items if isinstance(item, dict)) / n
    row_share = sum(1 for item in items if isinstance(item, list)) / n
    record_columns: list[_Column] | None = None
    if record_share >= 0.5:
        columns = _columns(items)
        if len(columns) < _MAX_FIELDS:  # every field was seen: the columnar error test is exact
            record_columns = columns
    elif row_share >= 0.5:
        columns = _positional_columns(items)
    else:
        columns = []
    # Nested record fields by dotted path: statistics, outliers, extremes, rare values.
    nested = _nested_columns(columns, cfg.nested_depth) if record_share >= 0.5 else []
    all_columns = columns + nested

    # The first reason given to an item wins; the order matters because "first"/"last"
    # items are context and may have long text cut, the others never do.
    errors = _error_indices(items, texts, record_columns)
    for i in errors[: max(0, cfg.max_error_items)]:
        mandatory.append((i, "error"))
    numeric_series: list[tuple[str | None, np.ndarray]] = [
        (c.name, c.numbers) for c in all_columns if c.numbers is not None
    ]
    if not columns and sum(1 for item in items if is_number(item)) >= 0.8 * n:
        numeric_series.append(
            (None, np.array([float(v) if is_number(v) else np.nan for v in items], dtype=np.float64))
        )

    outliers: list[tuple[float, int]] = []
    for _, series in numeric_series:
        outliers.extend(_robust_outliers(series, limit=5))
    outliers.sort(key=lambda pair: (-pair[0], pair[1]))
    already = {i for i, _ in mandatory}
    anomaly_count = 0
    for _, i in outliers:
        if anomaly_count >= cfg.max_anomalies:
            break
        if i not in already:
            anomaly_count += 1
            already.add(i)
        mandatory.append((i, "anomaly"))

    # Extremes: the rows holding each numeric field's maximum and minimum, the fields the
    # query names first ("magnitude" finds `mag`), at most `max_extreme_fields` fields.
    id_names = {c.name for c in all_columns if c.kind == "id"}
    extreme_series = _rank_series(numeric_series, id_names, ctx.query)
    values_by_name: dict[str | None, list[Any]] = {c.name: c.values for c in all_columns}
    values_by_name[None] = items
    for name, series in extreme_series[: max(0, cfg.max_extreme_fields)]:
        positions = _extreme_positions(series, values_by_name.get(name))
        if positions is not None:
            mandatory.extend((i, "extreme") for i in positions)

    if keys is not None:
        # Map keys the query names exactly (a version, an id) come before ranked matches.
        wanted = _query_tokens(ctx.query)
        exact = [i for i, key in enumerate(keys) if key.lower() in wanted][: max(0, cfg.relevant_items)]
        mandatory.extend((i, "query") for i in exact)
    relevant = _relevant(texts, ctx.query, cfg.relevant_items)
    for i in relevant:
        mandatory.append((i, "query"))
    for i in range(min(cfg.keep_first, n)):
        mandatory.append((i, "first"))
    for i in range(max(0, n - cfg.keep_last), n):
        mandatory.append((i, "last"))

    for i, reason in mandatory:
        selection.add(i, reason)
    important = {i for i, reason in selection.reasons.items() if reason not in ("first", "last")}

    optional: list[tuple[int, str]] = []
    for column in all_columns:
        if column.kind == "category" and column.counts is not None and column.keys is not None:
            optional.extend((i, "rare") for i in _rare_first_indices(column, n))
    for _, series in numeric_series[:6]:
        for cut in _change_points(series):
            optional.append((cut - 1, "change"))
            optional.append((cut, "change"))
    budget = max(cfg.max_items, len(selection.reasons) + 4)
    for i, reason in optional:
        if len(selection.reasons) >= budget:
            break
        if 0 <= i < n and selection.add(i, reason) and reason == "change":
            important.add(i)
    for i, reason in selection.reasons.items():
        if reason == "rare":
            important.add(i)

    keep = sorted(selection.reasons)
    dropped = n - len(keep)
    total_bytes = int(sizes.sum())
    long_bytes = _long_text_bytes(texts, cfg.truncate_chars)
    long_text = long_bytes >= 0.5 * total_bytes
    if dropped <= 0 and not long_text:
        return None
    dropped_bytes = total_bytes - int(sizes[keep].sum()) if keep else total_bytes
    if dropped_bytes < 400 and not long_text:
        return None  # a marker costs ~40 tokens: not worth it
    noun = "entries" if keys is not None else _noun(columns, numeric_series)
    head, stats = _summary(items, keep, selection.reasons, all_columns, extreme_series, errors, noun)
    return _Plan(path, items, keep, important, head, stats, table, long_text, noun, keys=keys)


def _rank_series(
    numeric_series: list[tuple[str | None, np.ndarray]], id_names: set[str], query: str | None
) -> list[tuple[str | None, np.ndarray]]:
    """Numeric series without unique ids, the ones the query names first."""
    series = [(name, values) for name, values in numeric_series if name not in id_names]
    named = _query_fields([name for name, _ in series if name is not None], query)
    if not named:
        return series
    order = {name: rank for rank, name in enumerate(named)}
    return sorted(series, key=lambda pair: order.get(pair[0], len(order)) if pair[0] is not None else 0)


_QUERY_TOKEN_EDGE = ".,;:!?\"'`()[]{}<>"


def _query_tokens(query: str | None) -> set[str]:
    """The query's whitespace-separated tokens, lowered, with surrounding punctuation removed."""
    if not query:
        return set()
    return {token.strip(_QUERY_TOKEN_EDGE).lower() for token in query[:2000].split()} - {""}


_MAX_BM25_CANDIDATES = 128

_CUT_DEPTH = 4
"""Long strings are cut down to this depth inside an item (top-level fields are depth 1)."""


def _cut_text(value: str, limit: int) -> str:
    cut = value[:limit]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip() + _ELLIPSIS


def _cut_item(item: Any, limit: int, depth: int = 0) -> tuple[Any, bool]:
    """`item` with every string longer than `limit` + 40 cut to about `limit` characters."""
    if isinstance(item, str):
        return (_cut_text(item, limit), True) if len(item) > limit + 40 else (item, False)
    if depth >= _CUT_DEPTH:
        return item, False
    if isinstance(item, dict):
        pairs = [(key, _cut_item(value, limit, depth + 1)) for key, value in item.items()]
        if not any(changed for _, (_, changed) in pairs):
            return item, False
        return {key: value for key, (value, _) in pairs}, True
    if isinstance(item, list):
        results = [_cut_item(value, limit, depth + 1) for value in item]
        if not any(changed for _, changed in results):
            return item, False
        return [value for value, _ in results], True
    return item, False


# --------------------------------------------------------------------------- summary line


def _noun(columns: list[_Column], numeric_series: list[Any]) -> str:
    return "rows" if columns else ("numbers" if numeric_series else "items")


_SUMMARY_NUMERIC_FIELDS = 3
"""Numeric fields stated as min / median / max in a marker (query-named fields first)."""


def _number_text(value: Any, fallback: float) -> str:
    """A value as written (exact numbers keep every digit), else formatted for reading."""
    if isinstance(value, ExactNumber):
        return value.text
    return _fmt_num(fallback)


def _summary(
    items: list[Any],
    keep: list[int],
    reasons: dict[int, str],
    columns: list[_Column],
    numeric_series: list[tuple[str | None, np.ndarray]],
    errors: list[int],
    noun: str,
) -> tuple[str, list[str]]:
    """The marker's text. `numeric_series` excludes unique ids and is ranked (query first)."""
    n = len(items)
    kept = set(keep)
    head = f"{n - len(keep):,} of {n:,} {noun} omitted"
    parts: list[str] = []
    why = Counter(reasons.values())
    labels = (
        ("first", "first"),
        ("last", "last"),
        ("error", "errors"),
        ("anomaly", "outliers"),
        ("extreme", "extremes"),
        ("query", "query matches"),
        ("change", "change points"),
        ("rare", "rare values"),
    )
    kept_parts = [f"{label} {why[reason]}" for reason, label in labels if why.get(reason)]
    error_total = len(errors)
    if error_total and error_total > why.get("error", 0):
        kept_parts.append(f"{error_total - why.get('error', 0)} more errors not shown")
    if kept_parts:
        head += " (kept: " + ", ".join(kept_parts) + ")"
    categories = [c for c in columns if c.kind == "category" and c.counts is not None]
    # Status-like fields first, then fields with several values (fewest first), constants last.
    categories.sort(
        key=lambda c: (
            c.name.rsplit(".", 1)[-1].lower() not in _STATUS_KEYS,
            len(c.counts or ()) == 1,
            len(c.counts or ()),
            c.name,
        )
    )
    for column in categories[:3]:
        assert column.counts is not None and column.keys is not None
        kept_counts = Counter(column.keys[i] for i in kept if column.keys[i] is not None)
        ranked = sorted(column.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if len(ranked) == 1:
            parts.append(f"{_short(column.name, 32)}: always {_short(ranked[0][0])}")
            continue
        shown = []
        for value, count in ranked[:4]:
            note = ""
            if kept_counts.get(value) == count and count * 2 < n:
                note = " (all kept)"
            shown.append(f"{_short(value)} x{count:,}{note}")
        if len(ranked) > 4:
            shown.append(f"{len(ranked) - 4} more values")
        parts.append(f"{_short(column.name, 32)}: " + ", ".join(shown))
    id_columns = [c for c in columns if c.kind == "id"]
    if id_columns:
        column = id_columns[0]
        present = [v for v in column.values if v is not _MISSING]
        parts.append(f"{_short(column.name, 32)}: unique, {_short(present[0])} to {_short(present[-1])}")
    values_by_name = {c.name: c.values for c in columns}
    shown_numeric = 0
    for name, series in numeric_series:
        if shown_numeric >= _SUMMARY_NUMERIC_FIELDS:
            break
        values = items if name is None else values_by_name.get(name, items)
        positions = _extreme_positions(series, values)
        if positions is None:
            continue
        high, low = (_number_text(values[i], float(series[i])) for i in positions)
        median = _fmt_num(_median(series[np.isfinite(series)]))
        label = _short(name, 40) + ": " if name is not None else ""
        parts.append(f"{label}min {low}, median {median}, max {high}")
        shown_numeric += 1
    if not columns and not numeric_series:
        strings = [item for item in items if isinstance(item, str)]
        if strings:
            parts.append(f"{len(set(strings)):,} distinct strings")
    return head, parts
