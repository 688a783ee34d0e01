"""The table codec: how a uniform array of records is written as a table, and read back.

It owns both table forms' formats (docs/compressors/json.md, "Output forms"): the text
table that starts with `TABLE_HEADER_PREFIX`, and the embedded table object marked by
`TABLE_KEY`. Header lines, in this order, each optional:

* `constant: {...}`: fields with the same value in every row;
* `sequence: {"id": [start, step]}`: integer fields that are `start + step * i` in row
  `i` (ids 1..N), only in a table that holds every row;
* `template: {"url": "https://x/items/{id}"}`: string fields that are another field's
  value inside fixed text;
* `order: [...]`: the records' key order, when the above would not rebuild it.

Then the field line and one JSON row per item (marker and gap lines in between).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from headroom_core.compressors.json._numbers import ExactNumber, dumpb, dumps, loads

TABLE_HEADER_PREFIX = "[headroom table: "
"""First line of the lossless text table form (docs/compressors/json.md)."""
TABLE_KEY = "_headroom_table"
"""The key that marks an embedded table object inside JSON output."""


@dataclass
class _Table:
    """How a uniform array of records is written as a table."""

    fields: list[str]
    """Every field of the records, in first-row order."""
    columns: list[str]
    """Fields written per row (not constant, not templated)."""
    constants: dict[str, Any]
    templates: dict[str, str]
    sequences: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Integer fields that are `start + step * row` (row counted from 0 over every row)."""

    def without_sequences(self) -> _Table:
        """The layout for a table that shows only some rows: sequences written per row."""
        if not self.sequences:
            return self
        columns = [f for f in self.fields if f not in self.constants and f not in self.templates]
        return replace(self, columns=columns, sequences={})


def _uniform_records(items: Sequence[Any]) -> list[str] | None:
    if not items or not isinstance(items[0], dict) or not items[0]:
        return None
    first_keys = items[0].keys()
    for item in items:
        if not isinstance(item, dict) or item.keys() != first_keys:
            return None
    return list(first_keys)


def _same_value(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, (dict, list)):
        return dumpb(a) == dumpb(b)
    return a == b


def _table_for(items: Sequence[Any], min_rows: int) -> _Table | None:
    """The table layout of a uniform record array, or None if the records are not uniform."""
    if len(items) < max(2, min_rows):
        return None
    fields = _uniform_records(items)
    if fields is None:
        return None
    first = items[0]
    constants: dict[str, Any] = {}
    for name in fields:
        v0 = first[name]
        if all(_same_value(item[name], v0) for item in items):
            constants[name] = v0
    templates = _templates(items, fields, constants)
    sequences = _sequences(items, fields, constants, templates)
    columns = [f for f in fields if f not in constants and f not in templates and f not in sequences]
    if not columns and sequences:
        # Rows need one value to stand for their item: keep the first sequence per row.
        first = next(iter(sequences))
        sequences = {name: spec for name, spec in sequences.items() if name != first}
        columns = [first]
    return _Table(fields, columns, constants, templates, sequences)


def _sequences(
    items: Sequence[dict[str, Any]], fields: list[str], constants: dict[str, Any], templates: dict[str, str]
) -> dict[str, tuple[int, int]]:
    """Integer fields that step by a fixed amount from row to row (ids 1..N)."""
    found: dict[str, tuple[int, int]] = {}
    first, second = items[0], items[1]
    for name in fields:
        if name in constants or name in templates:
            continue
        a, b = first[name], second[name]
        if type(a) is not int or type(b) is not int or a == b:
            continue
        step = b - a
        expected = a
        for item in items:
            value = item[name]
            if type(value) is not int or value != expected:
                break
            expected += step
        else:
            found[name] = (a, step)
    return found


def _templates(
    items: Sequence[dict[str, Any]], fields: list[str], constants: dict[str, Any]
) -> dict[str, str]:
    """String fields that are another field's value inside fixed text (URLs with the item id)."""
    varying = [f for f in fields if f not in constants and "{" not in f and "}" not in f]
    first = items[0]
    sources = [
        f
        for f in varying
        if all(
            (isinstance(item[f], int) and not isinstance(item[f], bool))
            # Short strings only: a long source could be cut in 'cut' mode, and the
            # templated field must expand from the value actually shown.
            or (isinstance(item[f], str) and 0 < len(item[f]) <= 64)
            for item in items
        )
    ][:8]
    targets = [f for f in varying if all(isinstance(item[f], str) for item in items)][:32]
    found: dict[str, str] = {}
    used_sources: set[str] = set()
    for target in targets:
        if target in used_sources:
            continue
        value0 = first[target]
        for source in sources:
            if source == target or source in found:
                continue
            piece = str(first[source])
            placeholder = "{" + source + "}"
            if piece not in value0 or placeholder in value0:
                continue
            if any("{" + other + "}" in value0 for other in fields):
                continue  # literal text that looks like a placeholder: not unambiguous
            cut = value0.rfind(piece)
            candidates = [value0.replace(piece, placeholder)]
            last_only = value0[:cut] + placeholder + value0[cut + len(piece) :]
            if last_only != candidates[0]:
                candidates.append(last_only)
            for template in candidates:
                if all(template.replace(placeholder, str(item[source])) == item[target] for item in items):
                    found[target] = template
                    used_sources.add(source)
                    break
            if target in found:
                break
    return found


def expand_table_rows(table: _Table | dict[str, Any], rows: Sequence[Any]) -> list[Any]:
    """Rebuild records from table rows (marker strings between rows are passed through).

    `table` is a `_Table` or the header of an embedded table object
    (`{"fields": [...], "constant": {...}, "template": {...}}`).
    """
    fields: list[str] | None
    if isinstance(table, _Table):
        columns, constants, templates, fields = table.columns, table.constants, table.templates, table.fields
        sequences = table.sequences
    else:
        columns = table["fields"]
        constants = table.get("constant", {})
        templates = table.get("template", {})
        fields = table.get("order")
        sequences = {name: tuple(spec) for name, spec in (table.get("sequence") or {}).items()}
    out: list[Any] = []
    row_number = 0
    for row in rows:
        if not isinstance(row, list):
            out.append(row)
            continue
        record = dict(zip(columns, row))
        for name, (start, step) in sequences.items():
            record[name] = start + step * row_number
        row_number += 1
        record.update(constants)
        for name, template in templates.items():
            # A template names exactly one source field; substitute only that one.
            source = next((f for f in record if "{" + f + "}" in template), None)
            record[name] = (
                template if source is None else template.replace("{" + source + "}", str(record[source]))
            )
        if fields is not None:
            record = {f: record[f] for f in fields}
        out.append(record)
    return out


def parse_table_text(text: str) -> dict[str, Any]:
    """Parse the text table form: {'header', 'constant', 'sequence', 'template', 'order', 'fields', 'rows'}.

    `rows` holds one list per row line, and the marker/gap lines as strings, in order.
    Raises ValueError if `text` is not in the table form.
    """
    lines = text.split("\n")
    if not lines or not lines[0].startswith(TABLE_HEADER_PREFIX) or not lines[0].endswith("]"):
        raise ValueError("not a headroom table: the first line must be the table header")
    result: dict[str, Any] = {
        "header": lines[0],
        "constant": {},
        "sequence": {},
        "template": {},
        "order": None,
        "fields": None,
        "rows": [],
    }
    for line in lines[1:]:
        if result["fields"] is None:
            for meta in ("constant", "sequence", "template", "order"):
                if line.startswith(meta + ": "):
                    result[meta] = loads(line[len(meta) + 2 :])
                    break
            else:
                if line.startswith("[headroom:") or line.startswith("("):
                    result["rows"].append(line)
                    continue
                fields = orjson.loads(line)
                if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
                    raise ValueError("the field line must be a JSON array of strings")
                result["fields"] = fields
            continue
        if line.startswith("[headroom:") or line.startswith("("):
            result["rows"].append(line)
            continue
        row = loads(line)
        if not isinstance(row, list) or len(row) != len(result["fields"]):
            raise ValueError(f"bad table row: {line[:80]!r}")
        result["rows"].append(row)
    if result["fields"] is None:
        raise ValueError("a headroom table needs a field line")
    return result


def expand_output(text: str) -> Any:
    """The JSON value a crusher output stands for, with every table turned back into records.

    For a lossless output this equals the original document; a lossy one still holds its
    marker and gap strings where items were dropped. Numbers that a double cannot hold
    come back as `ExactNumber` (a float that keeps its source text). Raises ValueError on
    other text.
    """
    if text.startswith(TABLE_HEADER_PREFIX):
        parsed = parse_table_text(text)
        return expand_table_rows(parsed, parsed["rows"])
    return _expand_embedded(loads(text))


def _expand_embedded(node: Any) -> Any:
    if isinstance(node, dict):
        if TABLE_KEY in node and isinstance(node.get("rows"), list) and isinstance(node.get("fields"), list):
            return expand_table_rows(node, node["rows"])
        return {k: _expand_embedded(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_embedded(v) for v in node]
    return node


def _table_row(table: _Table, record: dict[str, Any]) -> list[Any]:
    return [record[name] for name in table.columns]


def _table_description(table: _Table, n_rows: int, shown: int | None) -> str:
    text = f"{n_rows:,} rows x {len(table.fields)} fields"
    if shown is not None and shown != n_rows:
        text += f", {shown:,} shown"
    return text


def _embedded_table(table: _Table, rows: list[Any], n_rows: int, shown: int | None) -> dict[str, Any]:
    obj: dict[str, Any] = {TABLE_KEY: _table_description(table, n_rows, shown)}
    if table.constants:
        obj["constant"] = table.constants
    if table.sequences:
        obj["sequence"] = {name: list(spec) for name, spec in table.sequences.items()}
    if table.templates:
        obj["template"] = table.templates
    if _needs_order(table):
        obj["order"] = table.fields
    obj["fields"] = table.columns
    obj["rows"] = rows
    return obj


def _needs_order(table: _Table) -> bool:
    """True when the rows' fields and the header fields would not rebuild the key order."""
    return [*table.columns, *table.sequences, *table.constants, *table.templates] != table.fields


def _text_table(table: _Table, lines: list[str], n_rows: int, shown: int | None) -> str:
    head = [TABLE_HEADER_PREFIX + _table_description(table, n_rows, shown) + "]"]
    if table.constants:
        head.append("constant: " + dumps(table.constants))
    if table.sequences:
        head.append("sequence: " + dumps({name: list(spec) for name, spec in table.sequences.items()}))
    if table.templates:
        head.append("template: " + dumps(table.templates))
    if _needs_order(table):
        head.append("order: " + dumps(table.fields))
    head.append(dumps(table.columns))
    return "\n".join(head + lines)


__all__ = [
    "TABLE_HEADER_PREFIX",
    "TABLE_KEY",
    "ExactNumber",
    "expand_output",
    "expand_table_rows",
    "parse_table_text",
]
