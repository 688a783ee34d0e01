"""CCR backends: the `CCRStore` protocol, an in-memory store and the default disk store.

Every failure of a backend Headroom ships leaves it as `CCRStoreError` (wrapped at the store
boundary), so callers handle one exception type whatever went wrong underneath (a corrupt
database, a read-only or missing directory, a full store).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from headroom_core._errors import CCRStoreError, echo_key

if TYPE_CHECKING:
    from headroom_core._config import HeadroomConfig

log = logging.getLogger("headroom.ccr")
_now = time.time  # one clock for expiry and recency (tests move it)

CCR_DIR_ENV = "HEADROOM_CCR_DIR"
RECORD_SHARE = 4
"""A single record may take at most 1/RECORD_SHARE of a store's size limit; larger ones are
refused up front (`CCRStoreError`), so one record never evicts a whole store."""

DB_FILE = "records.db"
"""The disk store's only file (plus SQLite's `-wal`/`-shm` companions while it is open)."""


@runtime_checkable
class CCRStore(Protocol):
    """What a CCR backend must do. Values are opaque bytes; keys are hex strings.

    Optional extras Headroom uses when a backend has them: `touch(key) -> bool` (refresh
    the expiry of a present record), `discard(key)` (drop a record that failed its integrity
    check) and `__contains__`.
    """

    def put(self, key: str, value: bytes) -> None: ...

    def get(self, key: str) -> bytes | None: ...


def store_dir(config: HeadroomConfig | None = None) -> str:
    """The directory of the default disk store: the config's `ccr_path`, else
    `$HEADROOM_CCR_DIR`, else `<user cache dir>/headroom/ccr`. The one place that reads it."""
    path = getattr(config, "ccr_path", None) if config is not None else None
    if path:
        return os.fspath(path)
    env = os.environ.get(CCR_DIR_ENV)
    return env if env else os.path.join(cache_root(), "ccr")


def cache_root() -> str:
    """`$HEADROOM_CCR_DIR` if set, else Headroom's user cache directory: where the default
    store and the learning file live."""
    env = os.environ.get(CCR_DIR_ENV)
    if env:
        return env
    import platformdirs

    return platformdirs.user_cache_dir("headroom")


class MemoryCCRStore:
    """An in-process store (tests, short-lived scripts). Bounded by total bytes, LRU.

    A record larger than a quarter of `max_bytes` is refused (`CCRStoreError`), and making
    room never evicts the keys the caller asks to keep (the records of the current call).
    """

    def __init__(self, max_bytes: int = 256 << 20) -> None:
        if not isinstance(max_bytes, int) or max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive int, got {max_bytes!r}")
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._max = max_bytes
        self.max_record_bytes = max(1, max_bytes // RECORD_SHARE)
        self._lock = threading.Lock()

    def put(self, key: str, value: bytes, *, keep: Collection[str] = ()) -> None:
        if len(value) > self.max_record_bytes:
            raise CCRStoreError(
                f"record of {len(value):,} bytes refused: over the {self.max_record_bytes:,}-byte "
                "per-record limit of this store"
            )
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._size -= len(old)
            victims = []
            room = self._size + len(value) - self._max
            for other, blob in self._data.items():
                if room <= 0:
                    break
                if other not in keep:
                    victims.append(other)
                    room -= len(blob)
            if room > 0:
                if old is not None:  # put it back: a refused write changes nothing
                    self._data[key] = old
                    self._size += len(old)
                raise CCRStoreError("store full: every record it holds belongs to the current call")
            for other in victims:
                self._size -= len(self._data.pop(other))
            self._data[key] = value
            self._size += len(value)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def touch(self, key: str) -> bool:
        with self._lock:
            if key not in self._data:
                return False
            self._data.move_to_end(key)
            return True

    def discard(self, key: str) -> None:
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._size -= len(old)

    def volume(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._data


# --------------------------------------------------------------------------- disk

_SCHEMA = (
    # Values live in the database itself: there is no file-name column a poisoned database
    # could point outside the directory, and a record changes in one transaction. Values sit
    # in their own table so that refreshing an expiry or an access time rewrites a small row,
    # not the whole value.
    """CREATE TABLE IF NOT EXISTS records (
        key TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        stored REAL NOT NULL,
        accessed REAL NOT NULL,
        expires REAL
    )""",
    "CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS records_accessed ON records (accessed)",
    "CREATE INDEX IF NOT EXISTS records_expires ON records (expires)",
    "CREATE TABLE IF NOT EXISTS volume (id INTEGER PRIMARY KEY CHECK (id = 0), total INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO volume VALUES (0, 0)",
    # Triggers keep the byte total exact for every writer process without a scan per write
    # (writes use upserts, never INSERT OR REPLACE, whose implicit deletes skip triggers).
    """CREATE TRIGGER IF NOT EXISTS volume_insert AFTER INSERT ON records
        BEGIN UPDATE volume SET total = total + NEW.size WHERE id = 0; END""",
    """CREATE TRIGGER IF NOT EXISTS volume_delete AFTER DELETE ON records
        BEGIN
            UPDATE volume SET total = total - OLD.size WHERE id = 0;
            DELETE FROM blobs WHERE key = OLD.key;
        END""",
    """CREATE TRIGGER IF NOT EXISTS volume_update AFTER UPDATE OF size ON records
        BEGIN UPDATE volume SET total = total - OLD.size + NEW.size WHERE id = 0; END""",
)


def _move_values_out_of_records(conn: sqlite3.Connection) -> None:
    """Upgrade a store written by an earlier version, whose `records` rows held the values
    themselves: the values move to `blobs` and `records` is rebuilt without them, in the
    caller's transaction, so the originals behind markers already sent stay retrievable.
    The triggers go first (recreated by the schema), so the byte total is left as it is."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
    if "value" not in columns:
        return
    log.info("upgrading the CCR store's layout (values move to their own table)")
    conn.execute("CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
    conn.execute(
        "INSERT OR IGNORE INTO blobs (key, value) SELECT key, value FROM records WHERE value IS NOT NULL"
    )
    for trigger in ("volume_insert", "volume_delete", "volume_update"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    conn.execute(
        "CREATE TABLE records_v2 (key TEXT PRIMARY KEY, size INTEGER NOT NULL, stored REAL NOT NULL,"
        " accessed REAL NOT NULL, expires REAL)"
    )
    conn.execute(
        "INSERT INTO records_v2 (key, size, stored, accessed, expires)"
        " SELECT key, size, stored, accessed, expires FROM records"
    )
    conn.execute("DROP TABLE records")  # its indexes go with it; the schema makes them again
    conn.execute("ALTER TABLE records_v2 RENAME TO records")


def _tighten(path: str, mode: int) -> None:
    """Set `mode` on a path we own whose permissions are looser (older versions left 0755/0644)."""
    try:
        st = os.stat(path)
        if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & ~mode:
            os.chmod(path, mode)
    except (OSError, AttributeError):  # not ours, gone, or no geteuid (Windows)
        log.debug("could not tighten permissions of %s", path, exc_info=True)


class DiskCCRStore:
    """The default store: one SQLite database in a private directory, shared safely by
    threads and processes, with a TTL and a size limit.

    - Records are rows (value included), so the store never opens any file but its own.
    - The directory is created 0700 and the database 0600 (looser ones we own are tightened).
    - Reads of an expired record return None; every `put` first drops expired rows.
    - Over the size limit, the least recently used records are evicted, never the keys
      passed in `keep` (the current call's records); a record that cannot fit is refused
      with `CCRStoreError` before anything changes. So is one over a quarter of the limit.
    - Nothing touches the disk until the first operation; every failure then (corrupt
      database, read-only or missing directory, a path that is a file) is `CCRStoreError`.
      A store that cannot be written still serves reads.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        ttl_seconds: float | None = 7 * 24 * 3600,
        size_limit_bytes: int = 1 << 30,
    ) -> None:
        if ttl_seconds is not None and not ttl_seconds > 0:
            raise ValueError(f"ttl_seconds must be positive or None, got {ttl_seconds!r}")
        if not isinstance(size_limit_bytes, int) or size_limit_bytes <= 0:
            raise ValueError(f"size_limit_bytes must be a positive int, got {size_limit_bytes!r}")
        self.path = os.fspath(path) if path is not None else store_dir()
        self.ttl_seconds = ttl_seconds
        self.size_limit_bytes = size_limit_bytes
        self.max_record_bytes = max(1, size_limit_bytes // RECORD_SHARE)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._read_only = False
        self._warned = False

    # ------------------------------------------------------------------ connection
    def _open(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self._conn = None  # a connection inherited through fork() must not be used
        db_path = os.path.join(self.path, DB_FILE)
        try:
            conn = self._open_writable(db_path)
            self._read_only = False
        except (OSError, sqlite3.Error) as exc:
            conn = self._open_read_only(db_path, exc)
            self._read_only = True
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _open_writable(self, db_path: str) -> sqlite3.Connection:
        parent = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=0o700, exist_ok=True)
        if not os.path.isdir(self.path):
            os.mkdir(self.path, 0o700)
        _tighten(self.path, 0o700)
        if not os.path.exists(db_path):
            with contextlib.suppress(FileExistsError):  # another process just made it
                os.close(os.open(db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        _tighten(db_path, 0o600)  # SQLite gives -wal/-shm the database's permissions
        conn = sqlite3.connect(db_path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes effect before tables
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA journal_size_limit = 67108864")
            with self._transaction(conn):
                _move_values_out_of_records(conn)
                for statement in _SCHEMA:
                    conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_read_only(self, db_path: str, cause: BaseException) -> sqlite3.Connection:
        """A store we cannot write (read-only directory or file) still serves reads."""
        if not os.path.isfile(db_path):
            raise CCRStoreError(f"cannot open the CCR store at {self.path}: {cause}") from cause
        for query in ("mode=ro", "mode=ro&immutable=1"):  # immutable: no -shm can be created
            conn = sqlite3.connect(
                f"file:{urllib.parse.quote(db_path)}?{query}",
                uri=True,
                timeout=30.0,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                conn.execute("SELECT count(*) FROM records WHERE 0").fetchone()
            except sqlite3.Error:
                conn.close()
                continue
            log.warning("CCR store at %s is read-only (%s); serving reads only", self.path, cause)
            return conn
        raise CCRStoreError(f"cannot open the CCR store at {self.path}: {cause}") from cause

    @staticmethod
    @contextlib.contextmanager
    def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")  # take the write lock first: no upgrade deadlocks
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextlib.contextmanager
    def _guard(self, action: str, key: str | None = None) -> Iterator[None]:
        """The store boundary: whatever fails below leaves as `CCRStoreError`."""
        try:
            with self._lock:
                yield
        except CCRStoreError:
            raise
        except (OSError, sqlite3.Error, MemoryError, OverflowError, ValueError, TypeError) as exc:
            # ValueError/TypeError: a damaged database hands back undecodable text or
            # values of the wrong type (found by tests/core/test_store_failures.py).
            if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
                self._drop_connection()  # corrupt file: reopen next time, it may be replaced
            about = f" for key {echo_key(key)!r}" if key is not None else ""
            raise CCRStoreError(f"CCR store at {self.path} could not {action}{about}: {exc}") from exc

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _writable(self, action: str) -> sqlite3.Connection:
        conn = self._open()
        if self._read_only:
            raise CCRStoreError(f"CCR store at {self.path} is read-only: cannot {action}")
        return conn

    # ------------------------------------------------------------------ protocol
    def put(self, key: str, value: bytes, *, keep: Collection[str] = ()) -> None:
        """Store `value` under `key` with a fresh expiry. Raises `CCRStoreError` when it is
        refused (too large, or no room without evicting a record in `keep`) or cannot be written."""
        if not isinstance(value, bytes):
            raise TypeError(f"the CCR store only holds bytes, got {type(value).__name__}")
        if len(value) > self.max_record_bytes:
            raise CCRStoreError(
                f"record of {len(value):,} bytes refused: over the {self.max_record_bytes:,}-byte "
                f"per-record limit (a quarter of the store's {self.size_limit_bytes:,}-byte limit)"
            )
        with self._guard("store a record", key):
            conn = self._writable("store a record")
            now = _now()
            expires = now + self.ttl_seconds if self.ttl_seconds is not None else None
            with self._transaction(conn):
                conn.execute("DELETE FROM records WHERE expires IS NOT NULL AND expires < ?", (now,))
                self._make_room(conn, key, len(value), keep)
                conn.execute(
                    "INSERT INTO records (key, size, stored, accessed, expires) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET size = excluded.size, stored = excluded.stored,"
                    " accessed = excluded.accessed, expires = excluded.expires",
                    (key, len(value), now, now, expires),
                )
                conn.execute(
                    "INSERT INTO blobs (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )

    def _make_room(self, conn: sqlite3.Connection, key: str, size: int, keep: Collection[str]) -> None:
        (total,) = conn.execute("SELECT total FROM volume WHERE id = 0").fetchone()
        if not isinstance(total, int) or total < 0:
            total = 1 << 62  # damaged: forces the recount below
        victims = self._victims(conn, key, size, keep, total)
        if victims is None:  # full of this call's records, or a damaged total: count again
            (counted,) = conn.execute("SELECT CAST(total(size) AS INTEGER) FROM records").fetchone()
            if counted != total:
                conn.execute("UPDATE volume SET total = ? WHERE id = 0", (counted,))
                victims = self._victims(conn, key, size, keep, counted)
        if victims is None:
            raise CCRStoreError(
                f"record of {size:,} bytes refused: the store is full of records of the current call"
            )
        if not victims:
            return
        conn.executemany("DELETE FROM records WHERE key = ?", [(v,) for v in victims])
        log.debug("CCR store at %s evicted %d least recently used records", self.path, len(victims))
        conn.execute("PRAGMA incremental_vacuum").fetchall()  # one page per step

    def _victims(
        self, conn: sqlite3.Connection, key: str, size: int, keep: Collection[str], total: int
    ) -> list[str] | None:
        """Least recently used records to evict so that `size` more bytes fit (None: impossible)."""
        row = conn.execute("SELECT size FROM records WHERE key = ?", (key,)).fetchone()
        excess = total - (row[0] if row else 0) + size - self.size_limit_bytes
        victims: list[str] = []
        if excess <= 0:
            return victims
        for other, other_size in conn.execute("SELECT key, size FROM records ORDER BY accessed, key"):
            if other == key or other in keep:
                continue
            victims.append(other)
            excess -= other_size
            if excess <= 0:
                return victims
        return None

    def get(self, key: str) -> bytes | None:
        """The value under `key`, or None when absent or expired."""
        with self._guard("read a record", key):
            conn = self._open()
            row = conn.execute(
                "SELECT blobs.value, records.expires FROM records JOIN blobs ON blobs.key = records.key"
                " WHERE records.key = ?",
                (key,),
            ).fetchone()
            if row is None:
                return None
            value, expires = row
            now = _now()
            if expires is not None and expires < now:
                return None
            if not isinstance(value, bytes):
                raise CCRStoreError(f"CCR entry {echo_key(key)!r} is not bytes")
            if not self._read_only:
                try:  # least-recently-used bookkeeping must not cost the caller its read
                    conn.execute("UPDATE records SET accessed = ? WHERE key = ?", (now, key))
                except sqlite3.Error:
                    log.debug("CCR store at %s: could not record an access", self.path, exc_info=True)
            return value

    def touch(self, key: str) -> bool:
        """Refresh the expiry of a present, unexpired record; False when there is none."""
        with self._guard("refresh a record", key):
            conn = self._writable("refresh a record")
            now = _now()
            expires = now + self.ttl_seconds if self.ttl_seconds is not None else None
            # Only a record whose value is there counts: a marker is issued on this answer.
            cur = conn.execute(
                "UPDATE records SET accessed = ?, expires = ?"
                " WHERE key = ? AND (expires IS NULL OR expires >= ?)"
                " AND EXISTS (SELECT 1 FROM blobs WHERE blobs.key = records.key)",
                (now, expires, key, now),
            )
            return cur.rowcount > 0

    def discard(self, key: str) -> None:
        """Remove `key` (a record that failed its integrity check, so a later stash rewrites it)."""
        with self._guard("remove a record", key):
            self._writable("remove a record").execute("DELETE FROM records WHERE key = ?", (key,))

    def volume(self) -> int:
        """Bytes of record values held (what the size limit counts)."""
        with self._guard("measure its size"):
            return int(self._open().execute("SELECT total FROM volume WHERE id = 0").fetchone()[0])

    def __contains__(self, key: object) -> bool:
        """Whether an unexpired record is present; False (logged) when the store cannot say."""
        if not isinstance(key, str):
            return False
        try:
            with self._guard("look up a record", key):
                row = self._open().execute("SELECT expires FROM records WHERE key = ?", (key,)).fetchone()
        except CCRStoreError as exc:
            level = logging.DEBUG if self._warned else logging.WARNING
            self._warned = True  # once per store: the pipeline asks for every marker it sees
            log.log(level, "CCR store at %s could not be read (%s); treating keys as absent", self.path, exc)
            return False
        return row is not None and (row[0] is None or row[0] >= _now())

    def close(self) -> None:
        with self._lock:
            self._drop_connection()


class _UnavailableStore:
    """Stands in for a store that could not even be constructed: every call is `CCRStoreError`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def put(self, key: str, value: bytes) -> None:
        raise CCRStoreError(self.reason)

    def get(self, key: str) -> bytes | None:
        raise CCRStoreError(self.reason)

    def __contains__(self, key: object) -> bool:
        return False
