"""Determinism and stores: the same bytes from memory and disk stores, across hash seeds,
threads and a store a config names by path."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest

from headroom_core import (
    DiskCCRStore,
    HeadroomConfig,
    MemoryCCRStore,
    compress,
    retrieve,
)
from tests.robustness.invariants import (
    EXPECTED_ROUTES,
    FIXTURE_NAMES,
    MODEL,
    canonical,
    fixture_text,
    fixture_turn,
    output_digests,
    run_checked,
)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_whole_pipeline_memory_and_disk(name, tmp_path):
    messages, hints = fixture_turn(name)
    memory = run_checked(messages, hints)
    (transform,) = memory.result.transforms_applied
    assert transform.route == EXPECTED_ROUTES[name]
    # Real fixtures are all worth compressing; the route's compressor must do something.
    assert transform.compressor != "none" and memory.result.tokens_after < memory.result.tokens_before
    disk_store = DiskCCRStore(tmp_path / "ccr")
    try:
        disk = run_checked(messages, hints, store=disk_store, twice=False)
        assert canonical(disk.result.messages) == canonical(memory.result.messages)
        assert disk.result.ccr_keys == memory.result.ccr_keys
        # The disk store must hand back the same originals after a reopen.
        reopened = DiskCCRStore(tmp_path / "ccr")
        for key in disk.result.ccr_keys:
            assert retrieve(key, store=reopened) == retrieve(key, store=memory.store)
            # Query search over the stored units works for every record kind.
            original = retrieve(key, store=reopened)
            found = retrieve(key, query="error timeout request", limit=3, store=reopened)
            if EXPECTED_ROUTES[name] == "json":
                assert isinstance(orjson.loads(found), list) and len(orjson.loads(found)) <= 3
            else:
                units = [u for u in re.split(r"\n\s*\n|\n", found) if u.strip()]
                assert all(u in original for u in units)
        reopened.close()
    finally:
        disk_store.close()


def test_output_does_not_depend_on_the_hash_seed():
    """Set iteration order changes with PYTHONHASHSEED; the output must not."""
    script = (
        "import json; from tests.robustness.invariants import output_digests as o; print(json.dumps(o()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    other = json.loads(proc.stdout.strip().splitlines()[-1])
    here = output_digests()
    assert [k for k in here if here[k] != other.get(k)] == []


def test_concurrent_calls_share_a_disk_store(tmp_path):
    """Threads compressing at once (shared tree-sitter, tokenizer and store) give the same
    bytes as one call at a time."""
    names = [n for n in FIXTURE_NAMES if n.startswith("code/")] + ["npm_view_express.json", "man_find.1.txt"]

    def digest(name: str, store: Any) -> str:
        messages, _ = fixture_turn(name)
        result = compress(messages, MODEL, config=HeadroomConfig(ccr_store=store))
        assert result.warnings == []
        return hashlib.sha256(canonical(result.messages)).hexdigest()

    expected = {name: digest(name, MemoryCCRStore()) for name in names}
    store = DiskCCRStore(tmp_path / "ccr")
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            jobs = [(name, pool.submit(digest, name, store)) for name in names * 2]
            assert [name for name, job in jobs if job.result() != expected[name]] == []
    finally:
        store.close()


@pytest.mark.parametrize(
    "name", ["var_log_dpkg.log", "openml_api_data_features_40966.json", "code/event_store.ts"]
)
def test_store_from_config_path(name, disk_config):
    """The store a config names by path (what users get by default) round-trips too."""
    messages, _ = fixture_turn(name)
    result = compress(messages, MODEL, config=disk_config)
    assert result.ccr_keys
    for key in result.ccr_keys:
        assert retrieve(key, config=disk_config) == fixture_text(name)
