"""Search results (`grep -rn`, `rg -n`, with or without context): grouped by file.

Input lines are one of::

    path:line:text          a match (grep -n, rg -n)
    path:line:col:text      a match with a column (rg --column)
    path-line-text          a context line (grep/rg -A/-B/-C)
    --                      the separator between context groups

Anything else (``Binary file x matches``, ``grep: x: Permission denied``) is kept as is.

The output names each file once, with its match count, followed by the shown lines
without the repeated path (``59:text`` / ``60-text``). Which matches are shown: every
match that is relevant to the query (BM25 over path and text), then up to
`TextConfig.matches_per_file` per file while `TextConfig.max_shown_matches` allows. Files
with no shown match are listed with their counts. The whole original is stashed in CCR
once, and one marker tells how much is not shown.

Without CCR (`ctx.can_drop` false) the grouping alone is applied, which loses nothing.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import ClassVar

from headroom_core._relevance import bm25_scores, terms
from headroom_core.compressors._base import CompressContext, Compressed

_MATCH = re.compile(r"(?P<path>[^\x00\n]+?):(?P<line>\d+):(?P<body>.*)\Z", re.DOTALL)
_CONTEXT = re.compile(r"(?P<path>[^\x00\n]+?)-(?P<line>\d+)-(?P<body>.*)\Z", re.DOTALL)
_CONTEXT_CUT = re.compile(r"-(\d+)-")
# `grep -r` without -n: `path:text`, where the path has a directory or an extension.
_MATCH_NO_LINE = re.compile(r"(?P<path>[^\s:]*[/.][^\s:]*\.[A-Za-z0-9_]{1,8}):(?P<body>.*)\Z", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")

_MIN_MATCHES = 2
_MIN_PARSED_SHARE = 0.6
_RELEVANT_SHARE_OF_BEST = 0.5
_PATTERN_SHARE = 0.5
_QUERY_WORD = re.compile(r"[^\W_]+(?:[._-][^\W_]+)*")
_SHOWN_LINE_CHARS = 1000
"""Shown lines longer than this are cut to half of it (the whole line stays in CCR)."""
_MAX_LINE_CHARS = 100_000
"""Longer "lines" are not search output (a minified file, a blob): leave the text alone."""


@dataclass
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


def looks_binary(text: str) -> bool:
    """NUL bytes or many control characters: not text a compressor should rewrite."""
    if "\x00" in text:
        return True
    sample = text[:65536]
    return len(_CONTROL.findall(sample)) > len(sample) // 50


_NOT_A_PATH = re.compile(r"[\d\s:.-]*\Z")


def _plausible_path(path: str) -> bool:
    """Rules out `12:30:45`-style timestamps and prose that happens to contain `:12:`."""
    return not path[0].isspace() and path.count(" ") <= 2 and not _NOT_A_PATH.match(path)


def _classify(lines: list[str]) -> list[_Line]:
    parsed: list[_Line] = []
    known_paths: set[str] = set()
    for raw in lines:
        m = _MATCH.match(raw)
        if m and _plausible_path(m["path"]):
            parsed.append(_Line("match", raw, m["path"], m["line"], m["body"]))
            known_paths.add(m["path"])
        elif raw == "--":
            parsed.append(_Line("sep", raw))
        else:
            parsed.append(_Line("other", raw))
    if sum(1 for p in parsed if p.kind == "match") < _MIN_MATCHES:
        for item in parsed:
            m = _MATCH_NO_LINE.match(item.raw) if item.kind == "other" else None
            if m:
                item.kind, item.path, item.body = "match", m["path"], m["body"]
                known_paths.add(m["path"])
        return parsed
    # Context lines: `path-12-text` is ambiguous when the path has `-<digits>-` in it,
    # so prefer a cut that yields a path already seen on a match line.
    for item in parsed:
        if item.kind != "other":
            continue
        cut = None
        for m in _CONTEXT_CUT.finditer(item.raw):
            if item.raw[: m.start()] in known_paths:
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


def _group(parsed: list[_Line]) -> tuple[list[_File], bool]:
    """Files in order of first appearance, and whether each file's lines were contiguous."""
    files: dict[str, _File] = {}
    contiguous = True
    previous_path = None
    for index, item in enumerate(parsed):
        if item.kind == "other" and item.raw.strip():
            previous_path = None  # an interleaved line (a grep error): grouping would move it
            continue
        if item.kind not in ("match", "context"):
            continue
        entry = files.get(item.path)
        if entry is None:
            entry = files[item.path] = _File(item.path)
        elif previous_path != item.path:
            contiguous = False
        entry.line_indexes.append(index)
        if item.kind == "match":
            entry.match_indexes.append(index)
        previous_path = item.path
    return list(files.values()), contiguous


class SearchResultsCompressor:
    name: ClassVar[str] = "search_results"

    def compress(self, text: str, ctx: CompressContext) -> Compressed | None:
        if not isinstance(text, str) or not text.strip() or looks_binary(text):
            return None
        if not ctx.config.text.enabled:
            return None
        lines = text.split("\n")
        if any(len(line) > _MAX_LINE_CHARS for line in lines):
            return None
        parsed = _classify(lines)
        nonblank = [p for p in parsed if p.raw.strip()]
        structured = sum(1 for p in nonblank if p.kind != "other")
        matches = [i for i, p in enumerate(parsed) if p.kind == "match"]
        if len(matches) < _MIN_MATCHES or structured < _MIN_PARSED_SHARE * len(nonblank):
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
            what += f"; {shortened:,} long line{'' if shortened == 1 else 's'} shortened"
        marker = ctx.marker(f"{what} not shown", key)
        counts = {f.path: sum(1 for i in f.match_indexes if i in shown_matches) for f in files}
        out = _render(parsed, files, shown, counts, _SHOWN_LINE_CHARS) + "\n" + marker
        if len(out) >= len(text):
            return None
        summary = f"{len(shown_matches)} of {len(matches)} matches shown from {len(files)} files"
        return Compressed(out, (key,), summary)

    @staticmethod
    def _relevant(parsed: list[_Line], matches: list[int], ctx: CompressContext) -> list[int]:
        """Matches in files the query names, then those that rank near the best for it.

        At most `max_shown_matches` of them. A file is named when a query term equals one
        of its path components (a directory, or a file name with or without extension).
        """
        if not ctx.query:
            return []
        cap = max(1, ctx.config.text.max_shown_matches)
        docs = [f"{parsed[i].path} {parsed[i].body}" for i in matches]
        # A term on most matching lines is the searched pattern itself: it ranks nothing.
        # The parts of a pattern word (`serve`, `http` of `ServeHTTP`) go with it.
        doc_terms = [set(terms(d)) for d in docs]

        def common(term: str) -> bool:
            return sum(1 for d in doc_terms if term in d) > _PATTERN_SHARE * len(docs)

        useful: set[str] = set()
        for word in _QUERY_WORD.findall(ctx.query):
            word_terms = terms(word)
            if word_terms and not common(word_terms[0]):
                useful.update(t for t in word_terms if not common(t))
        useful_terms = sorted(useful)
        # "reverse proxy" names reverseproxy.go: adjacent query words joined count too.
        words = [w.lower() for w in _QUERY_WORD.findall(ctx.query)]
        joined = {a + b for a, b in itertools.pairwise(words) if a in useful and b in useful}
        naming = {t for t in useful_terms if len(t) >= 3} | joined
        named = [i for i in matches if naming & _path_components(parsed[i].path)]
        scores = bm25_scores(useful_terms, docs)
        best = float(scores.max()) if len(scores) else 0.0
        chosen = named[:cap]
        if best > 0 and len(chosen) < cap:
            taken = set(chosen)
            ranked = sorted(range(len(matches)), key=lambda j: (-scores[j], j))
            for j in ranked:
                if len(chosen) >= cap or scores[j] < _RELEVANT_SHARE_OF_BEST * best:
                    break
                if matches[j] not in taken:
                    chosen.append(matches[j])
        return sorted(chosen)


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
