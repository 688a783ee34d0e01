"""The parsed-vocabulary cache behind fast start-up: same ranks, and any problem with the
cache file degrades to parsing, never to an error."""

from __future__ import annotations

import marshal
import os

import pytest

from headroom_core import _tokenizer

O200K_SHA = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADROOM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("HEADROOM_TOKENIZER_CACHE", raising=False)
    return tmp_path / "tokenizer"


def _params():
    return _tokenizer._encoding_params_offline("o200k_base")


def test_cache_is_written_once_and_gives_the_same_ranks(cache_dir):
    parsed = _tokenizer._parse_bpe(_tokenizer._packaged_bpe("o200k_base"))
    first = _params()
    files = list(cache_dir.iterdir())
    assert [f.name for f in files] == [f"o200k_base-{O200K_SHA[:32]}-m{marshal.version}.ranks"]
    second = _params()  # now from the cache
    assert first["mergeable_ranks"] == parsed == second["mergeable_ranks"]
    assert second["special_tokens"] == first["special_tokens"]


def test_corrupt_cache_falls_back_to_parsing_and_is_rewritten(cache_dir, caplog):
    _params()
    path = next(cache_dir.iterdir())
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    assert _tokenizer._read_cached_ranks(str(path)) is None
    assert "corrupt" in caplog.text
    ranks = _params()["mergeable_ranks"]
    assert len(ranks) == 199_998
    assert _tokenizer._read_cached_ranks(str(path)) == ranks  # repaired


@pytest.mark.parametrize("content", [b"", b"not a cache", _tokenizer._CACHE_MAGIC + b"\x00\x00"])
def test_garbage_cache_files_are_ignored(cache_dir, content):
    cache_dir.mkdir(parents=True)
    (cache_dir / f"o200k_base-{O200K_SHA[:32]}-m{marshal.version}.ranks").write_bytes(content)
    assert len(_params()["mergeable_ranks"]) == 199_998


def test_unwritable_cache_dir_still_works(tmp_path, monkeypatch):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    monkeypatch.setenv("HEADROOM_CACHE_DIR", str(blocker))
    assert len(_params()["mergeable_ranks"]) == 199_998


def test_cache_can_be_turned_off(cache_dir, monkeypatch):
    monkeypatch.setenv("HEADROOM_TOKENIZER_CACHE", "0")
    _params()
    assert not os.path.exists(cache_dir)
