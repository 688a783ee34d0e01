"""Log and test-output workloads: an agent runs a test suite or tails a service log.

Generated inputs are seeded (byte-identical on every run). Real inputs come from
tests/fixtures/ (loghub HDFS and OpenStack samples, a Debian dpkg log, and a real
`pytest -v` run of Flask's suite with 16 failures).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from benchmarks._harness import Workload, tool_conversation

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"
_LEVELS = re.compile(r"\b(?:WARN|WARNING|ERROR|FATAL|CRITICAL)\b")


def _read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def pytest_run(seed: int = 7, passed: int = 318) -> tuple[str, list[str]]:
    """A `pytest -v` run: `passed` passing tests, 2 failures with tracebacks; (text, needles)."""
    rng = random.Random(seed)
    modules = ["test_cart", "test_checkout", "test_inventory", "test_pricing", "test_users", "test_search"]
    failing = [("test_pricing", "test_discount_stacking"), ("test_checkout", "test_tax_rounding")]
    tests: list[tuple[str, str]] = []
    for i in range(passed):
        module = modules[i % len(modules)]
        tests.append((module, f"test_{rng.choice(['adds', 'removes', 'lists', 'updates', 'validates'])}_{i}"))
    for pos, failure in zip((97, 205), failing):
        tests.insert(pos, failure)
    total = len(tests)
    lines = [
        "============================= test session starts ==============================",
        "platform linux -- Python 3.12.3, pytest-8.2.0, pluggy-1.5.0 -- /srv/app/.venv/bin/python",
        "rootdir: /srv/app",
        "configfile: pyproject.toml",
        f"collecting ... collected {total} items",
        "",
    ]
    for i, (module, name) in enumerate(tests):
        status = "FAILED" if (module, name) in failing else "PASSED"
        lines.append(f"tests/{module}.py::{name} {status}".ljust(72) + f" [{(i + 1) * 100 // total:3d}%]")
    messages = {
        "test_discount_stacking": (
            "assert order.total == Decimal('80.00')",
            "AssertionError: assert Decimal('72.00') == Decimal('80.00')",
        ),
        "test_tax_rounding": (
            "assert invoice.tax == Decimal('1.07')",
            "AssertionError: assert Decimal('1.06') == Decimal('1.07')",
        ),
    }
    lines += ["", "=================================== FAILURES ==================================="]
    for module, name in failing:
        source, error = messages[name]
        lines += [
            f"{'_' * 30} {name} {'_' * 30}",
            "",
            "shop = <Shop 'demo'>",
            "",
            f"    def {name}(shop):",
            "        order = shop.new_order()",
            "        order.add(Item('book', Decimal('40.00')), qty=2)",
            "        order.apply(Coupon('SPRING10'))",
            f">       {source}",
            f"E       {error}",
            "",
            f"tests/{module}.py:{rng.randint(20, 200)}: AssertionError",
        ]
    summary = f"========================= 2 failed, {passed} passed in 4.21s ========================="
    lines += [
        "=========================== short test summary info ============================",
        *(f"FAILED tests/{module}.py::{name} - {messages[name][1][:40]}..." for module, name in failing),
        summary,
    ]
    needles = [f"tests/{module}.py::{name}" for module, name in failing]
    needles += [messages[name][1] for _, name in failing]
    needles.append(summary)
    return "\n".join(lines) + "\n", needles


def service_log(seed: int = 11, n: int = 1500) -> tuple[str, list[str]]:
    """A 1,500-line service log with a handful of errors (one with a traceback); (text, needles)."""
    rng = random.Random(seed)
    endpoints = ["/api/orders", "/api/items", "/api/users", "/healthz", "/api/cart"]
    error_at = {211: "ERROR", 640: "ERROR", 641: "ERROR", 1022: "FATAL", 1333: "ERROR"}
    lines: list[str] = []
    needles: list[str] = []
    for i in range(n):
        ts = f"2024-06-03T14:{i // 60 % 60:02d}:{i % 60:02d}.{rng.randint(0, 999):03d}Z"
        if i in error_at:
            level = error_at[i]
            line = (
                f"{ts} {level} orders.worker pid={4100 + i % 3} "
                f'order={rng.randint(10000, 99999)} msg="payment gateway returned 502 after {rng.randint(1, 30)}s"'
            )
            if level == "FATAL":
                line = f'{ts} FATAL orders.worker pid=4101 msg="database pool exhausted, shutting down"'
            lines.append(line)
            needles.append(line)
            if i == 640:
                lines += [
                    "Traceback (most recent call last):",
                    '  File "/srv/app/orders/worker.py", line 212, in charge',
                    "    resp = gateway.charge(order.id, amount)",
                    "orders.errors.GatewayError: 502 Bad Gateway",
                ]
                needles.append("orders.errors.GatewayError: 502 Bad Gateway")
        elif i % 97 == 13:
            lines.append(
                f'{ts} WARN orders.worker pid={4100 + i % 3} msg="slow query" took_ms={rng.randint(900, 4000)}'
            )
        else:
            path = rng.choice(endpoints)
            lines.append(
                f"{ts} INFO http.access pid={4100 + i % 3} method=GET path={path}/{rng.randint(1, 5000)} "
                f"status=200 bytes={rng.randint(200, 9000)} duration_ms={rng.randint(1, 120)} "
                f"request_id={rng.getrandbits(64):016x}"
            )
    return "\n".join(lines) + "\n", needles


def _level_lines(text: str, limit: int) -> list[str]:
    return [line for line in text.split("\n") if _LEVELS.search(line)][:limit]


def workloads() -> list[Workload]:
    run_text, run_needles = pytest_run()
    log_text, log_needles = service_log()
    hdfs = _read("loghub_HDFS_2k.log")
    openstack = _read("loghub_OpenStack_2k.log")
    dpkg = _read("var_log_dpkg.log")
    flask = _read("pytest_v_flask_head_tests_vs_installed_3.1.3.log")
    flask_needles = re.findall(r"^FAILED (\S+)", flask, re.M)
    flask_needles.append(flask.rstrip("\n").split("\n")[-1])
    return [
        Workload(
            issue=3,
            name="pytest run, 320 tests, 2 failures",
            messages=tool_conversation(
                "Why are the tests failing?", "run_shell", run_text, {"command": "pytest -v"}
            ),
            target_saved=0.80,
            needles=run_needles,
            query="Why are the tests failing?",
        ),
        Workload(
            issue=3,
            name="service log, 1,500 lines, a handful of errors",
            messages=tool_conversation(
                "What went wrong in the orders worker?",
                "read_file",
                log_text,
                {"path": "/var/log/orders.log"},
            ),
            target_saved=0.90,
            needles=log_needles,
            query="What went wrong in the orders worker?",
        ),
        Workload(
            issue=3,
            name="loghub HDFS 2k",
            messages=tool_conversation("Any datanode problems?", "read_file", hdfs, {"path": "hdfs.log"}),
            target_saved=0.80,
            needles=_level_lines(hdfs, 20),
            source="real: loghub_HDFS_2k.log",
        ),
        Workload(
            issue=3,
            name="loghub OpenStack 2k",
            messages=tool_conversation(
                "Why did the instance fail?", "read_file", openstack, {"path": "nova.log"}
            ),
            target_saved=0.80,
            needles=_level_lines(openstack, 20),
            source="real: loghub_OpenStack_2k.log",
        ),
        Workload(
            issue=3,
            name="dpkg log",
            messages=tool_conversation(
                "Which packages were upgraded?", "read_file", dpkg, {"path": "/var/log/dpkg.log"}
            ),
            target_saved=0.70,
            needles=[dpkg.split("\n")[0], dpkg.rstrip("\n").split("\n")[-1]],
            source="real: var_log_dpkg.log",
        ),
        Workload(
            issue=3,
            name="Flask pytest -v, 16 failures",
            messages=tool_conversation(
                "Which Flask tests fail and why?", "run_shell", flask, {"command": "pytest -v tests"}
            ),
            target_saved=0.45,
            needles=flask_needles,
            source="real: pytest_v_flask_head_tests_vs_installed_3.1.3.log",
        ),
        *_transcript_workloads(),
        *_large_workloads(),
    ]


def _transcript_workloads() -> list[Workload]:
    """Issue 11: package-manager and build output without timestamps, routed as logs."""
    cases = [
        (
            "npm install (--loglevel=http), then an unknown package",
            "npm_install_loglevel_http_express_request.txt",
            "npm install express@4 request@2",
            "Did the npm install work?",
            ["npm error code E404", "added 114 packages in 3s"],
            0.80,
        ),
        (
            "apt-get install -s, 70 packages",
            "apt_get_install_simulate_texlive_libreoffice.txt",
            "apt-get install -s texlive-latex-base libreoffice-writer",
            "What would apt install?",
            ["0 upgraded, 70 newly installed, 0 to remove and 141 not upgraded."],
            0.60,
        ),
        (
            "make -k, 40 gcc warnings and an error",
            "make_k_gcc_warnings_error.txt",
            "make -k",
            "Why does the build fail?",
            ["make: *** [Makefile:8: broken.o] Error 1", "‘undefined_symbol’ undeclared"],
            0.70,
        ),
        (
            "cargo build, offline index errors and a type error",
            "cargo_build_offline_workspace.txt",
            "cargo build",
            "Why does cargo build fail?",
            ["error[E0308]: mismatched types", "Could not resolve host: index.crates.io"],
            0.40,
        ),
        (
            "pip install, one unknown version",
            "pip_install_transcript.txt",
            "pip install flask==3.0.0 requests httpx rich pandas==0.0.0-nonexistent",
            "Did pip install everything?",
            ["ERROR: No matching distribution found for pandas==0.0.0-nonexistent"],
            0.25,
        ),
    ]
    out = []
    for name, fixture, command, question, needles, target in cases:
        out.append(
            Workload(
                issue=11,
                name=f"transcript: {name}",
                messages=tool_conversation(question, "run_shell", _read(fixture), {"command": command}),
                target_saved=target,
                needles=needles,
                source=f"real: {fixture}",
            )
        )
    return out


def _large_workloads() -> list[Workload]:
    """Issue 11 section 3: logs and test output at 20k+ tokens, where compress() should take
    at most about 3x one tiktoken encode (the table prints the ratio)."""
    run_text, run_needles = pytest_run(passed=20_000)
    hdfs = _read("loghub_HDFS_2k.log") * 10
    npm = _read("npm_install_loglevel_http_express_request.txt") * 3
    return [
        Workload(
            issue=11,
            name="speed: pytest run, 20,000 tests (~375k tokens)",
            messages=tool_conversation(
                "Why are the tests failing?", "run_shell", run_text, {"command": "pytest -v"}
            ),
            target_saved=0.95,
            needles=run_needles,
        ),
        Workload(
            issue=11,
            name="speed: loghub HDFS 2k x10 (~970k tokens)",
            messages=tool_conversation("Any datanode problems?", "read_file", hdfs, {"path": "hdfs.log"}),
            target_saved=0.80,
            needles=_level_lines(hdfs, 20),
            source="real: loghub_HDFS_2k.log (x10)",
        ),
        Workload(
            issue=11,
            name="speed: npm install transcript x3 (~32k tokens)",
            messages=tool_conversation(
                "Did the npm install work?", "run_shell", npm, {"command": "npm install"}
            ),
            target_saved=0.80,
            needles=["npm error code E404"],
            source="real: npm_install_loglevel_http_express_request.txt (x3)",
        ),
    ]
