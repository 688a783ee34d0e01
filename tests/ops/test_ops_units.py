"""Request log, stats, budgets and rate limits as units (fake clocks, no sockets)."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from headroom_core._requestlog import (
    RequestLog,
    hash_key,
    key_id_from_headers,
    log_files,
    parse_duration,
    read_entries,
    summarize,
)
from headroom_proxy._budgets import Budget, Budgets, InProcessBudgetStore, Rejection, Ticket, window_of
from headroom_proxy._ratelimit import RateLimit, RateLimiter


def _entry(ts, model="gpt-4o", key="key_a", before=1000, after=400, cost=0.01, saved=0.0015, status=200):
    return {
        "ts": ts,
        "provider": "openai",
        "model": model,
        "endpoint": "/v1/chat/completions",
        "status": status,
        "tokens_before": before,
        "tokens_after": after,
        "usage": {
            "input_tokens": after,
            "output_tokens": 10,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
        },
        "cost_usd": cost,
        "saved_usd": saved,
        "pricing": "priced",
        "key_id": key,
    }


def test_hashed_key_ids_are_stable_and_not_the_key():
    secret = "sk-ant-api03-" + "x" * 90
    kid = hash_key(secret)
    assert kid == hash_key(secret) and kid.startswith("key_") and len(kid) == 20
    assert secret[5:20] not in kid
    assert key_id_from_headers({"x-api-key": secret}) == kid
    assert key_id_from_headers({"authorization": "Bearer " + secret}) == kid
    assert key_id_from_headers({}) is None


def test_log_writes_one_line_per_entry_and_rotates(tmp_path):
    path = str(tmp_path / "r.jsonl")
    rlog = RequestLog(path, max_bytes=2048, backups=2)
    for i in range(60):
        rlog.write(_entry(1000.0 + i))
    files = log_files(path)
    assert files[-1] == path and len(files) == 3  # current + 2 backups, the oldest dropped
    for name in files:
        with open(name) as fh:
            for line in fh:
                assert json.loads(line)["provider"] == "openai"
    entries = list(read_entries(path))
    assert [e["ts"] for e in entries] == sorted(e["ts"] for e in entries)
    assert entries[-1]["ts"] == 1059.0


def test_read_skips_torn_lines_and_filters_by_time(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(_entry(10.0)) + "\n" + json.dumps(_entry(20.0)) + "\n{torn")
    assert [e["ts"] for e in read_entries(str(path), since=15.0)] == [20.0]


def test_content_logging_is_opt_in_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="headroom"):
        RequestLog(str(tmp_path / "a.jsonl"))
        assert "content logging" not in caplog.text
        RequestLog(str(tmp_path / "b.jsonl"), log_content=True)
    assert "content logging is ON" in caplog.text


def test_unwritable_log_never_raises(tmp_path, caplog):
    (tmp_path / "file").write_text("x")
    rlog = RequestLog(str(tmp_path / "file" / "r.jsonl"))
    rlog.write(_entry(1.0))
    rlog.write(_entry(2.0))
    assert caplog.text.count("cannot write the request log") == 1


def test_summarize_by_model_key_and_day():
    day = 86400.0
    entries = [
        _entry(day * 3 + 10, model="gpt-4o", key="key_a"),
        _entry(day * 3 + 20, model="claude-sonnet-4-5", key="key_b", cost=0.02),
        _entry(day * 4 + 5, model="gpt-4o", key="key_a", status=500),
    ]
    total = summarize(entries)["total"]
    assert total["requests"] == 3 and total["errors"] == 1
    assert total["tokens_saved"] == 1800 and total["savings_ratio"] == 0.6
    assert total["cost_usd"] == pytest.approx(0.04)
    by_model = summarize(entries, "model")["groups"]
    assert by_model["gpt-4o"]["requests"] == 2 and by_model["claude-sonnet-4-5"]["requests"] == 1
    assert set(summarize(entries, "key")["groups"]) == {"key_a", "key_b"}
    assert list(summarize(entries, "day")["groups"]) == ["1970-01-04", "1970-01-05"]
    with pytest.raises(ValueError, match="by must be"):
        summarize(entries, "user")


@pytest.mark.parametrize(("text", "seconds"), [("24h", 86400), ("15m", 900), ("7d", 604800), ("90s", 90)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "24", "h", "1y", "-1h"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="24h"):
        parse_duration(text)


# --------------------------------------------------------------------------- rate limits


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_requests_per_minute_bucket_refills():
    clock = Clock()
    limiter = RateLimiter([RateLimit("global", requests_per_minute=3)], clock=clock)
    assert [limiter.check(None, 0).allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.check(None, 0)
    assert refused.blocked_by == "global:requests" and refused.retry_after == pytest.approx(20.0)
    assert refused.remaining["requests"] == 0
    clock.t += 20
    assert limiter.check(None, 0).allowed


def test_tokens_per_minute_per_key_and_settling():
    clock = Clock()
    limiter = RateLimiter([RateLimit("key", tokens_per_minute=1000)], clock=clock)
    assert limiter.check("key_a", 600).allowed
    assert not limiter.check("key_a", 600).allowed
    assert limiter.check("key_b", 600).allowed  # another key has its own bucket
    limiter.settle("key_a", 600, 100)  # it used less than estimated: 500 given back
    assert limiter.check("key_a", 600).allowed


def test_a_request_bigger_than_the_bucket_passes_when_full_and_leaves_debt():
    clock = Clock()
    limiter = RateLimiter([RateLimit("global", tokens_per_minute=100)], clock=clock)
    assert limiter.check(None, 250).allowed
    refused = limiter.check(None, 10)
    assert not refused.allowed and refused.retry_after > 60


def test_rate_limit_config_validation():
    with pytest.raises(ValueError):
        RateLimit("user", requests_per_minute=1)
    with pytest.raises(ValueError):
        RateLimit("global")
    with pytest.raises(ValueError):
        RateLimit("global", tokens_per_minute=0)


# --------------------------------------------------------------------------- budgets


def test_windows_are_utc_calendar_periods():
    t = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
    assert window_of("hour", t) == ("2023-11-14T22", 1_699_999_200.0 + 3600)
    assert window_of("day", t)[0] == "2023-11-14"
    assert window_of("month", t) == ("2023-11", 1_701_388_800.0)


def test_hard_budget_refuses_once_spent_and_resets_next_window():
    clock = Clock(1_700_000_000.0)
    budgets = Budgets([Budget("b", period="hour", usd=1.0)], clock=clock)
    ticket = budgets.admit(None, 0.6, 10)
    assert isinstance(ticket, Ticket)
    budgets.settle(ticket, 0.7, 10)
    second = budgets.admit(None, 0.6, 10)
    assert isinstance(second, Ticket)  # 0.7 < 1.0: admitted, may overspend by one request
    budgets.settle(second, 0.7, 10)
    refused = budgets.admit(None, 0.01, 10)
    assert isinstance(refused, Rejection) and "exceeded" in refused.message()
    clock.t += 3600
    assert isinstance(budgets.admit(None, 0.01, 10), Ticket)


def test_per_key_token_budget_and_soft_warning():
    budgets = Budgets([Budget("k", scope="key", tokens=1000, soft_tokens=500)], clock=Clock())
    t1 = budgets.admit("key_a", None, 600)
    assert isinstance(t1, Ticket) and not t1.warnings
    budgets.settle(t1, None, 600)
    t2 = budgets.admit("key_a", None, 100)
    assert isinstance(t2, Ticket) and t2.warnings  # past the soft limit: warned, not refused
    budgets.settle(t2, None, 500)
    assert isinstance(budgets.admit("key_a", None, 1), Rejection)
    assert isinstance(budgets.admit("key_b", None, 1), Ticket)
    state = {row["key_id"]: row for row in budgets.state()}
    assert state["key_a"]["spent"] == 1100


def test_a_refusal_undoes_the_other_budgets_reservations():
    store = InProcessBudgetStore()
    budgets = Budgets([Budget("loose", usd=100.0), Budget("tight", tokens=10)], store, clock=Clock())
    t = budgets.admit(None, 1.0, 10)
    budgets.settle(t, 1.0, 10)
    assert isinstance(budgets.admit(None, 5.0, 5), Rejection)
    assert all(reserved == 0 for _, reserved in (store.level(c) for c in list(store._reserved)))


def test_reservations_are_atomic_across_threads():
    """400 threads each reserve and spend 1 against a limit of 50: at most one past it."""
    budgets = Budgets([Budget("b", tokens=50)], clock=Clock())
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(50):
            t = budgets.admit(None, None, 1)
            if isinstance(t, Ticket):
                budgets.settle(t, None, 1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert budgets.state()[0]["spent"] == 50


def test_budget_validation():
    with pytest.raises(ValueError, match="period"):
        Budget("b", period="week", usd=1)
    with pytest.raises(ValueError, match="needs"):
        Budget("b")
    with pytest.raises(ValueError, match="positive"):
        Budget("b", usd=-1)


# --------------------------------------------------------------------------- config file


def test_ops_tables_from_the_config_file(tmp_path):
    from headroom_proxy._ops import read_ops_config

    path = tmp_path / "headroom.toml"
    path.write_text(
        "[proxy]\nport = 9000\n\n[request_log]\nmax_mb = 2\nbackups = 1\n\n[prices]\nreserve_output_tokens = 512\n\n"
        '[[budgets]]\nname = "d"\nusd = 5.0\n\n[[rate_limits]]\nscope = "key"\nrequests_per_minute = 10\n'
    )
    cfg = read_ops_config(str(path))
    assert cfg.request_log_max_bytes == 2 * 2**20 and cfg.request_log_backups == 1
    assert cfg.reserve_output_tokens == 512
    assert cfg.budgets == [Budget("d", usd=5.0)]
    assert cfg.rate_limits == [RateLimit("key", requests_per_minute=10)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[budgets]]\nname = "d"\nperiod = "week"\nusd = 1\n', "period"),
        ('[[budgets]]\nname = "d"\ndollars = 1\n', "dollars"),
        ('[[rate_limits]]\nscope = "key"\n', "requests_per_minute"),
        ("[request_log]\ncolour = 1\n", "unknown key"),
        ("budgets = 3\n", "arrays of tables"),
    ],
)
def test_bad_ops_tables_are_one_line_errors_naming_the_file(tmp_path, text, message):
    from headroom_proxy import ProxyConfigError, ProxySettings, create_app

    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProxyConfigError, match=message) as caught:
        create_app(ProxySettings(config_file=str(path), ccr_dir=str(tmp_path / "ccr")))
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
