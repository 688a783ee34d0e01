"""The shared usage log: one JSON line per compression or retrieval, next to the CCR store.

Every front end (the MCP server now; the proxy and the SDK when they adopt it) appends to
the same file, so "tokens saved overall" means the same thing whichever tool asks. A line
holds numbers and names only (never content): when, which front end, what happened, the
model, tokens before and after, how many CCR keys were issued.

The file is `<CCR store dir>/usage.jsonl`. Each line is written with one `write()` on a
descriptor opened with `O_APPEND`, so lines from several processes never interleave (a
line is far below the size POSIX keeps together). The log is bounded: once it passes
`max_bytes` it is renamed to `usage.jsonl.1` (replacing the previous one) and a new file
starts, so at most about twice `max_bytes` is ever kept and read. Writing never raises:
the log is bookkeeping and must not fail a compression (failures are logged once per path).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from headroom_core._ccr import store_dir

if TYPE_CHECKING:
    from headroom_core._config import HeadroomConfig

__all__ = [
    "DEFAULT_USAGE_MAX_BYTES",
    "USAGE_FILE",
    "UsageSummary",
    "record_usage",
    "summarize",
    "usage_path",
]

log = logging.getLogger("headroom.usage")

USAGE_FILE = "usage.jsonl"
DEFAULT_USAGE_MAX_BYTES = 8 << 20
"""The live file is rotated past this size; one rotated file is kept."""
_MAX_FIELD_CHARS = 80
"""Names (source, event, model, kind) are cut to this: a line stays small and atomic."""
_warned: set[str] = set()


def usage_path(config: HeadroomConfig | None = None) -> str:
    """Where the usage log lives: `usage.jsonl` in the CCR store's directory."""
    return os.path.join(store_dir(config), USAGE_FILE)


def _name(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)[:_MAX_FIELD_CHARS]


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"token and key counts must be non-negative ints, got {value!r}")
    return value


def record_usage(
    source: str,
    event: str,
    *,
    tokens_before: int = 0,
    tokens_after: int = 0,
    ccr_keys: int = 0,
    model: str | None = None,
    kind: str | None = None,
    config: HeadroomConfig | None = None,
    path: str | os.PathLike[str] | None = None,
    max_bytes: int = DEFAULT_USAGE_MAX_BYTES,
    now: float | None = None,
) -> None:
    """Append one line to the usage log (`path`, else `usage_path(config)`).

    `source` names the front end ("mcp", "proxy", "sdk"), `event` what happened
    ("compress", "retrieve"). Raises `TypeError` only for counts that are not
    non-negative ints (a programming error); I/O trouble is logged, never raised.
    """
    line = {
        "ts": round(time.time() if now is None else now, 3),
        "source": _name(source),
        "event": _name(event),
        "model": _name(model),
        "kind": _name(kind),
        "tokens_before": _count(tokens_before),
        "tokens_after": _count(tokens_after),
        "ccr_keys": _count(ccr_keys),
    }
    data = orjson.dumps({k: v for k, v in line.items() if v is not None}) + b"\n"
    target = os.fspath(path) if path is not None else usage_path(config)
    try:
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        _rotate_if_full(target, max_bytes)
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)  # one write on an O_APPEND descriptor: the line lands whole
        finally:
            os.close(fd)
    except OSError as exc:
        if target not in _warned:  # a read-only cache dir would otherwise log on every call
            _warned.add(target)
            log.warning("usage log %s not writable (%s); savings are not recorded there", target, exc)


def _rotate_if_full(target: str, max_bytes: int) -> None:
    try:
        size = os.stat(target).st_size
    except FileNotFoundError:
        return
    if size >= max_bytes:
        # Another process may rotate at the same moment: os.replace is atomic, so the worst
        # case is one rotated file overwritten sooner than it would be (older history only).
        with contextlib.suppress(FileNotFoundError):
            os.replace(target, target + ".1")


@dataclass(frozen=True)
class UsageSummary:
    """Totals over the usage log (or part of it)."""

    compressions: int = 0
    retrievals: int = 0
    tokens_before: int = 0
    tokens_after: int = 0
    first_ts: float | None = None
    """Time of the oldest line counted (None when nothing was)."""
    by_source: dict[str, int] = field(default_factory=dict)
    """Tokens saved per front end."""

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after

    @property
    def saved_ratio(self) -> float:
        return self.tokens_saved / self.tokens_before if self.tokens_before else 0.0


def _lines(target: str) -> Iterator[dict[str, Any]]:
    for name in (target + ".1", target):  # oldest first
        try:
            with open(name, "rb") as fh:
                for raw in fh:
                    try:
                        item = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        continue  # a line cut by a crash or a full disk: skip it
                    if isinstance(item, dict):
                        yield item
        except FileNotFoundError:
            continue


def _since_ts(since: float | datetime | timedelta | None, now: float | None) -> float | None:
    if since is None:
        return None
    if isinstance(since, timedelta):
        return (time.time() if now is None else now) - since.total_seconds()
    if isinstance(since, datetime):
        return since.timestamp()
    if isinstance(since, (int, float)) and not isinstance(since, bool):
        return float(since)
    raise TypeError(f"since must be a timestamp, datetime, timedelta or None, got {since!r}")


def summarize(
    since: float | datetime | timedelta | None = None,
    *,
    config: HeadroomConfig | None = None,
    path: str | os.PathLike[str] | None = None,
    now: float | None = None,
) -> UsageSummary:
    """Totals of the usage log: all of it, or the lines at or after `since` (a Unix time,
    a datetime, or a timedelta meaning "this long ago"). An absent or unreadable log is an
    empty summary (logged), never an error."""
    cutoff = _since_ts(since, now)
    target = os.fspath(path) if path is not None else usage_path(config)
    compressions = retrievals = before = after = 0
    first: float | None = None
    by_source: dict[str, int] = {}
    try:
        for item in _lines(target):
            ts = item.get("ts")
            if not isinstance(ts, (int, float)) or (cutoff is not None and ts < cutoff):
                continue
            b, a = item.get("tokens_before", 0), item.get("tokens_after", 0)
            if not isinstance(b, int) or not isinstance(a, int):
                continue
            first = ts if first is None else min(first, ts)
            if item.get("event") == "retrieve":
                retrievals += 1
                continue
            compressions += 1
            before += b
            after += a
            source = str(item.get("source") or "unknown")
            by_source[source] = by_source.get(source, 0) + (b - a)
    except OSError as exc:
        log.warning("usage log %s unreadable (%s); reporting what was read", target, exc)
    return UsageSummary(compressions, retrievals, before, after, first, dict(sorted(by_source.items())))
