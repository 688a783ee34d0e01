"""The prose and log compressors' fast paths give exactly what the plain per-line or
per-paragraph rules give (the rules are restated here, written the simple way)."""

from __future__ import annotations

import bisect
import itertools
import re
from collections import Counter
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from headroom_core.compressors import log_compressor as logs
from headroom_core.compressors import prose

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# --------------------------------------------------------------------------- the plain rules

_LIST_ITEM_AT_LINE_START = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+\S", re.MULTILINE)


def plain_sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences of one paragraph, found by scanning that paragraph alone."""
    chunk = text[start:end]
    cuts = {0}
    cuts.update(m.start() for m in _LIST_ITEM_AT_LINE_START.finditer(chunk))
    for m in prose._SENTENCE_END.finditer(chunk):
        if prose._ABBREVIATION.search(chunk[max(0, m.start() - 12) : m.start() + 1]):
            continue
        cuts.add(m.end())
    spans = []
    for a, b in itertools.pairwise([*sorted(cuts), len(chunk)]):
        piece = chunk[a:b]
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        if right > left:
            spans.append((start + a + left, start + a + right))
    return spans


def plain_repeats(texts: list[str], relevance: list[float]) -> list[bool]:
    seen: set[str] = set()
    out = []
    for text, rel in zip(texts, relevance):
        tpl = prose._template(text)
        out.append(tpl in seen and rel < prose._RELEVANT)
        seen.add(tpl)
    return out


def plain_base_indent(lines: list[str]) -> int:
    counts = Counter(len(line) - len(line.lstrip(" \t")) for line in lines if line.strip())
    if not counts:
        return 0
    return min(counts, key=lambda k: (-counts[k], k))


_PLAIN_STAMP_HINT = re.compile(r"\d\d[:/-]\d\d|\d\d/[A-Z][a-z]{2}/|\d{6} \d{6}|^\[?\d{10}")


def plain_stamp_candidates(lines: list[str]) -> bytearray:
    return bytearray(1 if _PLAIN_STAMP_HINT.search(line, 0, 80) else 0 for line in lines)


_PLAIN_TIMESTAMPS = (
    re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
    re.compile(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}(?: [+-]\d{4})?"),
    re.compile(r"\b[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}"),
    re.compile(r"^\d{6} \d{6}\b"),
    re.compile(r"\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?"),
)


def plain_timestamp(line: str) -> tuple[int, int] | None:
    """The span of the first shape (in priority order) found in the line's first 80 characters."""
    for pattern in _PLAIN_TIMESTAMPS:
        match = pattern.search(line, 0, 80)
        if match is not None:
            return match.span()
    return None


def plain_candidate_lines(lines: list[str], transcript: bool) -> list[int]:
    hints = logs._IMPORTANT_HINTS if not transcript else (*logs._IMPORTANT_HINTS, *logs._PROBLEM_HINTS)
    return [i for i, line in enumerate(lines) if any(h in line.lower() for h in hints)]


# --------------------------------------------------------------------------- inputs

_PROSE_PIECES = st.sampled_from(
    [
        *"abcdefxyzABCDEFXYZ0123456789 \t\n\r\x0b\x1c\x00.,;:!?-*+•()\"'_`…’”Σσςİ٣K\u00a0\u2003",
        *("e.g. ", "i.e. ", "Dr. ", "etc. ", "approx. ", "A. ", "No. 5 ", "Fig. 2", "end. Next", "yes! Ok"),
        *(
            "\n- item",
            "\n  12) step",
            "\n* ",
            "\n\n",
            "1. ",
            "0x1f",
            "deadbeef99",
            "ΟΔΟΣ ",
            '" Quote',
            ".) (A",
        ),
    ]
)
_PROSE = st.lists(_PROSE_PIECES, max_size=60).map("".join)
# Texts whose templates are equal although the texts differ (case, digits, hex runs, kinds
# of whitespace and of digits).
_NEAR_REPEATS = st.sampled_from(
    ["a", "A 1", "a  2", "deadbeef", "Deadbeef0", "x\u00a0y", "x y", "x\u2003y", "٣", "٤", "K", "k", "ǅ", "ǆ"]
)


@settings(max_examples=400, deadline=None)
@given(_PROSE)
def test_sentence_spans_from_one_scan_equal_per_paragraph_scans(text: str) -> None:
    lines = text.split("\n")
    starts = list(itertools.accumulate((len(line) + 1 for line in lines[:-1]), initial=0))
    cuts = prose._sentence_cuts(text)
    for block in prose.split_blocks(lines):
        if block.kind != "para":
            continue
        start = starts[block.first]
        end = starts[block.last] + len(lines[block.last])
        expected = plain_sentence_spans(text, start, end)
        assert prose._sentence_spans(text, start, end, cuts) == expected
        assert prose._sentence_spans(text, start, end) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_NEAR_REPEATS, _PROSE), max_size=12), st.randoms())
def test_repeats_found_through_keys_equal_plain_templates(texts: list[str], rng) -> None:
    relevance = [rng.choice([0.0, 0.3, 0.5, 0.9]) for _ in texts]
    assert prose._repeats(texts, relevance) == plain_repeats(texts, relevance)


@settings(max_examples=200, deadline=None)
@given(_PROSE)
def test_base_indent_equals_plain_count(text: str) -> None:
    lines = text.split("\n")
    assert prose._base_indent(lines) == plain_base_indent(lines)


def plain_line_structured(block_lines: list[str]) -> bool:
    if len(block_lines) < 3:
        return False
    starts_fresh = sum(1 for line in block_lines[1:] if not line.lstrip()[:1].islower())
    wrapped = sum(1 for line in block_lines[:-1] if line.rstrip().endswith(("-", ",")))
    return starts_fresh >= 0.8 * (len(block_lines) - 1) and wrapped < 0.2 * len(block_lines)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(["Key: v", "  lower", "Upper,", "x-", " ", "", "ǅ tit", "é", "1 two"]), max_size=8
    )
)
def test_line_structured_equals_plain_count(block_lines: list[str]) -> None:
    assert prose._line_structured(block_lines) == plain_line_structured(block_lines)


def plain_is_prose(lines: list[str], blocks: list[prose._Block]) -> bool:
    text_lines = [lines[k] for b in blocks if b.kind == "para" for k in range(b.first, b.last + 1)]
    if not text_lines:
        return False
    if len(text_lines) > prose._MODE_SAMPLE_LINES:
        step = len(text_lines) / prose._MODE_SAMPLE_LINES
        text_lines = [text_lines[int(k * step)] for k in range(prose._MODE_SAMPLE_LINES)]
    wordy = enders = 0
    for line in text_lines:
        stripped = line.strip()
        words = prose._WORDY.findall(stripped)
        letters = sum(len(w) for w in words)
        if len(words) >= 5 and letters >= 0.55 * len(stripped.replace(" ", "")):
            wordy += 1
        enders += stripped.count(". ") + stripped.endswith((".", "!", "?", ":"))
    return wordy >= 0.4 * len(text_lines) and enders >= 0.15 * len(text_lines)


_WORDY_LINES = st.lists(
    st.sampled_from(["The cat sat on the mat. ", "Key: v", "x=1", "end.", "Ask why? ", "  ", "ǅ Éa", "\n"]),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_PROSE, _WORDY_LINES))
def test_is_prose_equals_the_plain_count(text: str) -> None:
    lines = text.split("\n")
    blocks = prose.split_blocks(lines)
    assert prose._is_prose(lines, blocks) == plain_is_prose(lines, blocks)


def plain_sentence_ends(text: str) -> list[int]:
    return [
        m.end()
        for m in prose._SENTENCE_END.finditer(text)
        if not prose._ABBREVIATION.search(text[max(0, m.start() - 12) : m.start() + 1])
    ]


_WORDS_BEFORE_STOPS = st.lists(
    st.sampled_from(
        [
            *("approx", "xapprox", "_approx", "1approx", "étapprox", "e.g", "xe.g", "i.e", "A", "bA", "_A"),
            *("Dr", "sixsix", "seven77", "under_s", "ǅǅǅǅǅǅǅ", "K", "ſt", "a", ". ", " ", "\n", "(", "Next"),
        ]
    ),
    max_size=12,
).map(lambda words: ". ".join(words) + ". Z")


@settings(max_examples=500, deadline=None)
@given(_WORDS_BEFORE_STOPS)
def test_sentence_ends_skip_the_same_abbreviations(text: str) -> None:
    assert [c for c in prose._sentence_cuts(text) if c] == plain_sentence_ends(text)


def test_abbreviation_reach_covers_every_abbreviation() -> None:
    # The cut search looks this far back before a full stop: each abbreviation fits.
    assert max(len(word) for word in prose._ABBREVIATIONS) <= prose._ABBREVIATION_REACH
    for word in prose._ABBREVIATIONS:
        text = f"See {word.upper()}. Next"
        dot = 4 + len(word)
        assert prose._ABBREVIATION.search(text, dot - prose._ABBREVIATION_REACH, dot + 1)


def test_real_documents_split_the_same() -> None:
    for name in ("man_find.1.txt", "pydocs3.11_tutorial_classes.rst.txt"):
        text = (FIXTURES / name).read_text()
        lines = text.split("\n")
        starts = list(itertools.accumulate((len(line) + 1 for line in lines[:-1]), initial=0))
        cuts = prose._sentence_cuts(text)
        blocks = prose.split_blocks(lines)
        assert prose._is_prose(lines, blocks) == plain_is_prose(lines, blocks)
        for block in blocks:
            if block.kind == "para":
                start = starts[block.first]
                end = starts[block.last] + len(lines[block.last])
                assert prose._sentence_spans(text, start, end, cuts) == plain_sentence_spans(text, start, end)


# --------------------------------------------------------------------------- logs

_LOG_PIECES = st.sampled_from(
    [
        *"ab:/-[ 0123456789\nJFMan",
        *("2024-01-02 10:11:12", "10:11:12", "Jan  2 10:11:12", "081109 203615", "1700000000", "[1700000000"),
        *(
            "2024-01-02T10:11:12.5+02:00",
            "x10:11:12",
            "aJan 12 10:11:12",
            "Feb 3",
            "12/Mar/2024:10:11:12 +0100",
        ),
        *("12/Mar/2024:10:11:12", "ERROR", "warn", "Traceback", "failed", "not found", "e: ", "timed out"),
        *("Caused by: x", "CRIT", "exception", "can't", "couldn't", "\n", "İ", "K"),
    ]
)
_LOG = st.lists(_LOG_PIECES, max_size=60).map("".join)


@settings(max_examples=400, deadline=None)
@given(_LOG)
def test_stamp_candidates_equal_the_per_line_hint(text: str) -> None:
    lines = text.split("\n")
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    assert logs._stamp_candidates(text, starts) == plain_stamp_candidates(lines)
    for line in lines:
        plain = _PLAIN_STAMP_HINT.search(line, 0, 80) is not None
        fast = logs._STAMP_DIGITS.search(line, 0, 80) is not None or logs._STAMP_EPOCH.match(line, 0, 80)
        assert bool(fast) == plain


@settings(max_examples=400, deadline=None)
@given(_LOG)
def test_timestamps_equal_the_plain_shapes(text: str) -> None:
    for line in text.split("\n"):
        found = logs._timestamp(line)
        assert (found.span() if found is not None else None) == plain_timestamp(line)


def test_real_log_timestamps_equal_the_plain_shapes() -> None:
    for name in ("loghub_HDFS_2k.log", "loghub_OpenStack_2k.log", "var_log_dpkg.log"):
        for line in (FIXTURES / name).read_text().split("\n"):
            found = logs._timestamp(line)
            assert (found.span() if found is not None else None) == plain_timestamp(line)


@settings(max_examples=400, deadline=None)
@given(_LOG, st.booleans())
def test_hint_lines_from_the_prefix_tree_equal_a_plain_search(text: str, transcript: bool) -> None:
    lines = text.split("\n")
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    found = logs._candidate_lines(text, lines, starts, transcript)
    if len(text.lower()) == len(text):
        assert found == plain_candidate_lines(lines, transcript)


def test_prefix_tree_matches_exactly_its_words() -> None:
    words = ["err", "error", "exit", "e: ", "warn", "w: ", "can't", "cannot", "timed out", "timeout"]
    pattern = re.compile(logs._prefix_tree(words))
    for word in words:
        assert pattern.fullmatch(word)
    for other in ["er", "e", "exi", "can", "time", "timed", "w:", ""]:
        assert not pattern.fullmatch(other)
    lines = ["an error here", "nothing", "exit 1", "w: deprecated", "ok"]
    text = "\n".join(lines)
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    hits = sorted({bisect.bisect_right(starts, m.start()) - 1 for m in pattern.finditer(text)})
    assert hits == [0, 2, 3]
