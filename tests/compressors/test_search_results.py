"""SearchResultsCompressor on real grep/rg output, generated output and bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from text_ctx import make_ctx

from headroom_core import (
    HeadroomConfig,
    MemoryCCRStore,
    compress_text,
    parse_markers,
    retrieve,
)
from headroom_core.compressors import get_compressor
from headroom_core.compressors.search_results import SearchResultsCompressor

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
    ctx = make_ctx("What TODO notes are left in the email package?")
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
    ctx = make_ctx(None, matches_per_file=1, max_shown_matches=500)
    out = SearchResultsCompressor().compress(grep_text, ctx)
    assert out is not None
    assert "./tkinter/tix.py: 23 matches (1 shown)" in out.text.split("\n")
    heads = [m for m in map(_HEAD.match, out.text.split("\n")) if m]
    assert len(heads) == 136  # every file shown once with one match
    assert all(int(h["shown"] or h["total"]) == 1 for h in heads)


def test_rg_context_output_keeps_relevant_matches_with_their_context(rg_text):
    ctx = make_ctx("how does the reverse proxy call ServeHTTP")
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
    ctx = make_ctx("ServeHTTP")
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
    ctx = make_ctx(None)
    out = SearchResultsCompressor().compress(text, ctx)
    assert out is not None
    assert "pkg/my-lib-2-0/mod.py: 8 matches (3 shown)" in out.text
    assert "2:1:needle number 0-0" in out.text
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text


def test_lossless_grouping_without_ccr(grep_text):
    ctx = make_ctx(None, ccr=False)
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
    a = SearchResultsCompressor().compress(rg_text, make_ctx("proxy"))
    b = SearchResultsCompressor().compress(rg_text, make_ctx("proxy"))
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
    assert SearchResultsCompressor().compress(text, make_ctx("x")) is None


def test_truncated_output_is_safe(grep_text):
    cut = grep_text[: len(grep_text) // 2 + 7]  # ends mid-line
    ctx = make_ctx("json decoder")
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
    ctx = make_ctx(query, matches_per_file=2, max_shown_matches=5)
    first = SearchResultsCompressor().compress(text, ctx)
    again = SearchResultsCompressor().compress(text, make_ctx(query, matches_per_file=2, max_shown_matches=5))
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
    out = SearchResultsCompressor().compress(text, make_ctx("foo"))
    assert out is not None and out.ccr_keys == ()
    assert (
        out.text
        == "src/pkg/module_one.py: 2 matches\n10:def foo():\n20:    foo()\nsrc/pkg/module_two.py: 1 match\n5:import foo"
    )


def test_huge_output_round_trips(grep_text):
    text = "\n".join(f"./copy{i}/{line[2:]}" for i in range(50) for line in grep_text.split("\n") if line)
    ctx = make_ctx("email")
    out = SearchResultsCompressor().compress(text, ctx)  # ~1.6 MB, 6,800 files
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    assert sum(reported_totals(out.text).values()) == 358 * 50


def test_grep_without_line_numbers(grep_text):
    text = "\n".join(re.sub(r":\d+:", ":", line, count=1) for line in grep_text.split("\n"))
    ctx = make_ctx("email package")
    out = SearchResultsCompressor().compress(text, ctx)
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    assert "./email/errors.py: 1 match" in out.text
    assert "  # XXX: backward compatibility, just in case (it was never emitted)." in out.text.split("\n")
    assert sum(reported_totals(out.text).values()) == 358


@settings(max_examples=25, deadline=None)
@given(
    per_file=st.integers(-1, 5),
    cap=st.integers(-1, 60),
    context=st.integers(-1, 4),
    query=st.sampled_from([None, "", "email", "reverse proxy tests", "ServeHTTP"]),
)
def test_property_any_settings_keep_counts_honest(per_file, cap, context, query):
    text = (FIXTURES / RG).read_text()
    ctx = make_ctx(query, matches_per_file=per_file, max_shown_matches=cap, search_context_lines=context)
    out = SearchResultsCompressor().compress(text, ctx)
    assert out is not None
    assert sum(reported_totals(out.text).values()) == 100
    if out.ccr_keys:
        assert retrieve(out.ccr_keys[0], store=ctx.store) == text


def test_huge_matching_lines_are_shortened_and_stashed():
    minified = "var a=1;" * 5000 + "needle()" + "var b=2;" * 5000
    text = f"dist/app.min.js:1:{minified}\nsrc/app.js:10:needle()\nsrc/app.js:20:needle() again\n"
    ctx = make_ctx("needle")
    out = SearchResultsCompressor().compress(text, ctx)
    assert out is not None
    assert len(out.text) < 2000
    assert "more characters)" in out.text
    assert "1 long line shortened" in parse_markers(out.text)[0].description
    assert "10:needle()" in out.text
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    assert SearchResultsCompressor().compress(text, make_ctx("needle", ccr=False)) is None or (
        minified in SearchResultsCompressor().compress(text, make_ctx("needle", ccr=False)).text
    )
