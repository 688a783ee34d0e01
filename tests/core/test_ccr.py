"""CCR: markers, record format, stores, retrieval."""

from __future__ import annotations

import multiprocessing
import pickle
import sqlite3

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headroom_core import (
    CCRKeyNotFoundError,
    CCRStoreError,
    DiskCCRStore,
    MemoryCCRStore,
    _ccr,
    make_marker,
    parse_markers,
    retrieve,
)


def test_marker_roundtrip_plain_and_json_escaped():
    key = _ccr.content_key("some original")
    marker = make_marker("1,843 rows omitted: status=settled x1,840", key)
    assert marker == (
        f'[headroom: 1,843 rows omitted: status=settled x1,840; retrieve with headroom_retrieve(key="{key}")]'
    )
    text = f"before {marker} after"
    (found,) = parse_markers(text)
    assert found.key == key and found.description.startswith("1,843 rows")
    assert text[found.start : found.end] == marker
    escaped = orjson.dumps(["x", marker]).decode()
    assert [m.key for m in parse_markers(escaped)] == [key]


def test_brackets_in_description_do_not_break_parsing():
    marker = make_marker("items [3..9] omitted", "ab" * 12)
    assert parse_markers(marker)[0].key == "ab" * 12


def test_parse_markers_rejects_non_text():
    with pytest.raises(TypeError, match="expected a str"):
        parse_markers(None)


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_any_text_roundtrips_exactly_through_memory_store(text):
    store = MemoryCCRStore()
    key = _ccr.stash(store, text, "text", unit="line")
    assert retrieve(key, store=store) == text


def test_surrogates_and_binary_looking_text_roundtrip(tmp_path):
    store = DiskCCRStore(tmp_path / "ccr")
    text = "lone \ud83d surrogate \x00 nul \uffff end"
    key = _ccr.stash(store, text, "text")
    assert retrieve(key, store=store) == text


def test_disk_store_survives_reopen_and_is_shared(tmp_path):
    path = tmp_path / "ccr"
    key = _ccr.stash(DiskCCRStore(path), "persisted", "text")
    assert retrieve(key, store=DiskCCRStore(path)) == "persisted"


def _writer(path: str, start: int) -> None:
    store = DiskCCRStore(path)
    for i in range(start, start + 40):
        _ccr.stash(store, f"item {i}", "text")


def test_several_processes_share_one_store(tmp_path):
    path = str(tmp_path / "ccr")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, n * 40)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = DiskCCRStore(path)
    for i in range(120):
        assert retrieve(_ccr.content_key(f"item {i}"), store=store) == f"item {i}"


def test_ttl_expiry_gives_clear_error(tmp_path):
    store = DiskCCRStore(tmp_path / "ccr", ttl_seconds=0.001)
    key = _ccr.stash(store, "short lived", "text")
    import time

    time.sleep(0.05)
    with pytest.raises(CCRKeyNotFoundError, match="expired"):
        retrieve(key, store=store)


def test_size_limit_evicts(tmp_path):
    store = DiskCCRStore(tmp_path / "ccr", size_limit_bytes=200_000)
    keys = [_ccr.stash(store, f"{i}:" + "x" * 50_000, "text") for i in range(30)]
    store._cache.cull()
    assert store._cache.volume() < 1_000_000
    assert any(store.get(k) is None for k in keys)


def test_poisoned_pickle_is_refused_not_executed(tmp_path):
    store = DiskCCRStore(tmp_path / "ccr")
    key = _ccr.stash(store, "harmless", "text")
    store.close()

    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("unpickled attacker payload",))

    db = sqlite3.connect(tmp_path / "ccr" / "cache.db")
    db.execute("UPDATE Cache SET value = ?, mode = 4 WHERE key = ?", (pickle.dumps(Boom()), key))
    db.commit()
    db.close()
    with pytest.raises(CCRStoreError, match="pickled"):
        DiskCCRStore(tmp_path / "ccr").get(key)


def test_store_only_accepts_bytes(tmp_path):
    store = DiskCCRStore(tmp_path / "ccr")
    with pytest.raises(TypeError, match="bytes"):
        store._cache.set("k", {"a": 1})


def test_corrupt_record_is_a_clear_error():
    store = MemoryCCRStore()
    store.put("ab" * 12, b"not json\nbody")
    with pytest.raises(CCRStoreError):
        retrieve("ab" * 12, store=store)


def test_unknown_key_error_names_the_key():
    with pytest.raises(CCRKeyNotFoundError) as info:
        retrieve("0" * 24, store=MemoryCCRStore())
    assert "0" * 24 in str(info.value)
    assert isinstance(info.value, KeyError)


def test_query_retrieval_on_json_items():
    rows = [{"id": i, "status": "ok", "name": f"row {i}"} for i in range(50)]
    rows[37]["status"] = "failed"
    original = orjson.dumps({"data": {"rows": rows}}).decode()
    store = MemoryCCRStore()
    key = _ccr.stash(store, original, "json", paths=[["data", "rows"]])
    got = orjson.loads(retrieve(key, query="failed", store=store))
    assert got == [rows[37]]
    assert len(orjson.loads(retrieve(key, limit=5, store=store))) == 5


def test_query_retrieval_on_text_lines_keeps_order():
    text = "\n".join(["alpha one", "beta two", "gamma alpha", "delta"])
    store = MemoryCCRStore()
    key = _ccr.stash(store, text, "log", unit="line")
    assert retrieve(key, query="alpha", store=store) == "alpha one\ngamma alpha"
    assert retrieve(key, query="alpha", limit=1, store=store) in ("alpha one", "gamma alpha")


def test_memory_store_is_bounded():
    store = MemoryCCRStore(max_bytes=1000)
    for i in range(50):
        store.put(f"{i:024x}", b"x" * 100)
    assert len(store) <= 10


def test_default_store_uses_env_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HEADROOM_CCR_DIR", str(tmp_path / "envstore"))
    assert _ccr.default_store_path() == str(tmp_path / "envstore")


def test_store_original_public_api(tmp_path):
    from headroom_core import HeadroomConfig, content_key, store_original

    cfg = HeadroomConfig(ccr_path=str(tmp_path / "ccr"))
    text = "first passage about budgets\n\nsecond passage about markers"
    key = store_original(text, unit="block", config=cfg)
    assert key == content_key(text)
    assert retrieve(key, config=cfg) == text
    assert retrieve(key, query="markers", config=cfg) == "second passage about markers"
    assert store_original(text, config=HeadroomConfig(ccr_enabled=False)) is None
    with pytest.raises(TypeError, match="expected a str"):
        store_original(b"bytes", config=cfg)
