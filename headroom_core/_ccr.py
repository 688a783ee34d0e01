"""CCR (Compress-Cache-Retrieve): what a lossy step drops is stored and can be fetched back.

Record format (bytes, never pickles): one line of JSON metadata, a newline, then the
original text encoded as UTF-8 (lone surrogates kept with `surrogatepass`, so the round
trip is exact for any Python str).

Metadata fields: `v` (format version), `kind` ("json", "text", "log", "code", ...),
`paths` (for JSON: where the arrays whose items were dropped live, as lists of keys and
indices; `[[]]` means the top-level array), `unit` (for text: "line" or "block").

Marker format, left in the compressed text where content was dropped::

    [headroom: 1,843 items omitted; retrieve with headroom_retrieve(key="3f9a0c...")]

`parse_markers` finds them (also when JSON-escaped, `key=\\"...\\"`).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import orjson

from headroom_core._errors import CCRKeyNotFoundError, CCRStoreError

RETRIEVE_TOOL_NAME = "headroom_retrieve"
TABLE_HEADER_PREFIX = "[headroom table: "
"""First line of SmartCrusher's lossless text table form (docs/compressors/json.md)."""
KEY_LENGTH = 24
_FORMAT_VERSION = 1

_MARKER_RE = re.compile(
    r"\[headroom: (?P<description>[^\[\]]*?); retrieve with "
    + RETRIEVE_TOOL_NAME
    + r'\(key=\\?"(?P<key>[0-9a-f]{8,64})\\?"\)\]'
)


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


# --------------------------------------------------------------------------- stores


@runtime_checkable
class CCRStore(Protocol):
    """What a CCR backend must do. Values are opaque bytes; keys are hex strings."""

    def put(self, key: str, value: bytes) -> None: ...

    def get(self, key: str) -> bytes | None: ...


class MemoryCCRStore:
    """An in-process store (tests, short-lived scripts). Bounded by total bytes, LRU."""

    def __init__(self, max_bytes: int = 256 << 20) -> None:
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._max = max_bytes
        self._lock = threading.Lock()

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._data[key] = value
            self._size += len(value)
            while self._size > self._max and len(self._data) > 1:
                _, dropped = self._data.popitem(last=False)
                self._size -= len(dropped)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._data


def _safe_disk_class() -> type:
    import diskcache

    class _BytesOnlyDisk(diskcache.Disk):
        """A diskcache Disk that never unpickles: a poisoned cache must not run code."""

        def get(self, key: Any, raw: bool) -> Any:
            if not raw:
                raise CCRStoreError("refusing a pickled key in the CCR store")
            return super().get(key, raw)

        def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
            if mode == diskcache.core.MODE_PICKLE:
                raise CCRStoreError("refusing a pickled value in the CCR store")
            return super().fetch(mode, filename, value, read)

        def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> Any:
            if not isinstance(value, bytes):
                raise TypeError("the CCR store only holds bytes")
            return super().store(value, read, key=key)

    return _BytesOnlyDisk


class DiskCCRStore:
    """The default store: diskcache (SQLite + files), safe across processes, TTL and size limit."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        ttl_seconds: float | None = 7 * 24 * 3600,
        size_limit_bytes: int = 1 << 30,
    ) -> None:
        import diskcache

        self.path = str(path) if path is not None else default_store_path()
        self.ttl_seconds = ttl_seconds
        self._cache = diskcache.Cache(
            self.path,
            disk=_safe_disk_class(),
            size_limit=size_limit_bytes,
            eviction_policy="least-recently-stored",
        )

    def put(self, key: str, value: bytes) -> None:
        self._cache.set(key, value, expire=self.ttl_seconds)

    def get(self, key: str) -> bytes | None:
        value = self._cache.get(key, default=None)
        if value is not None and not isinstance(value, bytes):
            raise CCRStoreError(f"CCR entry {key!r} is not bytes")
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._cache  # diskcache honours expiry here

    def close(self) -> None:
        self._cache.close()


def default_store_path() -> str:
    """`$HEADROOM_CCR_DIR`, else `<user cache dir>/headroom/ccr`."""
    env = os.environ.get("HEADROOM_CCR_DIR")
    if env:
        return env
    import platformdirs

    return os.path.join(platformdirs.user_cache_dir("headroom"), "ccr")


@lru_cache(maxsize=16)
def _open_disk_store(path: str, ttl: float | None, size_limit: int) -> DiskCCRStore:
    # One handle per (path, settings) per process; diskcache handles cross-process safety.
    return DiskCCRStore(path, ttl_seconds=ttl, size_limit_bytes=size_limit)


def store_for(config: Any) -> CCRStore:
    """The store a `HeadroomConfig` points at."""
    if config.ccr_store is not None:
        return config.ccr_store
    path = config.ccr_path or default_store_path()
    return _open_disk_store(path, config.ccr_ttl_seconds, config.ccr_size_limit_bytes)


# --------------------------------------------------------------------------- records


def encode_record(original: str, meta: dict[str, Any]) -> bytes:
    header = orjson.dumps({"v": _FORMAT_VERSION, **meta}, option=orjson.OPT_SORT_KEYS)
    return header + b"\n" + original.encode("utf-8", "surrogatepass")


def decode_record(blob: bytes) -> tuple[dict[str, Any], str]:
    head, sep, body = blob.partition(b"\n")
    try:
        meta = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise CCRStoreError("corrupt CCR record header") from exc
    if not sep or not isinstance(meta, dict) or meta.get("v") != _FORMAT_VERSION:
        raise CCRStoreError("unknown CCR record format")
    return meta, body.decode("utf-8", "surrogatepass")


def stash(store: CCRStore, original: str, kind: str, **meta: Any) -> str:
    """Store `original` and return its key. Idempotent: same text, same key."""
    key = content_key(original)
    if store.get(key) is None:
        store.put(key, encode_record(original, {"kind": kind, **meta}))
    return key


def store_original(
    text: str,
    *,
    kind: str = "text",
    unit: str = "line",
    config: Any = None,
    store: CCRStore | None = None,
) -> str | None:
    """Put `text` in the CCR store and return its key (`content_key(text)`).

    For adapters and applications that drop content themselves (a RAG budget dropping whole
    passages) and want it retrievable like everything Headroom drops. `unit` says how a
    query retrieval splits it ("line" or "block": paragraphs). Returns None when the config
    disables CCR.
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


def has_key(store: CCRStore, key: str) -> bool:
    """Whether `store` holds `key`, without reading the value when the store can say so."""
    if hasattr(store, "__contains__"):
        return key in store  # type: ignore[operator]
    return store.get(key) is not None


def load(store: CCRStore, key: str) -> tuple[dict[str, Any], str]:
    """(metadata, original text) for `key`; `CCRKeyNotFoundError` if absent or expired."""
    if not isinstance(key, str):
        raise TypeError(f"a CCR key is a str, got {type(key).__name__}")
    key = key.strip().strip('"').lower()
    blob = store.get(key)
    if blob is None:
        raise CCRKeyNotFoundError(key)
    return decode_record(blob)


# --------------------------------------------------------------------------- retrieval


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
        return [b for b in re.split(r"\n\s*\n", original) if b.strip()]
    return [line for line in original.splitlines() if line.strip()]


def select_units(meta: dict[str, Any], original: str, query: str | None, limit: int | None) -> str:
    """The items (JSON) or lines/blocks (text) of a record that match `query`, best `limit`."""
    from headroom_core._relevance import bm25_scores

    if meta.get("kind") == "json":
        items = _json_items(meta, original)
        if items is not None:
            texts = [orjson.dumps(item).decode() for item in items]
            chosen = _choose(texts, query, limit, bm25_scores)
            return "[" + ",".join(texts[i] for i in chosen) + "]"
    units = _text_units(meta, original)
    chosen = _choose(units, query, limit, bm25_scores)
    sep = "\n\n" if meta.get("unit") == "block" else "\n"
    return sep.join(units[i] for i in chosen)


def _choose(texts: list[str], query: str | None, limit: int | None, scorer: Any) -> list[int]:
    if query:
        scores = scorer(query, texts)
        ranked = [i for i in sorted(range(len(texts)), key=lambda i: (-scores[i], i)) if scores[i] > 0]
    else:
        ranked = list(range(len(texts)))
    if limit is not None:
        ranked = ranked[: max(0, int(limit))]
    return sorted(ranked)  # original order reads best


def retrieve(
    key: str,
    query: str | None = None,
    limit: int | None = None,
    *,
    store: CCRStore | None = None,
    config: Any = None,
) -> str:
    """Fetch what was dropped under `key`.

    Without `query` or `limit`: the exact original text. With a query: only the stored
    items (JSON arrays) or lines (text) that match it by BM25, in original order, at most
    `limit` of them. Raises `CCRKeyNotFoundError` for unknown or expired keys.
    """
    if store is None:
        from headroom_core._config import HeadroomConfig

        store = store_for(config or HeadroomConfig())
    meta, original = load(store, key)
    _record_retrieval(key, config)
    if query is None and limit is None:
        return original
    return select_units(meta, original, query, limit)


def _record_retrieval(key: str, config: Any) -> None:
    """Tell the context manager's learning store (when enabled) that `key` was needed again."""
    try:
        from headroom_core.context.learning_store import record_retrieval

        record_retrieval(key, config)
    except Exception:  # learning must never break retrieval
        pass
