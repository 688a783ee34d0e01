"""Fixtures for the context-manager tests."""

from __future__ import annotations

import pytest

from headroom_core import HeadroomConfig, MemoryCCRStore
from headroom_core._config import ContextConfig


@pytest.fixture
def store() -> MemoryCCRStore:
    return MemoryCCRStore()


@pytest.fixture
def config(store, tmp_path) -> HeadroomConfig:
    """CCR in memory, learning store in a temp dir, importance scoring (these tests are about
    what is dropped; the default 'stable' strategy has its own tests)."""
    return HeadroomConfig(
        ccr_store=store,
        context=ContextConfig(
            learning=True, learning_path=str(tmp_path / "learning.json"), strategy="importance"
        ),
    )
