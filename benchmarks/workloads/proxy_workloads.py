"""Proxy and CLI figures (issue 13): added latency, streaming time to first byte, tokens and
cacheable prefix share of an agent conversation replayed through the proxy, CLI start-up.

Servers are real processes on loopback: the fake upstream from tests/proxy (both providers'
wire formats) and `headroom proxy` itself, so the client, the proxy and the upstream do not
share one interpreter. Every loop is bounded.

    python -m benchmarks.run --only proxy
    python -m benchmarks.workloads.proxy_workloads      # just these lines
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks._harness import Workload

ROOT = Path(__file__).resolve().parents[2]
SMALL_REQUESTS = 300
AGENT_REQUESTS = 8
STREAM_REQUESTS = 150
STARTUP_RUNS = 5
MODEL = "claude-haiku-4-5"


def workloads() -> list[Workload]:
    return []  # the proxy's figures are latencies and shares, reported by extra_reports()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=1)
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextlib.contextmanager
def _servers(env: dict[str, str]) -> Iterator[tuple[str, str, int]]:
    """(direct upstream URL, proxy URL, proxy pid), each server its own process."""
    up_port, proxy_port = _free_port(), _free_port()
    fake = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, uvicorn; from tests.proxy.fake_upstream import FakeUpstream; "
            "uvicorn.run(FakeUpstream().app(), host='127.0.0.1', port=int(sys.argv[1]), log_level='warning')",
            str(up_port),
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    upstream = f"http://127.0.0.1:{up_port}"
    proxy = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from headroom_cli import main; main()",
            "proxy",
            "--port",
            str(proxy_port),
            "--upstream-anthropic",
            upstream,
            "--upstream-openai",
            upstream,
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait(upstream + "/", fake)
        _wait(f"http://127.0.0.1:{proxy_port}/healthz", proxy)
        yield upstream, f"http://127.0.0.1:{proxy_port}", proxy.pid
    finally:
        for p in (proxy, fake):
            p.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=15)
            if p.poll() is None:
                p.kill()


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _time_posts(client: Any, url: str, body: bytes, n: int, headers: dict[str, str]) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        r = client.post(url + "/v1/messages", content=body, headers=headers)
        r.read()
        times.append((time.perf_counter() - start) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
    return times


def _ttfb(client: Any, url: str, body: bytes, n: int, headers: dict[str, str]) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        with client.stream("POST", url + "/v1/messages", content=body, headers=headers) as r:
            chunks = r.iter_raw()
            next(chunks)
            times.append((time.perf_counter() - start) * 1000)
            for _chunk in chunks:
                pass
    return times


def _latency_lines(env: dict[str, str]) -> list[str]:
    import httpx

    from tests.proxy.conversations import ANTHROPIC_SYSTEM, ANTHROPIC_TOOLS, anthropic_conversation

    headers = {"x-api-key": "bench", "anthropic-version": "2023-06-01", "content-type": "application/json"}
    small = json.dumps(
        {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "What is 2 + 2?"}]}
    ).encode()
    agent_messages = anthropic_conversation(5)
    agent = json.dumps(
        {
            "model": MODEL,
            "max_tokens": 50,
            "system": ANTHROPIC_SYSTEM,
            "tools": ANTHROPIC_TOOLS,
            "messages": agent_messages,
        }
    ).encode()
    from headroom_core import count_tokens

    agent_tokens = count_tokens(agent_messages, "gpt-4o")
    stream_body = json.dumps(
        {"model": MODEL, "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    ).encode()
    lines = [
        "### Proxy (issue 13)",
        "",
        "Fake upstream and `headroom proxy` as separate processes on loopback; one keep-alive client; "
        "*added* is proxy minus direct at the same percentile; *proxy CPU* is the proxy process's "
        "user+system CPU time per request (from /proc), which machine load does not inflate the way it "
        "inflates wall time. Targets: small request < 5 ms p50 added, streaming TTFB < 10 ms p50 added.",
        "",
        "| request | n | direct p50 ms | direct p99 ms | via proxy p50 ms | via proxy p99 ms "
        "| added p50 ms | added p99 ms | proxy CPU ms/request | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    with _servers(env) as (upstream, proxy, pid), httpx.Client(timeout=120) as client:
        rows = [
            ("small request (1 message)", small, SMALL_REQUESTS, _time_posts, 5.0),
            (
                f"agent request ({agent_tokens:,} tokens, 33 messages)",
                agent,
                AGENT_REQUESTS,
                _time_posts,
                None,
            ),
            ("streaming, time to first byte", stream_body, STREAM_REQUESTS, _ttfb, 10.0),
        ]
        for label, body, n, fn, target in rows:
            fn(client, upstream, body, min(n, 10), headers)  # warm-up: connections, tokenizer
            fn(client, proxy, body, min(n, 3), headers)
            direct = fn(client, upstream, body, n, headers)
            cpu_before = _cpu_seconds(pid)
            via = fn(client, proxy, body, n, headers)
            cpu_after = _cpu_seconds(pid)
            cpu = (
                "n/a"
                if cpu_before is None or cpu_after is None
                else f"{(cpu_after - cpu_before) * 1000 / n:.2f}"
            )
            d50, d99, p50, p99 = _pct(direct, 0.5), _pct(direct, 0.99), _pct(via, 0.5), _pct(via, 0.99)
            verdict = "n/a (compression time)" if target is None else ("yes" if p50 - d50 < target else "NO")
            lines.append(
                f"| {label} | {n} | {d50:.2f} | {d99:.2f} | {p50:.2f} | {p99:.2f} | {p50 - d50:.2f} "
                f"| {p99 - d99:.2f} | {cpu} | {verdict} |"
            )
    return lines


def _replay_lines() -> list[str]:
    """An 8-turn agent conversation replayed through in-process servers (to read what the upstream got)."""
    import anthropic

    from headroom_core import get_tokenizer
    from headroom_proxy import ProxySettings, create_app
    from tests.proxy.conftest import ServerThread
    from tests.proxy.conversations import ANTHROPIC_SYSTEM, ANTHROPIC_TOOLS, anthropic_conversation
    from tests.proxy.fake_upstream import FakeUpstream

    tok = get_tokenizer("gpt-4o")
    lines = [
        "",
        "| 8-turn agent conversation replayed through the proxy | request tokens (sum) | sent upstream "
        "| saved | share of request tokens that repeat the previous request byte for byte (cacheable) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    shares = {}
    for compress in (False, True):
        upstream = FakeUpstream()
        up = ServerThread(upstream.app()).start()
        with tempfile.TemporaryDirectory() as ccr:
            settings = ProxySettings(
                upstream_anthropic=up.url, compress=compress, ccr_dir=ccr, trust_env=False
            )
            px = ServerThread(create_app(settings)).start()
            try:
                client = anthropic.Anthropic(api_key="bench", base_url=px.url, max_retries=0)
                for turns in range(1, 9):
                    client.messages.create(
                        model=MODEL,
                        max_tokens=50,
                        system=ANTHROPIC_SYSTEM,
                        tools=ANTHROPIC_TOOLS,
                        messages=anthropic_conversation(turns),
                    )
            finally:
                px.stop()
                up.stop()
        total = sent_total = cached = 0
        previous = ""
        for rec in upstream.requests:
            body = rec.json
            text = json.dumps([body.get("tools"), body.get("system"), body["messages"]], ensure_ascii=False)
            text = text[:-2]  # open the brackets, so a longer conversation can extend the text
            common = len(os.path.commonprefix([previous, text])) if previous else 0  # noqa: RUF071 (strings)
            sent_total += tok.count(text)
            cached += tok.count(text[:common])
            previous = text
        for turns in range(1, 9):
            total += tok.count(
                json.dumps(
                    [ANTHROPIC_TOOLS, ANTHROPIC_SYSTEM, anthropic_conversation(turns)], ensure_ascii=False
                )[:-2]
            )
        shares[compress] = cached / sent_total
        label = "with Headroom" if compress else "without Headroom (--no-compress)"
        lines.append(
            f"| {label} | {total:,} | {sent_total:,} | {1 - sent_total / total:.1%} | {cached / sent_total:.1%} |"
        )
    verdict = "yes" if shares[True] >= shares[False] - 1e-9 else "NO"
    lines.append(f"| cacheable share with Headroom at least as high as without | | | | {verdict} |")
    return lines


def _startup_lines(env: dict[str, str]) -> list[str]:
    sample = (ROOT / "tests/fixtures/loghub_HDFS_2k.log").read_text().splitlines()[:40]
    text = "\n".join(sample) + "\n"
    cli = [sys.executable, "-c", "from headroom_cli import main; main()"]
    cmds = [
        ("`python -c 'import headroom_core'`", [sys.executable, "-c", "import headroom_core"], None),
        ("`headroom --version`", [*cli, "--version"], None),
        ("`headroom compress` (40-line log on stdin)", [*cli, "compress", "--quiet"], text),
    ]
    lines = [
        "",
        f"CLI start-up, wall time of a fresh process (median of {STARTUP_RUNS}); *cold* is the first run with "
        "an empty tokenizer cache (parses the vocabulary and writes the cache). Target: `headroom compress` "
        "on a small input well under 1 s.",
        "",
        "| command | cold s | warm s | warm CPU s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, cmd, stdin in cmds:
        cache = tempfile.mkdtemp(prefix="headroom-bench-cache-")
        run_env = {**env, "HEADROOM_CACHE_DIR": cache}
        times, cpu = [], []
        try:
            for _ in range(STARTUP_RUNS + 1):
                usage = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                subprocess.run(
                    cmd, input=stdin, env=run_env, cwd=ROOT, capture_output=True, text=True, check=True
                )
                times.append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.append(after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        lines.append(
            f"| {label} | {times[0]:.2f} | {statistics.median(times[1:]):.2f} | {statistics.median(cpu[1:]):.2f} |"
        )
    return lines


def extra_reports() -> list[str]:
    env = dict(os.environ)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    ccr = tempfile.mkdtemp(prefix="headroom-bench-ccr-")
    env["HEADROOM_CCR_DIR"] = ccr
    try:
        lines = _latency_lines(env) + _replay_lines() + _startup_lines(env)
        return [
            *lines,
            "",
            f"Load average when these proxy figures were taken: {load:.1f} on {os.cpu_count()} cores.",
        ]
    finally:
        shutil.rmtree(ccr, ignore_errors=True)


if __name__ == "__main__":
    print("\n".join(extra_reports()))
