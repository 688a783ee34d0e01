"""The code compressor on real programs in eight languages, real stdlib modules and real
third-party sources, plus property tests on random and truncated input."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json.decoder
import random
import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom_core import HeadroomConfig, MemoryCCRStore, parse_markers, retrieve
from headroom_core._ccr import content_key
from headroom_core.compressors import _treesitter as ts
from headroom_core.compressors import get_compressor
from headroom_core.compressors.code_compressor import CodeCompressor, detect_language
from tests.support import TOKENIZER, make_ctx, openai_conversation

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CODE = FIXTURES / "code"


def outer_functions(language: str, text: str) -> list[tuple[str, str]]:
    """(header, whole text) of every function not nested in another function."""
    data = text.encode()
    tree = ts.parse(language, data)
    syntax = ts.SYNTAX[language]
    out = []
    last_end = -1
    for node in ts.capture(language, tree.root_node, syntax.functions):
        body = node.child_by_field_name("body")
        if body is None or body.type not in (
            "block",
            "statement_block",
            "compound_statement",
            "constructor_body",
        ):
            continue
        if node.start_byte < last_end:
            continue  # nested in an outer function
        last_end = node.end_byte
        out.append((_header(node, body, data), data[node.start_byte : node.end_byte].decode()))
    return out


def _header(node, body, data: bytes) -> str:
    end = body.start_byte
    if node.type == "function_definition" and body.type == "block":  # Python: up to the colon
        end = max(
            n.end_byte
            for n in (node.child_by_field_name("parameters"), node.child_by_field_name("return_type"))
            if n
        )
    return data[node.start_byte : end].decode().strip()


def reparses_clean(language: str, text: str) -> bool:
    tree = ts.parse(language, text.encode())
    return tree is not None and not tree.root_node.has_error


def saved_share(before: str, after: str) -> float:
    return 1 - TOKENIZER.count(after) / TOKENIZER.count(before)


# (file, language, function the query names, a line of its body, a declaration line kept)
FIXTURE_CASES = [
    (
        "rate_limiter.js",
        "javascript",
        "parseRateSpec",
        "const seconds = { second: 1, minute: 60, hour: 3600 }[match[2]];",
        "class RateLimiter extends EventEmitter {",
    ),
    (
        "event_store.ts",
        "typescript",
        "append",
        "events.push(...appended);",
        "export interface Projection<S> {",
    ),
    ("kvstore.go", "go", "Sweep", "removed++", "type Store struct {"),
    (
        "lexer.rs",
        "rust",
        "tokenize",
        "other => return Err(LexError::UnexpectedChar { ch: other, at: start }),",
        "pub enum TokenKind {",
    ),
    ("InventoryService.java", "java", "reserve", 'String id = "R" + (nextId++);', "public enum Refusal {"),
    (
        "ring_buffer.c",
        "c",
        "rb_write",
        "rb->tail = (rb->tail + n) & (rb->capacity - 1);",
        "typedef struct ring_buffer {",
    ),
    ("thread_pool.cpp", "cpp", "workerLoop", "task = std::move(tasks_.front());", "class ThreadPool {"),
]


def python_fixture() -> tuple[str, str]:
    return inspect.getsource(json.decoder), "json/decoder.py"


@pytest.mark.parametrize(("name", "language", "function", "body_line", "declaration"), FIXTURE_CASES)
def test_fixture_outline(name, language, function, body_line, declaration):
    text = (CODE / name).read_text()
    assert detect_language(text) == language
    assert detect_language(text, f"src/{name}") == language
    store = MemoryCCRStore()

    plain = CodeCompressor().compress(text, make_ctx(store, path=f"src/{name}"))
    assert plain is not None
    assert reparses_clean(language, plain.text)
    for header, _ in outer_functions(language, text):
        assert header in plain.text, header
    assert declaration in plain.text
    # Bodies are elided behind markers that all point at the stored original.
    markers = parse_markers(plain.text)
    assert len(markers) >= 3
    assert {m.key for m in markers} == {content_key(text)} == set(plain.ccr_keys)
    assert body_line not in plain.text
    assert "{ /* [headroom: lines " in plain.text
    assert retrieve(plain.ccr_keys[0], store=store) == text

    asked = CodeCompressor().compress(text, make_ctx(store, query=f"how does {function} work?"))
    assert asked is not None
    assert reparses_clean(language, asked.text)
    whole = [body for header, body in outer_functions(language, text) if function in header]
    whole += [body for header, body in _methods(language, text) if function in header.split("(")[0]]
    assert whole, "fixture must define the queried function"
    assert any(body in asked.text for body in whole)
    assert body_line in asked.text


def _methods(language: str, text: str) -> list[tuple[str, str]]:
    data = text.encode()
    tree = ts.parse(language, data)
    out = []
    for node in ts.capture(language, tree.root_node, ts.SYNTAX[language].functions):
        body = node.child_by_field_name("body")
        if body is not None:
            out.append((_header(node, body, data), data[node.start_byte : node.end_byte].decode()))
    return out


def test_python_outline_keeps_docstring_first_line_and_query_body():
    text, path = python_fixture()
    store = MemoryCCRStore()
    out = CodeCompressor().compress(text, make_ctx(store, query="what does raw_decode do", path=path))
    assert out is not None
    assert reparses_clean("python", out.text)
    assert (
        '    def decode(self, s, _w=WHITESPACE.match):\n        """Return the Python representation of'
        in out.text
    )
    assert "...  # [headroom: lines " in out.text
    raw_decode = next(body for header, body in _methods("python", text) if "def raw_decode" in header)
    assert raw_decode in out.text
    assert "obj, end = self.scan_once(s, idx)" in out.text  # from raw_decode's body
    assert "pairs_append = pairs.append" in text
    assert "pairs_append = pairs.append" not in out.text  # JSONObject's body is elided
    assert retrieve(out.ccr_keys[0], store=store) == text


@pytest.mark.parametrize("module", [json.decoder, textwrap, argparse], ids=lambda m: m.__name__)
def test_stdlib_modules(module):
    text = inspect.getsource(module)
    assert detect_language(text) == "python"
    assert detect_language(text, module.__file__) == "python"
    store = MemoryCCRStore()
    out = CodeCompressor().compress(text, make_ctx(store, path=module.__file__))
    assert out is not None
    assert reparses_clean("python", out.text)
    for header, _ in outer_functions("python", text):
        assert header in out.text, header
    classes = [line for line in text.splitlines() if line.startswith("class ")]
    assert classes and all(line in out.text for line in classes)
    assert saved_share(text, out.text) >= 0.5
    assert retrieve(out.ccr_keys[0], store=store) == text


@pytest.mark.parametrize(
    ("name", "language", "saved", "query", "kept"),
    [
        (
            "go1.19_net_http_server.go",
            "go",
            0.5,
            "how is the ServeHTTP of serverHandler written",
            "handler := sh.srv.Handler",
        ),
        ("rust1.63_core_iter_iterator.rs", "rust", 0.5, "how is advance_by implemented", "for i in 0..n {"),
        ("lodash_4.17.21.js", "javascript", 0.5, "how does baseFlatten recurse", "var index = -1,"),
    ],
)
def test_real_third_party_sources(name, language, saved, query, kept):
    text = (FIXTURES / name).read_text()
    assert detect_language(text) == language
    assert detect_language(text, name) == language
    store = MemoryCCRStore()
    out = CodeCompressor().compress(text, make_ctx(store, path=name))
    assert out is not None
    assert reparses_clean(language, out.text)
    assert saved_share(text, out.text) >= saved
    if language == "javascript":
        # lodash is one IIFE around `runInContext`: the functions declared at those two
        # levels are its API and helpers.
        headers = re.findall(r"^(?:  |    )function \w+\(.*\) \{$", text, re.MULTILINE)
    else:
        headers = [header for header, _ in outer_functions(language, text)]
    assert len(headers) >= 10
    for header in headers:
        assert header in out.text, header
    assert retrieve(out.ccr_keys[0], store=store) == text

    asked = CodeCompressor().compress(text, make_ctx(store, query=query, path=name))
    assert asked is not None
    assert reparses_clean(language, asked.text)
    assert kept in asked.text


def test_go_query_named_method_keeps_body_and_its_type():
    text = (FIXTURES / "go1.19_net_http_server.go").read_text()
    out = CodeCompressor().compress(text, make_ctx(query="explain serverHandler.ServeHTTP"))
    assert out is not None
    start = text.index("func (sh serverHandler) ServeHTTP")
    end = text.index("\n}\n", start) + 3
    assert text[start:end] in out.text
    assert "type serverHandler struct {" in out.text


def test_rust_impl_context_kept_for_named_method():
    text = (CODE / "lexer.rs").read_text()
    out = CodeCompressor().compress(text, make_ctx(query="number"))
    assert out is not None
    assert "impl<'a> Lexer<'a> {" in out.text
    assert ".map_err(|_| LexError::BadNumber { text: text.to_string(), at: start })?;" in out.text


def test_deterministic_output():
    text = (FIXTURES / "go1.19_net_http_server.go").read_text()
    first = CodeCompressor().compress(text, make_ctx(query="timeouts"))
    second = CodeCompressor().compress(text, make_ctx(query="timeouts"))
    assert first is not None and second is not None
    assert first.text == second.text


def test_tiny_bodies_are_not_elided():
    text = textwrap.dedent(
        """\
        def small(x):
            return x + 1


        def also_small(x):
            y = x * 2
            return y
        """
    )
    assert CodeCompressor().compress(text, make_ctx(path="m.py")) is None


def test_lossless_mode_leaves_code_alone():
    text = (CODE / "kvstore.go").read_text()
    assert CodeCompressor().compress(text, make_ctx(None)) is None


def test_disabled_in_config():
    store = MemoryCCRStore()
    config = HeadroomConfig(ccr_store=store).with_(code=HeadroomConfig().code.__class__(enabled=False))
    text = (CODE / "kvstore.go").read_text()
    assert CodeCompressor().compress(text, make_ctx(store, config=config)) is None


def test_registry_returns_this_compressor():
    assert isinstance(get_compressor("code"), CodeCompressor)


def test_path_hint_decides_between_grammars():
    text = (CODE / "event_store.ts").read_text()
    # A .ts path is enough even for a snippet with few TypeScript signals.
    snippet = text[text.index("function checksumOf") : text.index("export class EventStore")]
    assert detect_language(snippet, "lib/checksum.ts") == "typescript"
    out = CodeCompressor().compress(text, make_ctx(path="src/event_store.ts"))
    assert out is not None and reparses_clean("typescript", out.text)


@pytest.mark.parametrize(
    "name",
    [
        "man_find.1.txt",
        "loghub_HDFS_2k.log",
        "loghub_OpenStack_2k.log",
        "var_log_dpkg.log",
        "npm_view_express.json",
        "moto_ec2_instance_type_offerings_az_us-east-1.json",
        "pydocs3.11_tutorial_classes.rst.txt",
        "pytest_v_flask_head_tests_vs_installed_3.1.3.log",
        "grep_rn_TODO_FIXME_XXX_cpython3.11_stdlib.txt",
        "CORPUS_README.md",
        "git_diff_flask_3.1.0..3.1.3.diff",
        "rg_n_C3_ServeHTTP_go1.19_net_http.txt",
    ],
)
def test_detect_language_rejects_prose_json_logs(name):
    text = (FIXTURES / name).read_text(errors="replace")
    assert detect_language(text) is None
    assert detect_language(text, name) is None
    # A tool's path argument does not turn a log, a diff or JSON into source code.
    for path in ("src/server.go", "app/main.py", "lib/index.js", "src/lib.rs", "main.c"):
        assert detect_language(text, path) is None, path
    assert CodeCompressor().compress(text, make_ctx()) is None


def test_detect_language_binary_and_huge_input():
    rng = random.Random(7)
    garbage = bytes(rng.randrange(256) for _ in range(20_000))
    for text in (garbage.decode("latin-1"), garbage.decode("utf-8", "replace"), "\x00" * 100):
        assert detect_language(text) is None
        assert detect_language(text, "main.go") is None
        assert CodeCompressor().compress(text, make_ctx(path="main.go")) is None
    one_line = "x = 1; " * 750_000  # a single 5 MB line
    assert CodeCompressor().compress(one_line, make_ctx(path="big.js")) is None
    assert detect_language(one_line[:100], None) in (None, "javascript", "python")
    assert detect_language("", None) is None
    assert detect_language(None, None) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "path", "expected"),
    [
        ("#!/usr/bin/env python3\nprint('hi')\n", None, "python"),
        ("#!/usr/bin/env node\nconsole.log('hi')\n", None, "javascript"),
        ("package main\n\nfunc main() {\n\tx := 1\n\t_ = x\n}\n", None, "go"),
        ("anything", "notes/README.md", None),
        (
            'import { readFile } from "fs/promises";\n\nexport async function load(dir) {\n'
            '  const raw = await readFile(dir + "/config.json", "utf8");\n  return JSON.parse(raw);\n}\n',
            None,
            "javascript",
        ),
        ("int main(void) { return 0; }\n", "a.c", "c"),
        ("class A { public: int f(); };\n", "a.h", "cpp"),
    ],
)
def test_detect_language_hints(text, path, expected):
    assert detect_language(text, path) == expected


# ------------------------------------------------------------------ property tests

_GO = (CODE / "kvstore.go").read_text()
_PY = inspect.getsource(textwrap)
_SOURCES = {"go": _GO, "python": _PY, "javascript": (CODE / "rate_limiter.js").read_text()}


def _check_output(text: str, out, store, language: str | None) -> None:
    if out is None:
        return
    assert retrieve(out.ccr_keys[0], store=store) == text
    lang = language or detect_language(text)
    assert lang is not None
    before = ts.error_stats(ts.parse(lang, text.encode()).root_node)[0]
    after = ts.error_stats(ts.parse(lang, out.text.encode()).root_node)[0]
    assert after <= before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=3000))
def test_random_text_never_raises(text):
    store = MemoryCCRStore()
    out = CodeCompressor().compress(text, make_ctx(store, query="main"))
    _check_output(text, out, store, None)
    detect_language(text)
    detect_language(text, "x.rs")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(_SOURCES)),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=10_000),
    st.text(max_size=20),
)
def test_mutated_sources_are_safe(language, cut, splice_at, insert):
    source = _SOURCES[language]
    cut = cut % (len(source) + 1)
    truncated = source[:cut]
    splice_at = splice_at % (len(truncated) + 1)
    mutated = truncated[:splice_at] + insert + truncated[splice_at:]
    ext = {"go": "go", "python": "py", "javascript": "js"}[language]
    for text in (truncated, mutated):
        store = MemoryCCRStore()
        out = CodeCompressor().compress(text, make_ctx(store, path=f"f.{ext}"))
        _check_output(text, out, store, language)
        again = CodeCompressor().compress(text, make_ctx(MemoryCCRStore(), path=f"f.{ext}"))
        assert (out is None) == (again is None)
        if out is not None:
            assert out.text == again.text


def test_random_bytes_as_code_file():
    rng = random.Random(11)
    for _ in range(20):
        text = bytes(rng.randrange(32, 127) for _ in range(2000)).decode()
        store = MemoryCCRStore()
        out = CodeCompressor().compress(text, make_ctx(store, path="noise.c"))
        _check_output(text, out, store, "c")


def test_tsx_component():
    text = (CODE / "UserCard.tsx").read_text()
    assert detect_language(text) == "tsx"
    assert detect_language(text, "src/UserCard.tsx") == "tsx"
    store = MemoryCCRStore()
    out = CodeCompressor().compress(text, make_ctx(store, path="src/UserCard.tsx"))
    assert out is not None
    assert reparses_clean("tsx", out.text)
    assert "export function UserCard({ userId, onLoad }: Props): JSX.Element {" in out.text
    assert "interface Props {" in out.text
    assert "setName(data.name);" not in out.text
    assert retrieve(out.ccr_keys[0], store=store) == text


def test_docstring_dropped_when_configured():
    text = inspect.getsource(json.decoder)
    store = MemoryCCRStore()
    config = HeadroomConfig(ccr_store=store)
    config = config.with_(code=dataclasses.replace(config.code, keep_docstring_first_line=False))
    out = CodeCompressor().compress(text, make_ctx(store, config=config))
    assert out is not None
    assert reparses_clean("python", out.text)
    assert '"""Return the Python representation of' not in out.text
    assert "    def decode(self, s, _w=WHITESPACE.match):\n        ...  # [headroom: lines " in out.text


def test_crlf_and_tabs_survive():
    text = (CODE / "kvstore.go").read_text().replace("\n", "\r\n")
    store = MemoryCCRStore()
    out = CodeCompressor().compress(text, make_ctx(store, path="kvstore.go"))
    assert out is not None
    assert reparses_clean("go", out.text)
    assert "func (s *Store) Sweep() int { /* [headroom: lines " in out.text
    assert retrieve(out.ccr_keys[0], store=store) == text
    py = inspect.getsource(textwrap).replace("\n", "\r\n")
    out = CodeCompressor().compress(py, make_ctx(store, path="textwrap.py"))
    assert out is not None and reparses_clean("python", out.text)


def test_lone_surrogate_is_left_alone():
    text = (CODE / "kvstore.go").read_text() + "// \ud800\n"
    assert CodeCompressor().compress(text, make_ctx(path="kvstore.go")) is None


def test_markers_name_original_line_ranges():
    text = (CODE / "ring_buffer.c").read_text()
    out = CodeCompressor().compress(text, make_ctx(path="ring_buffer.c"))
    assert out is not None
    lines = text.splitlines()
    for marker in parse_markers(out.text):
        match = re.fullmatch(r"lines (\d+)-(\d+) omitted", marker.description)
        if match is None:
            continue
        first, last = int(match.group(1)), int(match.group(2))
        assert lines[first - 1].rstrip().endswith("{")
        assert lines[last - 1].strip() == "}"


def test_python_comments_at_odd_indentation():
    filler = "".join(f"    total = total + {i} * len(str(total)) - {i}\n" for i in range(10))
    text = (
        "import os\n\n\n"
        "def f(x):  # trailing comment on the def line\n"
        "# a comment at column zero\n"
        "    total = os.getpid()\n" + filler + "    return total\n\n\n"
        "def g(y):\n"
        '    """Doc line one.\n\n    More text.\n    """\n'
        "        # a comment indented deeper than the block\n"
        "    total = y\n" + filler + "    return total\n"
    )
    assert reparses_clean("python", text)
    store = MemoryCCRStore()
    out = CodeCompressor().compress(text, make_ctx(store, path="odd.py"))
    assert out is not None
    assert reparses_clean("python", out.text)
    assert len(parse_markers(out.text)) == 2
    assert 'def g(y):\n    """Doc line one."""\n    ...  # [headroom: lines ' in out.text
    assert retrieve(out.ccr_keys[0], store=store) == text


def test_through_the_pipeline(monkeypatch):
    """compress() on an agent turn, with the router naming the tool output as code."""
    from headroom_core import _pipeline, compress
    from headroom_core._router import Segment

    def route(text, hints=None):
        return [Segment("code", text, detect_language(text, (hints.tool_args or {}).get("path")))]

    monkeypatch.setattr(_pipeline, "route", route)
    text = (FIXTURES / "go1.19_net_http_server.go").read_text()
    messages = openai_conversation(
        text,
        system=None,
        question="How does serverHandler.ServeHTTP pick the handler?",
        args={"path": "src/net/http/server.go"},
    )
    store = MemoryCCRStore()
    result = compress(messages, "gpt-4o", config=HeadroomConfig(ccr_store=store))
    out = result.messages[2]["content"]
    assert result.compression_ratio >= 0.5
    assert "handler := sh.srv.Handler" in out
    assert result.ccr_keys and retrieve(result.ccr_keys[0], store=store) == text
    assert messages[2]["content"] == text  # the caller's messages are not mutated


# --------------------------------------------------------------------------- large sources, identifiers

_ELIDED = re.compile(r"^(?P<indent>[ \t]*)\.\.\.  # \[headroom: lines (?P<first>\d+)-(?P<last>\d+) omitted")


def _big_python() -> str:
    import typing

    return inspect.getsource(typing)


def test_a_source_above_max_chars_is_outlined_by_parts_with_true_line_numbers():
    from headroom_core import CodeConfig

    text = _big_python()  # ~120 KB: with max_chars=40 KB it is outlined in parts
    store = MemoryCCRStore()
    config = HeadroomConfig(ccr_store=store, code=CodeConfig(max_chars=40_000))
    out = CodeCompressor().compress(text, make_ctx(store, config=config, path="typing.py"))
    assert out is not None
    assert "parts" in out.summary
    assert retrieve(out.ccr_keys[0], store=store) == text
    assert {m.key for m in parse_markers(out.text)} == set(out.ccr_keys)
    original = text.split("\n")
    ranges = []
    for line in out.text.split("\n"):
        m = _ELIDED.match(line)
        if m:
            first, last = int(m["first"]), int(m["last"])
            # Lines of the whole file: the range starts at a statement at the elision's indent.
            assert original[first - 1].startswith(m["indent"]) and original[first - 1].strip()
            ranges.append((first, last))
    assert len(ranges) > 30
    # Cut between top-level definitions, the parts elide exactly what the whole file does.
    whole = CodeCompressor().compress(text, make_ctx(MemoryCCRStore(), path="typing.py"))
    whole_ranges = [
        (int(m["first"]), int(m["last"])) for m in map(_ELIDED.match, whole.text.split("\n")) if m
    ]
    assert ranges == whole_ranges
    again = CodeCompressor().compress(text, make_ctx(MemoryCCRStore(), config=config, path="typing.py"))
    assert again is not None and again.text == out.text


def test_parts_cut_between_top_level_definitions():
    from headroom_core.compressors.code_compressor import _top_level_parts

    text = _big_python()
    parts = _top_level_parts(text, 20_000)
    assert "".join(parts) == text
    assert len(parts) > 5
    for part in parts[1:]:
        assert part[:1].strip() and part[0] not in ")]}"  # starts a top-level statement
    assert all(len(p) <= 4 * 20_000 for p in parts)
    # No blank line to cut at: cut at a line end, still lossless.
    dense = "x = 1\n" * 50_000
    parts = _top_level_parts(dense, 10_000)
    assert "".join(parts) == dense and all(p.endswith("\n") for p in parts)


def test_a_query_names_a_function_in_another_spelling():
    def function(name: str, marker: str) -> str:
        body = "".join(f"    value_{k} = source.get('{name}_{k}', {k})  # {marker}\n" for k in range(15))
        return f'def {name}(source):\n    """Read {name}."""\n{body}    return value_0\n\n\n'

    text = (
        function("parse_markers", "kept") + function("unrelated_step", "elided") + function("other_step", "x")
    )
    from headroom_core import CodeConfig

    for query in ("How does parseMarkers work?", "what does ParseMarkers do", "parse_markers?"):
        store = MemoryCCRStore()
        # Without BM25 bodies: the name alone must be recognised in either spelling.
        config = HeadroomConfig(ccr_store=store, code=CodeConfig(relevant_bodies=0))
        out = CodeCompressor().compress(text, make_ctx(store, query=query, config=config, path="m.py"))
        assert out is not None, query
        assert out.text.count("# kept") == 15, query
        assert "# elided" not in out.text, query


@pytest.mark.parametrize(
    "text",
    [
        ("(" * 999 + "\n") * 200,
        "{\nsome words of a log line here\n[\n" * 3000,
        (":" * 50 + "\n" + "'" * 40 + "\n") * 2000,
    ],
    ids=["bracket-lines", "unclosed-brackets", "separators-and-quotes"],
)
def test_text_that_only_claims_to_be_code_is_left_alone(text):
    # The router's language can be wrong (or forced); such text must not reach a full parse,
    # whose error recovery is super-linear on bracket storms (timing lives in the benchmarks).
    ctx = dataclasses.replace(make_ctx(path="x.py"), language="python")
    assert CodeCompressor().compress(text, ctx) is None


def test_a_shortened_comment_run_never_swallows_code_on_its_last_line():
    """`/* tail */ const keep = 42;` ends a run of line comments: shortening the run to
    `// first line ...` would turn the statement into comment text."""
    comments = "\n".join(f"// comment line {i} explains the thing in words" for i in range(13))
    body = "\n".join(f"  const v{i} = compute({i}) + other({i});" for i in range(60))
    unit = f"function f() {{\n{body}\n}}\n{comments}\n/* tail */ const keep = 42;\nfunction g() {{\n  return keep;\n}}\n"
    out = CodeCompressor().compress(unit * 20, make_ctx("memory", path="app.js"))
    assert out is not None
    kept = [line for line in out.text.splitlines() if "const keep = 42;" in line]
    assert kept and all(not line.lstrip().startswith("//") for line in kept)
