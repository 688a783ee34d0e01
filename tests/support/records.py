"""Stored records the retrieval tests share: order rows and a JSON original in CCR."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from headroom_core import _ccr


def order_rows(n: int = 1_200) -> list[dict[str, Any]]:
    """`n` settled orders whose field names (`order_id`, ...) all contain query words."""
    return [
        {"order_id": 40_000 + i, "customer": f"customer-{i % 97}", "status": "settled", "amount": i % 500}
        for i in range(n)
    ]


def stash_json(store: _ccr.CCRStore, doc: Any, paths: Sequence[Sequence[Any]] = ([],)) -> str:
    """Store `doc` as a JSON original whose arrays at `paths` a query searches; its key."""
    return _ccr.stash(store, orjson.dumps(doc).decode(), "json", paths=[list(p) for p in paths])
