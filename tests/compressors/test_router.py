"""The content router: every kind, mixed content, hints, and the join invariant."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom_core._router import RouteHints, Segment, looks_like_json, route

HAS_DETECT_LANGUAGE = importlib.util.find_spec(
    "headroom_core.compressors.code_compressor"
) is not None and hasattr(
    importlib.import_module("headroom_core.compressors.code_compressor"), "detect_language"
)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def kinds(text: str, hints: RouteHints | None = None) -> list[str]:
    segments = route(text, hints)
    assert "".join(s.text for s in segments) == text
    return [s.kind for s in segments]


def read(fixtures_dir, name: str) -> str:
    return (fixtures_dir / name).read_text(encoding="utf-8")


# --------------------------------------------------------------------------- real inputs


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("loghub_HDFS_2k.log", "log"),
        ("loghub_OpenStack_2k.log", "log"),
        ("var_log_dpkg.log", "log"),
        ("pytest_v_flask_head_tests_vs_installed_3.1.3.log", "test_output"),
        ("rg_n_C3_ServeHTTP_go1.19_net_http.txt", "search_results"),
        ("grep_rn_TODO_FIXME_XXX_cpython3.11_stdlib.txt", "search_results"),
        ("git_diff_flask_3.1.0..3.1.3.diff", "diff"),
        ("man_find.1.txt", "prose"),
        ("pydocs3.11_tutorial_classes.rst.txt", "prose"),
        ("moto_ec2_instance_type_offerings_az_us-east-1.json", "json"),
        ("npm_view_express.json", "json"),
        ("openml_api_data_features_40966.json", "json"),
    ],
)
def test_real_inputs_route_to_their_kind(fixtures_dir, name, kind):
    assert kinds(read(fixtures_dir, name)) == [kind]


@pytest.mark.skipif(not HAS_DETECT_LANGUAGE, reason="code_compressor.detect_language not available")
@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("go1.19_net_http_server.go", "go"),
        ("rust1.63_core_iter_iterator.rs", "rust"),
        ("lodash_4.17.21.js", "javascript"),
    ],
)
def test_real_source_routes_to_code_with_language(fixtures_dir, name, language):
    segments = route(read(fixtures_dir, name))
    assert [(s.kind, s.language) for s in segments] == [("code", language)]


@pytest.mark.skipif(not HAS_DETECT_LANGUAGE, reason="code_compressor.detect_language not available")
def test_path_hint_names_the_language(fixtures_dir):
    text = read(fixtures_dir, "go1.19_net_http_server.go")
    segments = route(text, RouteHints("read_file", {"path": "src/net/http/server.go"}))
    assert segments == [Segment("code", text, "go")]


@pytest.mark.parametrize(
    "name",
    [
        "skimage_hubble_deep_field.jpg",
        "gnome_help_screenshot_shell-appts.png",
        "pydocs_logging_flow_diagram.png",
    ],
)
def test_binary_files_read_as_text_are_blobs(fixtures_dir, name):
    raw = (fixtures_dir / name).read_bytes()
    assert kinds(raw.decode("latin-1")) == ["blob"]
    assert kinds(raw.decode("utf-8", "replace")) == ["blob"]
    assert kinds(raw.decode("utf-8", "surrogateescape")) == ["blob"]


def test_base64_text_is_a_blob(fixtures_dir):
    raw = (fixtures_dir / "pydocs_logging_flow_diagram.png").read_bytes()
    assert kinds(base64.b64encode(raw).decode()) == ["blob"]
    assert kinds("data:image/png;base64," + base64.b64encode(raw).decode()) == ["blob"]


# --------------------------------------------------------------------------- generated kinds


def test_html_document():
    page = "<!DOCTYPE html><html><head><title>x</title></head><body>" + "<p>para</p>" * 40 + "</body></html>"
    assert kinds(page) == ["html"]


def test_html_fragment_by_tag_density():
    fragment = (
        "<div class='a'><p>Hello <a href='/x'>there</a></p><ul><li>one</li><li>two</li></ul></div>\n" * 10
    )
    assert kinds(fragment) == ["html"]


def test_unittest_output():
    lines = [f"test_case_{i} (pkg.tests.TestThing.test_case_{i}) ... ok" for i in range(30)]
    lines += ["", "-" * 70, "Ran 30 tests in 0.012s", "", "OK"]
    assert kinds("\n".join(lines)) == ["test_output"]


def test_go_test_output():
    lines = []
    for i in range(20):
        lines += [f"=== RUN   TestThing{i}", f"--- PASS: TestThing{i} (0.00s)"]
    lines += ["PASS", "ok  \texample.com/pkg\t0.012s"]
    assert kinds("\n".join(lines)) == ["test_output"]


def test_cargo_test_output():
    lines = ["running 25 tests"] + [f"test tests::case_{i} ... ok" for i in range(25)]
    lines += ["", "test result: ok. 25 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out"]
    assert kinds("\n".join(lines)) == ["test_output"]


def test_jest_output():
    lines = ["PASS src/app.test.js"] + [f"  ✓ renders item {i} (3 ms)" for i in range(20)]
    lines += ["", "Test Suites: 1 passed, 1 total", "Tests:       20 passed, 20 total"]
    assert kinds("\n".join(lines)) == ["test_output"]


def test_plain_log_with_levels():
    lines = [
        f"2024-05-01T10:{i // 60:02d}:{i % 60:02d}Z INFO worker handled job {i} in {i % 7}ms"
        for i in range(50)
    ]
    assert kinds("\n".join(lines)) == ["log"]


def test_unified_diff_without_git_header():
    text = "--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n def f():\n-    return 1\n+    return 2\n" * 5
    assert kinds(text) == ["diff"]


def test_rg_with_context_and_separators():
    blocks = []
    for i in range(10):
        blocks.append(
            f"src/pkg/file{i}.go-{i * 10 + 1}-func helper() {{\n"
            f"src/pkg/file{i}.go:{i * 10 + 2}:\tServeHTTP(w, r)\n"
            f"src/pkg/file{i}.go-{i * 10 + 3}-}}"
        )
    assert kinds("\n--\n".join(blocks)) == ["search_results"]


def test_search_tool_hint_accepts_grep_without_line_numbers():
    text = "\n".join(f"src/module_{i}.py:    # TODO handle case number {i} properly" for i in range(20))
    assert kinds(text, RouteHints("grep", {"pattern": "TODO"})) == ["search_results"]


def test_prose_paragraphs():
    para = (
        "The quick brown fox jumps over the lazy dog while the farmer watches from the porch, "
        "wondering whether the harvest will come in before the first autumn storms arrive.\n\n"
    )
    assert kinds(para * 10) == ["prose"]


def test_short_text_is_left_alone():
    assert kinds("ok") == ["text"]
    assert kinds("") == ["text"]
    assert kinds("   \n  ") == ["text"]


def test_looks_like_json():
    assert looks_like_json('{"a": [1, 2]}')
    assert looks_like_json("  [1, 2, 3]\n")
    assert not looks_like_json('{"a": ')
    assert not looks_like_json("[not json]")
    assert not looks_like_json("x")


# --------------------------------------------------------------------------- mixed content


def test_text_header_then_json_body():
    body = json.dumps([{"id": i, "name": f"item {i}", "status": "ok"} for i in range(20)], indent=2)
    text = "Tool returned 20 results:\n" + body
    segments = route(text)
    assert [s.kind for s in segments] == ["text", "json"]
    assert segments[1].text == body
    assert "".join(s.text for s in segments) == text


def test_log_with_embedded_pretty_json():
    head = "\n".join(f"2024-05-01 10:00:{i:02d} INFO request {i} accepted" for i in range(20))
    payload = json.dumps(
        {"request": {"id": 7, "items": [{"sku": f"A{i}", "qty": i} for i in range(8)]}}, indent=2
    )
    tail = "\n".join(f"2024-05-01 10:01:{i:02d} INFO request {i} done" for i in range(20))
    text = f"{head}\n{payload}\n{tail}\n"
    segments = route(text)
    assert [s.kind for s in segments] == ["log", "json", "log"]
    assert segments[1].text == payload
    assert segments[2].text.startswith("\n2024-05-01 10:01:00 INFO")
    assert "".join(s.text for s in segments) == text


def test_embedded_base64_run_is_split_out(fixtures_dir):
    raw = (fixtures_dir / "pydocs_logging_flow_diagram.png").read_bytes()
    blob = base64.b64encode(raw[:3000]).decode()
    prose = (
        "The attached diagram explains how the logging module passes a record through its handlers.\n" * 30
    )
    text = prose + blob + "\n" + prose
    segments = route(text)
    assert "blob" in [s.kind for s in segments]
    assert next(s.text for s in segments if s.kind == "blob") == blob


# --------------------------------------------------------------------------- robustness


def test_huge_single_line_and_huge_log_route_quickly():
    single = "x" * (5 * 1024 * 1024)
    assert kinds(single) == ["prose"]
    log = "\n".join(f"2024-05-01 10:00:00,{i % 1000:03d} INFO svc: tick {i}" for i in range(100_000))
    assert kinds(log) == ["log"]


def test_rejects_non_str():
    with pytest.raises(TypeError):
        route(b"bytes")  # type: ignore[arg-type]


def test_hints_of_odd_types_are_ignored():
    text = "\n".join(f"2024-05-01 10:00:{i:02d} INFO request {i} accepted" for i in range(20))
    assert kinds(text, RouteHints(None, None)) == ["log"]
    assert kinds(text, RouteHints(42, {"path": 3, "command": ["pytest", 1]})) == ["log"]  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=3000))
def test_join_invariant_on_random_text(text):
    segments = route(text)
    assert "".join(s.text for s in segments) == text
    assert all(
        s.kind
        in {"json", "code", "log", "test_output", "search_results", "diff", "html", "prose", "blob", "text"}
        for s in segments
    )
    assert route(text) == segments  # deterministic


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_join_invariant_on_slices_of_real_inputs(data):
    name = data.draw(
        st.sampled_from(
            [
                "loghub_HDFS_2k.log",
                "pytest_v_flask_head_tests_vs_installed_3.1.3.log",
                "git_diff_flask_3.1.0..3.1.3.diff",
                "rg_n_C3_ServeHTTP_go1.19_net_http.txt",
                "npm_view_express.json",
                "man_find.1.txt",
            ]
        )
    )
    text = (FIXTURES / name).read_text(encoding="utf-8")
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 20_000)))
    piece = text[start:end]
    assert "".join(s.text for s in route(piece)) == piece


def test_markdown_that_quotes_a_small_diff_is_prose():
    para = (
        "This chapter walks through the change in detail and explains why the default moved, "
        "what it means for existing users, and how to opt back into the old behaviour.\n\n"
    )
    diff = "```diff\n--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n-TIMEOUT = 10\n+TIMEOUT = 30\n```\n\n"
    assert kinds(para * 6 + diff + para * 6) == ["prose"]


def test_git_show_with_commit_header_is_a_diff(fixtures_dir):
    header = "commit 0123456789abcdef\nAuthor: A Dev <dev@example.com>\nDate:   Mon May 6 10:00:00 2024\n\n    Fix the thing\n\n"
    assert kinds(header + read(fixtures_dir, "git_diff_flask_3.1.0..3.1.3.diff")) == ["diff"]


@pytest.mark.skipif(not HAS_DETECT_LANGUAGE, reason="code_compressor.detect_language not available")
def test_python_source_without_a_path_is_code():
    source = '''"""Settings for the worker."""

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerConfig:
    """How the worker pulls jobs."""

    batch_size: int = 10
    """Jobs fetched per poll."""
    poll_seconds: float = 2.5


def load(path: str) -> WorkerConfig:
    with open(path) as handle:
        data = handle.read()
    return WorkerConfig(**parse(data))
'''
    segments = route(source * 3)
    assert [(s.kind, s.language) for s in segments] == [("code", "python")]


def test_header_compact_json_and_footer():
    body = json.dumps({"results": [{"id": i, "title": f"result number {i}"} for i in range(15)]})
    text = "GET /search?q=x -> 200\n" + body + "\n\n(took 0.21s, 15 results)\n"
    segments = route(text)
    assert [s.kind for s in segments] == ["text", "json", "text"]
    assert segments[1].text == body
    assert segments[2].text == "\n\n(took 0.21s, 15 results)\n"


def test_json_body_with_trailing_whitespace_has_no_footer():
    body = json.dumps([{"id": i} for i in range(40)], indent=1)
    text = "Result:\n" + body + "\n\n"
    assert [(s.kind, s.text) for s in route(text)] == [("text", "Result:\n"), ("json", body + "\n\n")]


def test_log_hint_lowers_the_bar():
    lines = []
    for i in range(30):
        lines.append(f"2024-05-01 10:00:{i:02d} worker started job {i}")
        lines += [f"processing item {i}-{k} of the batch queue" for k in range(2)]
    text = "\n".join(lines)  # only a third of the lines carry a timestamp
    assert kinds(text) == ["prose"]
    assert kinds(text, RouteHints("read_file", {"path": "/var/log/worker.log"})) == ["log"]
    assert kinds(text, RouteHints("bash", {"command": "journalctl -u worker"})) == ["log"]


def test_fetch_header_then_html_page():
    page = "<!DOCTYPE html><html><head><title>x</title></head><body>" + "<p>para</p>" * 40 + "</body></html>"
    text = "URL: https://example.com/\nStatus: 200\n\n" + page
    segments = route(text)
    assert [s.kind for s in segments] == ["text", "html"]
    assert segments[1].text == page


# --------------------------------------------------------------------------- issue 11 / 12


TRANSCRIPTS = [
    "apt_get_update_install_transcript.txt",
    "apt_get_install_simulate_texlive_libreoffice.txt",
    "pip_install_transcript.txt",
    "npm_install_loglevel_http_express_request.txt",
    "make_k_gcc_warnings_error.txt",
    "cargo_build_offline_workspace.txt",
]


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_transcripts_without_timestamps_route_to_the_log_compressor(fixtures_dir, name):
    assert kinds(read(fixtures_dir, name)) == ["log"]


class _CountingPattern:
    """Wraps a compiled pattern and counts the scans started on it."""

    def __init__(self, pattern):
        self.pattern = pattern
        self.scans = 0

    def search(self, *args, **kwargs):
        self.scans += 1
        return self.pattern.search(*args, **kwargs)

    def finditer(self, *args, **kwargs):
        self.scans += 1
        return self.pattern.finditer(*args, **kwargs)


def test_unclosed_brackets_scan_the_text_once(monkeypatch):
    """Issue 12.9: each lone `{` line searched the rest of the text for a closer (1 MB: 111 s)."""
    from headroom_core import _router

    closers = {c: _CountingPattern(p) for c, p in _router._JSON_CLOSERS.items()}
    monkeypatch.setattr(_router, "_JSON_CLOSERS", closers)
    text = "{\nsome words of a log line here\n[\n" * 2000 + "}\n"
    assert _router._embedded_json_blocks(text) == []
    assert sum(p.scans for p in closers.values()) <= 2  # one pass per closer kind, not one per opener


def test_tool_names_match_by_word_not_substring():
    """Issue 12.10: `ag`, `rg`, `grep`, `search` matched inside `fetch_page`, `merge`, `image`."""
    from headroom_core._router import _SEARCH_TOOL_WORDS, tool_words

    def is_search(name: str) -> bool:
        return bool(tool_words(name) & _SEARCH_TOOL_WORDS)

    for name in (
        "grep",
        "rg",
        "ripgrep_search",
        "web_search",
        "GrepTool",
        "code-search",
        "search.files",
        "ag",
    ):
        assert is_search(name), name
    for name in ("fetch_page", "merge", "image", "merge_branches", "storage", "research_notes", "pager", ""):
        assert not is_search(name), name
    lines = "\n".join(f"notes/file{i}.txt:plain words about a topic {i}" for i in range(20))
    assert kinds(lines, RouteHints("grep", {})) == ["search_results"]
    assert "search_results" not in kinds(lines, RouteHints("fetch_page", {}))


def test_router_imports_no_compressor():
    """Issue 10/12.11: language detection lives in headroom_core._language, so neither the
    router nor the detector imports a compressor (the tree-sitter wrapper is a parser)."""
    import ast

    import headroom_core._language
    import headroom_core._router

    for module in (headroom_core._router, headroom_core._language):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
                imported.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
        compressors = {
            m
            for m in imported
            if m.startswith("headroom_core.compressors.") and not m.endswith("._treesitter")
        }
        assert compressors == set(), (module.__name__, compressors)


def test_language_signals_cannot_cross_lines_or_run_long():
    """Issue 12.11: `\\w+<\\w+(?:\\[\\])?>\\(` and `\\w+ := ` took 1.5 s each on a 20 KB word."""
    from headroom_core import _language

    for patterns in _language._SIGNALS.values():
        for pattern in patterns:
            assert "\\s" not in pattern.pattern, pattern.pattern  # \s spans line breaks
            for negated in __import__("re").findall(r"\[\^[^\]]*\]", pattern.pattern):
                assert "\\n" in negated, pattern.pattern
    assert _language._signal_sample("a" * 20_000 + "\n" + "b" * 10) == "a" * 300 + "\n" + "b" * 10
    for text in ("a" * 20_000, "x" * 20_000 + " := 1", "\n" * 20_000 + "x", "Ab" + ("'" * 80 + "a") * 4):
        assert _language.detect_language(text) is None


def test_sentence_share_has_no_catastrophic_backtracking():
    from headroom_core._router import _SENTENCE

    # Before: quotes could belong to a word or to a separator; this line took 18 s.
    line = "Ab" + ("'" * 80 + "a") * 4 + "'" * 80
    assert _SENTENCE.search(line[:400]) is None
    assert _SENTENCE.search("This is a plain sentence with enough words in it.")


def test_grep_line_patterns_do_not_backtrack_on_long_words():
    """`[^\\s:]*[A-Za-z_./][^\\s:]*:` retried every split of a 400-letter word: 1,000 such
    lines took 4.6 s per route call. The look-ahead forms keep the same matches."""
    from headroom_core._router import _SEARCH_MATCH, _SEARCH_MATCH_NO_LINE

    assert _SEARCH_MATCH.match("src/a.py:12:x")["path"] == "src/a.py"
    assert _SEARCH_MATCH.match("a.b:12:x")["path"] == "a.b"
    assert _SEARCH_MATCH.match("12:30:45 x") is None
    assert _SEARCH_MATCH_NO_LINE.match("src/x.py:text")["path"] == "src/x.py"
    assert _SEARCH_MATCH_NO_LINE.match("file.py:text") is None
    for line in ("a" * 400, "a." * 200, "a/" * 200):
        assert _SEARCH_MATCH.match(line) is None and _SEARCH_MATCH_NO_LINE.match(line) is None
    assert kinds(("a" * 399 + "\n") * 1000) == ["prose"]


def test_prose_with_bullets_and_shell_prompts_is_not_a_transcript():
    text = "\n".join(
        f"+ Step {i}: read the section about the setting and then decide what to change here.\n"
        f"$ run the command shown above with care, as the output tells you what happened.\n"
        f"as a result the system keeps the settings you chose in the previous screen of the tool."
        for i in range(20)
    )
    assert kinds(text) == ["prose"]
