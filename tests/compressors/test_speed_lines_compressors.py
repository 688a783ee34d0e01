"""The log and search-results compressors' shortcuts give exactly what the plain rules give:
scanning each distinct log line once stands for scanning every copy, and the search
compressor's match-line split equals the regex it replaced."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headroom_core import HeadroomConfig, MemoryCCRStore, get_tokenizer
from headroom_core.compressors import CompressContext, search_results
from headroom_core.compressors import log_compressor as logs
from headroom_core.compressors import records as records_module

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

LOG_FIXTURES = [
    "loghub_HDFS_2k.log",
    "loghub_OpenStack_2k.log",
    "var_log_dpkg.log",
    "npm_install_loglevel_http_express_request.txt",
    "apt_get_install_simulate_texlive_libreoffice.txt",
    "apt_get_update_install_transcript.txt",
    "make_k_gcc_warnings_error.txt",
    "cargo_build_offline_workspace.txt",
    "pip_install_transcript.txt",
    "pytest_v_flask_head_tests_vs_installed_3.1.3.log",
]


def _context(query: str | None) -> CompressContext:
    return CompressContext(
        config=HeadroomConfig(), tokenizer=get_tokenizer("gpt-4o"), store=MemoryCCRStore(), query=query
    )


def _compress_log(text: str, query: str | None) -> tuple[str, str] | None:
    out = logs.LogCompressor().compress(text, _context(query))
    return None if out is None else (out.text, out.summary)


def _every_line_distinct(lines: list[str]) -> tuple[list[str], list[int]]:
    """The plain rule: each line is scanned on its own, copies or not."""
    return list(lines), list(range(len(lines)))


# --------------------------------------------------------------------------- logs


def assert_log_shortcuts_equal_plain(text: str, query: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _compress_log(text, query)
    with monkeypatch.context() as patched:
        patched.setattr(logs, "_distinct_lines", _every_line_distinct)
        plain = _compress_log(text, query)
    assert fast == plain


@pytest.mark.parametrize("name", LOG_FIXTURES)
def test_real_logs_compress_the_same_with_copies_scanned_once(name: str, monkeypatch) -> None:
    text = (FIXTURES / name).read_text()
    for doubled in (text, text + text[: len(text) // 3] + text):
        assert_log_shortcuts_equal_plain(doubled, "What failed and why?", monkeypatch)


@pytest.mark.parametrize("name", LOG_FIXTURES)
def test_real_log_lines_find_their_timestamp_whatever_their_position(name: str) -> None:
    """The timestamp the template loop finds for a line (from the transcript sample, or
    behind the one-scan hint) is the line's own: what reusing a copy's template relies on."""
    lines = (FIXTURES / name).read_text().split("\n")
    transcript, sampled = logs._is_transcript(lines)
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    stamped = (
        logs._stamp_candidates("\n".join(lines), starts) if transcript else bytearray(b"\x01") * len(lines)
    )
    for index, line in enumerate(lines):
        found = sampled[index] if index in sampled else logs._timestamp(line) if stamped[index] else None
        own = logs._timestamp(line)
        assert (found and found.span()) == (own and own.span())


def test_transcript_sample_equals_the_plain_one() -> None:
    for name in LOG_FIXTURES:
        lines = (FIXTURES / name).read_text().split("\n") * 2
        transcript, stamps = logs._is_transcript(lines)
        step = max(1, len(lines) // logs._TRANSCRIPT_SAMPLE)
        plain = {k: logs._timestamp(lines[k]) for k in range(0, len(lines), step) if lines[k].strip()}
        assert {k: m and m.span() for k, m in stamps.items()} == {k: m and m.span() for k, m in plain.items()}
        hits = sum(1 for m in plain.values() if m is not None)
        assert transcript == (bool(plain) and hits < logs._TRANSCRIPT_MAX_STAMPED * len(plain))


_LOG_LINES = st.sampled_from(
    [
        "2024-01-02 10:11:12 INFO started worker 3",
        "2024-01-02 10:11:13 ERROR failed to connect to 10.0.0.1:5432",
        "Traceback (most recent call last):",
        '  File "x.py", line 3, in f',
        "ValueError: bad",
        "npm http fetch GET 200 https://registry.npmjs.org/x 5ms",
        "npm error code E404",
        "W: deprecated key",
        "warning: unused variable `x`",
        "Setting up libfoo (1.2-3) ...",
        "",
        "   ",
        "x",
        "[1700000000] tick",
        "ſegmentation fault",
        "İ error",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_LOG_LINES, min_size=14, max_size=80), st.sampled_from([None, "error", "npm registry"]))
def test_generated_logs_compress_the_same_with_copies_scanned_once(lines, query) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert_log_shortcuts_equal_plain("\n".join(lines), query, monkeypatch)


# --------------------------------------------------------------------------- search results

_PLAIN_MATCH = re.compile(r"(?P<path>[^\x00\n]+?):(?P<line>\d+):(?P<body>.*)\Z", re.DOTALL)


def plain_match_split(raw: str) -> tuple[str, str, str] | None:
    m = _PLAIN_MATCH.match(raw)
    return None if m is None else (m["path"], m["line"], m["body"])


def fast_match_split(raw: str) -> tuple[str, str, str] | None:
    parsed = search_results._classify([raw, raw])  # two, so the match path is taken
    item = parsed[0]
    if item.kind != "match" or not item.lineno:
        return None
    return item.path, item.lineno, item.body


_SEARCH_PIECES = st.sampled_from(
    [*"ab:/-. 0123456789\x00\t", "a/b.py", ":12:", "::", ":3:4:", "C:\\x", "-12-", "٣", "12:30:45", "x:"]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_SEARCH_PIECES, max_size=20).map("".join))
def test_match_line_split_equals_the_lazy_regex(raw: str) -> None:
    plain = plain_match_split(raw)
    fast = fast_match_split(raw)
    if plain is not None and search_results._plausible_path(plain[0]):
        assert fast == plain
    else:
        assert fast is None or fast == plain


def test_real_search_lines_split_as_the_lazy_regex() -> None:
    texts = [(FIXTURES / n).read_text() for n in ("grep_rn_TODO_FIXME_XXX_cpython3.11_stdlib.txt",)]
    texts += [(FIXTURES / "rg_n_C3_ServeHTTP_go1.19_net_http.txt").read_text()]
    for text in texts:
        lines = text.split("\n")
        for item, raw in zip(search_results._classify(lines), lines, strict=True):
            plain = plain_match_split(raw)
            if item.kind == "match" and item.lineno:
                assert (item.path, item.lineno, item.body) == plain
            else:
                assert plain is None or not search_results._plausible_path(plain[0])


def plain_group(parsed: list) -> tuple[list[tuple[str, list[int], list[int]]], bool]:
    files: dict[str, tuple[str, list[int], list[int]]] = {}
    contiguous = True
    previous_path = None
    for index, item in enumerate(parsed):
        if item.kind == "other" and item.raw.strip():
            previous_path = None
            continue
        if item.kind not in ("match", "context"):
            continue
        entry = files.get(item.path)
        if entry is None:
            entry = files[item.path] = (item.path, [], [])
        elif previous_path != item.path:
            contiguous = False
        entry[1].append(index)
        if item.kind == "match":
            entry[2].append(index)
        previous_path = item.path
    return list(files.values()), contiguous


_GREP_LINES = st.sampled_from(
    ["a.py:1:x", "a.py-2-y", "b.py:3:z", "b.py-4-w", "--", "", "  ", "grep: c: denied", "a.py:9:again"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_GREP_LINES, max_size=30))
def test_grouping_by_file_equals_the_plain_grouping(lines: list[str]) -> None:
    parsed = search_results._classify(lines)
    files, contiguous = search_results._group(parsed)
    assert ([(f.path, f.line_indexes, f.match_indexes) for f in files], contiguous) == plain_group(parsed)


def test_real_search_results_group_as_the_plain_grouping() -> None:
    for name in ("grep_rn_TODO_FIXME_XXX_cpython3.11_stdlib.txt", "rg_n_C3_ServeHTTP_go1.19_net_http.txt"):
        parsed = search_results._classify((FIXTURES / name).read_text().split("\n"))
        files, contiguous = search_results._group(parsed)
        assert ([(f.path, f.line_indexes, f.match_indexes) for f in files], contiguous) == plain_group(parsed)


# --------------------------------------------------------------------------- records


def plain_parse_fields(lines: list[str]) -> list[tuple[int, int, str, dict[str, str]]] | None:
    """Stanzas with each continuation line added to its field's value as it comes."""
    records = []
    current = None
    last_key = None
    fields = other = 0
    in_field = False
    for i, line in enumerate(lines):
        shape, match = records_module._shape(line, in_field)
        in_field = shape in ("field", "continuation") or (in_field and shape == "comment")
        if shape == "blank":
            if current is not None:
                current.end = i
                records.append(current)
                current = None
            last_key = None
            continue
        if shape == "section":
            if current is not None:
                current.end = i
                records.append(current)
            current = records_module._Record(i, title=line.strip())
            last_key = None
            continue
        if current is None:
            current = records_module._Record(i, title=line.strip()[:80] if shape == "other" else "")
        current.end = i + 1
        if shape == "field":
            fields += 1
            last_key = match.group("key")
            if last_key not in current.fields:
                current.fields[last_key] = line[match.end() :].rstrip("\r")
            else:
                last_key = None
        elif shape == "continuation":
            if last_key is not None:
                current.fields[last_key] += "\n" + line.strip()
        elif shape == "other":
            other += 1
            last_key = None
    if current is not None:
        current.end = max(current.end, current.start + 1)
        records.append(current)
    if fields < 5 or other > 0.5 * fields:
        return None
    if len(records) < records_module._MIN_RECORDS:
        return [(r.start, r.end, r.title, r.fields) for r in records_module._flat_records(lines)] or None
    return [(r.start, r.end, r.title, r.fields) for r in records]


def fast_parse_fields(lines: list[str]) -> list[tuple[int, int, str, dict[str, str]]] | None:
    parsed = records_module._parse(lines)
    if parsed is None:
        return None
    return [(r.start, r.end, r.title, r.fields) for r in parsed.records]


@pytest.mark.parametrize(
    "name",
    [
        "apt_cache_show_80_installed_debian12.txt",
        "apt_cache_show_python3_bash_coreutils.txt",
        "pip_show_v_requests_orjson_tiktoken.txt",
        "sysctl_a_container.txt",
        "etc_debconf.conf",
    ],
)
def test_real_records_parse_as_the_plain_rule(name: str) -> None:
    lines = (FIXTURES / name).read_text().split("\n")
    assert fast_parse_fields(lines) == plain_parse_fields(lines)


_RECORD_LINES = st.sampled_from(
    [
        "Package: a",
        "Version: 1",
        "Depends: b",
        " more",
        "\tmore",
        " .",
        "",
        "---",
        "[s]",
        "# c",
        "other",
        "k = v",
        "Package: a",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_RECORD_LINES, max_size=40))
def test_generated_records_parse_as_the_plain_rule(lines: list[str]) -> None:
    assert fast_parse_fields(lines) == plain_parse_fields(lines)
