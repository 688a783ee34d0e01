"""Signals: what makes an item of a JSON array worth keeping.

Error-like records, numeric outliers and level shifts, extremes of numeric fields, rare
categories, query matches; all computed column by column (one column per record field,
nested fields by dotted path) so that large arrays cost numpy work, not per-item Python.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from headroom_core._relevance import bm25_scores, terms
from headroom_core.compressors.json._numbers import ExactNumber, dumps

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
_LOG_LEVEL_WORDS = ("ERROR", "FATAL", "CRITICAL", "CRIT", "PANIC", "SEVERE", "EMERG", "ALERT")
_WORD_ASCII = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _word_char(char: str) -> bool:
    return char.isalnum() or char == "_"  # what `\w` matches in a str pattern


def _has_whole_word(text: str, word: str, before: str = "") -> bool:
    """`word` with no word character around it; `before`, if given, must precede it
    (one of its characters) and is then the part that needs a boundary on its left."""
    start = text.find(word)
    while start >= 0:
        end = start + len(word)
        left = start
        if before:
            ok = start > 0 and text[start - 1] in before
            left = start - 1
        else:
            ok = True
        if (
            ok
            and (left == 0 or not _word_char(text[left - 1]))
            and (end == len(text) or not _word_char(text[end]))
        ):
            return True
        start = text.find(word, start + 1)
    return False


def _has_suffix_after_word_char(text: str, suffix: str) -> bool:
    start = text.find(suffix)
    while start >= 0:
        if start > 0 and text[start - 1] in _WORD_ASCII:
            return True
        start = text.find(suffix, start + 1)
    return False


def _log_line_error(text: str) -> bool:
    """A log line that reports an error: a level word (ERROR, FATAL, CRITICAL, ...), a
    traceback, `FooError:`/`FooException:`, `panic:`, or the words failed/failure.

    Substring searches at memory speed, a character test around each hit; the same
    verdicts as the regex `\b(?:ERROR|...)\b|Traceback \\(most recent call last\\)|
    [A-Za-z0-9_](?:Exception|Error):|\bpanic:|\b[Ff]ailed\b|\b[Ff]ailure\b`."""
    if "Traceback (most recent call last)" in text:
        return True
    if any(word in text and _has_whole_word(text, word) for word in _LOG_LEVEL_WORDS):
        return True
    if _has_suffix_after_word_char(text, "Error:") or _has_suffix_after_word_char(text, "Exception:"):
        return True
    start = text.find("panic:")
    while start >= 0:
        if start == 0 or not _word_char(text[start - 1]):
            return True
        start = text.find("panic:", start + 1)
    return _has_whole_word(text, "ailed", "Ff") or _has_whole_word(text, "ailure", "Ff")


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
        return _log_line_error(item)
    if isinstance(item, list):
        return _log_line_error(text)
    return False


_LOG_ERROR_CUES = (
    "Traceback (most recent call last)",
    *_LOG_LEVEL_WORDS,
    "Error:",
    "Exception:",
    "panic:",
    "ailed",
    "ailure",
)
"""Every verdict of `_log_line_error` needs one of these substrings in the line."""


def _may_hold_log_error(items: Sequence[Any], texts: Sequence[str], indices: Sequence[int]) -> bool:
    """False when no string or row among `items[indices]` contains a substring that
    `_log_line_error` looks for: then none of them is an error line, and the per-item test
    (a dozen searches and a Python call per item) is skipped. One search per cue over all
    the lines joined: no cue holds the separator, so none is found across two lines."""
    lines = [
        items[i] if isinstance(items[i], str) else texts[i]
        for i in indices
        if isinstance(items[i], (str, list))
    ]
    if not lines:
        return False
    joined = "\x00".join(lines)
    return any(cue in joined for cue in _LOG_ERROR_CUES)


def _error_indices(items: Sequence[Any], texts: Sequence[str], columns: list[_Column] | None) -> list[int]:
    """Indices of error-like items. With record columns the test runs column by column:
    only error/status/message-like fields are looked at, and each distinct status value is
    matched once (the same verdicts as `_is_error_record`, much cheaper on large arrays)."""
    n = len(items)
    if columns is None:
        if not _may_hold_log_error(items, texts, range(n)):
            return [i for i in range(n) if isinstance(items[i], dict) and _is_error_record(items[i])]
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
    rest = [i for i in range(n) if not flagged[i] and not isinstance(items[i], dict)]
    if _may_hold_log_error(items, texts, rest):
        for i in rest:
            flagged[i] = _is_error_item(items[i], texts[i])
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
    text = value if isinstance(value, str) else dumps(value)
    text = re.sub(r"\s+", " ", text).replace("[", "(").replace("]", ")")
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _median(values: np.ndarray) -> float:
    """`float(np.median(values))` for a non-empty 1-D float64 array, computed the way
    numpy computes it (partition around the middle; the middle value, or the mean of the
    two middle ones summed from 0.0; NaN when any value is NaN) without the generic axis
    handling that costs several times the work on the short columns of tool outputs.
    `tests/compressors/test_speed_json_median.py` holds it to `np.median` bit for bit."""
    n = values.size
    if n == 0:
        return float(np.median(values))  # NaN with numpy's warning, as before
    half = n // 2
    if n % 2:
        part = np.partition(values, (half, -1))
        middle = 0.0 + float(part[half])
    else:
        part = np.partition(values, (half - 1, half, -1))
        middle = (0.0 + float(part[half - 1]) + float(part[half])) / 2
    # A NaN sorts last; numpy's median is then NaN whatever the middle holds.
    return math.nan if math.isnan(part[-1]) else middle


def _deciles_1_5_9(values: np.ndarray) -> tuple[float, float, float]:
    """`np.percentile(values, [10, 50, 90])` of a 1-D float64 array of at least two finite
    values, by numpy's default ('linear') rule done on three scalars: the virtual index
    `(n - 1) * q`, the two order statistics around it, and numpy's interpolation
    (`a + (b - a) * t`, or `b - (b - a) * (1 - t)` from `t = 0.5` on). Held to
    `np.percentile` bit for bit by `tests/compressors/test_speed_json_median.py`."""
    last = values.size - 1
    below = [math.floor(last * q) for q in (0.1, 0.5, 0.9)]
    part = np.partition(values, sorted({0, last, *below, *(min(b + 1, last) for b in below)}))
    out = []
    for q, b in zip((0.1, 0.5, 0.9), below):
        if b >= last:  # numpy takes the largest value there (only for enormous arrays)
            out.append(float(part[last]))
            continue
        t = last * q - b
        low, high = float(part[b]), float(part[b + 1])
        step = high - low
        out.append(high - step * (1 - t) if t >= 0.5 else low + step * t)
    return out[0], out[1], out[2]


def _robust_outliers(x: np.ndarray, limit: int) -> list[tuple[float, int]]:
    """(strength, position) of robust outliers: |modified z| > 3.5 by median/MAD."""
    finite = np.isfinite(x)
    if finite.sum() < 8:
        return []
    values = x[finite]
    positions = np.flatnonzero(finite)
    if values.min() > 0:
        p10, p50, p90 = _deciles_1_5_9(values)
        if p90 - p50 > 1.25 * (p50 - p10):
            # Right-skewed positive data (amounts, latencies, sizes): deviations are
            # multiplicative, so judge them on a log scale; this also finds the 3-cent
            # payment among 30-euro ones. Symmetric data (scores 1-40) stays linear.
            values = np.log(values)
    median = _median(values)
    deviation = np.abs(values - median)
    mad = _median(deviation)
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
    median = _median(values)
    spread = 1.4826 * _median(np.abs(values - median))
    if spread > 0:
        values = np.clip(values, median - 5 * spread, median + 5 * spread)
    steps = np.diff(values)
    if np.all(steps >= 0) or np.all(steps <= 0):
        return []  # monotonic (ids, timestamps, sorted columns): a trend, not a shift
    sigma = 1.4826 * _median(np.abs(steps - _median(steps))) / math.sqrt(2)
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
    numeric = sum(1 for v in present if type(v) is int or type(v) is float or type(v) is ExactNumber)
    if numeric >= 0.8 * len(present):
        column.numbers = np.array(
            [
                float(v) if type(v) is int or type(v) is float or type(v) is ExactNumber else np.nan
                for v in values
            ],
            dtype=np.float64,
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
    return [i for _, i in sorted((counts[key], i) for key, i in first.items())][:8]


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


# --------------------------------------------------------------------------- nested fields


def _nested_columns(columns: list[_Column], depth: int, max_fields: int = _MAX_FIELDS) -> list[_Column]:
    """Columns for the scalar fields of nested records, named by dotted path.

    `properties.mag` of GeoJSON features, `attributes.status` of JSON:API resources: a
    top-level column whose values are objects is opened up, `depth` levels at most.
    Arrays inside are not opened (their items are not one value per record).
    """
    out: list[_Column] = []
    # Numbers, ids, categories and text are at least 80% scalars: only 'other' can be records.
    pending = [(column.name, column.values, 1) for column in columns if column.kind == "other"]
    while pending and len(out) < max_fields:
        name, values, level = pending.pop(0)
        if level > depth or not any(type(v) is dict for v in values):
            continue
        n = len(values)
        raw: dict[str, list[Any]] = {}
        for i, value in enumerate(values):
            if type(value) is not dict:
                continue
            for key, inner in value.items():
                column = raw.get(key)
                if column is None:
                    if len(raw) >= max_fields:
                        continue
                    column = raw[key] = [_MISSING] * n
                column[i] = inner
        for key, inner_values in raw.items():
            path = f"{name}.{key}"
            described = _describe(path, inner_values)
            if described.kind == "other":
                pending.append((path, inner_values, level + 1))
            if len(out) < max_fields:
                out.append(described)
    return out


# --------------------------------------------------------------------------- fields a query names

_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_QUERY_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "which",
        "what",
        "who",
        "whose",
        "where",
        "when",
        "how",
        "many",
        "much",
        "most",
        "least",
        "any",
        "all",
        "are",
        "was",
        "were",
        "had",
        "has",
        "have",
        "did",
        "does",
        "this",
        "that",
        "these",
        "those",
        "from",
        "into",
        "per",
        "each",
        "show",
        "find",
        "list",
        "give",
    ]
)
# Superlatives name no field; they point at the usual field families.
_SUPERLATIVE_FIELDS = {
    "slowest": ("latency", "duration", "elapsed", "time", "took"),
    "fastest": ("latency", "duration", "elapsed", "time", "took"),
    "longest": ("duration", "elapsed", "length", "time"),
    "shortest": ("duration", "elapsed", "length", "time"),
    "largest": ("size", "bytes", "amount", "count", "total"),
    "biggest": ("size", "bytes", "amount", "count", "total"),
    "smallest": ("size", "bytes", "amount", "count", "total"),
    "heaviest": ("weight", "size", "bytes"),
    "costliest": ("cost", "price", "amount"),
    "cheapest": ("cost", "price", "amount"),
    "strongest": ("mag", "magnitude", "score", "strength"),
}


def _field_words(name: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(name)]


def _query_words(query: str | None) -> list[str]:
    if not query:
        return []
    words: list[str] = []
    for word in _WORD.findall(query[:2000]):
        low = word.lower()
        if len(low) >= 3 and low not in _QUERY_STOP and not low.isdigit():
            words.append(low)
            words.extend(_SUPERLATIVE_FIELDS.get(low, ()))
    return list(dict.fromkeys(words))


def _word_matches(query_word: str, field_word: str) -> bool:
    """'magnitude' finds `mag`, 'latency' finds `latency_ms`, 'sizes' finds `size`."""
    if query_word == field_word:
        return True
    if len(field_word) >= 3 and query_word.startswith(field_word):
        return True
    return len(query_word) >= 4 and field_word.startswith(query_word)


def _query_fields(names: Sequence[str], query: str | None) -> list[str]:
    """The field names the query refers to, best first (a whole-name match, then parts)."""
    words = _query_words(query)
    if not words:
        return []
    ranked: list[tuple[int, int, str]] = []
    for position, name in enumerate(names):
        parts = _field_words(name)
        if not parts:
            continue
        leaf = parts[-1]
        best = None
        for rank, word in enumerate(words):
            if _word_matches(word, leaf):
                best = rank
                break
            if any(_word_matches(word, part) for part in parts[:-1]):
                best = len(words) + rank
                break
        if best is not None:
            ranked.append((best, position, name))
    return [name for _, _, name in sorted(ranked)]


def _extreme_positions(series: np.ndarray, values: Sequence[Any] | None = None) -> tuple[int, int] | None:
    """(position of the maximum, position of the minimum); the first one on ties.

    With `values` holding numbers a double cannot tell apart (`ExactNumber`), the
    comparison is exact, on the numbers' text."""
    if values is not None and any(type(v) is ExactNumber for v in values):
        exact = [
            (Decimal(str(v)), i)
            for i, v in enumerate(values)
            if (type(v) is int or type(v) is float or type(v) is ExactNumber) and math.isfinite(v)
        ]
        if exact:
            highest = max(exact, key=lambda pair: (pair[0], -pair[1]))
            lowest = min(exact, key=lambda pair: (pair[0], pair[1]))
            return highest[1], lowest[1]
    finite = np.isfinite(series)
    if not finite.any():
        return None
    high = np.where(finite, series, -np.inf)
    low = np.where(finite, series, np.inf)
    return int(np.argmax(high)), int(np.argmin(low))
