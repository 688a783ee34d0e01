"""Budgets: USD and/or tokens, per hashed API key or global, per hour, day or month (UTC).

Concurrency: a request is admitted only while `spent + reserved < limit`, and on admission it
reserves its estimated cost (input tokens as counted after compression, plus the output it may
produce: its `max_tokens`, or `reserve_output_tokens` when it sets none). When the response
arrives the reservation is replaced by the real cost from the provider's usage. The check and
the reservation are one atomic step in the store, so 100 concurrent requests cannot all pass a
check made before any of them spent: together they overspend by at most one request's cost
(as long as the estimate is not below the real cost).

A hard limit answers in the provider's own error shape with status 402 and
`x-should-retry: false` (the official SDKs retry 408/409/429/5xx, not 402), error type
`budget_exceeded`, so it is told apart from a rate limit (429). A soft limit lets the request
through with an `x-headroom-budget-warning` header and a log line.

State lives behind `BudgetStore`; `InProcessBudgetStore` keeps it in this process (several
proxy processes each keep their own until the Redis store of the shared-state issue lands).
"""

from __future__ import annotations

import calendar
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("headroom.budgets")

PERIODS = ("hour", "day", "month")


@dataclass(frozen=True)
class Budget:
    """One `[[budgets]]` entry of the config file."""

    name: str
    scope: str = "global"
    """'global' or 'key' (each hashed API key has its own allowance)."""
    period: str = "day"
    usd: float | None = None
    tokens: float | None = None
    """Input + output tokens as the provider bills them (cache reads and writes included)."""
    soft_usd: float | None = None
    soft_tokens: float | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("a budget needs a name")
        if self.scope not in ("global", "key"):
            raise ValueError(f"budget {self.name!r}: scope must be 'global' or 'key', got {self.scope!r}")
        if self.period not in PERIODS:
            raise ValueError(f"budget {self.name!r}: period must be one of {', '.join(PERIODS)}")
        for name in ("usd", "tokens", "soft_usd", "soft_tokens"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
            ):
                raise ValueError(f"budget {self.name!r}: {name} must be a positive number, got {value!r}")
        if all(getattr(self, n) is None for n in ("usd", "tokens", "soft_usd", "soft_tokens")):
            raise ValueError(f"budget {self.name!r} needs usd, tokens, soft_usd or soft_tokens")


def window_of(period: str, now: float) -> tuple[str, float]:
    """(window id, Unix time the window ends) for a UTC calendar hour/day/month."""
    t = time.gmtime(now)
    if period == "hour":
        start = calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, 0, 0))
        return time.strftime("%Y-%m-%dT%H", t), start + 3600.0
    if period == "day":
        start = calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0))
        return time.strftime("%Y-%m-%d", t), start + 86400.0
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return time.strftime("%Y-%m", t), float(calendar.timegm((year, month, 1, 0, 0, 0)))


class BudgetStore(Protocol):
    """Spent and reserved amounts per counter. `reserve` must be atomic (check and add)."""

    def reserve(self, counter: str, amount: float, limit: float | None) -> bool:
        """Add `amount` to the counter's reservations if `spent + reserved < limit` (always when
        limit is None); return whether it was added."""
        ...

    def settle(self, counter: str, reserved: float, actual: float) -> None:
        """Move a reservation to spent, at its real amount."""
        ...

    def level(self, counter: str) -> tuple[float, float]:
        """(spent, reserved)."""
        ...


class InProcessBudgetStore:
    """Counters in a dict under a lock (per process). Old windows are dropped as new ones start."""

    def __init__(self) -> None:
        self._spent: dict[str, float] = {}
        self._reserved: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, counter: str, amount: float, limit: float | None) -> bool:
        with self._lock:
            used = self._spent.get(counter, 0.0) + self._reserved.get(counter, 0.0)
            if limit is not None and used >= limit:
                return False
            self._reserved[counter] = self._reserved.get(counter, 0.0) + amount
            return True

    def settle(self, counter: str, reserved: float, actual: float) -> None:
        with self._lock:
            self._reserved[counter] = max(0.0, self._reserved.get(counter, 0.0) - reserved)
            self._spent[counter] = self._spent.get(counter, 0.0) + actual

    def level(self, counter: str) -> tuple[float, float]:
        with self._lock:
            return self._spent.get(counter, 0.0), self._reserved.get(counter, 0.0)

    def forget(self, keep: Callable[[str], bool]) -> None:
        with self._lock:
            for table in (self._spent, self._reserved):
                for name in [n for n in table if not keep(n)]:
                    del table[name]


@dataclass
class Ticket:
    """What one admitted request reserved, to settle when it ends."""

    reservations: list[tuple[str, str, float]] = field(default_factory=list)
    """(counter, 'usd' or 'tokens', amount)."""
    warnings: list[str] = field(default_factory=list)


@dataclass
class Rejection:
    budget: Budget
    unit: str
    limit: float
    spent: float
    resets_at: float

    def message(self) -> str:
        if self.unit == "usd":
            amount = f"${self.limit:,.2f}" if self.limit >= 1 else f"${self.limit:g}"
        else:
            amount = f"{self.limit:,.0f} tokens"
        scope = "this API key's" if self.budget.scope == "key" else "the proxy's"
        every = {"hour": "hourly", "day": "daily", "month": "monthly"}[self.budget.period]
        return (
            f"Headroom budget {self.budget.name!r} exceeded: {scope} {every} budget of "
            f"{amount} is spent. It resets at "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(self.resets_at))}."
        )


class Budgets:
    """Admits or refuses requests against the configured budgets."""

    def __init__(
        self,
        budgets: list[Budget],
        store: BudgetStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.budgets = list(budgets)
        self.store = store or InProcessBudgetStore()
        self.clock = clock
        self._windows: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.budgets)

    def _counter(self, budget: Budget, unit: str, key_id: str | None, window: str) -> str:
        owner = "global" if budget.scope == "global" else (key_id or "anonymous")
        return f"{budget.name}|{owner}|{unit}|{window}"

    def admit(self, key_id: str | None, est_usd: float | None, est_tokens: float) -> Ticket | Rejection:
        """Reserve the estimate on every budget, or refuse (undoing what was reserved)."""
        now = self.clock()
        ticket = Ticket()
        for budget in self.budgets:
            window, resets = window_of(budget.period, now)
            self._note_window(window)
            for unit, hard, soft, amount in (
                ("usd", budget.usd, budget.soft_usd, est_usd or 0.0),
                ("tokens", budget.tokens, budget.soft_tokens, est_tokens),
            ):
                if hard is None and soft is None:
                    continue
                counter = self._counter(budget, unit, key_id, window)
                if not self.store.reserve(counter, amount, hard):
                    for c, _, a in ticket.reservations:
                        self.store.settle(c, a, 0.0)
                    spent, _ = self.store.level(counter)
                    return Rejection(budget, unit, float(hard or 0), spent, resets)
                ticket.reservations.append((counter, unit, amount))
                if soft is not None:
                    spent, reserved = self.store.level(counter)
                    if spent + reserved - amount >= soft:
                        ticket.warnings.append(
                            f"{budget.name}: soft limit of its {budget.period} reached ({unit})"
                        )
        return ticket

    def settle(self, ticket: Ticket, usd: float | None, tokens: float | None) -> None:
        """The request ended: its real cost replaces the reservation (None: keep the estimate)."""
        for counter, unit, reserved in ticket.reservations:
            actual = usd if unit == "usd" else tokens
            self.store.settle(counter, reserved, reserved if actual is None else actual)
        ticket.reservations = []

    def _note_window(self, window: str) -> None:
        if window in self._windows:
            return
        self._windows.add(window)
        if len(self._windows) > 16 and isinstance(self.store, InProcessBudgetStore):
            now = self.clock()
            live = {window_of(p, now)[0] for p in PERIODS}
            self._windows = set(live)
            self.store.forget(lambda name: name.rsplit("|", 1)[-1] in live)

    def state(self, key_id: str | None = None) -> list[dict[str, object]]:
        """Each budget's use in its current window (global ones, and `key_id`'s own)."""
        now = self.clock()
        out: list[dict[str, object]] = []
        for budget in self.budgets:
            if budget.scope == "key" and key_id is None:
                owners = self._key_owners(budget)
            else:
                owners = [key_id if budget.scope == "key" else None]
            window, resets = window_of(budget.period, now)
            for owner in owners:
                for unit, hard, soft in (
                    ("usd", budget.usd, budget.soft_usd),
                    ("tokens", budget.tokens, budget.soft_tokens),
                ):
                    if hard is None and soft is None:
                        continue
                    spent, reserved = self.store.level(self._counter(budget, unit, owner, window))
                    out.append(
                        {
                            "name": budget.name,
                            "scope": budget.scope,
                            "key_id": owner if budget.scope == "key" else None,
                            "period": budget.period,
                            "window": window,
                            "resets_at": resets,
                            "unit": unit,
                            "limit": hard,
                            "soft_limit": soft,
                            "spent": round(spent, 6),
                            "reserved": round(reserved, 6),
                        }
                    )
        return out

    def _key_owners(self, budget: Budget) -> list[str | None]:
        store = self.store
        if not isinstance(store, InProcessBudgetStore):
            return []
        with store._lock:
            names = list(store._spent) + list(store._reserved)
        owners = sorted({n.split("|")[1] for n in names if n.startswith(budget.name + "|")})
        return list(owners[:50])
