"""TestOutputCompressor on the real Flask pytest log and generated runner outputs."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom_core import (
    HeadroomConfig,
    MemoryCCRStore,
    compress_text,
    parse_markers,
    retrieve,
)
from headroom_core.compressors import get_compressor
from headroom_core.compressors.runner_output import TestOutputCompressor
from tests.support import make_ctx, openai_conversation

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FLASK = "pytest_v_flask_head_tests_vs_installed_3.1.3.log"


def flask_failures(text: str) -> list[str]:
    return re.findall(r"^FAILED (\S+)", text, re.M)


def test_registered_for_kind_test_output():
    assert isinstance(get_compressor("test_output"), TestOutputCompressor)


def test_real_flask_log_names_all_16_failures():
    text = (FIXTURES / FLASK).read_text(encoding="utf-8")
    failures = flask_failures(text)
    assert len(failures) == 16
    store = MemoryCCRStore()
    out = TestOutputCompressor().compress(text, make_ctx(store))
    assert out is not None
    assert out.summary.startswith("466 passed, 16 failed, 3 skipped; failed: ")
    first_line = out.text.split("\n", 1)[0]
    assert first_line.startswith("[test results: 466 passed, 16 failed, 3 skipped")
    for name in failures:
        assert name in out.summary
        assert name in first_line
    assert "================== 16 failed, 466 passed, 3 skipped in 6.66s ===================" in out.text
    assert "E       AssertionError: assert 1 == 2" in out.text
    assert "test_basic_url_generation PASSED" not in out.text
    assert [m.key for m in parse_markers(out.text)] == list(out.ccr_keys)
    assert retrieve(out.ccr_keys[0], store=store) == text
    assert len(out.text) < 0.6 * len(text)
    assert TestOutputCompressor().compress(text, make_ctx()).text == out.text


def test_real_flask_log_through_the_pipeline():
    text = (FIXTURES / FLASK).read_text(encoding="utf-8")
    result = compress_text(text, config=HeadroomConfig(ccr_store=MemoryCCRStore()))
    assert result.route == "test_output"
    assert result.compressor == "test_output"
    assert "16 failed" in result.summary


def pytest_run(passed: int = 310, failed: tuple[str, ...] = ("test_refund", "test_tax")) -> str:
    lines = ["=" * 30 + " test session starts " + "=" * 30, "collected 312 items", ""]
    for i in range(passed):
        lines.append(f"tests/test_shop.py::test_case_{i} PASSED [{i * 100 // passed:3d}%]")
    for name in failed:
        lines.append(f"tests/test_shop.py::{name} FAILED [ 99%]")
    lines += ["", "=" * 30 + " FAILURES " + "=" * 30]
    for name in failed:
        lines += [
            "_" * 20 + f" {name} " + "_" * 20,
            "",
            f"    def {name}():",
            f">       assert compute('{name}') == 42",
            f"E       AssertionError: assert 41 == 42 in {name}",
            "",
            "tests/test_shop.py:10: AssertionError",
        ]
    lines.append("=" * 20 + " short test summary info " + "=" * 20)
    lines += [f"FAILED tests/test_shop.py::{name} - AssertionError" for name in failed]
    lines.append("=" * 20 + f" {len(failed)} failed, {passed} passed in 1.23s " + "=" * 20)
    return "\n".join(lines) + "\n"


def test_generated_pytest_run():
    text = pytest_run()
    out = TestOutputCompressor().compress(text, make_ctx())
    assert (
        out.summary
        == "310 passed, 2 failed; failed: tests/test_shop.py::test_refund, tests/test_shop.py::test_tax"
    )
    assert "E       AssertionError: assert 41 == 42 in test_refund" in out.text
    assert out.text.endswith("\n")
    assert len(out.text) < 0.2 * len(text)


def test_unittest_verbose():
    lines = [f"test_ok_{i} (pkg.tests.TestX.test_ok_{i}) ... ok" for i in range(40)]
    lines += [
        "test_bad (pkg.tests.TestX.test_bad) ... FAIL",
        "test_boom (pkg.tests.TestX.test_boom) ... ERROR",
        "",
    ]
    lines += [
        "=" * 70,
        "FAIL: test_bad (pkg.tests.TestX.test_bad)",
        "-" * 70,
        "Traceback (most recent call last):",
    ]
    lines += [
        '  File "pkg/tests.py", line 9, in test_bad',
        "    self.assertEqual(1, 2)",
        "AssertionError: 1 != 2",
        "",
    ]
    lines += ["=" * 70, "ERROR: test_boom (pkg.tests.TestX.test_boom)", "-" * 70, "RuntimeError: boom", ""]
    lines += ["-" * 70, "Ran 42 tests in 0.050s", "", "FAILED (failures=1, errors=1)"]
    text = "\n".join(lines)
    out = TestOutputCompressor().compress(text, make_ctx())
    assert out.summary.startswith("40 passed, 1 failed, 1 error; failed: ")
    assert "pkg.tests.TestX.test_bad" in out.summary
    assert "AssertionError: 1 != 2" in out.text
    assert "RuntimeError: boom" in out.text
    assert "test_ok_3 " not in out.text


def test_go_test_verbose():
    lines = []
    for i in range(30):
        lines += [f"=== RUN   TestOk{i}", f"--- PASS: TestOk{i} (0.00s)"]
    lines += ["=== RUN   TestBroken", "    broken_test.go:12: got 3, want 4", "--- FAIL: TestBroken (0.01s)"]
    lines += ["FAIL", "FAIL\texample.com/pkg\t0.120s"]
    text = "\n".join(lines)
    out = TestOutputCompressor().compress(text, make_ctx())
    assert out.summary == "30 passed, 1 failed; failed: TestBroken"
    assert "broken_test.go:12: got 3, want 4" in out.text
    assert "TestOk7" not in out.text


def test_cargo_test():
    lines = ["running 21 tests"] + [f"test tests::ok_{i} ... ok" for i in range(20)]
    lines += [
        "test tests::parses_header ... FAILED",
        "",
        "failures:",
        "",
        "---- tests::parses_header stdout ----",
    ]
    lines += [
        "thread 'tests::parses_header' panicked at 'assertion failed: left == right', src/lib.rs:40:9",
        "",
    ]
    lines += [
        "test result: FAILED. 20 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s"
    ]
    out = TestOutputCompressor().compress("\n".join(lines), make_ctx())
    assert out.summary == "20 passed, 1 failed; failed: tests::parses_header"
    assert "panicked at 'assertion failed" in out.text


def test_jest():
    lines = ["PASS src/a.test.js", "FAIL src/b.test.js", "  cart"] + [
        f"    ✓ adds item {i} (2 ms)" for i in range(30)
    ]
    lines += [
        "    ✕ removes item (5 ms)",
        "",
        "  ● cart › removes item",
        "",
        "    expect(received).toBe(expected)",
        "",
    ]
    lines += ["Test Suites: 1 failed, 1 passed, 2 total", "Tests:       1 failed, 30 passed, 31 total"]
    out = TestOutputCompressor().compress("\n".join(lines), make_ctx())
    assert out.summary.startswith("30 passed, 1 failed; failed: ")
    assert "cart › removes item" in out.summary
    assert "expect(received).toBe(expected)" in out.text
    assert "adds item 4" not in out.text


def test_no_ccr_no_change():
    assert TestOutputCompressor().compress(pytest_run(), make_ctx(None)) is None


def test_nothing_to_drop_returns_none():
    assert TestOutputCompressor().compress("FAILED tests/x.py::test_a\n1 failed in 0.1s", make_ctx()) is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_slices_of_real_log(data):
    text = (FIXTURES / FLASK).read_text(encoding="utf-8")
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    piece = text[start:end]
    store = MemoryCCRStore()
    out = TestOutputCompressor().compress(piece, make_ctx(store))
    if out is not None:
        assert len(out.text) < len(piece)
        assert retrieve(out.ccr_keys[0], store=store) == piece
        for line in piece.split("\n"):
            if line.startswith("FAILED ") or line.startswith("E   "):
                assert line in out.text


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=2000))
def test_property_random_text(text):
    store = MemoryCCRStore()
    out = TestOutputCompressor().compress(text, make_ctx(store))
    if out is not None:
        assert retrieve(out.ccr_keys[0], store=store) == text


def test_vitest():
    lines = [" ✓ src/math.test.ts (12 tests) 4ms"] + [f"   ✓ math > adds case {i}" for i in range(25)]
    lines += [" ❯ src/cart.test.ts (2 tests | 1 failed) 9ms", "   × cart > removes item 5ms", ""]
    lines += [" FAIL  src/cart.test.ts > cart > removes item", "AssertionError: expected 2 to be 1", ""]
    lines += [" Test Files  1 failed | 1 passed (2)", "      Tests  1 failed | 26 passed (27)"]
    out = TestOutputCompressor().compress("\n".join(lines), make_ctx())
    assert out.summary.startswith("26 passed, 1 failed; failed: ")
    assert "src/cart.test.ts > cart > removes item" in out.summary
    assert "AssertionError: expected 2 to be 1" in out.text
    assert "adds case 7" not in out.text


def test_disabled_by_either_switch():
    for ctx in (make_ctx(logs={"enabled": False}), make_ctx(text={"enabled": False})):
        assert TestOutputCompressor().compress(pytest_run(), ctx) is None


def test_compress_messages_reports_the_summary_in_transforms(tmp_path):
    from headroom_core import compress

    text = (FIXTURES / FLASK).read_text(encoding="utf-8")
    messages = openai_conversation(
        text, system=None, question="Which Flask tests fail?", tool="bash", args={"command": "pytest -v"}
    )
    store = MemoryCCRStore()
    result = compress(messages, "gpt-4o", config=HeadroomConfig(ccr_store=store))
    (transform,) = [t for t in result.transforms_applied if t.compressor != "none"]
    assert transform.route == "test_output"
    assert transform.summary.startswith("466 passed, 16 failed, 3 skipped; failed: ")
    assert messages[2]["content"] == text  # the caller's messages are untouched
    out = result.messages[2]["content"]
    for name in flask_failures(text):
        assert name in out
    assert retrieve(transform.ccr_keys[0], store=store) == text


def test_pytest_quiet_progress_lines():
    lines = ["=" * 20 + " test session starts " + "=" * 20, "collected 400 items", ""]
    lines += [f"tests/test_mod{i}.py " + "." * 40 + f" [{(i + 1) * 10:3d}%]" for i in range(9)]
    lines += ["tests/test_last.py " + "." * 19 + "F" + "." * 20 + " [100%]", ""]
    lines += [
        "=" * 20 + " FAILURES " + "=" * 20,
        "_" * 10 + " test_edge " + "_" * 10,
        ">       assert f() == 2",
    ]
    lines += ["E       assert 1 == 2", "", "tests/test_last.py:7: AssertionError"]
    lines += [
        "=" * 10 + " short test summary info " + "=" * 10,
        "FAILED tests/test_last.py::test_edge - assert 1 == 2",
    ]
    lines += ["=" * 10 + " 1 failed, 399 passed in 2.00s " + "=" * 10]
    text = "\n".join(lines)
    out = TestOutputCompressor().compress(text, make_ctx())
    assert out.summary == "399 passed, 1 failed; failed: tests/test_last.py::test_edge"
    assert "tests/test_last.py " + "." * 19 + "F" in out.text
    assert "tests/test_mod3.py" not in out.text
    assert "E       assert 1 == 2" in out.text
