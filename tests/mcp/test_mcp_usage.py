"""The shared usage log (headroom_core._usage): append-only JSONL, bounded, never raising."""

from __future__ import annotations

import json
import multiprocessing
import os
from datetime import timedelta

import pytest

from headroom_core._usage import USAGE_FILE, record_usage, summarize, usage_path


def test_lives_next_to_the_ccr_store(ccr_dir):
    assert usage_path() == str(ccr_dir / USAGE_FILE)


def test_records_and_sums_without_content(ccr_dir):
    record_usage(
        "mcp", "compress", tokens_before=1000, tokens_after=200, ccr_keys=2, model="gpt-4o", kind="log"
    )
    record_usage("proxy", "compress", tokens_before=500, tokens_after=500)
    record_usage("mcp", "retrieve")
    lines = [json.loads(x) for x in (ccr_dir / USAGE_FILE).read_text().splitlines()]
    assert [x["event"] for x in lines] == ["compress", "compress", "retrieve"]
    assert set(lines[0]) == {
        "ts",
        "source",
        "event",
        "model",
        "kind",
        "tokens_before",
        "tokens_after",
        "ccr_keys",
    }
    total = summarize()
    assert (total.compressions, total.retrievals, total.tokens_saved) == (2, 1, 800)
    assert total.by_source == {"mcp": 800, "proxy": 0}
    assert total.saved_ratio == pytest.approx(800 / 1500)


def test_since_filters_by_time(tmp_path):
    path = tmp_path / "u.jsonl"
    record_usage("mcp", "compress", tokens_before=10, tokens_after=1, path=path, now=1_000.0)
    record_usage("mcp", "compress", tokens_before=20, tokens_after=2, path=path, now=5_000.0)
    assert summarize(path=path).tokens_saved == 27
    assert summarize(2_000.0, path=path).tokens_saved == 18
    assert summarize(timedelta(seconds=100), path=path, now=5_050.0).tokens_saved == 18
    assert summarize(timedelta(seconds=10), path=path, now=5_050.0).compressions == 0
    with pytest.raises(TypeError):
        summarize("yesterday", path=path)


def test_rotation_bounds_the_log(tmp_path):
    path = tmp_path / "u.jsonl"
    for _ in range(2000):
        record_usage("mcp", "compress", tokens_before=2, tokens_after=1, path=path, max_bytes=10_000)
    assert os.path.getsize(path) <= 10_000 + 200
    assert os.path.getsize(str(path) + ".1") <= 10_000 + 200
    assert not os.path.exists(str(path) + ".2")
    assert 0 < summarize(path=path).compressions < 2000  # what is kept is still counted


def test_torn_lines_are_skipped(tmp_path):
    path = tmp_path / "u.jsonl"
    record_usage("mcp", "compress", tokens_before=10, tokens_after=4, path=path)
    with open(path, "ab") as fh:
        fh.write(b'{"ts": 1, "tokens_bef')  # a crash mid-line
    with open(path, "ab") as fh:
        fh.write(b"\n[1,2]\n")
    record_usage("mcp", "compress", tokens_before=10, tokens_after=4, path=path)
    assert summarize(path=path).tokens_saved == 12


def test_unwritable_log_does_not_raise(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    record_usage("mcp", "compress", tokens_before=1, tokens_after=0, path=blocker / "u.jsonl")
    assert "not writable" in caplog.text
    assert summarize(path=blocker / "u.jsonl").compressions == 0


def test_counts_must_be_counts(tmp_path):
    with pytest.raises(TypeError):
        record_usage("mcp", "compress", tokens_before=-1, path=tmp_path / "u.jsonl")


def _append_many(path: str, n: int) -> None:
    for _ in range(n):
        record_usage("mcp", "compress", tokens_before=3, tokens_after=1, model="m" * 60, path=path)


def test_lines_from_several_processes_do_not_interleave(tmp_path):
    path = str(tmp_path / "u.jsonl")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(path, 300)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    assert len(lines) == 900 and all(json.loads(x)["tokens_before"] == 3 for x in lines)
    assert summarize(path=path).tokens_saved == 1800
