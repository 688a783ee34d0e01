"""Suite-wide settings: no network, no hub downloads, CCR in a temp dir."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Must be set before anything imports huggingface_hub / transformers.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# The default CCR store must never be the user's real cache during tests.
_CCR_DIR = tempfile.mkdtemp(prefix="headroom-test-ccr-")
os.environ["HEADROOM_CCR_DIR"] = _CCR_DIR
# Nor a developer's own Redis store, or their real proxy request log.
os.environ.pop("HEADROOM_CCR_URL", None)
os.environ["HEADROOM_REQUEST_LOG"] = os.path.join(_CCR_DIR, "requests.jsonl")

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def memory_config():
    """A HeadroomConfig with a fresh in-memory CCR store."""
    from headroom_core import HeadroomConfig, MemoryCCRStore

    return HeadroomConfig(ccr_store=MemoryCCRStore())


@pytest.fixture
def disk_config(tmp_path):
    """A HeadroomConfig with a real disk store (SQLite) in a temp dir."""
    from headroom_core import HeadroomConfig

    return HeadroomConfig(ccr_path=str(tmp_path / "ccr"))
