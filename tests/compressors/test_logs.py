"""LogCompressor on real loghub / dpkg logs and on generated edge cases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
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
from headroom_core.compressors.log_compressor import LogCompressor
from tests.support import make_ctx

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REAL_LOGS = ["loghub_HDFS_2k.log", "loghub_OpenStack_2k.log", "var_log_dpkg.log"]
LEVEL = re.compile(r"\b(?:WARN|WARNING|ERROR|FATAL|CRITICAL)\b")


def service_log(n: int = 1500, seed_errors: tuple[int, ...] = (300, 301, 900, 1400)) -> str:
    lines = []
    for i in range(n):
        ts = f"2024-05-01 10:{i // 60 % 60:02d}:{i % 60:02d},{i % 1000:03d}"
        if i in seed_errors:
            lines.append(f"{ts} ERROR payments.api: charge {i} failed: upstream timeout after 30s")
            lines.append("Traceback (most recent call last):")
            lines.append('  File "/srv/app/payments.py", line 88, in charge')
            lines.append("    resp = client.post(url, json=body)")
            lines.append(f"TimeoutError: request {i} timed out")
        else:
            lines.append(f"{ts} INFO http.server: GET /api/items/{i} 200 {i % 50}ms user=u{i % 17}")
    return "\n".join(lines) + "\n"


def test_registered_for_kind_log():
    assert isinstance(get_compressor("log"), LogCompressor)
    assert LogCompressor.name == "logs"


@pytest.mark.parametrize("name", REAL_LOGS)
def test_real_logs_compress_and_round_trip(name):
    text = (FIXTURES / name).read_text(encoding="utf-8")
    store = MemoryCCRStore()
    ctx = make_ctx(store)
    out = LogCompressor().compress(text, ctx)
    assert out is not None
    assert len(out.text) < len(text) * 0.3
    markers = parse_markers(out.text)
    assert [m.key for m in markers] == list(out.ccr_keys)
    assert retrieve(out.ccr_keys[0], store=store) == text
    # every warning/error line survives verbatim
    kept = set(out.text.split("\n"))
    for line in text.split("\n"):
        if LEVEL.search(line):
            assert line in kept
    # first and last lines are kept
    assert text.split("\n")[0] in kept
    assert text.rstrip("\n").split("\n")[-1] in kept
    assert LogCompressor().compress(text, make_ctx()).text == out.text  # deterministic


def test_hdfs_templates_show_counts_and_times():
    text = (FIXTURES / "loghub_HDFS_2k.log").read_text(encoding="utf-8")
    out = LogCompressor().compress(text, make_ctx())
    assert out is not None
    collapsed = [line for line in out.text.split("\n") if re.search(r"\(x[\d,]+, first .+, last .+\)$", line)]
    assert collapsed, out.text[:2000]
    assert any("PacketResponder <*> for block <*> terminating" in line for line in collapsed)
    total = sum(int(re.search(r"\(x([\d,]+)", line).group(1).replace(",", "")) for line in collapsed)
    assert total > 1500  # most of the 2,000 lines are accounted for in templates


def test_errors_with_tracebacks_and_context_are_kept_whole():
    text = service_log()
    out = LogCompressor().compress(text, make_ctx(logs={"context_lines": 2}))
    assert out is not None
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if " ERROR " in line:
            block = "\n".join(lines[i - 2 : i + 5])  # 2 context lines, the error, its traceback
            assert block in out.text
    assert "TimeoutError: request 900 timed out" in out.text
    assert "(x1," in out.text  # the INFO lines collapsed into one template with a count
    assert out.text.endswith("\n")


def test_java_stack_trace_kept():
    lines = [f"2024-05-01 10:00:{i % 60:02d} INFO Worker - processed batch {i}" for i in range(200)]
    lines[100:100] = [
        "2024-05-01 10:00:40 ERROR Worker - batch failed",
        "java.lang.IllegalStateException: queue closed",
        "\tat com.example.Queue.take(Queue.java:42)",
        "\tat com.example.Worker.run(Worker.java:17)",
        "Caused by: java.io.IOException: broken pipe",
        "\t... 3 more",
    ]
    text = "\n".join(lines)
    out = LogCompressor().compress(text, make_ctx())
    assert "\n".join(lines[99:106]) in out.text


def test_no_ccr_means_no_lossy_step():
    assert LogCompressor().compress(service_log(), make_ctx(None)) is None


def test_disabled_by_config():
    assert LogCompressor().compress(service_log(), make_ctx(logs={"enabled": False})) is None


def test_short_or_unique_logs_pass_through():
    assert LogCompressor().compress("2024-05-01 10:00:00 INFO one line", make_ctx()) is None
    unique = "\n".join(
        f"2024-05-01 10:00:{i:02d} INFO word{chr(97 + i % 26)} alpha{chr(98 + i % 20)}" for i in range(20)
    )
    out = LogCompressor().compress(unique, make_ctx())
    assert out is None or len(out.text) < len(unique)


def test_single_5mb_line_does_not_crash():
    text = "2024-05-01 10:00:00 INFO " + "x" * (5 * 1024 * 1024)
    assert LogCompressor().compress(text, make_ctx()) is None


def test_100k_line_log_through_the_pipeline():
    lines = [
        f"2024-05-01 10:{i // 60 % 60:02d}:{i % 60:02d} INFO svc: handled request {i} in {i % 97}ms"
        for i in range(100_000)
    ]
    lines[54_321] = "2024-05-01 10:05:21 FATAL svc: out of memory"
    text = "\n".join(lines)
    store = MemoryCCRStore()
    result = compress_text(text, config=HeadroomConfig(ccr_store=store))
    assert result.route == "log"
    assert result.compressor == "logs"
    assert "2024-05-01 10:05:21 FATAL svc: out of memory" in result.text
    assert result.compression_ratio > 0.95
    assert retrieve(result.ccr_keys[0], store=store) == text


def test_retrieve_by_query_returns_matching_lines():
    text = service_log()
    store = MemoryCCRStore()
    out = LogCompressor().compress(text, make_ctx(store))
    hits = retrieve(out.ccr_keys[0], query="items 777", limit=3, store=store)
    assert "/api/items/777 " in hits


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(max_size=80), max_size=60))
def test_property_random_lines_round_trip(lines):
    text = "\n".join(lines)
    store = MemoryCCRStore()
    out = LogCompressor().compress(text, make_ctx(store))
    if out is not None:
        assert len(out.text) < len(text)
        assert retrieve(out.ccr_keys[0], store=store) == text
        assert LogCompressor().compress(text, make_ctx()).text == out.text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(REAL_LOGS), st.integers(0, 1900), st.integers(1, 400), st.data())
def test_property_real_log_slices(name, start, length, data):
    lines = (FIXTURES / name).read_text(encoding="utf-8").split("\n")[start : start + length]
    # sometimes truncate the last line mid-way (a cut-off tool output)
    if lines and data.draw(st.booleans()):
        lines[-1] = lines[-1][: data.draw(st.integers(0, len(lines[-1])))]
    text = "\n".join(lines)
    store = MemoryCCRStore()
    out = LogCompressor().compress(text, make_ctx(store))
    if out is not None:
        assert retrieve(out.ccr_keys[0], store=store) == text
        kept = set(out.text.split("\n"))
        assert all(line in kept for line in lines if LEVEL.search(line))


def test_query_relevant_line_is_kept_verbatim():
    text = service_log()
    out = LogCompressor().compress(text, make_ctx(query="why is /api/items/777 slow?"))
    wanted = next(line for line in text.split("\n") if "/api/items/777 " in line)
    assert wanted in out.text.split("\n")
    without = LogCompressor().compress(text, make_ctx())
    assert wanted not in without.text.split("\n")


def test_templates_fold_word_values_into_general_template():
    lines = []
    for i in range(60):
        pkg = f"libfoo{i}:amd64" if i % 3 else f"tools-{chr(97 + i % 26)}:all"
        lines.append(f"2025-06-24 14:36:{i % 60:02d} status unpacked {pkg} 1.{i}-1")
    out = LogCompressor().compress("\n".join(lines), make_ctx(logs={"keep_head": 1, "keep_tail": 1}))
    collapsed = [line for line in out.text.split("\n") if "(x" in line]
    assert len(collapsed) == 1
    assert collapsed[0].startswith(
        "status unpacked <*> <*>  (x58, first 2025-06-24 14:36:01, last 2025-06-24 14:36:58)"
    )


def test_json_lines_log_keeps_keys_and_levels():
    import json

    lines = [
        json.dumps(
            {
                "ts": f"2024-05-01T10:00:{i % 60:02d}Z",
                "level": "error" if i == 120 else "info",
                "msg": f"handled {i} items",
            },
            separators=(",", ":"),
        )
        for i in range(200)
    ]
    text = "\n".join(lines)
    out = LogCompressor().compress(text, make_ctx())
    assert lines[120] in out.text.split("\n")
    collapsed = [line for line in out.text.split("\n") if "(x" in line]
    assert collapsed == [
        '{"ts":"<time>","level":"info","msg":<*>}  (x187, first 2024-05-01T10:00:05Z, last 2024-05-01T10:00:14Z)'
    ]


# ------------------------------------------------------------------ transcripts (issue 11)

TRANSCRIPTS = {
    "apt_get_update_install_transcript.txt": ["E: Unable to locate package nonexistent-pkg-xyz"],
    "pip_install_transcript.txt": [
        "ERROR: No matching distribution found for pandas==0.0.0-nonexistent",
        "ERROR: Could not find a version that satisfies the requirement pandas==0.0.0-nonexistent",
    ],
    "npm_install_loglevel_http_express_request.txt": [
        "npm error 404 Not Found - GET https://registry.npmjs.org/this-package-does-not-exist-xyz-123",
        "npm error code E404",
    ],
    "make_k_gcc_warnings_error.txt": [
        "broken.c:1:22: error: ‘undefined_symbol’ undeclared (first use in this function)",
        "make: *** [Makefile:8: broken.o] Error 1",
        "make: Target 'all' not remade because of errors.",
    ],
    "cargo_build_offline_workspace.txt": [
        "error[E0308]: mismatched types",
        'error: could not compile `demo` (bin "demo") due to 1 previous error; 2 warnings emitted',
    ],
}


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_transcript_problem_lines_are_kept_with_neighbours(name):
    text = (FIXTURES / name).read_text()
    store = MemoryCCRStore()
    result = compress_text(text, config=HeadroomConfig(ccr_store=store))
    assert result.route == "log"
    lines = text.split("\n")
    for needle in TRANSCRIPTS[name]:
        assert needle in result.text, needle
        i = next(k for k, line in enumerate(lines) if line.startswith(needle))
        if result.ccr_keys:  # the line before a problem line explains it: kept too
            assert lines[i - 1] in result.text
    for key in result.ccr_keys:
        assert retrieve(key, store=store) == text


def test_transcript_templates_collapse_with_counts():
    text = (FIXTURES / "npm_install_loglevel_http_express_request.txt").read_text()
    result = compress_text(text, config=HeadroomConfig(ccr_store=MemoryCCRStore()))
    assert result.tokens_after < result.tokens_before / 4
    assert re.search(r"npm http fetch GET 200 \S+ <\*> \(cache miss\)\s+\(x\d+", result.text)


@pytest.mark.parametrize(
    ("line", "important"),
    [
        ("E: Unable to locate package foo", True),
        ("dpkg: error processing package foo (--configure):", True),
        ("bash: foo: command not found", True),
        ("cp: cannot stat 'x': No such file or directory", True),
        ("mkdir: cannot create directory '/x': Permission denied", True),
        ("subprocess-exited-with-error: returned non-zero exit status 1", True),
        ("Process completed with exit code 2.", True),
        ("npm warn deprecated request@2.88.2: request has been deprecated", True),
        ("Setting up bash (5.2.15-2+b13) ...", False),
        ("found 0 vulnerabilities", False),
        ("0 errors, 0 warnings", False),
        ("Successfully installed flask-3.0.0", False),
        ("Collecting error-reporting==1.0", False),
    ],
)
def test_transcript_problem_words(line, important):
    from headroom_core.compressors.log_compressor import _is_important

    assert _is_important(line, transcript=True) is important


def test_variable_tokens_never_restart_inside_a_bracket_run():
    """A line of `((((` was scanned from every bracket to its end (1 MB of them: 11 s)."""
    from headroom_core.compressors.log_compressor import _VARIABLE

    assert _VARIABLE.findall("(" * 50) == []
    assert _VARIABLE.findall("call(123) pid=42 id=[0x1f]") == ["123", "42", "0x1f"]
    assert _VARIABLE.findall('user "a b" path=/x/y') == ['"a b"', "/x/y"]


def test_repeated_transcript_warnings_collapse_but_every_error_stays():
    """40 identical gcc warnings: the first few kept whole, the rest counted; the error kept."""
    text = (FIXTURES / "make_k_gcc_warnings_error.txt").read_text()
    result = compress_text(text, config=HeadroomConfig(ccr_store=MemoryCCRStore()))
    assert result.tokens_after < result.tokens_before / 3
    assert result.text.count("warning: unused variable ‘") == 3
    assert re.search(r"warning: unused variable <\*> \[-Wunused-variable\]\s+\(x37\)", result.text)
    assert "broken.c:1:44: warning: control reaches end of non-void function [-Wreturn-type]" in result.text
    errors = [line for line in text.split("\n") if "error" in line.lower()]
    assert errors and all(line in result.text for line in errors)
