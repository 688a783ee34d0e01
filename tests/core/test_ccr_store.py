"""The CCR store's guarantees (issue 12): integrity, eviction, expiry, permissions, layout."""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
import threading

import orjson
import pytest

from headroom_core import (
    CCRKeyNotFoundError,
    CCRStoreError,
    DiskCCRStore,
    HeadroomConfig,
    MemoryCCRStore,
    _ccr,
    compress_text,
    retrieve,
)
from headroom_core._ccr import _store
from tests.support import make_ctx, openai_tool_turn

KIB = 1024
MIB = 1024 * KIB


def _db(store: DiskCCRStore) -> sqlite3.Connection:
    store.close()
    return sqlite3.connect(os.path.join(store.path, _ccr.DB_FILE), isolation_level=None)


def _original(n: int = 2_000) -> str:
    return "\n".join(f"line {i}: value {i * 7}" for i in range(n))


# --------------------------------------------------------------------------- 12.2 integrity


class FileStore:
    """A third-party backend that keeps each value in a file (integrity is checked above it)."""

    def __init__(self, root):
        self.root = root

    def put(self, key, value):
        (self.root / key).write_bytes(value)

    def get(self, key):
        path = self.root / key
        return path.read_bytes() if path.exists() else None


def _flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 0x01]) + blob[at + 1 :]


@pytest.mark.parametrize("damage", ["truncate", "bitflip", "swap"])
def test_damaged_value_file_is_a_store_error_not_an_original(tmp_path, damage):
    store = FileStore(tmp_path)
    key = _ccr.stash(store, _original(), "text")
    other = _ccr.stash(store, "another record", "text")
    path = tmp_path / key
    blob = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(blob[: len(blob) - 100])
    elif damage == "bitflip":
        path.write_bytes(_flip(blob, len(blob) - 5))
    else:
        path.write_bytes((tmp_path / other).read_bytes())
    with pytest.raises(CCRStoreError, match="integrity"):
        retrieve(key, store=store)
    with pytest.raises(CCRStoreError, match="integrity"):
        retrieve(key, query="value 14", store=store)


@pytest.mark.parametrize("damage", ["truncate", "bitflip"])
def test_tampered_sqlite_row_is_a_store_error_and_is_repaired_by_the_next_stash(tmp_path, damage):
    store = DiskCCRStore(tmp_path / "ccr")
    text = _original()
    key = _ccr.stash(store, text, "text")
    db = _db(store)
    (blob,) = db.execute("SELECT value FROM blobs WHERE key = ?", (key,)).fetchone()
    bad = blob[:-1] if damage == "truncate" else _flip(blob, len(blob) // 2)
    db.execute("UPDATE blobs SET value = ? WHERE key = ?", (bad, key))
    db.close()
    with pytest.raises(CCRStoreError, match="integrity"):
        retrieve(key, store=store)
    assert key not in store  # the bad record is gone ...
    assert _ccr.stash(store, text, "text") == key  # ... so storing the content again repairs it
    assert retrieve(key, store=store) == text


def test_memory_store_records_are_checked_too():
    store = MemoryCCRStore()
    key = _ccr.stash(store, "exact original", "text")
    store.put(key, store.get(key)[:-1])
    with pytest.raises(CCRStoreError, match="integrity"):
        retrieve(key, store=store)


def test_a_corrupt_record_is_replaced_when_stashed_through_a_plain_backend(tmp_path):
    store = FileStore(tmp_path)
    key = _ccr.stash(store, "exact original", "text")
    (tmp_path / key).write_bytes(b"garbage")
    assert _ccr.stash(store, "exact original", "text") == key
    assert retrieve(key, store=store) == "exact original"


# --------------------------------------------------------------------------- 12.3 eviction


def _turn_output(turn: int) -> str:
    rows = [
        {
            "id": turn * 10_000 + i,
            "turn": turn,
            "status": "ok",
            "detail": f"record {i} of turn {turn} " + "z" * 60,
        }
        for i in range(1_500)
    ]
    return orjson.dumps(rows).decode()


def test_recent_turns_keys_all_resolve_with_a_small_store(tmp_path):
    """12.3: 1 MiB limit and ~190 KB records: the last several turns' keys all resolve."""
    assert 180_000 < len(_turn_output(0)) < 200_000
    config = HeadroomConfig(ccr_path=str(tmp_path / "ccr"), ccr_size_limit_bytes=MIB)
    keys_by_turn = []
    for turn in range(12):
        result = compress_text(_turn_output(turn), config=config)
        assert result.ccr_keys, "the crusher should have dropped rows"
        keys_by_turn.append(result.ccr_keys)
        for key in result.ccr_keys:  # the marker just issued is never dead on arrival
            assert retrieve(key, config=config)
    for keys in keys_by_turn[-4:]:
        for key in keys:
            assert orjson.loads(retrieve(key, config=config))
    store = _ccr.store_for(config)
    assert store.volume() <= MIB


def test_a_record_that_cannot_fit_is_refused_up_front(tmp_path):
    store = DiskCCRStore(tmp_path / "ccr", size_limit_bytes=MIB)
    kept = [_ccr.stash(store, f"{i}\n" + "y" * 200 * KIB, "text") for i in range(4)]
    before = store.volume()
    with pytest.raises(CCRStoreError, match="refused"):
        _ccr.stash(store, "big\n" + "x" * 300 * KIB, "text")  # over a quarter of the limit
    assert store.volume() == before
    assert all(store.get(k) is not None for k in kept)
    with pytest.raises(CCRStoreError, match="refused"):
        _ccr.stash(MemoryCCRStore(max_bytes=MIB), "x" * 300 * KIB, "text")


@pytest.mark.parametrize("kind", ["disk", "memory"])
def test_records_of_the_current_call_are_never_evicted(tmp_path, kind):
    store = DiskCCRStore(tmp_path / "ccr", size_limit_bytes=MIB) if kind == "disk" else MemoryCCRStore(MIB)
    older = _ccr.stash(store, "older\n" + "o" * 240 * KIB, "text")
    ctx = make_ctx(store)
    mine = [ctx.stash(f"call record {i}\n" + "m" * 240 * KIB, "text") for i in range(4)]
    assert store.get(older) is None  # an older call's record made room
    with pytest.raises(CCRStoreError, match="current call"):
        ctx.stash("one too many\n" + "m" * 240 * KIB, "text")
    for key in mine:
        assert retrieve(key, store=store).startswith("call record")


# --------------------------------------------------------------------------- 12.4 TTL


def test_reissuing_a_marker_refreshes_the_expiry(tmp_path, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr(_store, "_now", lambda: clock[0])
    store = DiskCCRStore(tmp_path / "ccr", ttl_seconds=100)
    key = _ccr.stash(store, "reissued", "text")
    clock[0] += 90
    assert _ccr.stash(store, "reissued", "text") == key  # a second marker for the same content
    clock[0] += 60  # 150 s after the first marker, 60 s after the second
    assert retrieve(key, store=store) == "reissued"
    clock[0] += 50
    with pytest.raises(CCRKeyNotFoundError):
        retrieve(key, store=store)
    assert _ccr.stash(store, "reissued", "text") == key  # an expired record is written afresh
    assert retrieve(key, store=store) == "reissued"


# --------------------------------------------------------------------------- 12.6 layout


def test_poisoned_database_never_touches_files_outside_the_store(tmp_path):
    """12.6: no column of the store's database names a file; old diskcache rows are ignored."""
    victim = tmp_path / "victim.txt"
    victim.write_text("secret outside the store")
    ccr_dir = tmp_path / "ccr"
    ccr_dir.mkdir()
    key = "ab" * 12
    legacy = sqlite3.connect(ccr_dir / "cache.db")  # what diskcache trusted: a filename column
    legacy.execute("CREATE TABLE Cache (key BLOB, raw INTEGER, mode INTEGER, filename TEXT, value BLOB)")
    for name in (str(victim), "../victim.txt"):
        legacy.execute("INSERT INTO Cache VALUES (?, 1, 2, ?, NULL)", (key, name))
    legacy.commit()
    legacy.close()
    store = DiskCCRStore(ccr_dir, size_limit_bytes=MIB)
    store.get("00" * 12)  # creates the store's own database next to the legacy one
    db = _db(store)
    for table, row in (
        ("records", "('../victim.txt', 10, 0, 0, NULL)"),
        ("blobs", "('../victim.txt', x'00')"),
    ):
        db.execute(f"INSERT INTO {table} VALUES {row}")  # a crafted row: keys are never paths
    db.close()

    opened: list[str] = []
    watching = threading.Event()

    def audit(event, args):
        if watching.is_set() and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            opened.append(os.fsdecode(args[0]))

    sys.addaudithook(audit)
    watching.set()
    try:
        with pytest.raises(CCRKeyNotFoundError):
            retrieve(key, store=store)
        with pytest.raises(CCRKeyNotFoundError):
            retrieve("../victim.txt", store=store)
        for i in range(12):  # force culls and expiry sweeps
            _ccr.stash(store, f"{i}\n" + "c" * 200 * KIB, "text")
    finally:
        watching.clear()
    assert victim.read_text() == "secret outside the store"
    outside = [p for p in opened if not os.path.realpath(p).startswith(os.path.realpath(ccr_dir))]
    assert not [p for p in outside if "victim" in p]


def test_stored_originals_are_not_written_line_by_line(tmp_path):
    """12.12: a many-line original goes to the store in one write, not one per line (diskcache
    streamed values through a Python file object, one write() per line)."""
    writes: list[str] = []
    watching = threading.Event()

    def audit(event, args):
        if watching.is_set() and event == "open" and args and isinstance(args[0], (str, os.PathLike)):
            writes.append(os.fsdecode(args[0]))

    sys.addaudithook(audit)
    store = DiskCCRStore(tmp_path / "ccr")
    store.get("00" * 12)  # open the database first
    text = "\n".join(f'{{"n": {i}}}' for i in range(100_000))
    watching.set()
    try:
        key = _ccr.stash(store, text, "json")
    finally:
        watching.clear()
    assert writes == []  # no per-record file at all: the value goes into SQLite in one statement
    assert retrieve(key, store=store) == text


# --------------------------------------------------------------------------- 12.7 permissions


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_store_directory_and_files_are_private(tmp_path):
    old_umask = os.umask(0)
    try:
        store = DiskCCRStore(tmp_path / "parent" / "ccr")
        _ccr.stash(store, "a secret tool output", "text")
        assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(tmp_path / "parent").st_mode) == 0o700
        for name in os.listdir(store.path):  # the database and SQLite's -wal/-shm companions
            assert stat.S_IMODE(os.stat(os.path.join(store.path, name)).st_mode) == 0o600, name
    finally:
        os.umask(old_umask)
        store.close()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_directories_left_open_by_older_versions_are_tightened(tmp_path):
    legacy = tmp_path / "ccr"
    legacy.mkdir(mode=0o755)
    os.chmod(legacy, 0o755)
    (legacy / _ccr.DB_FILE).touch()
    os.chmod(legacy / _ccr.DB_FILE, 0o644)
    store = DiskCCRStore(legacy)
    _ccr.stash(store, "tightened", "text")
    assert stat.S_IMODE(os.stat(legacy).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(legacy / _ccr.DB_FILE).st_mode) == 0o600
    assert retrieve(_ccr.content_key("tightened"), store=store) == "tightened"


def test_volume_stays_exact_when_records_are_rewritten_and_evicted(tmp_path):
    store = DiskCCRStore(tmp_path / "ccr", size_limit_bytes=MIB)
    store.put("ab" * 12, b"x" * 1000)
    store.put("ab" * 12, b"y" * 500)  # a rewrite replaces, it does not add
    assert store.volume() == 500
    for i in range(20):
        _ccr.stash(store, f"{i}\n" + "v" * 100 * KIB, "text")
    db = _db(store)
    (total,) = db.execute("SELECT total(size) FROM records").fetchone()
    (orphans,) = db.execute(
        "SELECT count(*) FROM blobs WHERE key NOT IN (SELECT key FROM records)"
    ).fetchone()
    db.close()
    assert store.volume() == total <= MIB and orphans == 0


def test_one_call_never_evicts_its_own_records(tmp_path):
    """Six ~190 KB tool outputs in one compress() call and a 1 MiB store: what does not fit is
    compressed losslessly, and every key the result names resolves (the pipeline shares one
    `stashed` set across the call's contexts)."""
    from headroom_core import compress

    config = HeadroomConfig(ccr_path=str(tmp_path / "ccr"), ccr_size_limit_bytes=MIB)
    messages = [{"role": "user", "content": "list everything"}]
    for turn in range(6):
        messages += openai_tool_turn(_turn_output(turn), call_id=f"c{turn}", tool="rows")
    result = compress(messages, config=config)
    assert result.ccr_keys
    for key in result.ccr_keys:
        assert retrieve(key, config=config)
    for message in result.messages:
        for marker in _ccr.parse_markers(orjson.dumps(message).decode()):
            assert retrieve(marker.key, config=config)


@pytest.mark.parametrize("damaged", [10**15, -5, "'lots'"])
def test_a_damaged_byte_total_is_counted_again(tmp_path, damaged):
    store = DiskCCRStore(tmp_path / "ccr", size_limit_bytes=MIB)
    first = _ccr.stash(store, "first\n" + "f" * 100 * KIB, "text")
    db = _db(store)
    db.execute(f"UPDATE volume SET total = {damaged} WHERE id = 0")
    db.close()
    second = _ccr.stash(store, "second\n" + "s" * 100 * KIB, "text")
    assert store.get(first) is not None and store.get(second) is not None
    db = _db(store)
    (total,) = db.execute("SELECT total(size) FROM records").fetchone()
    db.close()
    assert store.volume() == total


def test_a_store_written_by_the_earlier_layout_is_upgraded_in_place(tmp_path):
    """Earlier versions kept each value in its `records` row; the originals behind markers
    already sent must stay retrievable after an upgrade, and writes must work again."""
    import sqlite3

    from headroom_core._ccr._store import DB_FILE, DiskCCRStore

    tmp_path.chmod(0o700)
    conn = sqlite3.connect(tmp_path / DB_FILE)
    conn.executescript(
        """
        CREATE TABLE records (key TEXT PRIMARY KEY, value BLOB NOT NULL, size INTEGER NOT NULL,
            stored REAL NOT NULL, accessed REAL NOT NULL, expires REAL);
        CREATE INDEX records_accessed ON records (accessed);
        CREATE INDEX records_expires ON records (expires);
        CREATE TABLE volume (id INTEGER PRIMARY KEY CHECK (id = 0), total INTEGER NOT NULL);
        INSERT INTO volume VALUES (0, 0);
        CREATE TRIGGER volume_insert AFTER INSERT ON records
            BEGIN UPDATE volume SET total = total + NEW.size WHERE id = 0; END;
        CREATE TRIGGER volume_delete AFTER DELETE ON records
            BEGIN UPDATE volume SET total = total - OLD.size WHERE id = 0; END;
        """
    )
    conn.execute("INSERT INTO records VALUES ('a' || hex(randomblob(8)), x'00', 1, 0, 0, NULL)")
    conn.execute("INSERT INTO records VALUES ('oldkey0123456789', ?, 12, 0, 0, NULL)", (b"old original",))
    conn.commit()
    conn.close()

    store = DiskCCRStore(tmp_path)
    assert store.get("oldkey0123456789") == b"old original"
    store.put("newkey0123456789", b"new original")
    assert store.get("newkey0123456789") == b"new original"
    assert store.volume() == 1 + 12 + 12  # the byte total carried over, then counted on
    reopened = DiskCCRStore(tmp_path)
    assert reopened.get("newkey0123456789") == b"new original"
