"""SmartCrusher: statistical compression of JSON tool outputs (arrays of records and scalars).

The document is parsed once with orjson. Every large array anywhere in it is analysed
column by column (constant fields, fields that follow a template of another field,
numeric and categorical distributions, unique ids) and then either

* written *losslessly* as a compact table (one header of field names, one JSON row per
  item, constants and templates stated once), when that alone meets
  `JsonConfig.target_ratio`; or
* *reduced*: all items kept with long text cut (when that meets the target), else only
  the items that matter kept (first/last few, errors, numeric outliers, change points,
  query matches, rare categories), still in table form when the records are uniform.

Whatever is dropped is counted in one summary line inside a CCR marker; the whole
original text is stashed once, so `retrieve(key)` is byte-identical and
`retrieve(key, query=...)` finds individual items through the stashed `paths`.

Output forms are documented in `docs/compressors/json.md`:

* JSON (valid, minified). Dropped items leave a marker string at the first gap of the
  array and a short "(N more rows omitted)" string at each later gap. Nested uniform arrays
  become an embedded table object `{"_headroom_table": ..., "fields": [...], "rows": [...]}`.
* The text table form, for a top-level array of uniform records::

      [headroom table: 2,000 rows x 6 fields]
      constant: {"currency":"usd"}
      template: {"url":"https://api.x/items/{id}"}
      ["id","name","amount","status"]
      [1,"a",3.5,"ok"]

Sizes are estimated from bytes and a few sampled tokenizer calls; no per-item token
counting, no quadratic steps.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import orjson

from headroom_core import _ccr
from headroom_core._ccr import TABLE_HEADER_PREFIX
from headroom_core._relevance import bm25_scores, terms
from headroom_core.compressors._base import CompressContext, Compressed

TABLE_KEY = "_headroom_table"
_ELLIPSIS = "…"

# --------------------------------------------------------------------------- error detection

_ERROR_KEYS = frozenset(
    [
        "error",
        "errors",
        "err",
        "exception",
        "exc",
        "exc_info",
        "traceback",
        "stacktrace",
        "stack_trace",
        "fault",
        "failure",
        "failures",
        "error_message",
        "errormessage",
        "error_msg",
        "errmsg",
        "error_code",
        "errorcode",
    ]
)
_STATUS_KEYS = frozenset(
    [
        "status",
        "state",
        "level",
        "severity",
        "result",
        "outcome",
        "conclusion",
        "health",
        "lvl",
        "loglevel",
        "log_level",
        "levelname",
        "level_name",
        "phase",
        "verdict",
        "status_text",
        "statustext",
    ]
)
_HTTP_STATUS_KEYS = frozenset(
    [
        "status",
        "status_code",
        "statuscode",
        "http_status",
        "httpstatus",
        "code",
        "response_code",
        "responsecode",
    ]
)
_FALSE_MEANS_ERROR = frozenset(["success", "succeeded", "ok", "passed", "healthy"])
_MESSAGE_KEYS = frozenset(
    [
        "message",
        "msg",
        "detail",
        "details",
        "reason",
        "stderr",
        "log",
        "output",
        "error_message",
        "errormessage",
    ]
)
_ERROR_VALUE = re.compile(
    r"(?i)(?:error|err|errored|fatal|failed|failure|fail|failing|critical|crit|crashed|crash|"
    r"panic|emerg|emergency|alert|exception|timeout|timed[ _-]?out|aborted|unhealthy|severe|"
    r"down|broken|rejected|declined)"
)
_EXCEPTION_TEXT = re.compile(
    r"Traceback \(most recent call last\)|[A-Za-z0-9_](?:Exception|Error)(?::|\s+at\b)|\bpanic:|"
    r"\bFATAL\b|\bERROR\b|\bSIGSEGV\b|\bsegfault\b|\bOOMKilled\b|out of memory"
)
_LOG_LINE_ERROR = re.compile(
    r"\b(?:ERROR|FATAL|CRITICAL|CRIT|PANIC|SEVERE|EMERG|ALERT)\b|Traceback \(most recent call last\)|"
    r"[A-Za-z0-9_](?:Exception|Error):|\bpanic:|\b[Ff]ailed\b|\b[Ff]ailure\b"
)


def _is_error_record(record: dict[str, Any], depth: int = 0) -> bool:
    """Error keys with a value, failed/error statuses, 5xx codes, exception text."""
    for key, value in record.items():
        low = key.lower()
        if low in _ERROR_KEYS and value:
            return True
        if isinstance(value, str):
            if low in _STATUS_KEYS and len(value) <= 40 and _ERROR_VALUE.fullmatch(value.strip()):
                return True
            if low in _MESSAGE_KEYS and _EXCEPTION_TEXT.search(value):
                return True
        elif value is False:
            if low in _FALSE_MEANS_ERROR:
                return True
        elif isinstance(value, int):
            if low in _HTTP_STATUS_KEYS and 500 <= value <= 599:
                return True
        elif isinstance(value, dict) and depth < 2 and _is_error_record(value, depth + 1):
            return True
    return False


def _is_error_item(item: Any, text: str) -> bool:
    if isinstance(item, dict):
        return _is_error_record(item)
    if isinstance(item, str):
        return bool(_LOG_LINE_ERROR.search(item))
    if isinstance(item, list):
        return bool(_LOG_LINE_ERROR.search(text))
    return False


def _error_indices(items: Sequence[Any], texts: Sequence[str], columns: list[_Column] | None) -> list[int]:
    """Indices of error-like items. With record columns the test runs column by column:
    only error/status/message-like fields are looked at, and each distinct status value is
    matched once (the same verdicts as `_is_error_record`, much cheaper on large arrays)."""
    n = len(items)
    if columns is None:
        return [i for i in range(n) if _is_error_item(items[i], texts[i])]
    flagged = [False] * n
    for column in columns:
        low = column.name.lower()
        error_key = low in _ERROR_KEYS
        status_key = low in _STATUS_KEYS
        message_key = low in _MESSAGE_KEYS
        false_key = low in _FALSE_MEANS_ERROR
        http_key = low in _HTTP_STATUS_KEYS
        values = column.values
        interesting = error_key or status_key or message_key or false_key or http_key
        if not interesting and not any(type(v) is dict for v in values):
            continue
        verdicts: dict[str, bool] = {}
        for i, value in enumerate(values):
            if flagged[i] or value is _MISSING:
                continue
            if error_key and value:
                flagged[i] = True
            elif type(value) is str:
                if status_key and len(value) <= 40:
                    verdict = verdicts.get(value)
                    if verdict is None:
                        verdict = verdicts[value] = bool(_ERROR_VALUE.fullmatch(value.strip()))
                    flagged[i] = verdict
                if message_key and not flagged[i]:
                    flagged[i] = bool(_EXCEPTION_TEXT.search(value))
            elif value is False:
                flagged[i] = false_key
            elif type(value) is int:
                flagged[i] = http_key and 500 <= value <= 599
            elif type(value) is dict:
                flagged[i] = _is_error_record(value, 1)
    for i, item in enumerate(items):
        if not flagged[i] and not isinstance(item, dict):
            flagged[i] = _is_error_item(item, texts[i])
    return [i for i in range(n) if flagged[i]]


# --------------------------------------------------------------------------- small helpers


def _fmt_num(x: float) -> str:
    if not math.isfinite(x) or abs(x) >= 1e15 or (x != 0 and abs(x) < 1e-3):
        return f"{x:.4g}"
    if x == int(x):
        return f"{int(x):,}"
    if abs(x) >= 1:
        return f"{x:,.2f}".rstrip("0").rstrip(".")
    return f"{x:.4g}"


def _short(value: Any, limit: int = 24) -> str:
    """A value as it may appear in a one-line summary (no newlines, no brackets, short)."""
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    text = re.sub(r"\s+", " ", text).replace("[", "(").replace("]", ")")
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _robust_outliers(x: np.ndarray, limit: int) -> list[tuple[float, int]]:
    """(strength, position) of robust outliers: |modified z| > 3.5 by median/MAD."""
    finite = np.isfinite(x)
    if finite.sum() < 8:
        return []
    values = x[finite]
    positions = np.flatnonzero(finite)
    if values.min() > 0:
        p10, p50, p90 = np.percentile(values, [10, 50, 90])
        if p90 - p50 > 1.25 * (p50 - p10):
            # Right-skewed positive data (amounts, latencies, sizes): deviations are
            # multiplicative, so judge them on a log scale; this also finds the 3-cent
            # payment among 30-euro ones. Symmetric data (scores 1-40) stays linear.
            values = np.log(values)
    median = float(np.median(values))
    deviation = np.abs(values - median)
    mad = float(np.median(deviation))
    if mad > 0:
        strength = 0.6745 * deviation / mad
        flagged = np.flatnonzero(strength > 3.5)
    else:
        # Mostly one value: anything else is an outlier when it is rare.
        flagged = np.flatnonzero(deviation > 0)
        if flagged.size > max(1, values.size // 20):
            return []
        scale = max(abs(median), 1.0)
        strength = 3.5 + deviation / scale
    if flagged.size == 0:
        return []
    order = flagged[np.lexsort((flagged, -strength[flagged]))][:limit]
    return [(float(strength[i]), int(positions[i])) for i in order]


def _change_points(x: np.ndarray, max_points: int = 2, min_segment: int = 5) -> list[int]:
    """Positions where the level of an ordered numeric series shifts (binary segmentation)."""
    finite = np.isfinite(x)
    if finite.sum() < 2 * min_segment:
        return []
    positions = np.flatnonzero(finite)
    values = x[finite]
    # Clip outliers first: a single spike is an anomaly (kept elsewhere), not a level shift.
    median = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - median)))
    if spread > 0:
        values = np.clip(values, median - 5 * spread, median + 5 * spread)
    steps = np.diff(values)
    if np.all(steps >= 0) or np.all(steps <= 0):
        return []  # monotonic (ids, timestamps, sorted columns): a trend, not a shift
    sigma = 1.4826 * float(np.median(np.abs(steps - np.median(steps)))) / math.sqrt(2)
    if sigma <= 0:
        sigma = 0.05 * float(np.std(values))
    if sigma <= 0:
        return []
    segments = [(0, values.size)]
    found: list[int] = []
    for _ in range(max_points):
        best: tuple[float, int, int] | None = None
        for si, (a, b) in enumerate(segments):
            m = b - a
            if m < 2 * min_segment:
                continue
            cumulative = np.cumsum(values[a:b])
            k = np.arange(min_segment, m - min_segment + 1)
            left = cumulative[k - 1] / k
            right = (cumulative[-1] - cumulative[k - 1]) / (m - k)
            shift = np.abs(left - right)
            stat = shift / (sigma * np.sqrt(1.0 / k + 1.0 / (m - k)))
            j = int(np.argmax(stat))
            if stat[j] > 8.0 and shift[j] > 3.0 * sigma and (best is None or stat[j] > best[0]):
                best = (float(stat[j]), si, a + int(k[j]))
        if best is None:
            break
        _, si, cut = best
        a, b = segments.pop(si)
        segments[si:si] = [(a, cut), (cut, b)]
        found.append(cut)
    return sorted(int(positions[c]) for c in found)


# --------------------------------------------------------------------------- columns and tables


_MISSING = object()


@dataclass
class _Column:
    name: str
    values: list[Any]
    """One per item of the array (`_MISSING` where absent or not a record)."""
    present: int
    kind: str
    """'numeric', 'category', 'id', 'text' or 'other'."""
    numbers: np.ndarray | None = None
    counts: Counter[str] | None = None
    keys: list[str | None] | None = None
    """Category key per item (None where absent)."""


_MAX_FIELDS = 64


def _columns(items: Sequence[Any], max_fields: int = _MAX_FIELDS) -> list[_Column]:
    n = len(items)
    raw: dict[str, list[Any]] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            column = raw.get(key)
            if column is None:
                if len(raw) >= max_fields:
                    continue
                column = raw[key] = [_MISSING] * n
            column[i] = value
    return [_describe(name, values) for name, values in raw.items()]


def _positional_columns(items: Sequence[Any], max_fields: int = 64) -> list[_Column]:
    """Columns of an array of rows (`[[1, "a"], [2, "b"]]`), named `#0`, `#1`, ..."""
    widths = Counter(len(item) for item in items if isinstance(item, list))
    width = min(max(widths.items(), key=lambda kv: (kv[1], -kv[0]))[0], max_fields)
    if width == 0:
        return []
    n = len(items)
    raw = [[_MISSING] * n for _ in range(width)]
    for i, item in enumerate(items):
        if isinstance(item, list) and len(item) >= width:
            for j in range(width):
                raw[j][i] = item[j]
    return [_describe(f"#{j}", values) for j, values in enumerate(raw)]


def _describe(name: str, values: list[Any]) -> _Column:
    n = len(values)
    present = [v for v in values if v is not _MISSING]
    column = _Column(name, values, len(present), "other")
    if not present:
        return column
    # Inline type tests (no helper calls): this runs once per value of large arrays.
    numeric = sum(1 for v in present if type(v) is int or type(v) is float)
    if numeric >= 0.8 * len(present):
        column.numbers = np.array(
            [float(v) if type(v) is int or type(v) is float else np.nan for v in values], dtype=np.float64
        )
        with np.errstate(over="ignore", invalid="ignore"):
            column.numbers[~np.isfinite(column.numbers)] = np.nan
        column.kind = "numeric"
        if numeric == n > 1 and all(type(v) is int for v in present) and len(set(present)) == n:
            column.kind = "id"  # numbers stay available for outlier detection
        return column
    keys = [
        v if type(v) is str and len(v) <= 64 else ("true" if v is True else "false" if v is False else None)
        for v in values
    ]
    keyed = [k for k in keys if k is not None]
    if len(keyed) == len(present) and len(present) == n and len(set(keyed)) == n and n > 1:
        column.kind = "id"
        column.keys = keys
        return column
    if len(keyed) >= 0.8 * len(present) and len(present) >= 0.5 * n:
        counts = Counter(keyed)
        if len(counts) <= max(2, min(50, n // 4)):
            column.kind = "category"
            column.counts = counts
            column.keys = keys
            return column
    if all(isinstance(v, str) for v in present):
        column.kind = "text"
    return column


@dataclass
class _Table:
    """How a uniform array of records is written as a table."""

    fields: list[str]
    """Every field of the records, in first-row order."""
    columns: list[str]
    """Fields written per row (not constant, not templated)."""
    constants: dict[str, Any]
    templates: dict[str, str]


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
        return orjson.dumps(a) == orjson.dumps(b)
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
    columns = [f for f in fields if f not in constants and f not in templates]
    return _Table(fields, columns, constants, templates)


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
    if isinstance(table, _Table):
        columns, constants, templates, fields = table.columns, table.constants, table.templates, table.fields
    else:
        columns = table["fields"]
        constants = table.get("constant", {})
        templates = table.get("template", {})
        fields = table.get("order")
    out: list[Any] = []
    for row in rows:
        if not isinstance(row, list):
            out.append(row)
            continue
        record = dict(zip(columns, row))
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
    """Parse the text table form: {'header', 'constant', 'template', 'fields', 'rows'}.

    `rows` holds one list per row line, and the marker/gap lines as strings, in order.
    Raises ValueError if `text` is not in the table form.
    """
    lines = text.split("\n")
    if not lines or not lines[0].startswith(TABLE_HEADER_PREFIX) or not lines[0].endswith("]"):
        raise ValueError("not a headroom table: the first line must be the table header")
    result: dict[str, Any] = {
        "header": lines[0],
        "constant": {},
        "template": {},
        "order": None,
        "fields": None,
        "rows": [],
    }
    for line in lines[1:]:
        if result["fields"] is None:
            for meta in ("constant", "template", "order"):
                if line.startswith(meta + ": "):
                    result[meta] = orjson.loads(line[len(meta) + 2 :])
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
        row = orjson.loads(line)
        if not isinstance(row, list) or len(row) != len(result["fields"]):
            raise ValueError(f"bad table row: {line[:80]!r}")
        result["rows"].append(row)
    if result["fields"] is None:
        raise ValueError("a headroom table needs a field line")
    return result


def expand_output(text: str) -> Any:
    """The JSON value a crusher output stands for, with every table turned back into records.

    For a lossless output this equals the original document; a lossy one still holds its
    marker and gap strings where items were dropped. Raises ValueError on other text.
    """
    if text.startswith(TABLE_HEADER_PREFIX):
        parsed = parse_table_text(text)
        return expand_table_rows(parsed, parsed["rows"])
    return _expand_embedded(orjson.loads(text))


def _expand_embedded(node: Any) -> Any:
    if isinstance(node, dict):
        if TABLE_KEY in node and isinstance(node.get("rows"), list) and isinstance(node.get("fields"), list):
            return expand_table_rows(node, node["rows"])
        return {k: _expand_embedded(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_embedded(v) for v in node]
    return node


# --------------------------------------------------------------------------- array plans


@dataclass
class _Plan:
    """What to do with one large array."""

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
    items: list[Any], path: tuple[Any, ...], ctx: CompressContext, table: _Table | None
) -> _Plan | None:
    """Choose what to keep from one array; None when dropping would not pay."""
    cfg = ctx.config.json
    n = len(items)
    texts = [_dumps(item) for item in items]
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

    # The first reason given to an item wins; the order matters because "first"/"last"
    # items are context and may have long text cut, the others never do.
    errors = _error_indices(items, texts, record_columns)
    for i in errors[: max(0, cfg.max_error_items)]:
        mandatory.append((i, "error"))
    numeric_series: list[tuple[str | None, np.ndarray]] = [
        (c.name, c.numbers) for c in columns if c.numbers is not None
    ]
    if not columns and sum(1 for item in items if _is_number(item)) >= 0.8 * n:
        numeric_series.append(
            (None, np.array([float(v) if _is_number(v) else np.nan for v in items], dtype=np.float64))
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
    for column in columns:
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
    head, stats = _summary(items, keep, selection.reasons, columns, numeric_series, errors)
    return _Plan(path, items, keep, important, head, stats, table, long_text, _noun(columns, numeric_series))


_MAX_BM25_CANDIDATES = 128
_MAX_QUERY_TERMS = 48
_BM25_CHARS = 1200


def _relevant(texts: list[str], query: str | None, k: int) -> list[int]:
    """Items that match the query: BM25 over the items that contain a selective query term.

    A term found (as a substring) in more than ~37% of the items has an idf below 1 and
    cannot make an item stand out, so it is ignored; BM25, whose tokenizing is the costly
    part, then runs only over the few items that contain a selective term.
    """
    if not query or k <= 0 or not texts:
        return []
    n = len(texts)
    # One lowered haystack with a separator that never occurs in JSON text; occurrences
    # map back to items by their start offsets (C-speed search instead of n x terms loops).
    lowered = [t.lower() for t in texts]
    haystack = "\x00".join(lowered)
    starts = np.cumsum([0] + [len(t) + 1 for t in lowered[:-1]])
    evidence: dict[int, float] = {}
    selective: list[str] = []
    # A long query (a pasted document) would cost one scan per term: use its first terms.
    query_terms = sorted(list(dict.fromkeys(terms(query)))[:_MAX_QUERY_TERMS])
    for term in query_terms:
        if len(term) < 2:
            continue  # single letters/digits from split identifiers match nearly everything
        if haystack.count(term) > 20 * n and n >= 8:
            continue  # everywhere, many times over: cannot make an item stand out
        offsets = [m.start() for m in re.finditer(re.escape(term), haystack)]
        if not offsets:
            continue
        docs = np.unique(np.searchsorted(starts, offsets, side="right") - 1)
        if docs.size > 0.37 * n and n >= 8:
            continue
        selective.append(term)
        weight = math.log1p(n / docs.size)
        for i in docs.tolist():
            evidence[i] = evidence.get(i, 0.0) + weight
    if not evidence:
        return []
    # At most _MAX_BM25_CANDIDATES items go to BM25, best substring evidence first.
    ranked = sorted(evidence.items(), key=lambda pair: (-pair[1], pair[0]))
    candidates = sorted(i for i, _ in ranked[:_MAX_BM25_CANDIDATES])
    # Long items are scored on their beginning: BM25's tokenizing is the costly part.
    scores = bm25_scores(selective, [texts[i][:_BM25_CHARS] for i in candidates])
    if len(candidates) == 1:
        # BM25's idf over a single candidate is ~0; the substring match must be a real term.
        return candidates if set(selective) & set(terms(texts[candidates[0]])) else []
    best = float(scores.max()) if scores.size else 0.0
    if best <= 0:
        return []
    order = np.lexsort((np.arange(scores.size), -scores))
    return [candidates[int(j)] for j in order[:k] if scores[j] > 0 and scores[j] >= 0.3 * best]


def _rare_first_indices(column: _Column, n: int) -> list[int]:
    counts = column.counts
    if counts is None or column.keys is None or len(counts) < 2:
        return []
    top = max(counts.values())
    rare_limit = max(1, n // 100)
    rare = {v for v, c in counts.items() if c <= rare_limit and c * 2 < top}
    if not rare:
        return []
    first: dict[str, int] = {}
    for i, key in enumerate(column.keys):
        if key in rare and key not in first:
            first[key] = i
    return sorted(first.values(), key=lambda i: (counts[column.keys[i]], i))[:8]


_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"')


def _long_text_bytes(texts: list[str], limit: int) -> int:
    """Bytes of the JSON text inside strings longer than `limit` + 40 (a byte estimate)."""
    threshold = limit + 40
    long_texts = [t for t in texts if len(t) > threshold]  # others hold no long string
    if not long_texts:
        return 0
    # One regex pass over all items (strings never span items: each text is valid JSON).
    lengths = map(len, _JSON_STRING.findall("\n".join(long_texts)))
    return sum(n - 2 for n in lengths if n > threshold + 2)


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


def _summary(
    items: list[Any],
    keep: list[int],
    reasons: dict[int, str],
    columns: list[_Column],
    numeric_series: list[tuple[str | None, np.ndarray]],
    errors: list[int],
) -> tuple[str, list[str]]:
    n = len(items)
    kept = set(keep)
    head = f"{n - len(keep):,} of {n:,} {_noun(columns, numeric_series)} omitted"
    parts: list[str] = []
    why = Counter(reasons.values())
    labels = (
        ("first", "first"),
        ("last", "last"),
        ("error", "errors"),
        ("anomaly", "outliers"),
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
    categories.sort(key=lambda c: (c.name.lower() not in _STATUS_KEYS, len(c.counts or ()), c.name))
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
    shown_numeric = 0
    for name, series in numeric_series:
        if shown_numeric >= 2:
            break
        if name is not None and any(c.name == name and c.kind == "id" for c in columns):
            continue
        finite = series[np.isfinite(series)]
        if finite.size == 0:
            continue
        label = _short(name, 32) + ": " if name is not None else ""
        parts.append(
            f"{label}{_fmt_num(float(finite.min()))} to {_fmt_num(float(finite.max()))}, "
            f"median {_fmt_num(float(np.median(finite)))}"
        )
        shown_numeric += 1
    if not columns and not numeric_series:
        strings = [item for item in items if isinstance(item, str)]
        if strings:
            parts.append(f"{len(set(strings)):,} distinct strings")
    return head, parts


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
        item, _ = _cut_item(item, limit)
    return item


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
    if table.templates:
        obj["template"] = table.templates
    if _needs_order(table):
        obj["order"] = table.fields
    obj["fields"] = table.columns
    obj["rows"] = rows
    return obj


def _needs_order(table: _Table) -> bool:
    """True when columns + constants + templates would not rebuild the records' key order."""
    return [*table.columns, *table.constants, *table.templates] != table.fields


def _text_table(table: _Table, lines: list[str], n_rows: int, shown: int | None) -> str:
    head = [TABLE_HEADER_PREFIX + _table_description(table, n_rows, shown) + "]"]
    if table.constants:
        head.append("constant: " + _dumps(table.constants))
    if table.templates:
        head.append("template: " + _dumps(table.templates))
    if _needs_order(table):
        head.append("order: " + _dumps(table.fields))
    head.append(_dumps(table.columns))
    return "\n".join(head + lines)


class _Replacement:
    """A rendered array: a JSON value, or the text table form when it is the whole document."""

    def __init__(self, value: Any, text: str | None = None) -> None:
        self.value = value
        self.text = text


def _render_plan(plan: _Plan, marker: str, limit: int, is_root: bool) -> _Replacement:
    pieces = _pieces(plan, marker)
    shown = sum(1 for kind, _ in pieces if kind == "item")
    table = plan.table
    if table is None:
        values = [_plan_item(plan, i, limit) if kind == "item" else i for kind, i in pieces]
        return _Replacement(values)
    if is_root:
        lines = [
            _dumps(_table_row(table, _plan_item(plan, i, limit))) if kind == "item" else i
            for kind, i in pieces
        ]
        return _Replacement(None, _text_table(table, lines, len(plan.items), shown))
    rows = [_table_row(table, _plan_item(plan, i, limit)) if kind == "item" else i for kind, i in pieces]
    return _Replacement(_embedded_table(table, rows, len(plan.items), shown))


def _render_table(items: list[Any], table: _Table, is_root: bool) -> _Replacement:
    if is_root:
        lines = [_dumps(_table_row(table, item)) for item in items]
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
    return orjson.dumps(_substitute(doc, (), values, prefixes)).decode()


# --------------------------------------------------------------------------- token estimates


def _estimate_tokens(text: str, ctx: CompressContext) -> int:
    """Tokens of `text`: exact for short texts, from three sampled windows for long ones."""
    window = 4000
    if len(text) <= 3 * window:
        return ctx.tokenizer.count(text)
    middle = len(text) // 2 - window // 2
    sample = text[:window] + text[middle : middle + window] + text[-window:]
    return round(ctx.tokenizer.count(sample) * len(text) / len(sample))


# --------------------------------------------------------------------------- the compressor


@dataclass
class _Walk:
    ctx: CompressContext
    lossy: bool
    plans: dict[tuple[Any, ...], _Plan] = field(default_factory=dict)
    tables: dict[tuple[Any, ...], tuple[list[Any], _Table]] = field(default_factory=dict)
    analysed: int = 0
    table_cache: dict[int, _Table | None] = field(default_factory=dict)
    """Table layouts by array identity, shared by the lossless and the lossy walk."""

    def table(self, items: list[Any]) -> _Table | None:
        key = id(items)
        if key not in self.table_cache:
            self.table_cache[key] = _table_for(items, self.ctx.config.json.table_min_rows)
        return self.table_cache[key]


def _flat(node: list[Any]) -> bool:
    """True when no item holds a nested array or object (nothing below to walk into)."""
    for child in node:
        kind = type(child)
        if kind is list:
            return False
        if kind is dict:
            for value in child.values():
                if type(value) is list or type(value) is dict:
                    return False
    return True


def _walk(node: Any, path: tuple[Any, ...], state: _Walk) -> bool:
    """Find the arrays to crush (lossy) or tabulate; True if anything was placed at/below."""
    cfg = state.ctx.config.json
    if isinstance(node, list):
        if (
            state.lossy
            and len(node) >= max(2, cfg.min_items)
            and state.analysed < _MAX_PLANS
            and (len(node) >= 64 or len(orjson.dumps(node)) >= _MIN_ARRAY_BYTES)
        ):
            state.analysed += 1
            plan = _plan_array(node, path, state.ctx, state.table(node) if cfg.allow_table_form else None)
            if plan is not None:
                state.plans[path] = plan
                return True
        below = False
        if not _flat(node):
            for i, child in enumerate(node):
                if isinstance(child, (list, dict)) and _walk(child, (*path, i), state):
                    below = True
        if not below and cfg.allow_table_form:
            table = state.table(node)
            if table is not None:
                state.tables[path] = (node, table)
                return True
        return below
    if isinstance(node, dict):
        below = False
        for key, child in node.items():
            if isinstance(child, (list, dict)) and _walk(child, (*path, key), state):
                below = True
        return below
    return False


def _table_replacements(state: _Walk) -> dict[tuple[Any, ...], _Replacement]:
    out: dict[tuple[Any, ...], _Replacement] = {}
    for path, (items, table) in state.tables.items():
        rendered = _render_table(items, table, is_root=(path == ()))
        raw_size = len(orjson.dumps(items))
        size = len(rendered.text) if rendered.text is not None else len(orjson.dumps(rendered.value))
        if size < 0.9 * raw_size:
            out[path] = rendered
    return out


class SmartCrusher:
    """Compressor for JSON tool outputs (see the module docstring and docs/compressors/json.md)."""

    name: ClassVar[str] = "smart_crusher"

    def compress(self, text: str, ctx: CompressContext) -> Compressed | None:
        try:
            return crush(text, ctx)
        except (
            RecursionError,
            orjson.JSONEncodeError,
            orjson.JSONDecodeError,
            ValueError,
            TypeError,
            OverflowError,
            MemoryError,
        ):
            # Odd content is passed through; the contract is to never raise.
            return None


def crush(text: str, ctx: CompressContext) -> Compressed | None:
    """The crusher itself (raises on internal errors; `SmartCrusher.compress` does not)."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        doc = orjson.loads(text)
    except (orjson.JSONDecodeError, UnicodeEncodeError):
        return None  # malformed JSON is text; another compressor may take it
    if not isinstance(doc, (list, dict)):
        return None
    # Extreme numbers (1e308 next to 0) overflow in the statistics; inf/nan results are
    # handled where they are used, so numpy's warnings would only be noise.
    with np.errstate(all="ignore"):
        out = _crush_document(text, doc, ctx)
    if out is None:
        return None
    # The router may cut a JSON block out of a log; its surrounding whitespace (the line
    # breaks that separate it from the next segment) must survive.
    stripped = text.strip()
    if len(stripped) == len(text):
        return out
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return Compressed(lead + out.text + trail, out.ccr_keys, out.summary)


def _has_duplicate_keys(text: str) -> bool:
    """True if some object repeats a key. Only the lossless path needs this (the lossy path
    stashes the original); the stdlib parser is slower than orjson but sees every pair."""
    found = False

    def check(pairs: list[tuple[str, Any]]) -> None:
        nonlocal found
        if not found and len(pairs) > 1 and len({k for k, _ in pairs}) != len(pairs):
            found = True

    try:
        json.loads(text, object_pairs_hook=check)
    except (ValueError, RecursionError):
        return True  # cannot verify: treat as unsafe to rewrite
    return found


def _crush_document(text: str, doc: Any, ctx: CompressContext) -> Compressed | None:
    cfg = ctx.config.json
    original_tokens = _estimate_tokens(text, ctx)

    lossless_state = _Walk(ctx, lossy=False)
    _walk(doc, (), lossless_state)
    lossless_replacements = _table_replacements(lossless_state)
    lossless = _assemble(doc, lossless_replacements)
    lossless_tokens = _estimate_tokens(lossless, ctx)
    n_tables = len(lossless_replacements)
    lossless_summary = f"lossless: {n_tables} table(s), minified" if n_tables else "lossless: minified"

    def lossless_result() -> Compressed | None:
        if lossless_tokens >= original_tokens and len(lossless) >= len(text):
            return None
        if _has_duplicate_keys(text):
            return None  # orjson kept only the last value; a rewrite would lose the others unseen
        return Compressed(lossless, (), lossless_summary)

    if not ctx.can_drop or lossless_tokens <= cfg.target_ratio * original_tokens:
        return lossless_result()

    state = _Walk(ctx, lossy=True, table_cache=lossless_state.table_cache)
    _walk(doc, (), state)
    if not state.plans:
        return lossless_result()
    key = _ccr.content_key(text)
    other_tables = _table_replacements(state)
    limit = max(8, cfg.truncate_chars)

    def render(modes: dict[tuple[Any, ...], str]) -> tuple[str, str]:
        replacements = dict(other_tables)
        summaries = []
        for path, plan in state.plans.items():
            plan.mode = modes.get(path, "select")
            if len(plan.keep) == len(plan.items):
                plan.mode = "cut"  # nothing to drop: the plan exists for its long text
            if plan.mode == "cut":
                cut = sum(
                    1
                    for i, item in enumerate(plan.items)
                    if i not in plan.important and _cut_item(item, limit)[1]
                )
                head = (
                    f"long text cut to {limit} characters in {cut:,} of {len(plan.items):,} items, "
                    "every item kept"
                )
            else:
                head = plan.head
                cut = sum(
                    1 for i in plan.keep if i not in plan.important and _cut_item(plan.items[i], limit)[1]
                )
                if cut:
                    head += f"; long text cut to {limit} characters in {cut} shown items"
            description = "; ".join([head, *plan.stats])
            summaries.append(description)
            marker = ctx.marker(description, key)
            replacements[path] = _render_plan(plan, marker, limit, is_root=(path == ()))
        return _assemble(doc, replacements), " | ".join(summaries)

    candidates: list[tuple[int, str, str]] = []
    cut_paths = {path: "cut" for path, plan in state.plans.items() if plan.long_text}
    if cut_paths:
        cut_text, cut_summary = render(cut_paths)
        cut_tokens = _estimate_tokens(cut_text, ctx)
        if cut_tokens <= cfg.target_ratio * original_tokens:
            candidates.append((cut_tokens, cut_text, cut_summary))
    if not candidates:
        select_text, select_summary = render({})
        candidates.append((_estimate_tokens(select_text, ctx), select_text, select_summary))
    tokens, out_text, summary = candidates[0]
    if tokens >= lossless_tokens:
        return lossless_result()
    ctx.stash(text, "json", paths=[list(path) for path in state.plans])
    return Compressed(out_text, (key,), summary)


__all__ = [
    "TABLE_HEADER_PREFIX",
    "TABLE_KEY",
    "SmartCrusher",
    "crush",
    "expand_output",
    "expand_table_rows",
    "parse_table_text",
]
