"""`GET /dashboard` in a real headless Chromium (Debian's package, started by the test): the page
loads, its charts are drawn from real request data, and the browser logs no console message."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import anthropic
import httpx
import openai
import pytest

pytestmark = pytest.mark.enable_socket

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="headroom-chromium-") as profile:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--disable-dev-shm-usage",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _traffic(url: str) -> None:
    key = "sk-ant-dashboard-" + "d" * 30
    client = anthropic.Anthropic(base_url=url, api_key=key, max_retries=0)
    big = "\n".join(
        f'{{"id": {i}, "status": "ok", "service": "payments", "latency_ms": {i % 17}}}' for i in range(400)
    )
    for model in ("claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-6"):
        client.messages.create(
            model=model,
            max_tokens=64,
            messages=[
                {"role": "user", "content": "look at the logs"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "logs", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": "[" + big.replace("\n", ",") + "]",
                        }
                    ],
                },
            ],
        )
    oai = openai.OpenAI(base_url=url + "/v1", api_key="sk-openai-dash", max_retries=0)
    oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


def test_dashboard_renders_charts_from_real_data_without_console_errors(start_proxy, tmp_path):
    cfg = tmp_path / "headroom.toml"
    cfg.write_text(
        '[[budgets]]\nname = "daily"\nusd = 5.0\nsoft_usd = 4.0\n\n[[budgets]]\nname = "tokens"\nscope = "key"\ntokens = 100000\n'
    )
    url = start_proxy(request_log=str(tmp_path / "requests.jsonl"), config_file=str(cfg))
    _traffic(url)
    served = httpx.get(url + "/dashboard")
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/html")
    # Offline: no script, nothing fetched from anywhere (the svg xmlns is a name, not a fetch).
    assert "<script" not in served.text
    assert not re.search(r"""(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//""", served.text)

    result = chromium("--dump-dom", url + "/dashboard")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    for chart in ("chart-savings-over-time", "chart-usd-over-time", "chart-per-model", "chart-budgets"):
        assert f'id="{chart}"' in dom
    per_model = dom[dom.index('id="chart-per-model"') :]
    per_model = per_model[: per_model.index("</svg>")]
    labels = re.findall(r'class="bar" data-label="([^"]+)" data-value="([0-9.e+-]+)"', per_model)
    assert {name for name, _ in labels} >= {"claude-sonnet-4-6", "claude-haiku-4-5", "gpt-4o-mini"}
    assert all(float(v) > 0 for _, v in labels)
    savings = dom[dom.index('id="chart-savings-over-time"') :]
    savings = savings[: savings.index("</svg>")]
    assert [
        float(v) for v in re.findall(r'class="bar" data-label="[^"]+" data-value="([0-9.e+-]+)"', savings)
    ][-1] > 0
    budgets = dom[dom.index('id="chart-budgets"') :]
    assert "daily usd/day" in budgets and "tokens (key_" in budgets
    stats = httpx.get(url + "/stats").json()
    assert f"{stats['total']['requests']:,}" in dom[dom.index('id="card-requests"') :][:200]

    shot = tmp_path / "dashboard.png"
    result = chromium(
        "--window-size=1400,1000", "--hide-scrollbars", f"--screenshot={shot}", url + "/dashboard"
    )
    assert shot.exists() and shot.stat().st_size > 10_000
    if os.environ.get("HEADROOM_DASHBOARD_SCREENSHOT"):  # refresh docs/img/dashboard.png on purpose only
        shutil.copy(shot, os.environ["HEADROOM_DASHBOARD_SCREENSHOT"])


def test_dashboard_with_no_traffic_and_bad_since(start_proxy, tmp_path):
    url = start_proxy(request_log=str(tmp_path / "requests.jsonl"))
    page = httpx.get(url + "/dashboard")
    assert page.status_code == 200 and "no requests yet" in page.text and "no budgets configured" in page.text
    assert httpx.get(url + "/dashboard", params={"since": "nope"}).status_code == 400
