"""The `headroom` console script, run as a user runs it: in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _headroom() -> list[str]:
    script = Path(sys.executable).parent / "headroom"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from headroom_cli import main; main()"]


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ)
    e["HEADROOM_CCR_DIR"] = str(tmp_path / "ccr")
    e["HEADROOM_CACHE_DIR"] = str(tmp_path / "cache")
    for name in list(e):
        if name.startswith("HEADROOM_") and name not in ("HEADROOM_CCR_DIR", "HEADROOM_CACHE_DIR"):
            del e[name]
    return e


def run(args, env, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(_headroom() + args, env=env, capture_output=True, text=True, timeout=120, **kw)


def test_version_and_help(env):
    r = run(["--version"], env)
    assert r.returncode == 0 and r.stdout.startswith("headroom 0.")
    r = run(["--help"], env)
    assert r.returncode == 0
    for needle in ("proxy", "compress", "Examples:", "ANTHROPIC_BASE_URL=http://localhost:8787"):
        assert needle in r.stdout
    r = run(["proxy", "--help"], env)
    assert "--upstream-anthropic" in r.stdout and "HEADROOM_PORT" in r.stdout


def test_compress_file_prints_the_result_and_a_table(env):
    path = FIXTURES / "loghub_HDFS_2k.log"
    r = run(["compress", str(path), "--query", "exception"], env)
    assert r.returncode == 0, r.stderr
    assert 0 < len(r.stdout) < path.stat().st_size / 2
    assert "tokens before" in r.stderr and "saved" in r.stderr
    assert "Traceback" not in r.stderr


def test_compress_stdin_json_output(env):
    text = (FIXTURES / "npm_view_express.json").read_text()
    r = run(["compress", "-", "--json", "--quiet"], env, input=text)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["tokens_after"] < out["tokens_before"]
    assert isinstance(out["text"], str) and r.stderr == ""


def test_compress_a_conversation_keeps_its_shape(env, tmp_path):
    rows = [{"id": i, "status": "ok" if i % 50 else "failed", "latency_ms": i % 97} for i in range(400)]
    conv = [
        {"role": "user", "content": "Which requests failed?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "q", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": json.dumps(rows)},
    ]
    path = tmp_path / "conv.json"
    path.write_text(json.dumps({"model": "gpt-4o", "messages": conv}))
    r = run(["compress", str(path)], env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["model"] == "gpt-4o" and len(out["messages"]) == 3
    assert out["messages"][:2] == conv[:2]
    assert len(out["messages"][2]["content"]) < len(conv[2]["content"]) / 2
    assert "3 messages (openai)" in r.stderr


def test_compress_missing_file_is_one_line(env):
    r = run(["compress", "/nonexistent/file.log"], env)
    assert r.returncode == 1
    assert r.stderr.strip().startswith("headroom: cannot read /nonexistent/file.log")
    assert "Traceback" not in r.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(port: int, proc: subprocess.Popen) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read())
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json() == {"status": "ok"}:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("proxy did not become healthy")


@pytest.mark.enable_socket
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_proxy_starts_answers_and_stops_cleanly(env, sig):
    port = _free_port()
    proc = subprocess.Popen(
        [*_headroom(), "proxy", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_healthy(port, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert f"http://127.0.0.1:{port}" in err


@pytest.mark.enable_socket
def test_busy_port_is_a_one_line_error(env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        env["HEADROOM_PORT"] = str(port)
        r = run(["proxy"], env)
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"headroom: port {port} on 127.0.0.1 is already in use")
    assert "--port" in last
    assert "Traceback" not in r.stderr


def test_bad_config_is_a_one_line_error(env, tmp_path):
    cfg = tmp_path / "h.toml"
    cfg.write_text("[proxy]\nport = 'x'\n")
    r = run(["proxy", "--config", str(cfg)], env)
    assert r.returncode == 2
    assert "port has a bad value" in r.stderr and "Traceback" not in r.stderr
