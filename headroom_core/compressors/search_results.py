"""Search results (`grep -rn`, `rg -n`, with or without context): grouped by file.

Input lines are one of::

    path:line:text          a match (grep -n, rg -n)
    path:line:col:text      a match with a column (rg --column)
    path-line-text          a context line (grep/rg -A/-B/-C)
    --                      the separator between context groups

Anything else (``Binary file x matches``, ``grep: x: Permission denied``) is kept as is.

The output names each file once, with its match count, followed by the shown lines
without the repeated path (``59:text`` / ``60-text``). Which matches are shown: every
match that is relevant to the query, judged line by line across all files (definitions
of identifiers the query names, then lines holding them, then BM25 over path and text
with a bonus for files the query names), then up to `TextConfig.matches_per_file` per
file while `TextConfig.max_shown_matches` allows. Files
with no shown match are listed with their counts. The whole original is stashed in CCR
once, and one marker tells how much is not shown.

Without CCR (`ctx.can_drop` false) the grouping alone is applied, which loses nothing.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from headroom_core._relevance import PAIR_TEXT_CHARS, bm25_from_terms, terms
from headroom_core._text import looks_binary, plural
from headroom_core.compressors._base import CompressContext, Compressed

# A match line is `path:line:body`, the path the shortest non-empty head without a NUL or
# a line break that `:<digits>:` follows. Found as the first `:<digits>:` after the first
# character (a search that starts at a literal `:`), the path then checked for a NUL:
# the same split as `(?P<path>[^\x00\n]+?):(?P<line>\d+):(?P<body>.*)\Z` on one line,
# in half the time.
_LINE_NUMBER_FIELD = re.compile(r":(\d+):")
_CONTEXT = re.compile(r"(?P<path>[^\x00\n]+?)-(?P<line>\d+)-(?P<body>.*)\Z", re.DOTALL)
_CONTEXT_CUT = re.compile(r"-(\d+)-")
_EXTENSION = re.compile(r"[A-Za-z0-9_]{1,8}\Z")
_WHITESPACE = re.compile(r"\s")
# Characters that take part in `key=value` / `key: value` pair terms.
_PAIR_CHARS = re.compile(r"[=:\"']")
# A text whose first token would take a `key=value` tail from the text before it.
_PAIR_START = re.compile(r"[ \t]*[=:]")

_MIN_MATCHES = 2
_MIN_PARSED_SHARE = 0.6
_RELEVANT_SHARE_OF_BEST = 0.5
_PATTERN_SHARE = 0.5
_QUERY_WORD = re.compile(r"\w+(?:(?:\.|::|-)\w+)*")
_MAX_QUERY_IDENTIFIERS = 16
_SHOWN_LINE_CHARS = 1000
"""Shown lines longer than this are cut to half of it (the whole line stays in CCR)."""
_MAX_LINE_CHARS = 100_000
"""Longer "lines" are not search output (a minified file, a blob): leave the text alone."""


@dataclass(slots=True)
class _Line:
    kind: str  # "match", "context", "sep" or "other"
    raw: str
    path: str = ""
    lineno: str = ""
    body: str = ""


@dataclass
class _File:
    path: str
    line_indexes: list[int] = field(default_factory=list)
    match_indexes: list[int] = field(default_factory=list)


_NOT_A_PATH = re.compile(r"[\d\s:.-]*\Z")


def _plausible_path(path: str) -> bool:
    """Rules out `12:30:45`-style timestamps and prose that happens to contain `:12:`."""
    return not path[0].isspace() and path.count(" ") <= 2 and not _NOT_A_PATH.match(path)


def _classify(lines: list[str]) -> list[_Line]:
    parsed: list[_Line] = []
    known_paths: set[str] = set()
    search = _LINE_NUMBER_FIELD.search
    append = parsed.append
    n_matches = 0
    plausible: dict[str, bool] = {}  # a path comes back on each of its lines
    for raw in lines:  # no line holds a line break
        m = search(raw, 1)
        if m is not None:
            start, end = m.span()
            path = raw[:start]
            ok = plausible.get(path)
            if ok is None:
                ok = plausible[path] = "\x00" not in path and _plausible_path(path)
            if ok:
                append(_Line("match", raw, path, m[1], raw[end:]))
                n_matches += 1
                continue
        append(_Line("sep" if raw == "--" else "other", raw))
    known_paths.update(path for path, ok in plausible.items() if ok)  # each has a match line
    if n_matches < _MIN_MATCHES:
        for item in parsed:
            found = _match_without_line(item.raw) if item.kind == "other" else None
            if found:
                item.kind, (item.path, item.body) = "match", found
                known_paths.add(item.path)
        return parsed
    # Context lines: `path-12-text` is ambiguous when the path has `-<digits>-` in it,
    # so prefer a cut that yields a path already seen on a match line. Only cuts at the
    # length of a known path are compared (a line of many `-1-` stays linear).
    path_lengths = {len(p) for p in known_paths}
    for item in parsed:
        if item.kind != "other":
            continue
        cut = None
        for m in _CONTEXT_CUT.finditer(item.raw):
            if m.start() in path_lengths and item.raw[: m.start()] in known_paths:
                cut = m
                break
        if cut is not None:
            item.kind, item.path = "context", item.raw[: cut.start()]
            item.lineno, item.body = cut.group(1), item.raw[cut.end() :]
            continue
        m = _CONTEXT.match(item.raw)
        if m and m["path"] in known_paths:
            item.kind, item.path, item.lineno, item.body = "context", m["path"], m["line"], m["body"]
    return parsed


def _match_without_line(raw: str) -> tuple[str, str] | None:
    """`grep -r` without -n: (path, text) of `path:text` when the path has a directory or
    a second dot before its extension (`a/b.py`, `x.tar.gz`), else None.

    A plain scan, not a regex: the obvious pattern backtracks quadratically on a long
    line of dots and slashes without a colon.
    """
    colon = raw.find(":")
    if colon <= 0:
        return None
    path = raw[:colon]
    dot = path.rfind(".")
    if dot < 0 or not _EXTENSION.match(path, dot + 1) or _WHITESPACE.search(path):
        return None
    head = path[:dot]
    if "/" not in head and "." not in head:
        return None
    return path, raw[colon + 1 :]


def _group(parsed: list[_Line]) -> tuple[list[_File], bool]:
    """Files in order of first appearance, and whether each file's lines were contiguous."""
    files: dict[str, _File] = {}
    contiguous = True
    previous_path = None
    entry = _File("")
    for index, item in enumerate(parsed):
        kind = item.kind
        if kind != "match" and kind != "context":
            if kind == "other" and item.raw.strip():
                previous_path = None  # an interleaved line (a grep error): grouping would move it
            continue
        path = item.path
        if path != previous_path:  # else `entry` is this path's file already
            known = files.get(path)
            if known is None:
                entry = files[path] = _File(path)
            else:
                entry = known
                contiguous = False
            previous_path = path
        entry.line_indexes.append(index)
        if kind == "match":
            entry.match_indexes.append(index)
    return list(files.values()), contiguous


class SearchResultsCompressor:
    name: ClassVar[str] = "search_results"

    def compress(self, text: str, ctx: CompressContext) -> Compressed | None:
        if not isinstance(text, str) or not text or text.isspace() or looks_binary(text):
            return None
        if not ctx.config.text.enabled:
            return None
        lines = text.split("\n")
        if max(map(len, lines)) > _MAX_LINE_CHARS:
            return None
        parsed = _classify(lines)
        matches = [i for i, p in enumerate(parsed) if p.kind == "match"]
        # Match, context and separator lines are never blank: only "other" lines can be.
        others = [p.raw for p in parsed if p.kind == "other"]
        structured = len(parsed) - len(others)
        nonblank = structured + sum(1 for raw in others if raw and not raw.isspace())
        if len(matches) < _MIN_MATCHES or structured < _MIN_PARSED_SHARE * nonblank:
            return None
        files, contiguous = _group(parsed)
        cfg = ctx.config.text
        if not ctx.can_drop:
            return _grouped_only(text, parsed, files, contiguous, len(matches))

        relevant = self._relevant(parsed, matches, ctx)
        shown_matches = set(relevant)
        budget = max(cfg.max_shown_matches, len(shown_matches))
        for rank in range(max(0, cfg.matches_per_file)):
            for f in files:
                if len(shown_matches) >= budget:
                    break
                already = sum(1 for i in f.match_indexes if i in shown_matches)
                if already > rank:
                    continue
                for i in f.match_indexes:
                    if i not in shown_matches:
                        shown_matches.add(i)
                        break
        # Lines to show: each shown match plus its context (all of it when relevant).
        shown: dict[int, bool] = {}
        for f in files:
            for i in f.line_indexes:
                if i in shown_matches:
                    shown[i] = True
            if not any(i in shown_matches for i in f.match_indexes):
                continue
            reach = max(0, cfg.search_context_lines)
            for pos, i in enumerate(f.line_indexes):
                if i not in shown_matches:
                    continue
                limit = None if i in relevant else reach
                _extend_context(parsed, f.line_indexes, pos, limit, shown)
        hidden_matches = len(matches) - len(shown_matches)
        hidden_lines = sum(1 for f in files for i in f.line_indexes if i not in shown)
        shortened_any = any(len(parsed[i].body) > _SHOWN_LINE_CHARS for i in shown)
        if hidden_lines == 0 and not shortened_any:
            return _grouped_only(text, parsed, files, contiguous, len(matches))
        hidden_files = sum(1 for f in files if not any(i in shown_matches for i in f.match_indexes))
        key = ctx.stash(text, "search_results", unit="line")
        what = f"{hidden_matches:,} of {len(matches):,} matches"
        if hidden_files:
            what += f" (in {hidden_files:,} of {len(files):,} files)"
        context_hidden = hidden_lines - hidden_matches
        if context_hidden:
            what += f" and {context_hidden:,} context lines"
        shortened = sum(1 for i in shown if len(parsed[i].body) > _SHOWN_LINE_CHARS)
        if shortened:
            what += f"; {plural(shortened, 'long line')} shortened"
        marker = ctx.marker(f"{what} not shown", key)
        counts = {f.path: sum(1 for i in f.match_indexes if i in shown_matches) for f in files}
        out = _render(parsed, files, shown, counts, _SHOWN_LINE_CHARS) + "\n" + marker
        if len(out) >= len(text):
            return None
        summary = f"{len(shown_matches)} of {len(matches)} matches shown from {len(files)} files"
        return Compressed(out, (key,), summary)

    @staticmethod
    def _relevant(parsed: list[_Line], matches: list[int], ctx: CompressContext) -> list[int]:
        """The matches relevant to the query, judged line by line across all files.

        Ranked in tiers, at most `max_shown_matches` in all: lines that define an
        identifier the query names (`def with_fallbacks(`, `func (s *T) ServeHTTP(`), one
        identifier after another so that two named functions both get theirs; then lines
        holding such an identifier whole; then lines by BM25 (path and text), where a line
        in a file the query names (a query term equals a path component) gets a bonus.
        """
        if not ctx.query:
            return []
        cap = max(1, ctx.config.text.max_shown_matches)
        paths = [parsed[i].path for i in matches]
        doc_terms = _line_terms(paths, [parsed[i].body for i in matches])
        # Document frequencies are only ever asked of the query's terms: count those alone,
        # and remember which lines hold each (most lines hold none, a set test skips them).
        query_words = _QUERY_WORD.findall(ctx.query)
        word_terms = [terms(word) for word in query_words]
        holders: dict[str, list[int]] = {t: [] for these in word_terms for t in these}
        asked = holders.keys()
        for j, these in enumerate(doc_terms):
            if asked.isdisjoint(these):
                continue
            for term in asked & set(these):
                holders[term].append(j)
        # A term on most matching lines is the searched pattern itself: it ranks nothing.
        # The parts of a pattern word (`serve`, `http` of `ServeHTTP`) go with it.
        limit = _PATTERN_SHARE * len(matches)

        def common(term: str) -> bool:
            return len(holders[term]) > limit

        useful: set[str] = set()
        identifiers: list[str] = []
        for word, these in zip(query_words, word_terms, strict=True):
            if not these or common(these[0]):
                continue
            useful.update(t for t in these if not common(t))
            if (
                _looks_like_identifier(word)
                and holders[these[0]]
                and these[0] not in identifiers
                and len(identifiers) < _MAX_QUERY_IDENTIFIERS  # a pasted document stays linear
            ):
                identifiers.append(these[0])
        if not useful:
            return []
        useful_terms = sorted(useful)
        # "reverse proxy" names reverseproxy.go: adjacent query words joined count too.
        words = [w.lower() for w in query_words]
        joined = {a + b for a, b in itertools.pairwise(words) if a in useful and b in useful}
        naming = {t for t in useful_terms if len(t) >= 3} | joined
        named_paths = {path: bool(naming & _path_components(path)) for path in dict.fromkeys(paths)}
        scores = bm25_from_terms(useful_terms, doc_terms)
        best = float(scores.max()) if len(scores) else 0.0
        chosen: list[int] = []
        taken: set[int] = set()

        def take(j: int) -> None:
            if j not in taken and len(chosen) < cap:
                taken.add(j)
                chosen.append(j)

        # Tiers 1 and 2: per named identifier, its definitions, then its other whole hits.
        defining: list[list[int]] = []
        holding: list[list[int]] = []
        for name in identifiers:
            hits = sorted(holders[name], key=lambda j: (-scores[j], j))
            definition = _definition_pattern(name)
            defs = [j for j in hits if definition.search(parsed[matches[j]].body)]
            defined = set(defs)
            defining.append(defs)
            holding.append([j for j in hits if j not in defined])
        for tier in (defining, holding):
            for rank in range(max((len(t) for t in tier), default=0)):
                for hits in tier:
                    if rank < len(hits):
                        take(hits[rank])
        # Tier 3: every other line on its own merit; a named file counts as one more match.
        # Sorted by (score, position) and filtered in numpy: these are all the matches.
        bonus = best if best > 0 else 1.0
        named = np.fromiter(map(named_paths.__getitem__, paths), dtype=bool, count=len(matches))
        combined = scores + np.where(named, bonus, 0.0)
        order = np.lexsort((np.arange(len(matches)), -combined))
        eligible = named | ((scores >= _RELEVANT_SHARE_OF_BEST * best) if best > 0 else False)
        for j in order[eligible[order]].tolist():
            if len(chosen) >= cap:
                break
            take(j)
        return sorted(matches[j] for j in chosen)


def _line_terms(paths: list[str], bodies: list[str]) -> list[list[str]]:
    """`terms(f"{path} {body}")` of each match line (its path and text), with each path's
    and each distinct text's terms made once.

    The terms of the two halves add up to those of the whole unless a `key=value` pair could
    span them or the whole is too long for pair terms while the body alone is not (see
    `_relevance.terms`); such a path or body is done whole on its lines. Same result, about
    half the work on a long listing, where every file's path repeats on each of its lines
    (and many a line's text on other lines)."""
    path_terms = {p: None if _PAIR_CHARS.search(p) else terms(p) for p in dict.fromkeys(paths)}
    longest = max(map(len, path_terms), default=0)
    body_terms: dict[str, list[str] | None] = {}
    for body in dict.fromkeys(bodies):
        pairs = "=" in body or ":" in body
        whole = pairs and (
            _PAIR_START.match(body) is not None or len(body) <= PAIR_TEXT_CHARS < longest + 1 + len(body)
        )
        body_terms[body] = None if whole else terms(body)
    return [
        terms(f"{path} {body}")
        if (head := path_terms[path]) is None or (tail := body_terms[body]) is None
        else head + tail
        for path, body in zip(paths, bodies, strict=True)
    ]


_DEFINING_WORDS = (
    r"def|class|func|fn|function|type|struct|interface|trait|enum|impl|union|module|"
    r"object|record|macro|namespace|const|let|var|val|sub|proc|method"
)


def _definition_pattern(name: str) -> re.Pattern[str]:
    """`def name`, `class name`, `func (r *T) name`, `fn name`, ... (case-insensitive; the
    name as `terms` gives it, whose separators may be spelled `_`, `.`, `::`)."""
    spelled = re.escape(name)
    return re.compile(
        rf"\b(?:{_DEFINING_WORDS})\s+(?:\([^()\n]{{0,200}}\)\s*)?(?:[\w.:]*[.:])?{spelled}\b",
        re.IGNORECASE,
    )


def _looks_like_identifier(word: str) -> bool:
    """A query word that names code: `snake_case`, `camelCase`, `dotted.name`, `a::b`."""
    core = word.strip("_")
    if any(c in core for c in "_.:") and len(core) >= 3:
        return True
    return core.isascii() and any(c.isupper() for c in core[1:]) and any(c.islower() for c in core)


def _path_components(path: str) -> set[str]:
    parts = set()
    for part in re.split(r"[\\/]", path.lower()):
        if part and part not in (".", ".."):
            parts.add(part)
            parts.update(p for p in re.split(r"[._-]", part) if p)
    return parts


def _grouped_only(
    text: str, parsed: list[_Line], files: list[_File], contiguous: bool, n_matches: int
) -> Compressed | None:
    """The lossless form: every line, grouped by file (only if that keeps the line order)."""
    if not contiguous:
        return None
    shown = {i: True for f in files for i in f.line_indexes}
    out = _render(parsed, files, shown, {})
    if len(out) >= len(text):
        return None
    return Compressed(out, (), f"{n_matches} matches in {len(files)} files, grouped by file")


def _extend_context(
    parsed: list[_Line], file_lines: list[int], pos: int, limit: int | None, shown: dict[int, bool]
) -> None:
    """Mark context lines next to the match at `file_lines[pos]` (same block, no separator)."""
    for step in (-1, 1):
        taken = 0
        j = pos + step
        while 0 <= j < len(file_lines) and (limit is None or taken < limit):
            index, prev = file_lines[j], file_lines[j - step]
            if abs(index - prev) != 1 or parsed[index].kind != "context":
                break  # a separator or another file's lines in between: a new block
            shown[index] = True
            taken += 1
            j += step


def _shorten(body: str, limit: int | None) -> str:
    """A shown line cut to `limit` characters (minified files match as one huge line)."""
    if limit is None or len(body) <= limit:
        return body
    return f"{body[: limit // 2]}…({len(body) - limit // 2:,} more characters)"


def _render(
    parsed: list[_Line],
    files: list[_File],
    shown: dict[int, bool],
    counts: dict[str, int],
    line_limit: int | None = None,
) -> str:
    """Files in first-appearance order, other lines where they were, unshown files listed."""
    by_first_line = {f.line_indexes[0]: f for f in files}
    out: list[str] = []
    unshown: list[str] = []
    unshown_matches = 0
    for index, item in enumerate(parsed):
        if item.kind in ("other",):
            out.append(item.raw)
            continue
        f = by_first_line.get(index)
        if f is None:
            continue
        total = len(f.match_indexes)
        shown_count = counts.get(f.path, total)
        if counts and shown_count == 0:
            unshown.append(f"{f.path} ({total})")
            unshown_matches += total
            continue
        noun = "match" if total == 1 else "matches"
        head = f"{f.path}: {total} {noun}"
        if shown_count < total:
            head += f" ({shown_count} shown)"
        out.append(head)
        has_context = any(parsed[i].kind == "context" for i in f.line_indexes)
        previous = None
        for i in f.line_indexes:
            if not shown.get(i):
                continue
            if has_context and previous is not None and i != previous + 1:
                out.append("--")
            if not parsed[i].lineno:  # `grep -r` without -n
                out.append(f"  {_shorten(parsed[i].body, line_limit)}")
                continue
            sep = ":" if parsed[i].kind == "match" else "-"
            out.append(f"{parsed[i].lineno}{sep}{_shorten(parsed[i].body, line_limit)}")
            previous = i
    while out and out[-1] == "":
        out.pop()
    if unshown:
        out.append(f"{unshown_matches:,} matches in {len(unshown):,} more files: " + ", ".join(unshown))
    return "\n".join(out)
