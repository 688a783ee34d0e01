"""`headroom stats` over a request log (typer's runner, and once as a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from headroom_cli._app import app
from headroom_core._requestlog import RequestLog


def _write_log(path) -> None:
    rlog = RequestLog(str(path))
    now = time.time()
    for i, (model, key) in enumerate(
        [("gpt-4o", "key_a"), ("gpt-4o", "key_b"), ("claude-sonnet-4-6", "key_a")]
    ):
        rlog.write(
            {
                "ts": now - 60 * i,
                "provider": "openai",
                "model": model,
                "endpoint": "/v1/chat/completions",
                "status": 200,
                "tokens_before": 1000,
                "tokens_after": 250,
                "usage": {
                    "input_tokens": 250,
                    "output_tokens": 5,
                    "cache_read_tokens": 0,
                    "cache_write_tokens": 0,
                },
                "cost_usd": 0.001,
                "saved_usd": 0.002,
                "pricing": "priced",
                "key_id": key,
            }
        )
    first = json.loads(path.read_text().splitlines()[0])
    rlog.write({**first, "ts": now - 3 * 86400})  # outside --since 24h


@pytest.fixture
def log_file(tmp_path):
    path = tmp_path / "requests.jsonl"
    _write_log(path)
    return path


def test_stats_table_by_model(log_file):
    result = CliRunner().invoke(
        app, ["stats", "--log", str(log_file), "--by", "model"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "gpt-4o" in result.output and "claude-sonnet-4-6" in result.output
    total = next(line for line in result.output.splitlines() if "total" in line)
    assert "3" in total and "2,250" in total and "$0.0060" in total


def test_stats_json_by_key_and_since(log_file):
    result = CliRunner().invoke(app, ["stats", "--log", str(log_file), "--by", "key", "--json"])
    doc = json.loads(result.output)
    assert doc["total"]["requests"] == 3 and set(doc["groups"]) == {"key_a", "key_b"}
    result = CliRunner().invoke(
        app, ["stats", "--log", str(log_file), "--since", "7d", "--json", "--by", "day"]
    )
    assert json.loads(result.output)["total"]["requests"] == 4


@pytest.mark.parametrize(
    ("args", "message"), [(["--since", "yesterday"], "--since"), (["--by", "user"], "--by must be one of")]
)
def test_stats_bad_arguments(log_file, args, message):
    result = CliRunner().invoke(app, ["stats", "--log", str(log_file), *args])
    assert result.exit_code == 2 and message in result.output


def test_stats_without_a_log(tmp_path):
    result = CliRunner().invoke(app, ["stats", "--log", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 1 and "no request log" in result.output


def test_stats_subprocess_reads_the_env_log(log_file):
    env = {**os.environ, "HEADROOM_REQUEST_LOG": str(log_file), "COLUMNS": "200"}
    out = subprocess.run(
        [sys.executable, "-m", "headroom_cli", "stats", "--by", "day"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert time.strftime("%Y-%m-%d", time.gmtime()) in out.stdout or "total" in out.stdout


def test_stats_finds_the_log_through_the_proxy_config(log_file, tmp_path):
    config = tmp_path / "headroom.toml"
    config.write_text(f'[proxy]\nport = 9000\n\n[request_log]\npath = "{log_file}"\n')
    result = CliRunner().invoke(app, ["stats", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["log"] == str(log_file)
