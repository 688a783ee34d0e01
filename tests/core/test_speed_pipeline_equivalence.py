r"""The context manager's fast paths give exactly what the plain rules give.

- `has_error` searches each error sign only where one of its words occurs (on ASCII
  text), the 5xx status sign in the lowercased text, and the "error:" line sign with
  blanks of that line only: it must answer as one search of the error alternation as it
  was first written does (restated here).
- `ref_tokens` reads long runs of `[\w/.-]` in one pass instead of with `_REF_RE`: the
  same values, in the same order, as `_REF_RE.finditer`.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from headroom_core.context import importance

# --------------------------------------------------------------------------- the plain rule


# The error rule as it was written first, as one alternation (its line-start sign let
# `\s*` run over line breaks, which rescans blank lines from every line start).
PLAIN_ERROR_RE = re.compile(
    r"Traceback \(most recent call last\)"
    r"|[a-z0-9](?:Error|Exception)\b|\b(?:Error|Exception):"
    r"|\b(?:FAILED|FAILURE|FATAL|PANIC)\b|\bpanic: |Segmentation fault"
    r"|(?i:\b(?:exit(?:ed)?(?: with)?(?: code| status)|return ?code|exit_code|returncode)\W{0,3}[1-9]\d*)"
    r"|(?i:\"?(?:status|state|result|outcome)\"?\s*[:=]\s*\"?(?:error|failed|failure|fatal)\b)"
    r"|(?i:\"?(?:status|status_code|http_status)\"?\s*[:=]\s*5\d\d\b)"
    r"|\"(?:error|errors)\"\s*:\s*(?!null|\[\]|\{\}|false|\"\")[\"\[{\w]"
    r"|(?i:\b[1-9]\d*\s+(?:\w+\s+)?failed\b)"
    r"|(?im:^\s*(?:error|fatal)(?:\[\w+\])?:)"
)


def plain_has_error(text: str) -> bool:
    limit = importance._ERROR_SCAN_CHARS
    if len(text) > 2 * limit:
        text = text[:limit] + "\n" + text[-limit:]
    return PLAIN_ERROR_RE.search(text) is not None


# ------------------------------------------------------------------------------ the inputs

# Pieces of every sign, in several cases, and the characters around them that decide a
# match (quotes, separators, digits, word characters, line starts), plus non-ASCII
# letters that case-insensitive matching folds onto ASCII ones (long s, dotless i,
# Kelvin sign, dotted capital I).
_PIECES = [
    "Traceback (most recent call last)",
    "traceback (Most recent call last)",
    "Error",
    "error",
    "ERROR",
    "Exception",
    "exception",
    "ValueError",
    "xError",
    "FAILED",
    "Failed",
    "failed",
    "FAILURE",
    "failure",
    "FATAL",
    "fatal",
    "PANIC",
    "panic: ",
    "Panic: ",
    "Segmentation fault",
    "exit",
    "EXIT",
    "exited",
    " with",
    " code",
    " status",
    "return",
    "Return",
    "code",
    "exit_code",
    "returncode",
    "status",
    "STATUS",
    "Status",
    "status_code",
    "http_status",
    "HTTP_STATUS",
    "state",
    "result",
    "outcome",
    "errors",
    "null",
    "[]",
    "{}",
    "false",
    '""',
    '"',
    ":",
    "=",
    " ",
    "  ",
    "\t",
    "\n",
    "\n\n",
    " \n ",
    "\r",
    "\x0b",
    "\x85",
    "\u2028",
    "\x1c",
    "[E0308]",
    "0",
    "1",
    "5",
    "500",
    "503",
    "5000",
    "42",
    "a",
    "_",
    "-",
    "tests",
    "ſtatus",
    "exıt",
    "İ",
    "K",
    "é",
]

texts = st.lists(st.sampled_from(_PIECES), max_size=14).map("".join)


@settings(max_examples=3000, deadline=None)
@given(texts)
def test_has_error_is_the_alternation(text: str) -> None:
    assert importance.has_error(text) is plain_has_error(text)


def test_has_error_examples() -> None:
    cases = [
        '{"status": 503}',
        '"HTTP_STATUS"= 500',
        "Status:5000",
        "status 500",
        '"status_code" : 502 ',
        "ſtatus: 500",
        "exıt code 2",
        "Exit code 0",
        "exit status: 3",
        "3 tests failed",
        "error[E0308]: mismatched types",
        "  fatal: not a git repository",
        '"errors": []',
        '"error": "boom"',
        "KeyError: 'x'",
        "all 12 tests passed",
        "",
        "x\n\n  \n error: boom",
        "x\n \t\n\nfatal[E1]: x",
        "a\r\nerror: b",
        "a\rerror: b",
        "a\u2028error: b",
        "\n\x85  Error:",
        "error x\n" + "\n" * 2000 + "x",
        "error x\n" + " \n" * 2000 + "  fatal: y",
    ]
    for text in cases:
        assert importance.has_error(text) is plain_has_error(text), text


def test_has_error_on_long_text_scans_head_and_tail() -> None:
    limit = importance._ERROR_SCAN_CHARS
    middle_only = "a" * limit + "Traceback (most recent call last)" + "b" * (limit + 10)
    at_the_end = "a" * (3 * limit) + "\nerror: disk full"
    for text in (middle_only, at_the_end):
        assert importance.has_error(text) is plain_has_error(text)


# ---------------------------------------------------------------- mentionable values (refs)


def plain_ref_values(text: str) -> list[str]:
    return [m.group(0) for m in importance._REF_RE.finditer(text)]


# Characters of a run (`[\w/.-]`): ASCII and non-ASCII letters and digits (Arabic-Indic
# digits are `\d`, superscript two is `\w` but not `\d`), the underscore and separators.
_RUN_CHARS = ["a", "Z", "q", "x", "0", "7", "5", "_", "/", ".", "-", "é", "ß", "٣", "²", "K"]
runs = st.lists(st.sampled_from(_RUN_CHARS), min_size=1, max_size=60).map("".join)
_RUN_PIECES = ["ord_12345", "src/app.py", "a1b2", "INC-4521", "48213", "file.tar.gz", "x.y", "..", "//"]
rich_runs = st.lists(st.sampled_from(_RUN_CHARS + _RUN_PIECES), min_size=1, max_size=30).map("".join)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(runs, rich_runs))
def test_run_matcher_is_the_regex(run: str) -> None:
    assert list(importance._ref_values_in_run(run)) == plain_ref_values(run)


_GAPS = [" ", "\n", ", ", '"', "(", ":", "=", " é "]
texts_with_long_runs = st.lists(
    st.tuples(st.one_of(runs, rich_runs), st.integers(1, 8), st.sampled_from(_GAPS)), max_size=8
).map(lambda parts: "".join(run * times + gap for run, times, gap in parts))


@settings(max_examples=1500, deadline=None)
@given(texts_with_long_runs)
def test_ref_values_are_the_regex_matches(text: str) -> None:
    assert list(importance._ref_values(text)) == plain_ref_values(text)


def test_ref_values_on_long_runs() -> None:
    cases = [
        "a" * 3000,
        "see " + "a/" * 1500 + "main.py now",
        "blob " + "QUJD" * 800 + "== end",
        "x" * 200 + ".json, and " + "12345" * 40 + " then ord_" + "9" * 150,
        "/".join(["dir"] * 60) + "/file.tar.gz",
    ]
    for text in cases:
        assert list(importance._ref_values(text)) == plain_ref_values(text)
        assert importance.ref_tokens(text) == {
            t for t in (v.strip("/.-") for v in plain_ref_values(text)) if len(t) >= 4
        }
