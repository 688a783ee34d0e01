"""Tenant scoping for any CCR store.

A CCR key is a content hash, so anyone who can compute or guess it could read an original.
In a shared deployment each tenant (a team, an API key) sees only its own records: the
store is wrapped in a view that files every key under the tenant's name. A retrieval from
another tenant then finds nothing and answers exactly like an unknown key.

Stores that can scope themselves more cheaply (the Redis store: a key prefix) provide
`for_tenant(tenant)`; every other store (disk, memory, a user's own) gets `TenantScopedStore`.
Records are checked against the bare key, so a tenant's records are ordinary records.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from headroom_core._ccr._redis import validate_tenant

_SEPARATOR = "~"
"""Between tenant and key in a wrapped store's keys (no tenant name or hex key contains it)."""


class TenantScopedStore:
    """`inner` seen by one tenant: its keys are stored as `<tenant>~<key>`."""

    def __init__(self, inner: Any, tenant: str) -> None:
        self.inner = inner
        self.tenant = validate_tenant(tenant)
        limit = getattr(inner, "max_record_bytes", None)
        if isinstance(limit, int):
            self.max_record_bytes = limit

    def _scoped(self, key: str) -> str:
        return f"{self.tenant}{_SEPARATOR}{key}"

    def put(self, key: str, value: bytes, *, keep: Collection[str] = ()) -> None:
        from headroom_core._ccr._store import DiskCCRStore, MemoryCCRStore

        if isinstance(self.inner, (DiskCCRStore, MemoryCCRStore)):
            self.inner.put(self._scoped(key), value, keep=[self._scoped(k) for k in keep])
        else:
            self.inner.put(self._scoped(key), value)

    def get(self, key: str) -> bytes | None:
        return self.inner.get(self._scoped(key))

    def touch(self, key: str) -> bool:
        touch = getattr(self.inner, "touch", None)
        # Without a touch of its own, say "absent": the caller then stores the record again.
        return bool(touch(self._scoped(key))) if callable(touch) else False

    def discard(self, key: str) -> None:
        discard = getattr(self.inner, "discard", None)
        if callable(discard):
            discard(self._scoped(key))

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if hasattr(self.inner, "__contains__"):
            return self._scoped(key) in self.inner
        return self.inner.get(self._scoped(key)) is not None

    def __repr__(self) -> str:
        return f"TenantScopedStore({self.inner!r}, tenant={self.tenant!r})"


def scoped_store(store: Any, tenant: str | None) -> Any:
    """`store` as seen by `tenant` (the store itself when `tenant` is None)."""
    if tenant is None:
        return store
    for_tenant = getattr(store, "for_tenant", None)
    if callable(for_tenant):
        return for_tenant(tenant)
    return TenantScopedStore(store, tenant)
