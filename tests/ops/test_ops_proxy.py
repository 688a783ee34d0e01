"""The operations layer inside a real proxy on loopback, driven by the official SDKs and httpx."""

from __future__ import annotations

import asyncio
import json

import anthropic
import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.enable_socket

KEY = "sk-ant-test-" + "k" * 40
SONNET_COST = (100 * 3.0 + 10 * 15.0) / 1e6  # the fake upstream bills 100 in, 10 out


def _config(tmp_path, text: str) -> str:
    path = tmp_path / "headroom.toml"
    path.write_text(text)
    return str(path)


def _scrape(url: str) -> dict[str, list]:
    text = httpx.get(url + "/metrics").text
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def _value(samples: dict[str, list], name: str, **labels: str) -> float:
    return sum(s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))


def _entries(path) -> list[dict]:
    with open(path) as fh:
        return [json.loads(line) for line in fh]


def test_metrics_request_log_and_stats_after_real_sdk_calls(start_proxy, fake, tmp_path):
    log_path = tmp_path / "requests.jsonl"
    url = start_proxy(request_log=str(log_path))
    client = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0)
    client.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "hello there"}]
    )
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "stream please"}]
    ) as stream:
        stream.until_done()
    oai = openai.OpenAI(base_url=url + "/v1", api_key="sk-openai-test", max_retries=0)
    oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    oai.chat.completions.create(model="my-private-model", messages=[{"role": "user", "content": "hi"}])

    m = _scrape(url)
    assert (
        _value(m, "headroom_requests_total", provider="anthropic", model="claude-sonnet-4-6", status="200")
        == 2
    )
    assert _value(m, "headroom_requests_total", provider="openai", endpoint="/v1/chat/completions") == 2
    assert _value(m, "headroom_upstream_input_tokens_total", model="claude-sonnet-4-6") == 200
    assert _value(m, "headroom_upstream_output_tokens_total", model="claude-sonnet-4-6") == 20  # stream too
    assert _value(m, "headroom_cost_usd_total", model="claude-sonnet-4-6") == pytest.approx(2 * SONNET_COST)
    assert _value(m, "headroom_cost_usd_total", model="my-private-model") == 0
    assert _value(m, "headroom_unpriced_requests_total", model="my-private-model") == 1
    assert _value(m, "headroom_tokens_before_total") > 0
    assert _value(m, "headroom_request_duration_seconds_count", provider="anthropic") == 2
    assert _value(m, "headroom_overhead_seconds_count") == 4
    assert _value(m, "headroom_time_to_first_token_seconds_count", provider="anthropic") == 1
    for samples in m.values():  # low cardinality: never a key, never a raw path
        for s in samples:
            assert set(s.labels) <= {
                "provider",
                "model",
                "endpoint",
                "status",
                "le",
                "result",
                "scope",
                "period",
                "unit",
                "kind",
            }
            assert KEY not in json.dumps(s.labels)

    entries = _entries(log_path)
    assert len(entries) == 4
    first = entries[0]
    assert first["model"] == "claude-sonnet-4-6" and first["status"] == 200
    assert first["usage"] == {
        "input_tokens": 100,
        "output_tokens": 10,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
    }
    assert first["cost_usd"] == pytest.approx(SONNET_COST)
    assert first["key_id"].startswith("key_") and KEY not in log_path.read_text()
    assert "hello there" not in log_path.read_text()  # no content by default
    assert entries[3]["pricing"] == "unpriced" and entries[3]["cost_usd"] is None
    assert {"latency_ms", "overhead_ms", "ccr_rounds", "tokens_before", "tokens_after", "endpoint"} <= set(
        first
    )

    stats = httpx.get(url + "/stats", params={"since": "1h"}).json()
    assert stats["total"]["requests"] == 4
    assert stats["by_model"]["claude-sonnet-4-6"]["cost_usd"] == pytest.approx(2 * SONNET_COST)
    assert stats["prices"]["taken"]
    assert httpx.get(url + "/stats", params={"since": "forever"}).status_code == 400


def test_content_logging_opt_in(start_proxy, tmp_path):
    log_path = tmp_path / "requests.jsonl"
    cfg = _config(tmp_path, "[request_log]\nlog_content = true\n")
    url = start_proxy(request_log=str(log_path), config_file=cfg)
    client = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0)
    client.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "debug me"}]
    )
    entry = _entries(log_path)[0]
    assert entry["request"]["messages"][0]["content"] == "debug me"
    assert "hello from fake" in entry["response"]


def test_hard_budget_is_provider_shaped_not_retried_and_not_a_rate_limit(start_proxy, fake, tmp_path):
    upstream, _ = fake
    cfg = _config(tmp_path, '[[budgets]]\nname = "tiny"\nusd = 0.0001\nperiod = "day"\n')
    url = start_proxy(config_file=cfg, request_log="off")
    client = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=2)
    client.messages.create(
        model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "a"}]
    )
    sent = len(upstream.requests)
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(
            model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "b"}]
        )
    err = caught.value
    assert err.status_code == 402 and not isinstance(err, anthropic.RateLimitError)
    assert err.body["type"] == "error" and err.body["error"]["type"] == "budget_exceeded"
    assert err.response.headers["x-headroom-limit"] == "budget"
    assert len(upstream.requests) == sent  # refused before the upstream
    assert (
        _value(_scrape(url), "headroom_budget_rejections_total", scope="global", period="day") == 1
    )  # no retry

    oai = openai.OpenAI(base_url=url + "/v1", api_key="sk-openai-test", max_retries=2)
    with pytest.raises(openai.APIStatusError) as caught_oai:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "c"}])
    assert caught_oai.value.status_code == 402
    assert caught_oai.value.body["type"] == "budget_exceeded"  # OpenAI's {"error": {...}} shape
    assert _value(_scrape(url), "headroom_budget_rejections_total") == 2


def test_soft_budget_warns_in_a_header_and_the_log(start_proxy, tmp_path, caplog):
    cfg = _config(tmp_path, '[[budgets]]\nname = "soft"\nsoft_tokens = 1\n')
    url = start_proxy(config_file=cfg, request_log="off")
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
    first = httpx.post(url + "/v1/chat/completions", json=body)
    second = httpx.post(url + "/v1/chat/completions", json=body)
    assert first.status_code == second.status_code == 200
    assert "x-headroom-budget-warning" not in first.headers
    assert "soft" in second.headers["x-headroom-budget-warning"]
    assert "soft budget limit" in caplog.text


def test_rate_limit_429_with_retry_after_and_remaining_headers(start_proxy, tmp_path):
    cfg = _config(tmp_path, '[[rate_limits]]\nscope = "key"\nrequests_per_minute = 2\n')
    url = start_proxy(config_file=cfg, request_log="off")
    oai = openai.OpenAI(base_url=url + "/v1", api_key="sk-one", max_retries=0)
    for _ in range(2):
        ok = oai.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}]
        )
        assert ok.http_response.status_code == 200
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    headers = caught.value.response.headers
    assert int(headers["retry-after"]) >= 1
    assert headers["x-ratelimit-remaining-requests"] == "0" and headers["x-ratelimit-limit-requests"] == "2"
    assert headers["x-headroom-limit"] == "rate_limit"
    # Another key has its own allowance.
    other = openai.OpenAI(base_url=url + "/v1", api_key="sk-two", max_retries=0)
    other.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert _value(_scrape(url), "headroom_rate_limit_rejections_total", scope="key", kind="requests") == 1


def test_tokens_per_minute_limit(start_proxy, tmp_path):
    cfg = _config(tmp_path, "[[rate_limits]]\ntokens_per_minute = 300\n")
    url = start_proxy(config_file=cfg, request_log="off")
    body = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": "x"}]}
    headers = {"anthropic-version": "2023-06-01", "x-api-key": KEY}
    first = httpx.post(url + "/v1/messages", json=body, headers=headers)
    assert first.status_code == 200 and "x-headroom-ratelimit-remaining-tokens" in first.headers
    statuses = [httpx.post(url + "/v1/messages", json=body, headers=headers).status_code for _ in range(3)]
    assert 429 in statuses
    refused = httpx.post(url + "/v1/messages", json=body, headers=headers)
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert "x-ratelimit-remaining-tokens" in refused.headers


@pytest.mark.parametrize("unit", ["usd", "tokens"])
def test_100_concurrent_requests_overspend_by_at_most_one_request(start_proxy, tmp_path, unit):
    per_request = SONNET_COST if unit == "usd" else 110
    limit = 10 * per_request
    cfg = _config(tmp_path, f'[[budgets]]\nname = "n"\n{unit} = {limit!r}\n')
    log_path = tmp_path / "requests.jsonl"
    url = start_proxy(config_file=cfg, request_log=str(log_path))
    # About 100 prompt tokens, as the fake upstream bills: the reservation (prompt as counted plus
    # max_tokens) is then at least the real cost, the premise of the one-request bound.
    prompt = " ".join(f"w{i}" for i in range(50))
    body = {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": [{"role": "user", "content": prompt}]}
    headers = {"anthropic-version": "2023-06-01", "x-api-key": KEY}

    async def run() -> list[int]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
            replies = await asyncio.gather(
                *(client.post("/v1/messages", json=body, headers=headers) for _ in range(100))
            )
        return [r.status_code for r in replies]

    statuses = asyncio.run(run())
    assert set(statuses) <= {200, 402} and 402 in statuses and 200 in statuses
    served = statuses.count(200)
    spent = sum(e["cost_usd"] if unit == "usd" else 110 for e in _entries(log_path) if e["status"] == 200)
    assert served * per_request == pytest.approx(spent)
    assert spent <= limit + per_request + 1e-12
    state = httpx.get(url + "/stats").json()["budgets"][0]
    assert state["spent"] <= limit + per_request + 1e-9 and state["reserved"] == 0


def test_ccr_retrievals_and_markers_are_counted(start_proxy, fake, tmp_path):
    from tests.proxy.conversations import ANTHROPIC_SYSTEM, ANTHROPIC_TOOLS, anthropic_conversation

    log_path = tmp_path / "requests.jsonl"
    url = start_proxy(request_log=str(log_path))
    client = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-6",
        max_tokens=100,
        system=ANTHROPIC_SYSTEM,
        tools=ANTHROPIC_TOOLS,
        messages=anthropic_conversation(1),
        extra_headers={"x-fake-scenario": "retrieve"},
    )
    assert raw.headers["x-headroom-ccr-rounds"] == "1"
    m = _scrape(url)
    assert _value(m, "headroom_ccr_markers_total", provider="anthropic") >= 1
    assert _value(m, "headroom_ccr_retrievals_total", provider="anthropic", result="hit") == 1
    assert _value(m, "headroom_tokens_saved_total", provider="anthropic") > 0
    from headroom_core._usage import summarize as shared_usage

    shared = shared_usage(path=tmp_path / "ccr" / "usage.jsonl")  # what the MCP server reports too
    assert shared.compressions == 1 and shared.retrievals == 1 and shared.by_source["proxy"] > 0
    entry = _entries(log_path)[0]
    assert entry["ccr_rounds"] == 1 and entry["usage"]["input_tokens"] == 200  # both rounds billed
    assert entry["saved_usd"] > 0


def test_upstream_failure_releases_the_budget_reservation(tmp_path):
    from headroom_proxy import ProxySettings, create_app
    from tests.proxy.conftest import ServerThread

    cfg = _config(tmp_path, '[[budgets]]\nname = "b"\ntokens = 1000000\n')
    settings = ProxySettings(
        upstream_anthropic="http://127.0.0.1:9",  # nothing listens there
        ccr_dir=str(tmp_path / "ccr"),
        request_log="off",
        trust_env=False,
        connect_timeout=2.0,
        config_file=cfg,
    )
    server = ServerThread(create_app(settings)).start()
    try:
        r = httpx.post(
            server.url + "/v1/messages",
            json={
                "model": "claude-sonnet-4-6",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "x"}],
            },
            headers={"anthropic-version": "2023-06-01"},
        )
        assert r.status_code == 502
        state = httpx.get(server.url + "/stats").json()["budgets"][0]
        assert state["reserved"] == 0 and state["spent"] == 0
    finally:
        server.stop()


def test_streamed_responses_api_usage_is_accounted(start_proxy, tmp_path):
    log_path = tmp_path / "requests.jsonl"
    url = start_proxy(request_log=str(log_path))
    oai = openai.OpenAI(base_url=url + "/v1", api_key="sk-openai-test", max_retries=0)
    with oai.responses.stream(model="gpt-4.1", input="hello") as stream:
        stream.until_done()
    entry = _entries(log_path)[0]
    assert entry["endpoint"] == "/v1/responses" and entry["stream"] is True
    assert entry["usage"]["input_tokens"] == 100 and entry["usage"]["output_tokens"] == 10
    assert entry["cost_usd"] == pytest.approx((100 * 2.0 + 10 * 8.0) / 1e6)
    m = _scrape(url)
    assert _value(m, "headroom_time_to_first_token_seconds_count", provider="openai") == 1
