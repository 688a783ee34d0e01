"""CCR: markers, record format, stores, retrieval."""

from __future__ import annotations

import multiprocessing

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


def test_size_limit_evicts_least_recently_used(tmp_path):
    store = DiskCCRStore(tmp_path / "ccr", size_limit_bytes=200_000)
    keys = [_ccr.stash(store, f"{i}:" + "x" * 40_000, "text") for i in range(30)]
    assert store.volume() <= 200_000
    assert store.get(keys[0]) is None and store.get(keys[-1]) is not None


def test_store_only_accepts_bytes(tmp_path):
    store = DiskCCRStore(tmp_path / "ccr")
    with pytest.raises(TypeError, match="bytes"):
        store.put("ab" * 12, {"a": 1})


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


def test_key_errors_echo_only_a_short_prefix():
    """Issue 12.14: a 200 K-character "key" must not come back as a 200 K-character error."""
    huge = "a" * 200_000
    with pytest.raises(CCRKeyNotFoundError) as info:
        retrieve(huge, store=MemoryCCRStore())
    assert len(str(info.value)) < 300 and len(repr(info.value)) < 300
    assert "200,000 characters" in str(info.value)
    with pytest.raises(CCRKeyNotFoundError) as info:
        retrieve("0" * 24 + "z" * 100_000, store=MemoryCCRStore())
    assert len(str(info.value)) < 300


@pytest.mark.parametrize(
    "given",
    [
        "3f9a0c1d2e4b5a6978c0d1e2",
        "  3F9A0C1D2E4B5A6978C0D1E2 ",
        '"3f9a0c1d2e4b5a6978c0d1e2"',
        'key="3f9a0c1d2e4b5a6978c0d1e2"',
        'key=\\"3f9a0c1d2e4b5a6978c0d1e2\\"',
        'headroom_retrieve(key="3f9a0c1d2e4b5a6978c0d1e2")',
        make_marker("3 rows omitted", "3f9a0c1d2e4b5a6978c0d1e2"),
    ],
)
def test_keys_are_normalised_from_every_form_a_model_passes(given):
    assert _ccr.normalize_key(given) == "3f9a0c1d2e4b5a6978c0d1e2"


@pytest.mark.parametrize("given", ["", "   ", "not a key", "key=zz", "x" * 10_000])
def test_text_without_a_key_is_key_not_found(given):
    with pytest.raises(CCRKeyNotFoundError):
        _ccr.normalize_key(given)
    with pytest.raises(CCRKeyNotFoundError):
        retrieve(given, store=MemoryCCRStore())


def test_non_text_key_is_a_type_error():
    with pytest.raises(TypeError, match="str"):
        retrieve(None, store=MemoryCCRStore())


def test_retrieval_hooks_are_called_and_cannot_break_retrieval(caplog):
    store = MemoryCCRStore()
    key = _ccr.stash(store, "hooked", "text")
    seen = []

    def good(k, config):
        seen.append(k)

    def bad(k, config):
        raise RuntimeError("hook bug")

    _ccr.add_retrieval_hook(good)
    _ccr.add_retrieval_hook(bad)
    _ccr.add_retrieval_hook(good)  # idempotent
    try:
        assert retrieve(f'key="{key.upper()}"', store=store) == "hooked"
    finally:
        _ccr.remove_retrieval_hook(good)
        _ccr.remove_retrieval_hook(bad)
    assert seen == [key]
    assert any(r.name == "headroom.ccr" and "hook" in r.getMessage() for r in caplog.records)


def test_ccr_imports_nothing_above_it():
    """Issue 10: dependencies point one way; the learning store registers a hook instead."""
    import ast
    from pathlib import Path

    import headroom_core.context.learning_store as learning

    package = Path(_ccr.__file__).parent
    for module in package.glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                assert not name.startswith(("headroom_core.context", "headroom_integrations")), (module, name)
    assert learning.record_retrieval in _ccr._retrieval_hooks


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


@pytest.mark.parametrize(("query", "limit"), [(3, None), (None, -1), (None, "5"), (None, True)])
def test_bad_query_or_limit_is_a_clear_type_error(query, limit):
    store = MemoryCCRStore()
    key = _ccr.stash(store, "text", "text")
    with pytest.raises(TypeError, match=r"query|limit"):
        retrieve(key, query=query, limit=limit, store=store)
