"""Robustness, searched by class: every way a CCR store can break (issue 12.5 and friends).

Each breaker damages a store that already holds a record. The contract, checked for all:

- store layer: `stash` returns the content key or raises `CCRStoreError`; `retrieve` returns
  the exact original or raises `CCRKeyNotFoundError` / `CCRStoreError`; a membership test
  returns a bool. Nothing else escapes, and a wrong "original" never comes back.
- `compress()` / `compress_text()` level (needs the pipeline's `CCRStoreError` fallback):
  never raises because of the store, and every key in the result resolves to its original.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sqlite3
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom_core import (
    CCRKeyNotFoundError,
    CCRStoreError,
    DiskCCRStore,
    HeadroomConfig,
    _ccr,
    compress,
    compress_text,
    retrieve,
)
from headroom_core._ccr import _store

ORIGINAL = "\n".join(
    f"2026-01-01T00:00:{i % 60:02d} INFO request {i} served in {i % 17} ms" for i in range(400)
)
ROWS = orjson.dumps(  # varied enough that only a lossy (CCR-backed) form pays
    [
        {
            "id": i,
            "status": "ok",
            "digest": hashlib.sha256(str(i).encode()).hexdigest(),
            "n": (i * 7919) % 1009,
        }
        for i in range(1_500)
    ]
).decode()


def _db_path(path: Path) -> Path:
    return path / _ccr.DB_FILE


def _seed(path: Path) -> str:
    store = DiskCCRStore(path)
    key = _ccr.stash(store, ORIGINAL, "log", unit="line")
    store.close()
    return key


def _tamper_row(path: Path, key: str, change) -> None:
    db = sqlite3.connect(_db_path(path), isolation_level=None)
    (blob,) = db.execute("SELECT value FROM blobs WHERE key = ?", (key,)).fetchone()
    db.execute("UPDATE blobs SET value = ? WHERE key = ?", (change(blob), key))
    db.close()


def _garbage_db(path: Path, key: str) -> None:
    for suffix in ("-wal", "-shm"):
        Path(str(_db_path(path)) + suffix).unlink(missing_ok=True)
    _db_path(path).write_bytes(b"this is not a database" * 100)


def _truncated_db(path: Path, key: str) -> None:
    data = _db_path(path).read_bytes()
    _db_path(path).write_bytes(data[: len(data) // 3])


def _dir_is_file(path: Path, key: str) -> None:
    shutil.rmtree(path)
    path.write_text("a file where the store's directory should be")


def _poisoned_filename(path: Path, key: str) -> None:
    legacy = sqlite3.connect(path / "cache.db")
    legacy.execute("CREATE TABLE Cache (key BLOB, raw INTEGER, mode INTEGER, filename TEXT, value BLOB)")
    legacy.execute("INSERT INTO Cache VALUES (?, 1, 2, '/etc/passwd', NULL)", (key,))
    legacy.commit()
    legacy.close()
    db = sqlite3.connect(_db_path(path), isolation_level=None)
    db.execute("INSERT INTO records VALUES ('/etc/passwd', 9, 0, 0, NULL)")
    db.execute("INSERT INTO blobs VALUES ('/etc/passwd', ?)", (b'{"v":1}\nx',))
    db.close()


BREAKERS = {
    "intact": lambda path, key: None,
    "truncated value": lambda path, key: _tamper_row(path, key, lambda b: b[: len(b) // 2]),
    "bit-flipped value": lambda path, key: _tamper_row(
        path, key, lambda b: b[:-3] + bytes([b[-3] ^ 4]) + b[-2:]
    ),
    "value swapped for another record": lambda path, key: _tamper_row(path, key, lambda b: b'{"v":1}\nother'),
    "corrupt database": _garbage_db,
    "truncated database": _truncated_db,
    "directory is a file": _dir_is_file,
    "poisoned filename": _poisoned_filename,
}


def _read_only(monkeypatch) -> None:
    """What a read-only directory does to the store (root ignores permissions, so simulate)."""

    def refuse(self, db_path):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(_store.DiskCCRStore, "_open_writable", refuse)


def _check_store_contract(path: Path, key: str) -> None:
    store = DiskCCRStore(path, size_limit_bytes=1 << 20)
    assert isinstance(key in store, bool)
    try:
        got = retrieve(key, store=store)
    except (CCRKeyNotFoundError, CCRStoreError):
        pass
    else:
        assert got == ORIGINAL
    with contextlib.suppress(CCRStoreError):
        assert _ccr.stash(store, "fresh content", "text") == _ccr.content_key("fresh content")
    with contextlib.suppress(CCRKeyNotFoundError, CCRStoreError):
        assert retrieve(key, query="request 17", store=store).startswith("2026")
    store.close()


@pytest.mark.parametrize("breaker", [*sorted(BREAKERS), "read-only directory"])
def test_store_layer_raises_only_store_errors(tmp_path, monkeypatch, breaker):
    path = tmp_path / "ccr"
    key = _seed(path)
    if breaker == "read-only directory":
        _read_only(monkeypatch)
    else:
        BREAKERS[breaker](path, key)
    _check_store_contract(path, key)


@pytest.mark.parametrize("breaker", [*sorted(BREAKERS), "read-only directory", "full store"])
def test_compress_never_fails_because_of_the_store(tmp_path, monkeypatch, caplog, breaker):
    """compress()-level: relies on the pipeline catching `CCRStoreError` (interface 2)."""
    path = tmp_path / "ccr"
    key = _seed(path)
    limit = 1 << 30
    if breaker == "read-only directory":
        _read_only(monkeypatch)
    elif breaker == "full store":
        limit = 4096  # every record of a real output is over a quarter of it: refused up front
    else:
        BREAKERS[breaker](path, key)
    config = HeadroomConfig(ccr_path=str(path), ccr_size_limit_bytes=limit)
    _ccr._open_disk_store.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="headroom"):
            result = compress_text(ROWS, config=config, tool_name="list_rows")
            messages = [
                {"role": "user", "content": "which rows failed?"},
                {"role": "tool", "tool_call_id": "t1", "content": ROWS},
            ]
            full = compress(messages, config=config)
        for k in (*result.ccr_keys, *full.ccr_keys):
            assert retrieve(k, config=config)  # a marker always points at a stored record
        if breaker in ("corrupt database", "directory is a file", "read-only directory", "full store"):
            assert not result.ccr_keys and not full.ccr_keys
            assert result.tokens_after <= result.tokens_before  # lossless work still ran
            assert any(r.name.startswith("headroom") and "CCR" in r.getMessage() for r in caplog.records)
    finally:
        _ccr._open_disk_store.cache_clear()


# --------------------------------------------------------------------------- searched


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=8)
)
def test_random_damage_to_the_database_never_returns_a_wrong_original(tmp_path_factory, flips):
    path = tmp_path_factory.mktemp("flip") / "ccr"
    key = _seed(path)
    data = bytearray(_db_path(path).read_bytes())
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    _db_path(path).write_bytes(bytes(data))
    _check_store_contract(path, key)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, len(ORIGINAL) + 40), garbage=st.binary(max_size=20))
def test_random_damage_to_a_value_is_always_caught(tmp_path_factory, cut, garbage):
    path = tmp_path_factory.mktemp("value") / "ccr"
    key = _seed(path)
    _tamper_row(path, key, lambda b: b[:cut] + garbage + b[cut + len(garbage) :])
    _check_store_contract(path, key)


# --------------------------------------------------------------------------- real permissions


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0,
    reason="root ignores permissions (the read-only breaker above simulates it)",
)
def test_a_read_only_store_still_serves_reads(tmp_path):
    path = tmp_path / "ccr"
    key = _seed(path)
    os.chmod(_db_path(path), 0o400)
    os.chmod(path, 0o500)
    try:
        store = DiskCCRStore(path)
        assert retrieve(key, store=store) == ORIGINAL
        with pytest.raises(CCRStoreError, match="read-only"):
            _ccr.stash(store, "new content", "text")
        store.close()
    finally:
        os.chmod(path, 0o700)


def test_a_store_that_cannot_be_constructed_only_disables_lossy_steps(tmp_path, monkeypatch, caplog):
    def broken(self, *args, **kwargs):
        raise OSError("no such device")

    monkeypatch.setattr(_store.DiskCCRStore, "__init__", broken)
    _ccr._open_disk_store.cache_clear()
    try:
        config = HeadroomConfig(ccr_path=str(tmp_path / "ccr"))
        store = _ccr.store_for(config)
        with pytest.raises(CCRStoreError, match="unavailable"):
            store.put("ab" * 12, b"x")
        with caplog.at_level(logging.WARNING, logger="headroom"):
            result = compress_text(ROWS, config=config, tool_name="list_rows")
        assert result.ccr_keys == () and result.tokens_after <= result.tokens_before
        with pytest.raises(CCRStoreError):
            retrieve("ab" * 12, config=config)
    finally:
        _ccr._open_disk_store.cache_clear()
