"""RecordsCompressor: `Key: value` stanzas and config dumps, summarised by field.

Record text is a list of records made of named fields:

- stanzas of `Key: value` lines separated by blank lines (or `---`), with indented
  continuation lines: Debian control files (`/var/lib/dpkg/status`, `apt-cache show`),
  `pip show`, e-mail and HTTP headers;
- INI / TOML-like files: `[section]` headers, each starting a record of `key = value` lines;
- flat dumps of one `key=value` or `key = value` per line (`systemctl show`, `sysctl -a`,
  `env`): each line is a record of one field, grouped by the key's first dotted part.

With several records, the output is::

    [headroom records: 612 records, 23 fields; 6 shown whole]
    same in every record: Architecture: amd64; Status: install ok installed
    fields: Package (612 distinct), Priority (612: optional 498, required 54, ...), ...
    <records kept whole, in their original order>
    [headroom: 606 more records (Package: adduser, apt, ...); retrieve with ...]

Kept whole: the first record (it shows the shape), records the query names or ranks
high for (BM25 over the record's text), and records holding a rare value of a field
that is otherwise nearly constant (a package whose `Status` is not `install ok
installed`). Fields that have the same value in every record are stated once and
dropped from the records shown. Everything else is summarised by the values of the
records' first field, with counts, behind one CCR marker for the whole original
(`unit="block"` for stanzas, so retrieval with a query returns whole records).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from typing import ClassVar

from headroom_core._relevance import bm25_scores, terms, top_k
from headroom_core._text import plural
from headroom_core.compressors._base import CompressContext, Compressed

# A field line: `Key: value` (the colon followed by a space or the line end, so
# `http://` and `10:20` are not fields) or `key=value` / `key = value`. Keys are
# identifier-like, with `.`, `-` and `/` inside; no spaces (a sentence is not a key).
_FIELD = re.compile(r"[ \t]*(?P<key>[A-Za-z_][\w.\-/@]{0,79})[ \t]*(?::(?=[ \t]|$)|=)[ \t]*")
_SECTION = re.compile(r"[ \t]*\[\[?[^\[\]\n]{1,100}\]\]?[ \t]*$")
_COMMENT = re.compile(r"[ \t]*[#;]")
_KEY_CHARS = 120
"""Only this much of a line is read to find its key (bounded work on long lines)."""

_MIN_RECORDS = 3
_HEAD_RECORDS = 1
_RELEVANT_RECORDS = 8
_RARE_RECORDS = 8
_MAX_NAMED = 120
_MAX_FIELD_STATS = 24
_MAX_VALUE_CHARS = 60
_MAX_CATEGORY_VALUES = 4
_RARE_SHARE = 0.02
_MIN_CATEGORY_RECORDS = 20
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?\Z")


def field_key(line: str) -> str | None:
    """The key of a field line (`Package: bash` -> `Package`), else None."""
    match = _FIELD.match(line[:_KEY_CHARS])
    return match.group("key") if match else None


def line_shape(line: str, after_field: bool) -> str:
    """'blank', 'section', 'comment', 'field', 'continuation' or 'other': what one line of
    record text is. An indented line right after a field continues it."""
    return _shape(line, after_field)[0]


def _shape(line: str, after_field: bool) -> tuple[str, re.Match[str] | None]:
    if not line or line.isspace() or (line[:3] == "---" and line.strip() == "---"):
        return "blank", None
    if after_field and line[0] in (" ", "\t"):
        return "continuation", None  # Debian continuation lines, YAML nested keys, header folding
    head = line[:_KEY_CHARS]
    match = _FIELD.match(head)  # most lines: tried first
    if match is not None:
        return "field", match
    if _SECTION.match(head):
        return "section", None
    if _COMMENT.match(head):
        return "comment", None
    return "other", None


@dataclass
class _Record:
    start: int
    """Index of the record's first line."""
    end: int = 0
    """Index past its last line (blank separators excluded)."""
    title: str = ""
    """`[section]` line of an INI record, or ''."""
    fields: dict[str, str] = field(default_factory=dict)
    """key -> value (continuation lines joined with a line break); first occurrence wins."""


@dataclass
class _Parsed:
    records: list[_Record]
    flat: bool
    """One field per line, no blank lines: each line is a record."""


def _parse(lines: list[str]) -> _Parsed | None:
    records: list[_Record] = []
    current: _Record | None = None
    last_key: str | None = None
    # The lines of fields with continuation lines, joined once at the end: adding each line
    # to the value as it comes copied the value every time (quadratic on a long field).
    continued: list[tuple[_Record, str, list[str]]] = []
    field_lines: list[str] | None = None  # the lines of `last_key`'s value, once continued
    fields = other = 0
    in_field = False
    for i, line in enumerate(lines):
        shape, match = _shape(line, in_field)
        in_field = shape in ("field", "continuation") or (in_field and shape == "comment")
        if shape == "blank":
            if current is not None:
                current.end = i
                records.append(current)
                current = None
            last_key, field_lines = None, None
            continue
        if shape == "section":
            if current is not None:
                current.end = i
                records.append(current)
            current = _Record(i, title=line.strip())
            last_key, field_lines = None, None
            continue
        if current is None:
            # A record that opens with a non-field line (`HTTP/2 200`, `From ...`) is
            # named by it.
            current = _Record(i, title=line.strip()[:80] if shape == "other" else "")
        current.end = i + 1
        if shape == "field":
            fields += 1
            assert match is not None
            last_key, field_lines = match.group("key"), None
            if last_key not in current.fields:
                current.fields[last_key] = line[match.end() :].rstrip("\r")
            else:
                last_key = None  # a repeated key inside one record: shown, not tracked
        elif shape == "continuation":
            if last_key is not None:
                if field_lines is None:
                    field_lines = [current.fields[last_key]]
                    continued.append((current, last_key, field_lines))
                field_lines.append(line.strip())
        elif shape == "other":
            other += 1
            last_key, field_lines = None, None
    if current is not None:
        current.end = max(current.end, current.start + 1)
        records.append(current)
    for record, key, value_lines in continued:
        record.fields[key] = "\n".join(value_lines)
    if fields < 5 or other > 0.5 * fields:
        return None
    flat = len(records) < _MIN_RECORDS  # one or two big stanzas: each line is a record
    if flat:
        records = _flat_records(lines)
    if len(records) < _MIN_RECORDS:
        return None
    return _Parsed(records, flat)


def _flat_records(lines: list[str]) -> list[_Record]:
    """A flat dump: each field line (with its continuation lines) is a record."""
    records: list[_Record] = []
    for i, line in enumerate(lines):
        match = _FIELD.match(line[:_KEY_CHARS])
        if match is not None and line[:1] not in (" ", "\t"):
            records.append(_Record(i, i + 1, fields={match.group("key"): line[match.end() :].rstrip("\r")}))
        elif records and line.strip():
            records[-1].end = i + 1
    return records


def _group(key: str) -> str:
    """A flat dump's key family: `net.ipv4.tcp_syn_retries` -> `net.ipv4`,
    `ExecMainStartTimestamp` -> `ExecMainStartTimestamp`."""
    parts = re.split(r"[./]", key)
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]


def _short(value: str) -> str:
    value = value.split("\n", 1)[0].strip()
    if not value:
        return "(empty)"
    return value if len(value) <= _MAX_VALUE_CHARS else value[: _MAX_VALUE_CHARS - 1] + "…"


class RecordsCompressor:
    name: ClassVar[str] = "records"

    def compress(self, text: str, ctx: CompressContext) -> Compressed | None:
        if not isinstance(text, str) or not ctx.can_drop or not ctx.config.text.enabled:
            return None
        lines = text.split("\n")
        parsed = _parse(lines)
        if parsed is None:
            return None
        records = parsed.records
        n = len(records)
        keep = bytearray(n)
        for i in range(min(_HEAD_RECORDS, n)):
            keep[i] = 1
        bodies = ["\n".join(lines[r.start : r.end]) for r in records]
        if ctx.query:
            for i in _named(records, ctx.query):
                keep[i] = 1
            for i in _relevant(bodies, ctx.query):
                keep[i] = 1
        stats = _field_stats(records)
        if not parsed.flat:
            for i in _rare_records(records, stats):
                keep[i] = 1
        constant = {} if parsed.flat else _constant_fields(records)
        if sum(keep) == n:
            return None

        unit = "line" if parsed.flat else "block"
        key = ctx.stash(text, "text", unit=unit)
        shown: list[str] = []
        for i, record in enumerate(records):
            if not keep[i]:
                continue
            body = [
                line
                for line in lines[record.start : record.end]
                if not constant or field_key(line) not in constant or line[:1] in (" ", "\t")
            ]
            shown.append("\n".join(body))
        omitted = [r for i, r in enumerate(records) if not keep[i]]
        head = [
            f"[headroom records: {plural(n, 'record')}, {plural(len(stats), 'field')}; "
            f"{len(shown):,} shown whole]"
        ]
        if constant:
            head.append(
                "same in every record: " + "; ".join(f"{k}: {_short(v)}" for k, v in constant.items())
            )
        described = _describe_fields(stats, n, constant, parsed.flat)
        if described:
            head.append("fields: " + described)
        sep = "\n" if parsed.flat else "\n\n"
        description = _omitted_description(omitted, parsed.flat)
        out = "\n".join(head) + "\n" + sep.join(shown) + sep + ctx.marker(description, key)
        if text.endswith("\n"):
            out += "\n"
        if len(out) >= len(text):
            return None
        summary = f"{n:,} records -> {len(shown):,} shown whole, {len(omitted):,} summarised"
        return Compressed(out, (key,), summary)


_MAX_RELEVANCE_POOL = 5000


def _relevant(bodies: list[str], query: str) -> list[int]:
    """Records that rank highest against the query (BM25), scored only among the records
    that contain a query term at all (a substring pre-filter keeps big dumps cheap)."""
    words = [t for t in dict.fromkeys(terms(query)) if len(t) >= 3]
    if not words:
        return []
    pool = [i for i, low in enumerate(b.lower() for b in bodies) if any(w in low for w in words)]
    pool = pool[:_MAX_RELEVANCE_POOL]
    if not pool:
        return []
    scores = bm25_scores(words, [bodies[i][:4000] for i in pool])
    return [pool[j] for j in top_k(scores, _RELEVANT_RECORDS)]


def _named(records: list[_Record], query: str) -> list[int]:
    """Records whose first field's value (or section title) the query names as a word."""
    words = set(re.findall(r"[\w.+-]+", query.lower()))
    out = []
    for i, record in enumerate(records):
        ident = record.title.strip("[] ").lower() if record.title else ""
        if not ident and record.fields:
            ident = next(iter(record.fields.values())).strip().lower()
        if ident and ident in words:
            out.append(i)
    return out


@dataclass
class _FieldStat:
    count: int = 0
    values: dict[str, int] = field(default_factory=dict)
    numbers: list[float] = field(default_factory=list)
    distinct_cap: bool = False


_MAX_TRACKED_VALUES = 200


def _field_stats(records: list[_Record]) -> dict[str, _FieldStat]:
    stats: dict[str, _FieldStat] = {}
    for record in records:
        for key, value in record.fields.items():
            stat = stats.get(key)
            if stat is None:
                stat = stats[key] = _FieldStat()
            stat.count += 1
            value = value.strip()
            if _NUMBER.match(value):
                stat.numbers.append(float(value))
            if value in stat.values:
                stat.values[value] += 1
            elif len(stat.values) < _MAX_TRACKED_VALUES:
                stat.values[value] = 1
            else:
                stat.distinct_cap = True
    return stats


def _constant_fields(records: list[_Record]) -> dict[str, str]:
    """Fields present in every record with one value (single-line values only)."""
    first = records[0].fields
    out = {}
    for key, value in first.items():
        if "\n" in value:
            continue
        if all(r.fields.get(key) == value for r in records[1:]):
            out[key] = value
    return out


def _rare_records(records: list[_Record], stats: dict[str, _FieldStat]) -> list[int]:
    """Records holding a rare value of a field that is nearly always one value."""
    n = len(records)
    if n < _MIN_CATEGORY_RECORDS:
        return []
    rare: dict[str, set[str]] = {}
    for key, stat in stats.items():
        if stat.distinct_cap or stat.count < 0.8 * n or len(stat.values) > 6:
            continue
        common = max(stat.values.values())
        if common < 0.8 * stat.count:
            continue
        rare[key] = {v for v, c in stat.values.items() if c <= max(1, _RARE_SHARE * stat.count)}
    out = []
    for i, record in enumerate(records):
        if any(record.fields.get(k, "").strip() in vals for k, vals in rare.items()):
            out.append(i)
            if len(out) >= _RARE_RECORDS:
                break
    return out


def _describe_fields(stats: dict[str, _FieldStat], n: int, constant: dict[str, str], flat: bool) -> str:
    if flat:
        groups: dict[str, int] = {}
        for key in stats:
            g = _group(key)
            groups[g] = groups.get(g, 0) + 1
        ranked = sorted(groups.items(), key=lambda kv: -kv[1])[:_MAX_FIELD_STATS]
        return ", ".join(f"{g} ({c:,})" for g, c in ranked)
    parts = []
    for key, stat in list(stats.items())[:_MAX_FIELD_STATS]:
        if key in constant:
            continue
        where = f"{stat.count:,}" if stat.count < n else "all"
        distinct = len(stat.values)
        if stat.numbers and len(stat.numbers) == stat.count and distinct > _MAX_CATEGORY_VALUES:
            numbers = sorted(stat.numbers)
            parts.append(
                f"{key} ({where}; min {_num(numbers[0])}, median {_num(statistics.median(numbers))}, "
                f"max {_num(numbers[-1])})"
            )
        elif not stat.distinct_cap and distinct <= _MAX_CATEGORY_VALUES * 3 and distinct < stat.count:
            top = sorted(stat.values.items(), key=lambda kv: -kv[1])[:_MAX_CATEGORY_VALUES]
            values = ", ".join(f"{_quoted(_short(v))} {c:,}" for v, c in top)
            more = f", +{distinct - len(top)} more" if distinct > len(top) else ""
            parts.append(f"{key} ({where}: {values}{more})")
        else:
            many = f"{_MAX_TRACKED_VALUES}+" if stat.distinct_cap else f"{distinct:,}"
            parts.append(f"{key} ({where}; {many} distinct)")
    if len(stats) > _MAX_FIELD_STATS:
        parts.append(f"+{len(stats) - _MAX_FIELD_STATS} rarer fields")
    return ", ".join(parts)


def _quoted(value: str) -> str:
    """A value that holds a separator of the stats line is quoted."""
    return f'"{value}"' if any(c in value for c in ",;()") else value


def _num(x: float) -> str:
    return f"{int(x):,}" if x == int(x) else f"{x:,.4g}"


def _omitted_description(omitted: list[_Record], flat: bool) -> str:
    if flat:
        return f"{plural(len(omitted), 'more field')} (counted by key family in the header)"
    first_key = ""
    names = []
    for r in omitted:
        if r.title:
            names.append(r.title)
        elif r.fields:
            k, v = next(iter(r.fields.items()))
            first_key = first_key or k
            names.append(_short(v))
    shown = ", ".join(names[:_MAX_NAMED])
    if len(names) > _MAX_NAMED:
        shown += f", and {len(names) - _MAX_NAMED:,} more"
    label = f"{first_key}: " if first_key else ""
    return f"{plural(len(omitted), 'more record')} ({label}{shown})"
