"""The request log: one JSON line per LLM request, rotated by size, and the stats read from it.

The proxy writes it (`headroom_proxy` observers) and `headroom stats` and `GET /stats` read it.
It lives here, in the core, so that reading it needs no server dependencies.

Privacy: an entry holds figures only (time, provider, model, endpoint, status, token counts,
usage, cost, latency, CCR rounds) and a *hashed* key id; never a prompt, a response or a
credential. Content logging is an explicit opt-in for debugging (`log_content=True`), and
turning it on logs a warning.

One writer per file: appends are atomic per line (one `write` of a whole line in append mode),
and rotation renames files, which only one process should do. Several proxy processes get
one file each (the `request_log` setting, `$HEADROOM_REQUEST_LOG`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("headroom.requestlog")

REQUEST_LOG_ENV = "HEADROOM_REQUEST_LOG"
"""Path of the request log file (default: `requests.jsonl` in Headroom's cache directory,
`$HEADROOM_CCR_DIR` when set, beside the CCR store and the shared usage log)."""

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_BACKUPS = 5


def default_log_path() -> str:
    """`$HEADROOM_REQUEST_LOG`, else `requests.jsonl` in Headroom's cache root (`cache_root()`)."""
    env = os.environ.get(REQUEST_LOG_ENV)
    if env:
        return env
    from headroom_core._ccr._store import cache_root

    return os.path.join(cache_root(), "requests.jsonl")


def hash_key(secret: str | None) -> str | None:
    """A stable, non-reversible id for an API key (first 16 hex digits of its SHA-256).

    API keys carry far more entropy than 64 bits, so the id cannot be turned back into the key,
    while two requests with the same key get the same id (budgets and `--by key` use it)."""
    if not secret:
        return None
    return "key_" + hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()[:16]


def key_id_from_headers(headers: Mapping[str, str] | Any) -> str | None:
    """The hashed id of the key a client sent (`x-api-key`, `api-key` or `authorization: Bearer`)."""
    get = headers.get
    secret = get("x-api-key") or get("api-key")
    if not secret:
        auth = get("authorization") or ""
        secret = auth[7:].strip() if auth[:7].lower() == "bearer " else auth.strip()
    return hash_key(secret or None)


class RequestLog:
    """Appends entries to a JSONL file, rotating it at `max_bytes` (keeps `backups` old files)."""

    def __init__(
        self,
        path: str | None = None,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        backups: int = DEFAULT_BACKUPS,
        log_content: bool = False,
    ) -> None:
        if max_bytes < 1024:
            raise ValueError("max_bytes must be at least 1024")
        if backups < 0:
            raise ValueError("backups must be >= 0")
        self.path = path or default_log_path()
        self.max_bytes = max_bytes
        self.backups = backups
        self.log_content = log_content
        self._lock = threading.Lock()
        self._size: int | None = None
        self._failed = False
        if log_content:
            log.warning(
                "request content logging is ON: prompts and responses are written to %s in clear text; "
                "turn it off outside debugging",
                self.path,
            )

    def write(self, entry: Mapping[str, Any]) -> None:
        """Append one entry. Never raises: a full disk or a bad path is logged once and skipped."""
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
        data = line.encode("utf-8", "replace")
        with self._lock:
            try:
                if self._size is None:
                    os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
                    self._size = os.path.getsize(self.path) if os.path.exists(self.path) else 0
                if self._size and self._size + len(data) > self.max_bytes:
                    self._rotate()
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
                self._size += len(data)
                self._failed = False
            except OSError as exc:
                if not self._failed:
                    log.warning("cannot write the request log %s: %s", self.path, exc.strerror or exc)
                self._failed = True
                self._size = None

    def _rotate(self) -> None:
        if self.backups == 0:
            os.remove(self.path)
        else:
            for i in range(self.backups - 1, 0, -1):
                older = f"{self.path}.{i}"
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{i + 1}")
            os.replace(self.path, f"{self.path}.1")
        self._size = 0


def log_files(path: str, backups: int = DEFAULT_BACKUPS) -> list[str]:
    """The log's files, oldest first (rotated ones, then the current file)."""
    files = [f"{path}.{i}" for i in range(max(backups, 1) + 20, 0, -1)]
    return [f for f in [*files, path] if os.path.exists(f)]


def read_entries(path: str | None = None, since: float | None = None) -> Iterator[dict[str, Any]]:
    """Entries from the log and its rotated files, oldest first; `since` is a Unix time.
    Lines that are not JSON objects (a torn last line) are skipped."""
    path = path or default_log_path()
    for name in log_files(path):
        try:
            with open(name, "rb") as fh:
                yield from _entries(fh, since)
        except OSError:
            continue


def _entries(lines: Iterable[bytes], since: float | None) -> Iterator[dict[str, Any]]:
    for raw in lines:
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        ts = entry.get("ts")
        if since is not None and (not isinstance(ts, (int, float)) or ts < since):
            continue
        yield entry


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """'90s', '15m', '24h', '7d', '2w' -> seconds. Raises ValueError with the accepted forms."""
    match = _DURATION.match(text or "")
    if not match:
        raise ValueError(f"bad duration {text!r}: use a number and one of s, m, h, d, w (24h, 7d)")
    return float(match.group(1)) * _UNIT[match.group(2)]


@dataclass
class StatsRow:
    requests: int = 0
    errors: int = 0
    tokens_before: int = 0
    tokens_after: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    unpriced: int = 0
    """Requests whose model has no price (their cost and savings are not in the sums)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens_saved(self) -> int:
        return max(0, self.tokens_before - self.tokens_after)

    def add(self, entry: Mapping[str, Any]) -> None:
        self.requests += 1
        status = entry.get("status")
        if not isinstance(status, int) or status >= 400:
            self.errors += 1
        before, after = entry.get("tokens_before"), entry.get("tokens_after")
        if isinstance(before, int) and isinstance(after, int):
            self.tokens_before += before
            self.tokens_after += after
        usage = entry.get("usage")
        if isinstance(usage, Mapping):
            self.input_tokens += _num(usage.get("input_tokens"))
            self.output_tokens += _num(usage.get("output_tokens"))
            self.cache_read_tokens += _num(usage.get("cache_read_tokens"))
            self.cache_write_tokens += _num(usage.get("cache_write_tokens"))
        if entry.get("pricing") == "unpriced":
            self.unpriced += 1
        self.cost_usd += _fnum(entry.get("cost_usd"))
        self.saved_usd += _fnum(entry.get("saved_usd"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "tokens_before": self.tokens_before,
            "tokens_after": self.tokens_after,
            "tokens_saved": self.tokens_saved,
            "savings_ratio": round(self.tokens_saved / self.tokens_before, 4) if self.tokens_before else 0.0,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "saved_usd": round(self.saved_usd, 6),
            "unpriced_requests": self.unpriced,
        }


def _num(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _fnum(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


GROUPINGS = ("model", "key", "day", "provider", "endpoint", "hour")


def group_key(entry: Mapping[str, Any], by: str) -> str:
    if by in ("day", "hour"):
        ts = entry.get("ts")
        if not isinstance(ts, (int, float)):
            return "?"
        fmt = "%Y-%m-%d" if by == "day" else "%Y-%m-%d %H:00"
        return time.strftime(fmt, time.gmtime(ts))
    field_name = "key_id" if by == "key" else by
    value = entry.get(field_name)
    return str(value) if value else "(none)"


def summarize(entries: Iterable[Mapping[str, Any]], by: str | None = None) -> dict[str, Any]:
    """Totals, and per-group rows when `by` is one of `GROUPINGS`. Groups sort by name (days
    in time order)."""
    if by is not None and by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, got {by!r}")
    total = StatsRow()
    groups: dict[str, StatsRow] = {}
    first = last = None
    for entry in entries:
        total.add(entry)
        ts = entry.get("ts")
        if isinstance(ts, (int, float)):
            first = ts if first is None else min(first, ts)
            last = ts if last is None else max(last, ts)
        if by is not None:
            groups.setdefault(group_key(entry, by), StatsRow()).add(entry)
    out: dict[str, Any] = {"total": total.as_dict(), "first_ts": first, "last_ts": last}
    if by is not None:
        out["by"] = by
        out["groups"] = {name: groups[name].as_dict() for name in sorted(groups)}
    return out
