"""ProseCompressor on real documentation, stdlib docstrings, line-oriented text and bad input."""

from __future__ import annotations

import argparse
import re
import subprocess
import textwrap
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
from headroom_core.compressors.prose import ProseCompressor
from tests.support import make_ctx

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TUTORIAL = (FIXTURES / "pydocs3.11_tutorial_classes.rst.txt").read_text()
MAN_FIND = (FIXTURES / "man_find.1.txt").read_text()
_MARKER = re.compile(r"\[headroom: [^\]]*\]")


def pieces(output: str) -> list[str]:
    """The kept text of an output: everything between ellipses and markers."""
    body = _MARKER.sub("", output)
    return [p.strip() for p in re.split(r"…(?: [\d,]+ (?:similar )?lines)?", body) if p.strip()]


def assert_extractive(original: str, output: str) -> None:
    flat = " ".join(original.split())
    for piece in pieces(output):
        for part in piece.split("\n\n"):
            assert " ".join(part.split()) in flat, part[:200]


def test_registered_under_its_kind():
    assert isinstance(get_compressor("prose"), ProseCompressor)


def test_tutorial_keeps_query_relevant_sentences_and_whole_code_blocks():
    ctx = make_ctx(query="how do private variables and name mangling work")
    out = ProseCompressor().compress(TUTORIAL, ctx)
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == TUTORIAL
    assert_extractive(TUTORIAL, out.text)
    assert "called :dfn:`name mangling`" in out.text
    assert "is textually replaced with ``_classname__spam``" in out.text
    tokens = ctx.tokenizer.count
    assert tokens(out.text) <= 0.5 * tokens(TUTORIAL)
    # The Mapping example (a `::` literal block) is either whole or absent.
    block = TUTORIAL[
        TUTORIAL.index("   class Mapping:") : TUTORIAL.index("__update = update") + len("__update = update")
    ]
    assert block in out.text or "class MappingSubclass" not in out.text
    marker = parse_markers(out.text)[0]
    assert re.search(r"\d+ of \d+ sentences", marker.description)


def test_sentences_are_never_cut():
    ctx = make_ctx(query="symbolic links")
    out = ProseCompressor().compress(MAN_FIND, ctx)
    assert out is not None
    flat = " ".join(MAN_FIND.split())
    for piece in pieces(out.text):
        for part in piece.split("\n\n"):
            part = " ".join(part.split())
            assert part in flat
            # A kept run ends where a sentence ends (or a block/line ends).
            assert (
                part.endswith((".", ")", ":", "!", "?", "'", '"'))
                or flat.find(part) + len(part) == len(flat)
                or (flat[flat.find(part) + len(part) :][:1] in ("", " "))
            )


def test_markdown_code_blocks_and_tables_are_atomic():
    sentences = " ".join(f"Filler sentence number {i} talks about nothing in particular." for i in range(12))
    table = "| option | meaning |\n| --- | --- |\n| -v | verbose output |\n| -q | quiet mode |"
    grid = "+------+-------+\n| a    | b     |\n+======+=======+\n| 1    | 2     |\n+------+-------+"
    code = "```python\ndef retry_budget(n):\n    # exponential backoff\n    return 2 ** n\n```"
    indented = "    for attempt in range(5):\n        retry_budget(attempt)"
    doc = "\n\n".join(
        [
            "# Retries",
            sentences,
            "The retry budget grows exponentially with each attempt.",
            code,
            sentences,
            table,
            sentences,
            grid,
            "Here is a loop:",
            indented,
            sentences,
            "## Other",
            sentences,
        ]
    )
    for query in ("retry budget exponential backoff", "verbose quiet option", None):
        ctx = make_ctx(query=query, text={"target_ratio": 0.3})
        out = ProseCompressor().compress(doc, ctx)
        assert out is not None
        for block in (table, grid, code, indented):
            first_line = block.split("\n")[1]
            if first_line in out.text:
                assert block in out.text
    out = ProseCompressor().compress(
        doc, make_ctx(query="retry budget exponential backoff", text={"target_ratio": 0.3})
    )
    assert code in out.text
    assert "# Retries" in out.text


def test_stdlib_docstrings_as_prose():
    text = "\n\n".join(textwrap.dedent(m.__doc__ or "") for m in (argparse, subprocess, re))
    ctx = make_ctx(query="how do I capture the output of a subprocess")
    out = ProseCompressor().compress(text, ctx)
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    assert_extractive(text, out.text)
    assert ctx.tokenizer.count(out.text) < 0.6 * ctx.tokenizer.count(text)


def test_near_duplicate_sentences_are_dropped():
    base = "The deployment of service {} finished successfully after the health checks passed."
    text = "\n\n".join(
        [
            base.format(i) + " " + f"Unique remark {chr(65 + i)} about the weather and the cache layer."
            for i in range(25)
        ]
    )
    out = ProseCompressor().compress(text, make_ctx(text={"target_ratio": 0.6}))
    assert out is not None
    kept = out.text.count("The deployment of service")
    assert 1 <= kept <= 2


def test_line_mode_collapses_repeated_lines():
    lines = []
    for i in range(300):
        lines.append(f"worker-{i % 3} heartbeat ok seq={i} latency={i % 17}ms")
        if i == 150:
            lines.append("worker-2 lost connection to database primary; failing over")
    text = "\n".join(lines)
    ctx = make_ctx(query="database failover")
    out = ProseCompressor().compress(text, ctx)
    assert out is not None
    assert "worker-2 lost connection to database primary; failing over" in out.text
    assert "similar lines" in out.text
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    assert ctx.tokenizer.count(out.text) < 0.2 * ctx.tokenizer.count(text)
    kept = [line for line in out.text.split("\n") if line and not line.startswith(("…", "[headroom"))]
    assert all(line in lines for line in kept)


def test_short_input_and_disabled_ccr_are_left_alone():
    assert ProseCompressor().compress("A short note. Nothing to do here.", make_ctx()) is None
    assert ProseCompressor().compress(TUTORIAL, make_ctx(None)) is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00\x01binary\x02" * 5000,
        "x" * 5_000_000,
        "word " * 1_000_000,
        "\udcff lone surrogates \ud800 in text. " * 300,
    ],
    ids=["empty", "binary", "5MB-line", "one-word-repeated", "surrogates"],
)
def test_bad_input_never_crashes_or_loses_data(text):
    ctx = make_ctx(query="x")
    out = ProseCompressor().compress(text, ctx)
    if out is not None:
        assert retrieve(out.ccr_keys[0], store=ctx.store) == text


def test_big_repetitive_prose_compresses_hard():
    text = "This sentence says the same thing again. " * 100_000  # ~4 MB on one line
    ctx = make_ctx()
    out = ProseCompressor().compress(text, ctx)
    assert out is not None
    assert len(out.text) < 1000
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text


def test_deterministic():
    q = "class variables and instance variables"
    assert ProseCompressor().compress(TUTORIAL, make_ctx(query=q)) == ProseCompressor().compress(
        TUTORIAL, make_ctx(query=q)
    )


def test_through_compress_text_when_routed():
    from headroom_core._router import route

    if route(TUTORIAL)[0].kind != "prose":
        pytest.skip("the router does not send prose to this compressor yet")
    store = MemoryCCRStore()
    result = compress_text(TUTORIAL, query="name mangling", config=HeadroomConfig(ccr_store=store))
    assert result.compressor == "prose"
    assert retrieve(result.ccr_keys[0], store=store) == TUTORIAL


# --------------------------------------------------------------------------- properties


def _check(text: str, query: str | None, ratio: float = 0.4) -> None:
    ctx = make_ctx(query=query, text={"target_ratio": ratio, "min_prose_tokens": 20})
    out = ProseCompressor().compress(text, ctx)
    assert out == ProseCompressor().compress(
        text, make_ctx(query=query, text={"target_ratio": ratio, "min_prose_tokens": 20})
    )
    if out is None:
        return
    # The generated code block and table are atomic: whole wherever a piece of them shows.
    body = _MARKER.sub("", out.text)
    assert body.count("code = 1") == body.count("```\ncode = 1\n```")
    assert body.count("| 1 | 2 |") == body.count("| a | b |\n|---|---|\n| 1 | 2 |")
    markers = parse_markers(out.text)
    assert len(markers) == 1
    assert retrieve(markers[0].key, store=ctx.store) == text
    assert ctx.tokenizer.count(out.text) < ctx.tokenizer.count(text)


_word = st.sampled_from(
    [
        "the",
        "a",
        "cache",
        "server",
        "request",
        "retry",
        "budget",
        "table",
        "code",
        "alpha",
        "beta",
        "gamma",
        "delta",
    ]
)
_sentence = st.builds(
    lambda ws, end: " ".join(ws).capitalize() + end,
    st.lists(_word, min_size=2, max_size=12),
    st.sampled_from([".", "!", "?", ":"]),
)
_paragraph = st.builds(" ".join, st.lists(_sentence, min_size=1, max_size=6))
_block = st.one_of(
    _paragraph,
    _paragraph,
    st.just("```\ncode = 1\n```"),
    st.just("| a | b |\n|---|---|\n| 1 | 2 |"),
    st.just("Title\n====="),
    st.text(max_size=80),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blocks=st.lists(_block, min_size=1, max_size=30),
    query=st.one_of(st.none(), st.text(max_size=20), _word),
    ratio=st.floats(0.05, 0.9),
)
def test_property_random_documents(blocks, query, ratio):
    _check("\n\n".join(blocks), query, ratio)


@settings(max_examples=30, deadline=None)
@given(text=st.text(min_size=0, max_size=2000), query=st.one_of(st.none(), st.text(max_size=10)))
def test_property_arbitrary_text(text, query):
    _check(text, query)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_property_slices_of_real_documents(data):
    text = data.draw(st.sampled_from([TUTORIAL, MAN_FIND]))
    lines = text.split("\n")
    start = data.draw(st.integers(0, len(lines) - 1))
    stop = data.draw(st.integers(start + 1, min(len(lines), start + 400)))
    query = data.draw(
        st.sampled_from([None, "inheritance", "-mtime modification time", "iterators generators"])
    )
    piece = "\n".join(lines[start:stop])
    _check(piece, query)
    out = ProseCompressor().compress(piece, make_ctx(query=query, text={"min_prose_tokens": 20}))
    if out is not None:
        assert_extractive(piece, out.text)


def test_line_structured_paragraphs_are_cut_by_line():
    header = "\n".join(f"Classifier: Topic :: Area {i} :: Detail number {i}" for i in range(40))
    prose = " ".join(
        f"Sentence {i} explains how widgets render progress bars in terminals." for i in range(30)
    )
    text = f"{header}\nSummary: renders progress bars\n\n{prose}\n"
    out = ProseCompressor().compress(text, make_ctx(query="progress bars summary"))
    assert out is not None
    kept = [line for line in out.text.split("\n") if line.startswith("Classifier:")]
    assert len(kept) < 40
    assert all(line in header.split("\n") for line in kept)  # whole lines, never parts
    assert "Summary: renders progress bars" in out.text
    assert re.search(r"\d+ of 41 lines", parse_markers(out.text)[0].description)


_CROSS_PROCESS = """
import hashlib, sys
from pathlib import Path
from headroom_core.compressors import get_compressor
from tests.support import make_ctx
fixtures = Path(sys.argv[1])
digest = hashlib.sha256()
for kind, name, query in [
    ("prose", "pydocs3.11_tutorial_classes.rst.txt", "name mangling"),
    ("prose", "man_find.1.txt", None),
    ("search_results", "rg_n_C3_ServeHTTP_go1.19_net_http.txt", "reverse proxy"),
    ("diff", "git_diff_flask_3.1.0..3.1.3.diff", "sessions.py"),
]:
    out = get_compressor(kind).compress((fixtures / name).read_text(), make_ctx(query=query))
    digest.update(out.text.encode())
print(digest.hexdigest())
"""


def test_output_is_identical_across_processes_and_hash_seeds():
    import os
    import sys

    digests = set()
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        run = subprocess.run(
            [sys.executable, "-c", _CROSS_PROCESS, str(FIXTURES)], env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr[-3000:]
        digests.add(run.stdout.strip())
    assert len(digests) == 1


def test_huge_documents_round_trip():
    text = "\n\n".join(MAN_FIND.replace("find", f"find{i}") for i in range(8))  # ~0.7 MB
    ctx = make_ctx(query="-mtime")
    out = ProseCompressor().compress(text, ctx)
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    assert ctx.tokenizer.count(out.text) <= 0.45 * ctx.tokenizer.count(text)


@settings(max_examples=20, deadline=None)
@given(
    ratio=st.floats(0.0, 1.0),
    minimum=st.integers(0, 5000),
    query=st.sampled_from([None, "", "inheritance"]),
)
def test_property_any_settings(ratio, minimum, query):
    ctx = make_ctx(query=query, text={"target_ratio": ratio, "min_prose_tokens": minimum})
    out = ProseCompressor().compress(TUTORIAL, ctx)
    if out is None:
        return
    assert retrieve(out.ccr_keys[0], store=ctx.store) == TUTORIAL
    assert_extractive(TUTORIAL, out.text)


def test_text_config_enabled_false_turns_all_three_off():
    ctx = make_ctx(query="name mangling", text={"enabled": False})
    assert ProseCompressor().compress(TUTORIAL, ctx) is None
    assert (
        get_compressor("diff").compress((FIXTURES / "git_diff_flask_3.1.0..3.1.3.diff").read_text(), ctx)
        is None
    )
    rg = (FIXTURES / "rg_n_C3_ServeHTTP_go1.19_net_http.txt").read_text()
    assert get_compressor("search_results").compress(rg, ctx) is None


# --------------------------------------------------------------------------- large texts, identifiers


def _reference() -> str:
    from pydoc_data.topics import topics

    return "\n\n".join(topics[name] for name in sorted(topics))


def test_token_estimate_is_exact_when_small_and_close_when_large():
    from headroom_core import get_tokenizer
    from headroom_core.compressors.prose import _estimate_tokens

    tokenizer = get_tokenizer("gpt-4o")
    assert _estimate_tokens(TUTORIAL, tokenizer) == tokenizer.count(TUTORIAL)
    big = _reference()
    exact = tokenizer.count(big)
    estimate = _estimate_tokens(big, tokenizer)
    assert abs(estimate - exact) < 0.05 * exact
    assert _estimate_tokens(big, tokenizer) == estimate  # deterministic


def test_the_whole_language_reference_compresses_and_round_trips():
    # ~470 KB, ~3,800 units: the selection is O(n log n) (timing lives in the benchmarks).
    text = _reference()
    ctx = make_ctx(query="How does the with statement call __exit__ when an exception is raised?")
    out = ProseCompressor().compress(text, ctx)
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    assert 'from the "__exit__()" method was false, the exception is reraised.' in out.text
    assert ctx.tokenizer.count(out.text) < 0.5 * ctx.tokenizer.count(text)
    again = ProseCompressor().compress(text, make_ctx(query=ctx.query))
    assert again is not None and again.text == out.text


def test_many_near_duplicate_units_stay_bounded_and_deduplicated():
    # 20,000 lines sharing most words: similarity lookups must not scan every picked line.
    lines = [f"worker {k % 7} finished batch {k} of the nightly export in {k % 50} ms" for k in range(20_000)]
    text = "\n".join(lines)
    ctx = make_ctx()
    out = ProseCompressor().compress(text, ctx)
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    assert ctx.tokenizer.count(out.text) < 0.4 * ctx.tokenizer.count(text)


def test_a_query_naming_an_identifier_finds_its_sentence():
    filler = " ".join(
        f"Sentence number {k} talks about chains and their runnables in general." for k in range(60)
    )
    text = (
        filler
        + " Calling with_fallbacks on a runnable returns a new runnable that tries each backup in turn."
        + " "
        + filler.replace("Sentence", "Line")
    )
    ctx = make_ctx(query="What does with_fallbacks return?")
    out = ProseCompressor().compress(text, ctx)
    assert out is not None
    assert "Calling with_fallbacks on a runnable returns a new runnable" in out.text
