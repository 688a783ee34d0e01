"""Prose, documentation, retrieved chunks and any other long plain text: extractive.

Nothing is rewritten: the output is a selection of the input's own units in their
original order. Units are

- sentences of paragraphs (prose mode), never split inside;
- whole code blocks (``` / ~~~ fences, indented blocks, reST ``::`` literals, ``>>>``
  sessions), whole tables (markdown pipes, reST grid and simple tables) and whole reST
  directives, kept or dropped as one;
- lines, for line-oriented text that is not prose (line mode): exact and near-duplicate
  lines (equal once digits and hex runs are blanked) are dropped after their first
  occurrence.

Each unit is scored by relevance to the query (BM25), position (paragraph leads, the
start of the document) and salience (how central its terms are to the text). Units are
picked greedily, MMR style: a unit's score is lowered by its similarity to what is
already picked, and near-duplicates are never picked. Picking stops at
`TextConfig.target_ratio` of the input's tokens. Headings stay when something under them
stays. Gaps are shown as ``…``; the whole original is stashed in CCR once and one marker
counts what was left out. Deterministic: no randomness, ties broken by position.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import operator
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from headroom_core._counting import count_once, known_count
from headroom_core._relevance import bm25_from_terms, terms
from headroom_core._text import looks_binary
from headroom_core.compressors._base import CompressContext, Compressed

_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})")
_PIPE_ROW = re.compile(r"[ \t]*\|.*\|[ \t]*\r?\Z")
_PIPE_SEPARATOR = re.compile(r"[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(\|[ \t]*:?-{2,}:?[ \t]*)+\|?[ \t]*\r?\Z")
_GRID_BORDER = re.compile(r"[ \t]*\+([-=]+\+)+[ \t]*\r?\Z")
_GRID_ROW = re.compile(r"[ \t]*[|+].*[|+][ \t]*\r?\Z")
_SIMPLE_TABLE_BORDER = re.compile(r"[ \t]*=+( +=+)+[ \t]*\r?\Z")
_MD_HEADING = re.compile(r"[ \t]{0,3}#{1,6}[ \t]")
_UNDERLINE = re.compile(r"[ \t]*([=\-~^\"'`*+#:.])\1{2,}[ \t]*\r?\Z")
_DIRECTIVE = re.compile(r"\.\. ")
_DOCTEST = re.compile(r"[ \t]*>>> ")
_BLOCK_START = re.compile(r"[ \t]*(?:`{3}|~{3}|\+|\||>>> |#)|\.\. ")
"""What a fence, grid/pipe table, doctest, markdown heading or directive line starts with."""
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+\S")
_LIST_ITEM_LINE = re.compile(r"\n" + _LIST_ITEM.pattern)
"""A list item after a line break: a literal first character makes the scan fast."""
# A sentence ends at . ! ? (plus closing quotes/brackets) before whitespace and a capital,
# digit, quote, bracket or markup character.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]*_`]*(?=\s+[\"'“‘(\[*_`:A-Z0-9])")
_ABBREVIATIONS = (
    *("e.g", "i.e", "etc", "vs", "cf", "al", "fig", "figs", "no", "nos", "mr", "mrs", "ms", "dr", "prof"),
    *("st", "jr", "sr", "approx", "resp", "viz", "ca", "ch", "sec", "vol", "ed", "eq", "op", "pp"),
)
_ABBREVIATION = re.compile(
    r"(?:\b(?:" + "|".join(map(re.escape, _ABBREVIATIONS)) + r")|\b[A-Za-z])\.\Z", re.IGNORECASE
)
_ABBREVIATION_REACH = max(map(len, _ABBREVIATIONS))
"""Characters an `_ABBREVIATION` match spans before its full stop (case folding keeps
lengths): a search reaching further back finds nothing more."""
_VOLATILE = re.compile(r"0x[0-9a-f]+|[0-9a-f]{8,}|\d+")  # applied to lower-cased text
_WORDY = re.compile(r"[A-Za-z][a-z]+")

_ELLIPSIS = "…"
_UNIT_KIND = {"line": "line", "table": "table", "directive": "directive"}
"""The unit kind of a block kept or dropped whole (any other: a code block)."""
_NEAR_DUPLICATE = 0.8
"""Jaccard similarity of term sets at which a unit counts as a repeat of a picked one."""
_REDUNDANCY_WEIGHT = 0.6
_MAX_SIMILARITY_TERM_DF = 0.1
"""Terms in more than this share of units are ignored when looking up similar units."""
_MAX_RARE_DF = 64
"""...and in more than this many units: similarity lookups stay bounded on huge texts."""
_MAX_REQUEUES = 3
_LOOKUP_TERMS = 32
_MAX_LOOKUP_WORK = 256
_MIN_UNITS = 4
_SIMILARITY_CANDIDATES = 4
_EXACT_COUNT_CHARS = 64_000
_MODE_SAMPLE_LINES = 2000
_SAMPLE_SLICES = 16
_RELEVANT = 0.5
"""Units at least this relevant (share of the best BM25 score) are never dropped as repeats."""
_MAX_SAVING_WORTH_NOTHING = 0.1
"""Outputs saving less than this share of tokens are not worth a marker: return None."""


@dataclass(slots=True)
class _Block:
    kind: str  # "para", "code", "table", "heading", "directive", "blank", "line"
    first: int  # first line index
    last: int  # last line index (inclusive)
    by_line: bool = False  # a paragraph of one-item lines (metadata, link lists): lines are units


@dataclass(slots=True)
class _Unit:
    kind: str  # "sentence", "code", "table", "directive", "line"
    block: int
    start: int  # char offsets into the text
    end: int
    order: int = 0  # index of the unit in its block


# --------------------------------------------------------------------------- blocks


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _base_indent(lines: list[str]) -> int:
    filled = list(itertools.compress(lines, map(str.strip, lines)))  # lines with text
    # len(line) - len(line.lstrip(" \t")) of each, mapped in C.
    counts = Counter(
        map(operator.sub, map(len, filled), map(len, map(str.lstrip, filled, itertools.repeat(" \t"))))
    )
    if not counts:
        return 0
    return min(counts, key=lambda k: (-counts[k], k))


def _is_heading(lines: list[str], i: int) -> int:
    """Number of lines of a heading starting at line i (0 if none)."""
    line = lines[i]
    if _MD_HEADING.match(line):
        return 1
    nxt = lines[i + 1] if i + 1 < len(lines) else ""
    if (
        line.strip()
        and not _UNDERLINE.match(line)
        and _UNDERLINE.match(nxt)
        and len(nxt.strip()) >= min(len(line.strip()), 3)
        and len(line.strip()) < 100
    ):
        return 2
    if (
        _UNDERLINE.match(line)
        and i + 2 < len(lines)
        and lines[i + 1].strip()
        and _UNDERLINE.match(lines[i + 2])
        and lines[i + 2].strip() == line.strip()
    ):
        return 3  # overline, title, underline
    stripped = line.strip()
    # Man pages: section names in capitals at the left margin (NAME, SYNOPSIS, ...).
    if line[:1].isalpha() and stripped.isupper() and len(stripped) < 40 and len(stripped.split()) <= 4:
        prev_blank = i == 0 or not lines[i - 1].strip()
        if prev_blank:
            return 1
    return 0


def split_blocks(lines: list[str]) -> list[_Block]:
    """Lines grouped into paragraphs, code blocks, tables, headings and directives."""
    base = _base_indent(lines)
    blocks: list[_Block] = []
    i, n = 0, len(lines)
    literal_next = False  # the previous paragraph ended with "::" (reST literal block)
    while i < n:
        line = lines[i]
        if not line.strip():
            blocks.append(_Block("blank", i, i))
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            mark = fence.group(1)
            j = i + 1
            while j < n and not lines[j].lstrip(" \t").startswith(mark[0] * len(mark)):
                j += 1
            last = min(j, n - 1)
            blocks.append(_Block("code", i, last))
            i = last + 1
            literal_next = False
            continue
        heading = _is_heading(lines, i)
        if heading:
            blocks.append(_Block("heading", i, i + heading - 1))
            i += heading
            literal_next = False
            continue
        if (
            _GRID_BORDER.match(line)
            or _PIPE_ROW.match(line)
            or (i + 1 < n and "|" in line and _PIPE_SEPARATOR.match(lines[i + 1]))
        ):
            j = i + 1
            while (
                j < n
                and lines[j].strip()
                and (_GRID_ROW.match(lines[j]) or _PIPE_SEPARATOR.match(lines[j]) or "|" in lines[j])
            ):
                j += 1
            blocks.append(_Block("table", i, j - 1))
            i = j
            literal_next = False
            continue
        if _SIMPLE_TABLE_BORDER.match(line):
            borders, j, last = 1, i + 1, i
            while j < n and borders < 3 and j - i < 500:
                if _SIMPLE_TABLE_BORDER.match(lines[j]):
                    borders += 1
                    last = j
                j += 1
            blocks.append(_Block("table", i, last))
            i = last + 1
            continue
        indent = _indent(line)
        directive = _DIRECTIVE.match(line) is not None
        code_indent = literal_next or (base <= 1 and indent >= base + 4)
        if directive or (code_indent and indent > base) or _DOCTEST.match(line):
            # Everything indented deeper than where this block starts (blank lines
            # included) belongs to it; a doctest runs to the next blank line.
            doctest = _DOCTEST.match(line) is not None and not directive
            limit = _indent(line) if directive else max(base, indent - 1)
            j, last = i + 1, i
            while j < n:
                nxt = lines[j]
                if not nxt.strip():
                    if doctest:
                        break
                elif doctest or _indent(nxt) > limit:
                    last = j
                else:
                    break
                j += 1
            kind = "directive" if directive else "code"
            blocks.append(_Block(kind, i, last))
            i = last + 1
            literal_next = False
            continue
        j = i + 1
        while j < n and lines[j].strip():
            nxt = lines[j + 1] if j + 1 < n else ""
            # Most lines of a paragraph start with a word: one cheap test clears them
            # (a capitals heading needs a blank line before it, which a paragraph lacks).
            if not (_BLOCK_START.match(lines[j]) or _UNDERLINE.match(lines[j]) or _UNDERLINE.match(nxt)):
                j += 1
                continue
            if (
                _FENCE.match(lines[j])
                or _is_heading(lines, j)
                or _GRID_BORDER.match(lines[j])
                or _PIPE_ROW.match(lines[j])
                or _DOCTEST.match(lines[j])
                or _DIRECTIVE.match(lines[j])
            ):
                break
            j += 1
        blocks.append(_Block("para", i, j - 1))
        literal_next = lines[j - 1].rstrip().endswith("::")
        i = j
    return blocks


def _explode_lines(blocks: list[_Block]) -> list[_Block]:
    """Line mode: every line of a paragraph or heading is a unit; code and tables stay whole."""
    out: list[_Block] = []
    for block in blocks:
        if block.kind in ("para", "heading"):
            out.extend([_Block("line", k, k) for k in range(block.first, block.last + 1)])
        else:
            out.append(block)
    return out


_FIRST_CHAR = operator.itemgetter(slice(0, 1))
_WRAPS = operator.methodcaller("endswith", ("-", ","))
_ENDS_SENTENCE = operator.methodcaller("endswith", (".", "!", "?", ":"))


def _line_structured(block_lines: list[str]) -> bool:
    """Lines that each stand alone (`Key: value`, link lists), not hard-wrapped sentences."""
    if len(block_lines) < 3:
        return False
    # Per line in C (map), not in a Python loop: each line's first character, its ending.
    rest = block_lines[1:]
    starts_fresh = len(rest) - sum(map(str.islower, map(_FIRST_CHAR, map(str.lstrip, rest))))
    if starts_fresh < 0.8 * len(rest):
        return False
    wrapped = sum(map(_WRAPS, map(str.rstrip, block_lines[:-1])))
    return wrapped < 0.2 * len(block_lines)


def _sentence_cuts(text: str) -> list[int]:
    """Every offset of `text` where a sentence or a list item starts, sorted: one scan of
    the whole text for both. A paragraph's cuts are the ones inside it (see
    `_sentence_spans`): a list item starts a line and a sentence end (with its closing
    quotes or brackets) stays on its line, so no match straddles a paragraph edge; an
    abbreviation before a full stop never spans a line break either."""
    cuts = [m.start() + 1 for m in _LIST_ITEM_LINE.finditer(text)]
    if _LIST_ITEM.match(text):
        cuts.insert(0, 0)
    search = _ABBREVIATION.search
    reach = _ABBREVIATION_REACH
    ends = []
    for m in _SENTENCE_END.finditer(text):
        dot = m.start()
        # A full stop after an abbreviation ("e.g.", "Dr.", "A.") ends no sentence. Its
        # match starts a word at most `reach` characters back; when the character before
        # each of those starts is alphanumeric (the stop ends a longer word), no word
        # starts there and the search would find nothing.
        if (
            text[dot] == "."
            and not (dot > reach and text[dot - reach - 1 : dot - 1].isalnum())
            and search(text, dot - reach if dot > reach else 0, dot + 1)
        ):
            continue
        ends.append(m.end())
    if not cuts:
        return ends
    cuts.extend(ends)
    return sorted(set(cuts))


def _sentence_spans(text: str, start: int, end: int, cuts: list[int] | None = None) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets inside text[start:end]; list items start new ones.

    `cuts` is `_sentence_cuts(text)`, made once for all paragraphs of a text. A cut whose
    sentence-end lookahead saw past `end` leaves only whitespace after it, which no span
    keeps, so the spans are those of text[start:end] alone."""
    if cuts is None:
        cuts = _sentence_cuts(text[start:end])
        offset = start
        start, end = 0, end - start
    else:
        offset = 0
    inner = cuts[bisect.bisect_right(cuts, start) : bisect.bisect_left(cuts, end)]
    spans = []
    for a, b in itertools.pairwise([start, *inner, end]):
        piece = text[offset + a : offset + b]
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        if right > left:
            spans.append((offset + a + left, offset + a + right))
    return spans


# --------------------------------------------------------------------------- mode


def _is_prose(lines: list[str], blocks: list[_Block]) -> bool:
    """Prose when most text lines read like sentences; else line mode (logs, listings)."""
    text_lines = list(
        itertools.chain.from_iterable(lines[b.first : b.last + 1] for b in blocks if b.kind == "para")
    )
    if not text_lines:
        return False
    if len(text_lines) > _MODE_SAMPLE_LINES:  # a share: evenly spaced lines tell it as well
        step = len(text_lines) / _MODE_SAMPLE_LINES
        text_lines = [text_lines[int(k * step)] for k in range(_MODE_SAMPLE_LINES)]
    stripped = list(map(str.strip, text_lines))
    # Each line without its words, and how many there were (one `subn` per line, in C):
    # the words' letters are the characters removed.
    wordy = 0
    for line, (rest, words) in zip(stripped, map(_WORDY.subn, itertools.repeat(""), stripped)):
        if words >= 5 and len(line) - len(rest) >= 0.55 * (len(line) - line.count(" ")):
            wordy += 1
    enders = sum(map(str.count, stripped, itertools.repeat(". "))) + sum(map(_ENDS_SENTENCE, stripped))
    return wordy >= 0.4 * len(text_lines) and enders >= 0.15 * len(text_lines)


# --------------------------------------------------------------------------- selection


def _template(unit_text: str) -> str:
    return " ".join(_VOLATILE.sub("0", unit_text.lower()).split())


def _templates(texts: list[str]) -> list[str]:
    """`_template` of every text, lower-cased and scanned as one string (one regex pass
    instead of one per unit). The same result: the separator is neither whitespace, cased,
    nor part of a volatile run, so no match or case mapping crosses it."""
    joined = "\x00".join(texts)
    if joined.count("\x00") != len(texts) - 1:  # a unit holds the separator itself
        return [_template(t) for t in texts]
    return [" ".join(p.split()) for p in _VOLATILE.sub("0", joined.lower()).split("\x00")]


_ASCII_BYTES = bytes(range(128))
_TEMPLATE_BLIND = b"0123456789abcdefx \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
"""Bytes a template key leaves out: every ASCII character a volatile run (`_VOLATILE`) can
hold, and ASCII whitespace (`str.split` also splits on \\x1c-\\x1f)."""


def _template_keys(texts: list[str]) -> list[bytes] | None:
    """A key per text that is equal whenever two `_template`s are equal (not conversely):
    the lower-cased text without whitespace and without the characters a volatile run can
    hold. `_template` turns volatile runs into "0" and collapses whitespace; the key drops
    both, so equal templates give equal keys. One lower-casing, encode and byte deletion
    over all texts: far cheaper than the template's regex. None when a text holds the
    separator, or non-ASCII whitespace or digits (which the byte deletion cannot drop)."""
    joined = "\x00".join(texts)
    if joined.count("\x00") != len(texts) - 1:
        return None
    data = joined.lower().encode("utf-8", "surrogatepass")
    if not data.isascii():  # its non-ASCII characters: the text without the ASCII bytes
        odd = set(data.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass"))
        if any(ch.isspace() or ch.isdigit() for ch in odd):
            return None
    return data.translate(None, _TEMPLATE_BLIND).split(b"\x00")


def _repeats(texts: list[str], relevance: list[float]) -> list[bool]:
    """Per unit: its template (`_template`) occurred in an earlier unit, and it is not
    relevant to the query (a repeat that matches the query well is not a repeat to the
    reader). Only units whose `_template_keys` key is shared can repeat, and templates are
    made only for the texts of a key shared by different texts: equal templates have equal
    keys, so the units of any other key hold one text, and that key stands for its template."""
    keys = _template_keys(texts)
    if keys is None:
        candidates = list(range(len(texts)))
        distinct = list(dict.fromkeys(texts))  # equal texts: one template
        template_of = dict(zip(distinct, _templates(distinct)))
        same: list[object] = [template_of[text] for text in texts]
    else:
        shared = Counter(keys)
        candidates = [k for k, key in enumerate(keys) if shared[key] > 1]
        texts_of: dict[bytes, dict[str, None]] = {}
        for k in candidates:
            texts_of.setdefault(keys[k], {})[texts[k]] = None
        mixed = [text for group in texts_of.values() if len(group) > 1 for text in group]
        template_of = dict(zip(mixed, _templates(mixed)))
        # A template (str) or a key standing for one (in a tuple: never equal to a str).
        same = [None] * len(texts)
        for k in candidates:
            template = template_of.get(texts[k])
            same[k] = template if template is not None else ("key", keys[k])
    duplicate = [False] * len(texts)
    seen: set[object] = set()
    for k in candidates:
        duplicate[k] = same[k] in seen and relevance[k] < _RELEVANT
        seen.add(same[k])
    return duplicate


def _select(
    term_sets: list[frozenset[str]],
    df: dict[str, int],
    weights: np.ndarray,
    costs: np.ndarray,
    budget: float,
    duplicate: list[bool],
    protected: np.ndarray,
) -> list[bool]:
    """Greedy lazy MMR: best weight first, discounted by similarity to what is picked.

    `df` is the number of units holding each term. O(n log n) in units: similarity is
    looked up through the postings of each unit's `_LOOKUP_TERMS` rarest terms (terms in at
    most `_MAX_RARE_DF` units), visiting at most `_MAX_LOOKUP_WORK` postings per unit; the
    exact Jaccard is computed for a few of the units sharing most of them, and a unit is
    re-queued at most `_MAX_REQUEUES` times.
    """
    n = len(term_sets)
    rare_limit = max(3, min(int(_MAX_SIMILARITY_TERM_DF * n), _MAX_RARE_DF))
    rare: dict[int, list[str]] = {}

    def rarest(i: int) -> list[str]:
        """Unit i's rarest few terms (ties by the term: deterministic), made when first asked."""
        found = rare.get(i)
        if found is None:
            these = [t for t in term_sets[i] if df[t] <= rare_limit]
            # (df, term) pairs sorted in C: no key function called per term.
            ranked = sorted(zip(map(df.__getitem__, these), these))[:_LOOKUP_TERMS]
            found = rare[i] = [t for _, t in ranked]
        return found

    weight = weights.tolist()
    cost = costs.tolist()
    keep_anyway = protected.tolist()
    postings: dict[str, list[int]] = {}
    picked = [False] * n
    requeued = [0] * n
    heap = [(-weight[i], i, 0.0) for i in range(n) if not duplicate[i]]
    heapq.heapify(heap)
    spent = 0.0
    while heap and spent < budget:
        _, i, known_sim = heapq.heappop(heap)
        if cost[i] > budget - spent:
            continue
        # Similarity to the picked units sharing the most rare terms with this one
        # (the exact Jaccard only for a few: the rest cannot be closer in practice).
        shared: dict[int, int] = {}
        work = _MAX_LOOKUP_WORK
        for term in rarest(i):  # rarest first; bounded work per unit
            posting = postings.get(term)
            if posting is None:
                continue
            for j in posting[:work] if len(posting) > work else posting:
                shared[j] = shared.get(j, 0) + 1
            work -= len(posting)
            if work <= 0:
                break
        sim = 0.0
        if shared:
            mine = term_sets[i]
            if len(shared) > 2 * _SIMILARITY_CANDIDATES:
                # Most shared first, ties by position: (-count, j) packed in one int (a
                # count is at most _LOOKUP_TERMS), sorted in C.
                best = sorted([(_LOOKUP_TERMS + 1 - c) * n + j for j, c in shared.items()])
                closest = [v % n for v in best[:_SIMILARITY_CANDIDATES]]
            else:
                closest = list(shared)
            size = len(mine)
            for j in closest:
                other = term_sets[j]
                common = len(mine & other)
                union = size + len(other) - common
                if union and common / union > sim:
                    sim = common / union
        if sim >= _NEAR_DUPLICATE and not keep_anyway[i]:
            continue
        value = weight[i] - _REDUNDANCY_WEIGHT * sim
        if sim > known_sim + 1e-12 and heap and value < -heap[0][0] and requeued[i] < _MAX_REQUEUES:
            requeued[i] += 1
            heapq.heappush(heap, (-value, i, sim))
            continue
        picked[i] = True
        spent += cost[i]
        for term in rare[i]:
            postings.setdefault(term, []).append(i)
    return picked


def _scores(
    term_sets: list[frozenset[str]],
    freq: dict[str, int],
    doc_terms: list[list[str]],
    positions: np.ndarray,
    query: str | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(weight, relevance) per unit: relevance, position and salience combined, in [0, 1].
    `freq` is the number of units holding each term."""
    n = len(term_sets)
    ubiquitous = max(2, int(0.5 * n))
    relevance = np.zeros(n)
    if query:
        # A query term found in most units (the word the text is about) ranks nothing.
        useful = sorted(t for t in set(terms(query)) if 0 < freq.get(t, 0) < ubiquitous)
        raw = bm25_from_terms(useful, doc_terms) if useful else np.zeros(n)
        if raw.size and raw.max() > 0:
            relevance = raw / raw.max()
    weight = {t: (math.log1p(f) if f < ubiquitous else 0.0) for t, f in freq.items()}
    of_set: dict[frozenset[str], float] = {}  # repeated units share one term set
    for these in term_sets:
        if these not in of_set:
            of_set[these] = sum(map(weight.__getitem__, these)) / (1 + len(these)) ** 0.5
    salience = np.array(list(map(of_set.__getitem__, term_sets)))
    if salience.size and salience.max() > 0:
        salience = salience / salience.max()
    if relevance.any():
        return 0.6 * relevance + 0.25 * positions + 0.15 * salience, relevance
    return 0.5 * positions + 0.5 * salience, relevance


def _estimate_tokens(text: str, tokenizer: Any) -> int:
    """Tokens of `text`: counted exactly up to `_EXACT_COUNT_CHARS`, above that estimated
    from evenly spaced slices (about `_EXACT_COUNT_CHARS` in all) scaled by characters.

    The estimate only sizes the budget and the "worth it" check; the pipeline reports the
    exact counts. Deterministic: the slices depend on the text alone. A count the pipeline
    made already in this call is reused (see `counting_scope`), and an exact count made here
    is left for the pipeline to reuse.
    """
    known = known_count(text)
    if known is not None:
        return known
    if len(text) <= _EXACT_COUNT_CHARS:
        return count_once(text, tokenizer)
    pieces = _SAMPLE_SLICES
    width = _EXACT_COUNT_CHARS // pieces
    step = len(text) // pieces
    chars = tokens = 0
    for k in range(pieces):
        start = k * step
        # Cut at whitespace so no word is split across a slice edge.
        a = text.find(" ", start, start + 200)
        a = start if a < 0 else a + 1
        b = text.find(" ", a + width, a + width + 200)
        b = a + width if b < 0 else b
        piece = text[a:b]
        chars += len(piece)
        tokens += tokenizer.count(piece)
    return max(1, round(tokens * len(text) / max(1, chars)))


# --------------------------------------------------------------------------- compressor


class ProseCompressor:
    name: ClassVar[str] = "prose"

    def compress(self, text: str, ctx: CompressContext) -> Compressed | None:
        if not isinstance(text, str) or not ctx.can_drop or not text.strip() or looks_binary(text):
            return None
        if not ctx.config.text.enabled:
            return None
        cfg = ctx.config.text
        if len(text) < cfg.min_prose_tokens:  # a token is at least one character
            return None
        lines = text.split("\n")
        starts = list(itertools.accumulate((len(line) + 1 for line in lines[:-1]), initial=0))
        blocks = split_blocks(lines)
        prose = _is_prose(lines, blocks)
        if not prose:
            blocks = _explode_lines(blocks)
        units, bounds = self._units(text, lines, starts, blocks)
        if len(units) < _MIN_UNITS:
            return None
        # Counted only now: one long run without units is costly to encode and not worth it.
        total_tokens = _estimate_tokens(text, ctx.tokenizer)
        if total_tokens < max(1, cfg.min_prose_tokens):
            return None
        texts = [text[u.start : u.end] for u in units]
        positions = self._positions(units, prose)
        memo: dict[str, tuple[list[str], frozenset[str]]] = {}  # repeated units are tokenized once
        doc_terms: list[list[str]] = []
        term_sets: list[frozenset[str]] = []
        for unit_text in texts:
            found = memo.get(unit_text)
            if found is None:
                unit_terms = terms(unit_text)
                found = memo[unit_text] = (unit_terms, frozenset(unit_terms))
            doc_terms.append(found[0])
            term_sets.append(found[1])
        # A plain dict: subscripting a Counter in the loops that use it is slower.
        df = dict(Counter(itertools.chain.from_iterable(term_sets)))
        weights, relevance = _scores(term_sets, df, doc_terms, positions, ctx.query)
        chars = np.array([len(t) for t in texts], dtype=np.float64)
        costs = chars * (total_tokens / max(1, len(text)))
        duplicate = _repeats(texts, relevance.tolist())
        budget = max(0.0, cfg.target_ratio) * total_tokens
        picked = _select(term_sets, df, weights, costs, budget, duplicate, relevance >= _RELEVANT)
        if all(picked):
            return None
        if not any(picked):
            picked[int(np.lexsort((np.arange(len(units)), -weights))[0])] = True
        body, dropped = self._render(text, lines, starts, blocks, units, bounds, picked, duplicate, prose)
        key = ctx.stash(text, "text", unit="block" if prose else "line")
        description = ", ".join(dropped) + " omitted"
        out = body + "\n" + ctx.marker(description, key)
        # The whole text of a message (its count is the pipeline's): the pipeline counts this
        # output exactly anyway, so it is counted once, here, and exactly.
        whole = known_count(text) is not None
        out_tokens = count_once(out, ctx.tokenizer) if whole else _estimate_tokens(out, ctx.tokenizer)
        if out_tokens > (1 - _MAX_SAVING_WORTH_NOTHING) * total_tokens:
            return None
        kept = sum(picked)
        noun = "sentences/blocks" if prose else "lines"
        return Compressed(out, (key,), f"kept {kept} of {len(units)} {noun}")

    @staticmethod
    def _units(
        text: str, lines: list[str], starts: list[int], blocks: list[_Block]
    ) -> tuple[list[_Unit], list[int]]:
        """The units, and where each block's units start (block b holds units
        `bounds[b]` to `bounds[b + 1]`: units come in block order)."""
        units: list[_Unit] = []
        bounds = [0]
        cuts: list[int] | None = None
        for b_index, block in enumerate(blocks):
            if b_index:
                bounds.append(len(units))
            if block.kind == "line":  # line mode: most blocks
                start = starts[block.first]
                units.append(_Unit("line", b_index, start, start + len(lines[block.first])))
                continue
            if block.kind in ("blank", "heading"):
                continue
            start = starts[block.first]
            end = starts[block.last] + len(lines[block.last])
            if block.kind == "para" and _line_structured(lines[block.first : block.last + 1]):
                block.by_line = True
                for order, k in enumerate(range(block.first, block.last + 1)):
                    line = lines[k]
                    a = starts[k] + _indent(line)
                    units.append(_Unit("line", b_index, a, starts[k] + len(line.rstrip()), order))
            elif block.kind == "para":
                if cuts is None:
                    cuts = _sentence_cuts(text)
                for order, (a, z) in enumerate(_sentence_spans(text, start, end, cuts)):
                    units.append(_Unit("sentence", b_index, a, z, order))
            else:
                units.append(_Unit(_UNIT_KIND.get(block.kind, "code"), b_index, start, end))
        bounds.append(len(units))
        return units, bounds

    @staticmethod
    def _positions(units: list[_Unit], prose: bool) -> np.ndarray:
        n = len(units)
        fraction = np.arange(n, dtype=np.float64) / max(1, n - 1)
        early = (1.0 - fraction) ** 2
        if not prose:
            # Logs and listings: the head and the tail carry the framing.
            return np.maximum(early, fraction**8)
        lead = np.array([1.0 / (1 + u.order) for u in units])
        return 0.6 * lead + 0.4 * early

    @staticmethod
    def _render(
        text: str,
        lines: list[str],
        starts: list[int],
        blocks: list[_Block],
        units: list[_Unit],
        bounds: list[int],
        picked: list[bool],
        duplicate: list[bool],
        prose: bool,
    ) -> tuple[str, list[str]]:
        # A heading stays when any unit between it and the next heading stays. Units come
        # in block order, so those units are one run: count the picked ones with a prefix sum.
        picked_before = list(itertools.accumulate(picked, initial=0))
        headings = [b for b, block in enumerate(blocks) if block.kind == "heading"]
        heading_kept: dict[int, bool] = {}
        for h, b_index in enumerate(headings):
            until = headings[h + 1] if h + 1 < len(headings) else len(blocks)
            heading_kept[b_index] = picked_before[bounds[until]] > picked_before[bounds[b_index + 1]]

        out: list[str] = []
        gap_lines = 0
        gap_repeats = 0
        pending_blank = False

        def flush_gap() -> None:
            nonlocal gap_lines, gap_repeats, pending_blank
            if gap_lines:
                if prose:
                    out.append(_ELLIPSIS)
                elif gap_repeats == gap_lines:
                    out.append(f"{_ELLIPSIS} {gap_lines:,} similar lines")
                else:
                    out.append(f"{_ELLIPSIS} {gap_lines:,} lines")
                pending_blank = False
            gap_lines = gap_repeats = 0

        for b_index, block in enumerate(blocks):
            kind = block.kind
            if kind == "blank":
                pending_blank = bool(out)
                continue
            if kind == "heading":
                if heading_kept[b_index]:
                    flush_gap()
                    if pending_blank:
                        out.append("")
                    out.append(text[starts[block.first] : starts[block.last] + len(lines[block.last])])
                    pending_blank = False
                continue
            first, stop = bounds[b_index], bounds[b_index + 1]
            if not any(picked[first:stop]):
                size = block.last - block.first + 1
                gap_lines += size
                gap_repeats += size if stop > first and all(duplicate[first:stop]) else 0
                continue
            start = starts[block.first]
            end = starts[block.last] + len(lines[block.last])
            flush_gap()
            if pending_blank:
                out.append("")
                pending_blank = False
            if kind != "para":
                out.append(text[start:end])
                continue
            pieces: list[str] = []
            run_start = run_end = None
            for k in range(first, stop):
                u = units[k]
                if picked[k]:
                    if run_start is None:
                        run_start = u.start
                    run_end = u.end
                    continue
                if run_start is not None:
                    pieces.append(_with_indent(text, run_start, run_end))
                    run_start = None
                pieces.append(_ELLIPSIS)
            if run_start is not None:
                pieces.append(_with_indent(text, run_start, run_end))
            merged: list[str] = []
            for piece in pieces:
                if piece == _ELLIPSIS and merged and merged[-1] == _ELLIPSIS:
                    continue
                merged.append(piece)
            if block.by_line:
                out.append("\n".join(merged))
            else:
                out.append(" ".join(merged) if merged[0] != _ELLIPSIS else _lead(merged))
        flush_gap()
        dropped = _dropped_counts(units, picked, prose)
        return "\n".join(out), dropped


def _with_indent(text: str, start: int, end: int | None) -> str:
    """text[start:end], with the indentation of its line when it starts a line."""
    line_start = text.rfind("\n", 0, start) + 1
    prefix = text[line_start:start]
    return (prefix if not prefix.strip() else "") + text[start:end]


def _lead(pieces: list[str]) -> str:
    # "… text": keep the ellipsis left of the first kept piece's own indentation.
    first = pieces[1] if len(pieces) > 1 else ""
    indent = first[: len(first) - len(first.lstrip(" \t"))]
    rest = [first.lstrip(" \t"), *pieces[2:]]
    return indent + _ELLIPSIS + " " + " ".join(rest)


def _dropped_counts(units: list[_Unit], picked: list[bool], prose: bool) -> list[str]:
    names = {
        "sentence": ("sentence", "sentences"),
        "code": ("code block", "code blocks"),
        "table": ("table", "tables"),
        "directive": ("directive", "directives"),
        "line": ("line", "lines"),
    }
    kinds = [u.kind for u in units]
    total = Counter(kinds)
    dropped = Counter(itertools.compress(kinds, map(operator.not_, picked)))
    parts = []
    for kind in ("sentence", "line", "code", "table", "directive"):
        if dropped[kind]:
            singular, plural = names[kind]
            noun = singular if total[kind] == 1 else plural
            parts.append(f"{dropped[kind]:,} of {total[kind]:,} {noun}")
    return parts or ["nothing"]
