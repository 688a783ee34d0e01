"""CCR (Compress-Cache-Retrieve): what a lossy step drops is stored and can be fetched back.

Keys: `content_key(original)` is the first 24 hex digits of the SHA-256 of the original text
encoded as UTF-8 (lone surrogates kept with `surrogatepass`). That is exactly what is hashed:
the original's bytes, not the record header. Every read re-hashes the original it decodes and
compares it with the key asked for, so a truncated, bit-flipped or swapped record is a
`CCRStoreError`, never a wrong "exact original".

Record format (bytes, never pickles): one line of JSON metadata, a newline, then the
original text encoded as above. Metadata fields: `v` (format version), `kind` ("json",
"text", "log", "code", ...), `paths` (for JSON: where the arrays whose items were dropped
live, as lists of keys and indices; `[[]]` means the top-level array), `unit` (for text:
"line" or "block").

Marker format, left in the compressed text where content was dropped::

    [headroom: 1,843 items omitted; retrieve with headroom_retrieve(key="3f9a0c...")]

`parse_markers` finds them (also when JSON-escaped, `key=\\"...\\"`).

This package imports nothing above it: modules that want to know about retrievals (the
context manager's learning store) register a hook with `add_retrieval_hook`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

from headroom_core._ccr._redis import CCR_URL_ENV, RedisCCRStore, redact_url, store_from_url
from headroom_core._ccr._select import DEFAULT_QUERY_LIMIT, select_units
from headroom_core._ccr._store import (
    CCR_DIR_ENV,
    DB_FILE,
    RECORD_SHARE,
    CCRStore,
    DiskCCRStore,
    MemoryCCRStore,
    _UnavailableStore,
    cache_root,
    store_dir,
)
from headroom_core._ccr._tenant import TenantScopedStore, scoped_store
from headroom_core._errors import CCRKeyNotFoundError, CCRStoreError, echo_key
from headroom_core.compressors.json._table import TABLE_HEADER_PREFIX  # re-export: the codec owns it

if TYPE_CHECKING:
    from headroom_core._config import HeadroomConfig

__all__ = [
    "CCR_DIR_ENV",
    "CCR_URL_ENV",
    "cache_root",
    "DB_FILE",
    "DEFAULT_QUERY_LIMIT",
    "KEY_LENGTH",
    "RECORD_SHARE",
    "RETRIEVE_TOOL_NAME",
    "TABLE_HEADER_PREFIX",
    "CCRStore",
    "DiskCCRStore",
    "Marker",
    "MemoryCCRStore",
    "RedisCCRStore",
    "TenantScopedStore",
    "add_retrieval_hook",
    "content_key",
    "decode_record",
    "default_store_path",
    "encode_record",
    "has_key",
    "load",
    "make_marker",
    "normalize_key",
    "parse_markers",
    "remove_retrieval_hook",
    "retrieve",
    "select_units",
    "stash",
    "store_dir",
    "store_for",
    "store_from_url",
    "store_original",
]

log = logging.getLogger("headroom.ccr")

RETRIEVE_TOOL_NAME = "headroom_retrieve"
KEY_LENGTH = 24
_FORMAT_VERSION = 1
_MAX_KEY_INPUT = 4096
"""Longer "keys" are not searched for a key at all: nothing Headroom emits is that long."""

_MARKER_RE = re.compile(
    r"\[headroom: (?P<description>[^\[\]]*?); retrieve with "
    + RETRIEVE_TOOL_NAME
    + r'\(key=\\?"(?P<key>[0-9a-f]{8,64})\\?"\)\]'
)
_HEX_KEY = re.compile(r"[0-9a-f]{8,64}")
_QUOTED_KEY = re.compile(r'key\s{0,3}[=:]\s{0,3}\\?["\']?(?P<key>[0-9A-Fa-f]{8,64})\b')


@dataclass(frozen=True)
class Marker:
    """A CCR marker found in text."""

    key: str
    description: str
    start: int
    end: int


def content_key(original: str) -> str:
    """The CCR key of a text: a prefix of its sha256 (stable across runs and machines)."""
    return hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:KEY_LENGTH]


def normalize_key(raw: object) -> str:
    """The bare key in what a caller or a model passed as one.

    Accepts the key itself, quoted, `key="..."` (also JSON-escaped) and a whole marker;
    case and surrounding whitespace do not matter. Raises `TypeError` for a non-str and
    `CCRKeyNotFoundError` (quoting only a short prefix) for text that holds no key.
    """
    if not isinstance(raw, str):
        raise TypeError(f"a CCR key is a str, got {type(raw).__name__}")
    text = raw.strip().strip("`'\" ").strip()
    if len(text) <= _MAX_KEY_INPUT:
        low = text.lower()
        if _HEX_KEY.fullmatch(low):
            return low
        found = _MARKER_RE.search(text) or _QUOTED_KEY.search(text)
        if found:
            return found.group("key").lower()
    raise CCRKeyNotFoundError(raw)


def make_marker(description: str, key: str) -> str:
    """The marker text for `key`. Brackets in the description are replaced to keep it parseable."""
    description = description.replace("[", "(").replace("]", ")")
    return f'[headroom: {description}; retrieve with {RETRIEVE_TOOL_NAME}(key="{key}")]'


def parse_markers(text: str) -> list[Marker]:
    """Every CCR marker in `text`, in order."""
    if not isinstance(text, str):
        raise TypeError(f"parse_markers() expected a str, got {type(text).__name__}")
    return [
        Marker(m.group("key"), m.group("description"), m.start(), m.end()) for m in _MARKER_RE.finditer(text)
    ]


# --------------------------------------------------------------------------- store choice


def default_store_path() -> str:
    """`$HEADROOM_CCR_DIR`, else `<user cache dir>/headroom/ccr`."""
    return store_dir()


@lru_cache(maxsize=16)
def _open_disk_store(path: str, ttl: float | None, size_limit: int) -> DiskCCRStore:
    # One handle per (path, settings) per process; SQLite handles cross-process safety.
    return DiskCCRStore(path, ttl_seconds=ttl, size_limit_bytes=size_limit)


def store_for(config: HeadroomConfig) -> CCRStore:
    """The store a `HeadroomConfig` points at, seen by its tenant (if any).

    `ccr_store` (an object, or a Redis URL), else the Redis URL in `$HEADROOM_CCR_URL`, else
    the disk store. Never raises for a store that cannot be opened: the disk and Redis stores
    open lazily and report trouble as `CCRStoreError` on use, and settings they reject give
    a stand-in store whose every use is `CCRStoreError`. Either way `compress()` falls back
    to lossless work. With `config.tenant`, only that tenant's records are visible.
    """
    return scoped_store(_base_store(config), config.tenant)


@lru_cache(maxsize=16)
def _open_redis_store(url: str, ttl: float | None) -> RedisCCRStore:
    # One client (connection pool) per (URL, TTL) per process; tenants share it.
    return RedisCCRStore(url, ttl_seconds=ttl)


def _base_store(config: HeadroomConfig) -> CCRStore:
    explicit = config.ccr_store
    if explicit is not None and not isinstance(explicit, str):
        return explicit
    url = explicit or os.environ.get(CCR_URL_ENV) or None
    if url is not None:
        try:
            return _open_redis_store(url, config.ccr_ttl_seconds)
        except (ValueError, TypeError) as exc:
            log.warning("CCR store at %s unusable (%s); compressing losslessly only", redact_url(url), exc)
            return _UnavailableStore(f"CCR store at {redact_url(url)} unusable: {exc}")
    path = store_dir(config)
    try:
        return _open_disk_store(path, config.ccr_ttl_seconds, config.ccr_size_limit_bytes)
    except (ValueError, TypeError, OSError) as exc:
        log.warning("CCR store at %s unavailable (%s); compressing losslessly only", path, exc)
        return _UnavailableStore(f"CCR store at {path} unavailable: {exc}")


def has_key(store: CCRStore, key: str) -> bool:
    """Whether `store` holds `key`, without reading the value when the store can say so.
    False (logged) when the store cannot be read."""
    try:
        if hasattr(store, "__contains__"):
            return key in store
        return store.get(key) is not None
    except Exception as exc:  # any backend: a membership test must not fail the caller
        log.warning("CCR store lookup failed (%s: %s); treating the key as absent", type(exc).__name__, exc)
        return False


# --------------------------------------------------------------------------- records


def encode_record(original: str, meta: dict[str, Any]) -> bytes:
    header = orjson.dumps({"v": _FORMAT_VERSION, **meta}, option=orjson.OPT_SORT_KEYS)
    return header + b"\n" + original.encode("utf-8", "surrogatepass")


def decode_record(blob: bytes, key: str | None = None) -> tuple[dict[str, Any], str]:
    """(metadata, original) of a record; with `key`, also checks that the original hashes to it."""
    head, sep, body = blob.partition(b"\n")
    try:
        meta = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise CCRStoreError("corrupt CCR record header") from exc
    if not sep or not isinstance(meta, dict) or meta.get("v") != _FORMAT_VERSION:
        raise CCRStoreError("unknown CCR record format")
    if key is not None and hashlib.sha256(body).hexdigest()[: len(key)] != key:
        raise CCRStoreError(
            f"CCR record for key {echo_key(key)!r} failed its integrity check (corrupt or tampered)"
        )
    try:
        return meta, body.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise CCRStoreError("corrupt CCR record body") from exc


def _call_store(action: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a backend; any failure of a third-party backend becomes `CCRStoreError`."""
    try:
        return fn(*args, **kwargs)
    except CCRStoreError:
        raise
    except Exception as exc:
        raise CCRStoreError(f"CCR store could not {action}: {type(exc).__name__}: {exc}") from exc


def stash(store: CCRStore, original: str, kind: str, *, keep: Collection[str] = (), **meta: Any) -> str:
    """Store `original` and return its key. Idempotent: same text, same key.

    When the record is already stored its expiry is refreshed (a re-issued marker lives a
    full TTL). `keep`: keys the store must not evict to make room (the current call's
    records). Raises `CCRStoreError` when the record cannot be stored (refused for size,
    store full of the current call's records, I/O error, read-only or corrupt store): a
    marker is only ever issued for a stored record.
    """
    key = content_key(original)
    touch = getattr(store, "touch", None)
    if callable(touch):
        if _call_store("refresh a record", touch, key):
            return key
    else:
        existing = _call_store("read a record", store.get, key)
        if existing is not None and _intact(existing, key):
            _call_store("store a record", store.put, key, existing)  # refreshes its expiry
            return key
    blob = encode_record(original, {"kind": kind, **meta})
    limit = getattr(store, "max_record_bytes", None)
    if isinstance(limit, int) and len(blob) > limit:
        raise CCRStoreError(
            f"record of {len(blob):,} bytes refused: over the store's {limit:,}-byte record limit"
        )
    if isinstance(store, (DiskCCRStore, MemoryCCRStore)):
        store.put(key, blob, keep=keep)
    elif isinstance(store, TenantScopedStore):  # any backend underneath: errors wrapped
        _call_store("store a record", store.put, key, blob, keep=keep)
    else:
        _call_store("store a record", store.put, key, blob)
    return key


def _intact(blob: bytes, key: str) -> bool:
    try:
        decode_record(blob, key)
    except CCRStoreError as exc:
        log.warning("%s; storing it again", exc)
        return False
    return True


def store_original(
    text: str,
    *,
    kind: str = "text",
    unit: str = "line",
    config: HeadroomConfig | None = None,
    store: CCRStore | None = None,
) -> str | None:
    """Put `text` in the CCR store and return its key (`content_key(text)`).

    For adapters and applications that drop content themselves (a RAG budget dropping whole
    passages) and want it retrievable like everything Headroom drops. `unit` says how a
    query retrieval splits it ("line" or "block": paragraphs). Returns None when the config
    disables CCR; raises `CCRStoreError` when the store cannot take it.
    """
    if not isinstance(text, str):
        raise TypeError(f"store_original() expected a str, got {type(text).__name__}")
    if store is None:
        from headroom_core._config import HeadroomConfig

        config = config or HeadroomConfig()
        if not config.ccr_enabled:
            return None
        store = store_for(config)
    return stash(store, text, kind, unit=unit)


def load(store: CCRStore, key: str) -> tuple[dict[str, Any], str]:
    """(metadata, original text) for `key`, integrity checked.

    `CCRKeyNotFoundError` if absent or expired; `CCRStoreError` if the store fails or the
    record does not hash to its key (the bad record is then discarded when the store
    allows it, so storing the same content again repairs it).
    """
    key = normalize_key(key)
    blob = _call_store("read a record", store.get, key)
    if blob is None:
        raise CCRKeyNotFoundError(key)
    if not isinstance(blob, bytes):
        raise CCRStoreError(f"CCR entry {echo_key(key)!r} is not bytes")
    try:
        return decode_record(blob, key)
    except CCRStoreError:
        discard = getattr(store, "discard", None)
        if callable(discard):
            try:
                discard(key)
            except Exception:
                log.warning("could not discard the corrupt CCR record %r", echo_key(key), exc_info=True)
        raise


# --------------------------------------------------------------------------- retrieval hooks

RetrievalHook = Callable[[str, Any], None]
_retrieval_hooks: list[RetrievalHook] = []


def add_retrieval_hook(hook: RetrievalHook) -> None:
    """Call `hook(key, config)` after every successful `retrieve()` (idempotent).

    How modules above CCR (the context manager's learning store) learn that a key was
    needed again, without CCR importing them. A hook that raises is logged and ignored.
    """
    if hook not in _retrieval_hooks:
        _retrieval_hooks.append(hook)


def remove_retrieval_hook(hook: RetrievalHook) -> None:
    if hook in _retrieval_hooks:
        _retrieval_hooks.remove(hook)


def _notify_retrieval(key: str, config: Any) -> None:
    for hook in tuple(_retrieval_hooks):
        try:
            hook(key, config)
        except Exception:  # learning must never break retrieval
            log.warning("CCR retrieval hook %r failed", hook, exc_info=True)


# --------------------------------------------------------------------------- retrieval


def retrieve(
    key: str,
    query: str | None = None,
    limit: int | None = None,
    *,
    store: CCRStore | None = None,
    config: HeadroomConfig | None = None,
) -> str:
    """Fetch what was dropped under `key`.

    Without `query` or `limit`: the exact original text (integrity checked). With a query:
    only the stored items (JSON arrays) or lines (text) that match it, judged by their
    values first (see `docs/ccr.md`), in original order, at most `limit` of them
    (`DEFAULT_QUERY_LIMIT` when not given). Raises only `CCRKeyNotFoundError` (unknown,
    expired or evicted key, or text that holds no key), `CCRStoreError` (the store failed or
    the record is corrupt) and `TypeError` for arguments of the wrong type.
    """
    if query is not None and not isinstance(query, str):
        raise TypeError(f"query must be a str, got {type(query).__name__}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise TypeError(f"limit must be a non-negative int, got {limit!r}")
    if store is None:
        from headroom_core._config import HeadroomConfig

        store = store_for(config or HeadroomConfig())
    meta, original = load(store, key)
    _notify_retrieval(normalize_key(key), config)
    if query is None and limit is None:
        return original
    return select_units(meta, original, query, limit)
