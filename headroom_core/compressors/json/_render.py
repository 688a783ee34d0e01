"""Rendering: a plan or a table becomes output text, the rest of the document is minified."""

from __future__ import annotations

from typing import Any

from headroom_core.compressors.json._numbers import dumps
from headroom_core.compressors.json._plan import _Plan
from headroom_core.compressors.json._table import _embedded_table, _Table, _table_row, _text_table

# --------------------------------------------------------------------------- rendering


def _gap_text(count: int, noun: str) -> str:
    return f"({count:,} more {noun} omitted)"


def _pieces(plan: _Plan, marker: str) -> list[tuple[str, Any]]:
    """The plan's output sequence: ('item', index) and ('text', string) entries."""
    out: list[tuple[str, Any]] = []
    if plan.mode == "cut":
        out.append(("text", marker))
        out.extend(("item", i) for i in range(len(plan.items)))
        return out
    noun = plan.noun
    previous = -1
    first_gap = True
    for i in plan.keep:
        if i > previous + 1:
            out.append(("text", marker if first_gap else _gap_text(i - previous - 1, noun)))
            first_gap = False
        out.append(("item", i))
        previous = i
    if previous < len(plan.items) - 1:
        gap = len(plan.items) - 1 - previous
        out.append(("text", marker if first_gap else _gap_text(gap, noun)))
    return out


def _plan_item(plan: _Plan, index: int, limit: int) -> Any:
    item = plan.items[index]
    # Context items (first/last, or every item in 'cut' mode) lose their long text;
    # errors, outliers and query matches never do.
    if index not in plan.important:
        item, _ = plan.cut_item(index, limit)
    return item


class _Replacement:
    """A rendered array: a JSON value, or the text table form when it is the whole document."""

    def __init__(self, value: Any, text: str | None = None) -> None:
        self.value = value
        self.text = text


def _render_plan(plan: _Plan, marker: str, limit: int, is_root: bool) -> _Replacement:
    pieces = _pieces(plan, marker)
    shown = sum(1 for kind, _ in pieces if kind == "item")
    # Sequences (ids 1..N stated once) only in lossless tables: a reduced table shows every
    # id in its row, so that the model never has to count rows to know an item's id.
    table = None if plan.table is None else plan.table.without_sequences()
    if plan.keys is not None:
        return _Replacement(_map_value(plan, pieces, limit))
    if table is None:
        values = [_plan_item(plan, i, limit) if kind == "item" else i for kind, i in pieces]
        return _Replacement(values)
    if is_root:
        lines = [
            dumps(_table_row(table, _plan_item(plan, i, limit))) if kind == "item" else i
            for kind, i in pieces
        ]
        return _Replacement(None, _text_table(table, lines, len(plan.items), shown))
    rows = [_table_row(table, _plan_item(plan, i, limit)) if kind == "item" else i for kind, i in pieces]
    return _Replacement(_embedded_table(table, rows, len(plan.items), shown))


def _map_value(plan: _Plan, pieces: list[tuple[str, Any]], limit: int) -> dict[str, Any]:
    """A crushed map: the kept entries in order, the marker and gap notes as entries of
    their own under keys that the map does not use (the output stays valid JSON)."""
    assert plan.keys is not None
    keys = plan.keys
    taken = set(keys)
    out: dict[str, Any] = {}
    notes = 0
    for kind, value in pieces:
        if kind == "item":
            out[keys[value]] = _plan_item(plan, value, limit)
            continue
        notes += 1
        note_key = "_headroom" if notes == 1 else f"_headroom_{notes}"
        while note_key in taken:
            note_key = "_" + note_key
        out[note_key] = value
    return out


def _render_table(items: list[Any], table: _Table, is_root: bool) -> _Replacement:
    if is_root:
        lines = [dumps(_table_row(table, item)) for item in items]
        return _Replacement(None, _text_table(table, lines, len(items), None))
    rows = [_table_row(table, item) for item in items]
    return _Replacement(_embedded_table(table, rows, len(items), None))


def _substitute(
    node: Any, path: tuple[Any, ...], replacements: dict[tuple[Any, ...], Any], prefixes: set[tuple[Any, ...]]
) -> Any:
    """A copy of `node` with replaced arrays; only the branches leading to them are copied."""
    if path in replacements:
        return replacements[path]
    if path not in prefixes:
        return node
    if isinstance(node, dict):
        return {k: _substitute(v, (*path, k), replacements, prefixes) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, (*path, i), replacements, prefixes) for i, v in enumerate(node)]
    return node


def _assemble(doc: Any, replacements: dict[tuple[Any, ...], _Replacement]) -> str:
    root = replacements.get(())
    if root is not None and root.text is not None:
        return root.text
    values = {path: r.value for path, r in replacements.items()}
    prefixes = {path[:i] for path in values for i in range(len(path))}
    return dumps(_substitute(doc, (), values, prefixes))
