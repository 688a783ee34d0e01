"""SearchResultsCompressor on real grep/rg output, generated output and bad input."""

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
from headroom_core.compressors.search_results import SearchResultsCompressor
from tests.support import make_ctx

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

GREP = "grep_rn_TODO_FIXME_XXX_cpython3.11_stdlib.txt"
RG = "rg_n_C3_ServeHTTP_go1.19_net_http.txt"
_HEAD = re.compile(r"(?P<path>.+): (?P<total>\d+) match(?:es)?(?: \((?P<shown>\d+) shown\))?\Z")
_LISTED = re.compile(r"(\S+) \((\d+)\)")


def match_lines(text: str) -> list[tuple[str, str, str]]:
    out = []
    for line in text.split("\n"):
        m = re.match(r"(.+?):(\d+):(.*)\Z", line)
        if m:
            out.append((m[1], m[2], m[3]))
    return out


def reported_totals(output: str) -> dict[str, int]:
    """Per-file match counts the output claims, from file heads and the 'more files' list."""
    totals: dict[str, int] = {}
    for line in output.split("\n"):
        head = _HEAD.match(line)
        if head:
            totals[head["path"]] = int(head["total"])
        elif " more files: " in line:
            for path, count in _LISTED.findall(line.split(" more files: ", 1)[1]):
                totals[path] = int(count)
    return totals


@pytest.fixture(scope="module")
def grep_text() -> str:
    return (FIXTURES / GREP).read_text()


@pytest.fixture(scope="module")
def rg_text() -> str:
    return (FIXTURES / RG).read_text()


def test_registered_under_its_kind():
    assert isinstance(get_compressor("search_results"), SearchResultsCompressor)
    assert SearchResultsCompressor.name == "search_results"


def test_grep_output_grouped_with_honest_counts_and_exact_round_trip(grep_text):
    ctx = make_ctx(query="What TODO notes are left in the email package?")
    out = SearchResultsCompressor().compress(grep_text, ctx)
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == grep_text
    markers = parse_markers(out.text)
    assert [m.key for m in markers] == list(out.ccr_keys)
    # Every file is named once, with its true number of matches.
    truth: dict[str, int] = {}
    for path, _, _ in match_lines(grep_text):
        truth[path] = truth.get(path, 0) + 1
    assert sum(truth.values()) == 358
    assert reported_totals(out.text) == truth
    # Every hit in the email package is shown, as `line:text` under its file.
    email_hits = [(p, n, b) for p, n, b in match_lines(grep_text) if p.startswith("./email/")]
    assert len(email_hits) == 31
    for _, lineno, body in email_hits:
        assert f"{lineno}:{body}" in out.text.split("\n")
    counter = ctx.tokenizer.count
    assert counter(out.text) < 0.4 * counter(grep_text)


def test_per_file_cap_and_summary_line(grep_text):
    ctx = make_ctx(text={"matches_per_file": 1, "max_shown_matches": 500})
    out = SearchResultsCompressor().compress(grep_text, ctx)
    assert out is not None
    assert "./tkinter/tix.py: 23 matches (1 shown)" in out.text.split("\n")
    heads = [m for m in map(_HEAD.match, out.text.split("\n")) if m]
    assert len(heads) == 136  # every file shown once with one match
    assert all(int(h["shown"] or h["total"]) == 1 for h in heads)


def test_rg_context_output_keeps_relevant_matches_with_their_context(rg_text):
    ctx = make_ctx(query="how does the reverse proxy call ServeHTTP")
    out = SearchResultsCompressor().compress(rg_text, ctx)
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == rg_text
    lines = out.text.split("\n")
    proxy = [(n, b) for p, n, b in match_lines(rg_text) if p == "src/net/http/httputil/reverseproxy_test.go"]
    assert len(proxy) == 15
    for lineno, body in proxy:
        assert f"{lineno}:{body}" in lines
    # Context of a relevant match is kept (rg -C3: three lines either side).
    assert "186-\t\t}" in lines or any(line.startswith("186-") for line in lines)
    assert "--" in lines
    totals = reported_totals(out.text)
    assert sum(totals.values()) == 100
    assert ctx.tokenizer.count(out.text) < 0.5 * ctx.tokenizer.count(rg_text)


def test_the_searched_pattern_does_not_make_every_match_relevant(rg_text):
    # "ServeHTTP" is on every match: a query made only of it must not keep them all.
    ctx = make_ctx(query="ServeHTTP")
    out = SearchResultsCompressor().compress(rg_text, ctx)
    assert out is not None
    shown = sum(1 for line in out.text.split("\n") if re.match(r"\d+:", line))
    assert shown <= ctx.config.text.max_shown_matches


def test_column_format_and_context_paths_with_dashes():
    lines = []
    for f in range(6):
        path = f"pkg/my-lib-2-{f}/mod.py"
        for k in range(8):
            lines.append(f"{path}-{10 * k + 1}-before")
            lines.append(f"{path}:{10 * k + 2}:{k + 1}:needle number {f}-{k}")
            lines.append("--")
    text = "\n".join(lines) + "\n"
    ctx = make_ctx()
    out = SearchResultsCompressor().compress(text, ctx)
    assert out is not None
    assert "pkg/my-lib-2-0/mod.py: 8 matches (3 shown)" in out.text
    assert "2:1:needle number 0-0" in out.text
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text


def test_lossless_grouping_without_ccr(grep_text):
    ctx = make_ctx(None)
    out = SearchResultsCompressor().compress(grep_text, ctx)
    assert out is not None and out.ccr_keys == () and not parse_markers(out.text)
    # Rebuild `path:line:text` from the grouped form: the same lines, same order.
    rebuilt, current = [], None
    for line in out.text.split("\n"):
        head = _HEAD.match(line)
        if head:
            current = head["path"]
            assert head["shown"] is None
        elif line:
            rebuilt.append(f"{current}:{line}")
    assert rebuilt == [line for line in grep_text.split("\n") if line]


def test_deterministic(rg_text):
    a = SearchResultsCompressor().compress(rg_text, make_ctx(query="proxy"))
    b = SearchResultsCompressor().compress(rg_text, make_ctx(query="proxy"))
    assert a == b


@pytest.mark.parametrize(
    "text",
    [
        "",
        "just some prose, no matches here.\n" * 50,
        "\x00\x01\x02binary\x00garbage:12:x\n" * 100,
        "a.py:1:" + "x" * 5_000_000,
        "12:30:45 service started\n12:30:46 service stopped\n" * 40,
    ],
    ids=["empty", "prose", "binary", "5MB-line", "timestamps"],
)
def test_not_search_results_is_left_alone(text):
    assert SearchResultsCompressor().compress(text, make_ctx(query="x")) is None


def test_truncated_output_is_safe(grep_text):
    cut = grep_text[: len(grep_text) // 2 + 7]  # ends mid-line
    ctx = make_ctx(query="json decoder")
    out = SearchResultsCompressor().compress(cut, ctx)
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == cut


def test_through_compress_text_when_routed(grep_text):
    from headroom_core._router import route

    if route(grep_text)[0].kind != "search_results":
        pytest.skip("the router does not send grep output to search_results yet")
    store = MemoryCCRStore()
    result = compress_text(grep_text, query="email package", config=HeadroomConfig(ccr_store=store))
    assert result.compressor == "search_results"
    assert retrieve(result.ccr_keys[0], store=store) == grep_text


# --------------------------------------------------------------------------- properties

_path = st.from_regex(r"[a-z]{1,6}(/[a-z_]{1,6}){0,2}\.(py|go|txt)", fullmatch=True)
_body = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
_record = st.tuples(_path, st.integers(1, 9999), _body, st.sampled_from(["match", "context", "sep", "other"]))


def _render(records) -> str:
    out = []
    for path, lineno, body, kind in records:
        if kind == "match":
            out.append(f"{path}:{lineno}:{body}")
        elif kind == "context":
            out.append(f"{path}-{lineno}-{body}")
        elif kind == "sep":
            out.append("--")
        else:
            out.append(body)
    return "\n".join(out)


def _check(text: str, query: str | None) -> None:
    ctx = make_ctx(query=query, text={"matches_per_file": 2, "max_shown_matches": 5})
    first = SearchResultsCompressor().compress(text, ctx)
    again = SearchResultsCompressor().compress(
        text, make_ctx(query=query, text={"matches_per_file": 2, "max_shown_matches": 5})
    )
    assert first == again
    if first is None:
        return
    assert len(first.text) < len(text)
    markers = parse_markers(first.text)
    if not first.ccr_keys:  # only regrouped: every match line is still there
        assert markers == []
        lines = first.text.split("\n")
        for _, lineno, body in match_lines(text):
            assert f"{lineno}:{body}" in lines
        return
    assert len(markers) == 1
    assert retrieve(markers[0].key, store=ctx.store) == text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(_record, min_size=1, max_size=60), query=st.one_of(st.none(), st.text(max_size=20)))
def test_property_random_search_output(records, query):
    _check(_render(records), query)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_property_slices_of_real_output(data):
    text = data.draw(st.sampled_from([(FIXTURES / GREP).read_text(), (FIXTURES / RG).read_text()]))
    lines = text.split("\n")
    start = data.draw(st.integers(0, len(lines) - 1))
    stop = data.draw(st.integers(start + 1, len(lines)))
    query = data.draw(st.sampled_from([None, "email", "reverse proxy", "tkinter widget", "ServeHTTP"]))
    _check("\n".join(lines[start:stop]), query)


def test_few_matches_are_only_regrouped():
    text = "src/pkg/module_one.py:10:def foo():\nsrc/pkg/module_one.py:20:    foo()\nsrc/pkg/module_two.py:5:import foo\n"
    out = SearchResultsCompressor().compress(text, make_ctx(query="foo"))
    assert out is not None and out.ccr_keys == ()
    assert (
        out.text
        == "src/pkg/module_one.py: 2 matches\n10:def foo():\n20:    foo()\nsrc/pkg/module_two.py: 1 match\n5:import foo"
    )


def test_huge_output_round_trips(grep_text):
    text = "\n".join(f"./copy{i}/{line[2:]}" for i in range(50) for line in grep_text.split("\n") if line)
    ctx = make_ctx(query="email")
    out = SearchResultsCompressor().compress(text, ctx)  # ~1.6 MB, 6,800 files
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    assert sum(reported_totals(out.text).values()) == 358 * 50


def test_grep_without_line_numbers(grep_text):
    text = "\n".join(re.sub(r":\d+:", ":", line, count=1) for line in grep_text.split("\n"))
    ctx = make_ctx(query="email package")
    out = SearchResultsCompressor().compress(text, ctx)
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    assert "./email/errors.py: 1 match" in out.text
    assert "  # XXX: backward compatibility, just in case (it was never emitted)." in out.text.split("\n")
    assert sum(reported_totals(out.text).values()) == 358


@settings(max_examples=25, deadline=None)
@given(
    per_file=st.integers(0, 5),
    cap=st.integers(0, 60),
    context=st.integers(0, 4),
    query=st.sampled_from([None, "", "email", "reverse proxy tests", "ServeHTTP"]),
)
def test_property_any_settings_keep_counts_honest(per_file, cap, context, query):
    text = (FIXTURES / RG).read_text()
    ctx = make_ctx(
        query=query,
        text={"matches_per_file": per_file, "max_shown_matches": cap, "search_context_lines": context},
    )
    out = SearchResultsCompressor().compress(text, ctx)
    assert out is not None
    assert sum(reported_totals(out.text).values()) == 100
    if out.ccr_keys:
        assert retrieve(out.ccr_keys[0], store=ctx.store) == text


def test_huge_matching_lines_are_shortened_and_stashed():
    minified = "var a=1;" * 5000 + "needle()" + "var b=2;" * 5000
    text = f"dist/app.min.js:1:{minified}\nsrc/app.js:10:needle()\nsrc/app.js:20:needle() again\n"
    ctx = make_ctx(query="needle")
    out = SearchResultsCompressor().compress(text, ctx)
    assert out is not None
    assert len(out.text) < 2000
    assert "more characters)" in out.text
    assert "1 long line shortened" in parse_markers(out.text)[0].description
    assert "10:needle()" in out.text
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    assert SearchResultsCompressor().compress(text, make_ctx(None, query="needle")) is None or (
        minified in SearchResultsCompressor().compress(text, make_ctx(None, query="needle")).text
    )


# --------------------------------------------------------------------------- identifiers, per-line relevance

_DEFINITION = re.compile(r"^\s*(?:async\s+)?(?:def|class) (\w+)")


def _grep_definitions(package: str) -> str:
    """`grep -rn -E '^\\s*(def|class) ' --include=*.py <package>` over an installed package."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = f"{package}/{path.relative_to(root).as_posix()}"
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").split("\n"), 1):
            if _DEFINITION.match(line):
                out.append(f"{rel}:{n}:{line}")
    return "\n".join(out) + "\n"


def _shows_definition(output: str, name: str) -> bool:
    return any(re.match(rf"\d+:\s*(?:async\s+)?(?:def|class) {name}\b", line) for line in output.split("\n"))


def test_a_query_naming_two_functions_keeps_both_definitions_in_real_grep_output():
    import random

    text = _grep_definitions("langchain_core")
    names = sorted({m[1] for m in map(_DEFINITION.match, (b for _, _, b in match_lines(text))) if m})
    names = [n for n in names if "_" in n.strip("_") or re.search("[a-z][A-Z]", n)]
    assert len(names) > 200
    rng = random.Random(11)
    for _ in range(40):
        a, b = rng.sample(names, 2)
        out = SearchResultsCompressor().compress(text, make_ctx(query=f"Where are {a} and {b} defined?"))
        assert out is not None
        assert _shows_definition(out.text, a) and _shows_definition(out.text, b), (a, b)
    out = SearchResultsCompressor().compress(
        text, make_ctx(query="Where are with_fallbacks and RunnableSequence?")
    )
    assert _shows_definition(out.text, "with_fallbacks") and _shows_definition(out.text, "RunnableSequence")


def test_two_named_functions_in_rg_output(rg_text):
    q = "What do testServerRequestContextCancel_ServeHTTPDone and TestServeHTTPDeepCopy check?"
    out = SearchResultsCompressor().compress(rg_text, make_ctx(query=q))
    lines = out.text.split("\n")
    assert any(line.startswith("4849:func testServerRequestContextCancel_ServeHTTPDone(") for line in lines)
    assert any(line.startswith("974:func TestServeHTTPDeepCopy(") for line in lines)


def test_a_relevant_line_is_shown_even_when_a_named_file_has_many_matches():
    # The query names `runnables` (a directory with 120 matches) and one function that is
    # defined elsewhere: relevance is per line, so the named files cannot crowd it out.
    lines = [f"pkg/runnables/base.py:{10 * k}:    def step_{k}(self):" for k in range(120)]
    lines += [f"pkg/other/mod_{k}.py:{k}:def helper_{k}():" for k in range(60)]
    lines.insert(150, "pkg/other/fallbacks.py:77:def with_fallbacks(runnable, backups):")
    text = "\n".join(lines) + "\n"
    out = SearchResultsCompressor().compress(
        text, make_ctx(query="How does with_fallbacks work in runnables?")
    )
    assert out is not None
    assert "77:def with_fallbacks(runnable, backups):" in out.text.split("\n")
    assert "pkg/other/fallbacks.py: 1 match" in out.text.split("\n")


def test_relevant_line_in_a_file_whose_other_matches_collapse():
    lines = []
    for f in range(30):
        for k in range(10):
            body = "user_id=42 payment failed" if (f, k) == (17, 6) else f"user_id={100 + k} payment ok"
            lines.append(f"logs/worker_{f}.log:{k + 1}:{body}")
    text = "\n".join(lines) + "\n"
    out = SearchResultsCompressor().compress(text, make_ctx(query="Why did the payment of user_id=42 fail?"))
    assert out is not None
    shown = out.text.split("\n")
    assert "7:user_id=42 payment failed" in shown
    assert "logs/worker_17.log: 10 matches (3 shown)" in shown or any(
        line.startswith("logs/worker_17.log: 10 matches") for line in shown
    )


# --------------------------------------------------------------------------- long lines (issue 12.10)

from headroom_core.compressors.search_results import _match_without_line  # noqa: E402


@pytest.mark.parametrize("unit", ["a.", "a/", "./", "a-1-", "a:1", "x"])
def test_long_lines_without_colon_or_space_are_handled(unit):
    # 100K characters of dots and slashes used to backtrack quadratically (80K: 40 s).
    long_line = (unit * (100_000 // len(unit)))[:100_000]
    text = "\n".join(["src/a.py:1:needle here", long_line, "src/b.py:2:needle there", long_line]) + "\n"
    ctx = make_ctx(query="needle")
    out = SearchResultsCompressor().compress(text, ctx)
    if out is not None and out.ccr_keys:
        assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    # grep -r without -n on such lines: one scan, the same answer as the old pattern.
    assert _match_without_line(long_line) is None or unit in ("a:1",)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("src/app.py:import os", ("src/app.py", "import os")),
        ("pkg.tar.gz:binary", ("pkg.tar.gz", "binary")),
        ("./a/b.c:x:y", ("./a/b.c", "x:y")),
        ("app.py:text", None),  # no directory and one dot: not a path we trust
        ("a b/c.py:text", None),
        ("src/app.toolongext:text", None),
        ("src/app.:text", None),
        ("no colon here.py", None),
        (":src/a.py", None),
    ],
)
def test_grep_without_line_numbers_path_rules(raw, expected):
    assert _match_without_line(raw) == expected
