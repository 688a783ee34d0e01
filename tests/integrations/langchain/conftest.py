"""Fixtures for the LangChain integration tests."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lc_fakes import make_orders

from headroom_core import HeadroomConfig, MemoryCCRStore


@pytest.fixture
def orders() -> list[dict[str, Any]]:
    return make_orders()


@pytest.fixture
def orders_json(orders: list[dict[str, Any]]) -> str:
    return json.dumps(orders)


@pytest.fixture
def store() -> MemoryCCRStore:
    return MemoryCCRStore()


@pytest.fixture
def hconfig(store: MemoryCCRStore) -> HeadroomConfig:
    return HeadroomConfig(ccr_store=store)
