"""The public surface: flat, complete, framework-free."""

from __future__ import annotations

import subprocess
import sys

import headroom_core


def test_all_names_resolve():
    for name in headroom_core.__all__:
        assert hasattr(headroom_core, name), name


def test_issue_names_are_top_level():
    for name in ("compress", "count_tokens", "parse_markers", "retrieve", "HeadroomConfig", "CompressResult"):
        assert name in headroom_core.__all__


def test_engine_imports_no_framework():
    code = (
        "import sys, headroom_core, headroom_core.compressors;"
        "from headroom_core import compress;"
        "compress([{'role': 'user', 'content': 'hi'}]);"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('langchain', 'langchain_core', 'llama_index', 'torch', 'sentence_transformers')];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_config_is_immutable_and_copyable():
    cfg = headroom_core.HeadroomConfig()
    changed = cfg.with_(min_tokens=10)
    assert changed.min_tokens == 10 and cfg.min_tokens == 120
    try:
        cfg.min_tokens = 5  # type: ignore[misc]
    except AttributeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("HeadroomConfig must be frozen")
