"""Source code → outline: signatures kept, bodies elided behind CCR markers.

The code is parsed with tree-sitter (official grammar wheels). Imports, type/class/
struct/interface/enum declarations, signatures, decorators and constants are kept as
they are; function bodies are replaced by a language-appropriate elision that names the
omitted line range and the CCR key, e.g. for Python::

    def decode(self, s):
        \"\"\"Return the Python representation of ``s``.\"\"\"
        ...  # [headroom: lines 332-340 omitted; retrieve with headroom_retrieve(key="...")]

and for C-like languages ``{ /* [headroom: ...] */ }``. Long comment blocks and
docstrings are shortened to their first line. Bodies of functions the query names (or
that rank high against it by BM25) stay whole, and so do the bodies of their enclosing
functions' other statements. The result is re-parsed: if it has more syntax errors than
the input, a conservative variant is tried, and failing that the text is left alone.

Cost: the router's parse of the first ~20 KB is reused to judge that the source is code in
its language; the outline's token count is made from the input's token ids and the lines
around the edits (`_counting.count_after_edits`), not by encoding the outline again (a
file outlined by parts too); and the outline of an error-free C-like source is not parsed
again, since its edits cannot introduce a parse error there (see `_parses_like_input`).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from headroom_core._ccr import content_key
from headroom_core._counting import count_after_edits, known_token_ids, remember_count
from headroom_core._language import detect_language, sample_error_share
from headroom_core.compressors import _treesitter as ts
from headroom_core.compressors._base import CompressContext, Compressed

_PATH_KEYS = ("path", "file_path", "filepath", "filename", "file", "target_file", "uri", "url")


def _path_hint(tool_args: Mapping[str, Any] | None) -> str | None:
    if not isinstance(tool_args, Mapping):
        return None
    for key in _PATH_KEYS:
        value = tool_args.get(key)
        if isinstance(value, str) and value:
            return value
    return None


# --------------------------------------------------------------------------- compression

_CLASS_TYPES = frozenset({"class_definition"})  # Python classes, for their docstrings
_BODY_TYPES = frozenset({"block", "statement_block", "compound_statement", "constructor_body"})
_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_CODING = re.compile(r"#.*coding[:=]")
_SAMPLE_CHARS = 32_000
_MAX_SAMPLE_ERROR_SHARE = 0.1
"""Sources longer than `_SAMPLE_CHARS` whose start (the sample language detection parses)
is this much parse errors are left alone (the router accepts a sample with a path hint up
to the same share)."""
_MAX_BRACKET_DEPTH = 256
"""Deeper nesting of brackets is not source code (lines of `((((`, unclosed `{`/`[` runs)."""
_BRACKET_STEP = np.zeros(256, dtype=np.int8)
_BRACKET_STEP[[ord(c) for c in "([{"]] = 1
_BRACKET_STEP[[ord(c) for c in ")]}"]] = -1
_PREFILTER_CHARS = 1_000_000
"""Above this many characters of function text, only bodies with a selective query term
(in at most `_SELECTIVE_SHARE` of the bodies) are scored by BM25."""
_SELECTIVE_SHARE = 0.05
_DOCSTRING_OPEN = re.compile(rb"([rRuUbBfF]*)(\"\"\"|''')")
_WORD_BYTE = re.compile(rb"\w")
_DIRECTIVE = (
    rb"(?://go:|//\s*\+build|//export |//line |//nolint|#!|#\s*-\*-|#.*coding[:=]|"
    rb"//\s*@ts-|/\*\s*eslint|//\s*eslint|#\s*type:|#\s*noqa|#\s*pragma|#\s*fmt:)"
)
"""A tool's directive, at the start of a line (after blanks) of a comment."""
# The first line and the lines after a line break are searched apart: a search for a line
# break skips ahead in C where `^` (MULTILINE) is tried at every offset; and the blanks
# before a directive exclude line breaks, which `\s*` would run over from every line start
# of a run of blank lines (quadratic).
_DIRECTIVE_ON_FIRST_LINE = re.compile(rb"[ \t\r\f\v]*" + _DIRECTIVE)
_DIRECTIVE_ON_LATER_LINE = re.compile(rb"\n[ \t\r\f\v]*" + _DIRECTIVE)
_ANON_PARENTS = frozenset(
    {
        "variable_declarator",
        "pair",
        "assignment_expression",
        "public_field_definition",
        "field_definition",
        "let_declaration",
        "short_var_declaration",
        "init_declarator",
    }
)


_UNSET: Any = object()


@dataclass
class _Func:
    node: Any
    body: Any
    name: str
    parent: int | None = None
    decision: str = ""
    """'elide', 'keep' (whole), or 'open' (signature kept, nested functions decided on their own)."""
    elision: Any = None


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    replacement: bytes


class CodeCompressor:
    """Outline source code with tree-sitter; elided bodies go to CCR."""

    name: ClassVar[str] = "code"

    def compress(self, text: str, ctx: CompressContext) -> Compressed | None:
        try:
            return self._compress(text, ctx)
        except (
            AttributeError,
            IndexError,
            KeyError,
            MemoryError,
            OverflowError,
            RecursionError,
            RuntimeError,
            TypeError,
            ValueError,
        ):
            # The contract: odd content never raises, it is simply left alone.
            return None

    def _compress(self, text: str, ctx: CompressContext) -> Compressed | None:
        cfg = ctx.config.code
        if not isinstance(text, str) or not cfg.enabled or not ctx.can_drop:
            return None
        if not text.strip() or "\x00" in text:
            return None
        if max(map(len, text.split("\n")), default=0) > cfg.max_line_chars:
            return None  # minified or generated: there are no line ranges worth naming
        language = ctx.language or detect_language(text, _path_hint(ctx.tool_args))
        if language is None:
            return None
        if len(text) > _SAMPLE_CHARS and _mostly_errors(language, text):
            return None  # not code in this language: do not pay a full parse to learn it
        key = content_key(text)
        marker_tokens = ctx.tokenizer.count(ctx.marker("lines 1000-2000 omitted", key)) + 4
        # Above `max_chars` the file is outlined part by part (cut between top-level
        # definitions), so one parse tree at a time is alive: memory stays bounded.
        parts = [text] if len(text) <= cfg.max_chars else _top_level_parts(text, cfg.max_chars // 4)
        outputs: list[str] = []
        elided = trimmed = 0
        row = 0
        # The parts as UTF-8 (None when one is not) and every edit, in offsets of the whole
        # text: what counting the outline from the input's token ids takes.
        part_data: list[bytes] | None = []
        edits: list[tuple[int, int, bytes]] = []
        offset = 0
        for part in parts:
            done = _outline(part, language, ctx, key, marker_tokens, row)
            if done is None:
                outputs.append(part)
                data = _utf8(part)
            else:
                outputs.append(done.text)
                elided += done.elided
                trimmed += done.trimmed
                data = done.data
                edits.extend((offset + e.start, offset + e.end, e.replacement) for e in done.edits)
            if data is None or part_data is None:
                part_data = None
            else:
                part_data.append(data)
                offset += len(data)
            row += part.count("\n")
        if not elided and not trimmed:
            return None
        new_text = "".join(outputs)
        header: tuple[int, str] | None = None
        if trimmed:
            header = _header(new_text, trimmed, language, ctx, key)
            new_text = new_text[: header[0]] + header[1] + new_text[header[0] :]
        if len(new_text) >= len(text):
            return None
        stored = ctx.stash(text, "code", unit="block", language=language)
        if stored != key:  # the markers must point at what was stored
            return None
        if part_data is not None:
            _count_output(text, new_text, part_data, edits, header, ctx)
        summary = [f"{language}: {elided} bodies elided"]
        if trimmed:
            summary.append(f"{trimmed} comments/docstrings shortened")
        if len(parts) > 1:
            summary.append(f"outlined in {len(parts)} parts")
        return Compressed(new_text, (key,), ", ".join(summary))


@dataclass(frozen=True)
class _Outline:
    """One file or part, outlined."""

    text: str
    elided: int
    """Bodies elided."""
    trimmed: int
    """Comments and docstrings shortened."""
    data: bytes
    """The part as UTF-8."""
    edits: list[_Edit]
    """What changed in `data` (sorted, not overlapping) to make `text`."""


def _utf8(text: str) -> bytes | None:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return None


def _count_output(
    text: str,
    new_text: str,
    part_data: list[bytes],
    edits: list[tuple[int, int, bytes]],
    header: tuple[int, str] | None,
    ctx: CompressContext,
) -> None:
    """Count the outline from the original's token ids (kept by the pipeline's count of
    the conversation), encoding only the lines around the edits, and leave the count where
    the pipeline looks for it (see `count_after_edits`). `part_data` is the text as UTF-8,
    part by part; `edits` turn it into `new_text` but for the header."""
    ids = known_token_ids(text, ctx.tokenizer)
    if ids is None:
        return
    data = part_data[0] if len(part_data) == 1 else b"".join(part_data)
    if header is not None:
        # The header goes after a shebang / encoding line, which no edit touches.
        before = new_text[: header[0]].encode("utf-8")
        if not data.startswith(before) or (edits and edits[0][0] < len(before)):
            return
        edits = [(len(before), len(before), header[1].encode("utf-8")), *edits]
    tokens = count_after_edits(ctx.tokenizer, data, ids, edits, new_text.encode("utf-8"))
    if tokens is not None:
        remember_count(new_text, tokens)


def _outline(
    text: str, language: str, ctx: CompressContext, key: str, marker_tokens: int, row_offset: int
) -> _Outline | None:
    """One file or part, outlined; None when nothing pays or the outline does not parse."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    if _bracket_depth(data) > _MAX_BRACKET_DEPTH:
        return None  # not code; and tree-sitter's error recovery is super-linear on it
    tree = ts.parse(language, data)
    if tree is None:
        return None
    input_errors = ts.error_stats(tree.root_node)[0]
    planner = _Planner(language, data, tree.root_node, ctx, key, marker_tokens, row_offset)
    for trim_comments in (True, False):
        result = planner.render(trim_comments=trim_comments)
        if result is None:
            return None
        output, elided, trimmed, edits = result
        if not _parses_like_input(planner.syntax, input_errors) and not _reparses(
            language, output, input_errors
        ):
            continue
        try:
            return _Outline(output.decode("utf-8"), elided, trimmed, data, edits)
        except UnicodeDecodeError:
            return None
    return None


def _mostly_errors(language: str, text: str) -> bool:
    """The sample language detection reads (the first ~20 KB, cut at a line end) parses
    mostly as errors. The router has judged that very sample when it found the language,
    so its parse is reused (see `sample_error_share`), not repeated."""
    cut = text.rfind("\n", 0, _SAMPLE_CHARS)
    head = text[: cut if cut > 0 else _SAMPLE_CHARS].encode("utf-8", "replace")
    if _bracket_depth(head) > _MAX_BRACKET_DEPTH:
        return True
    return sample_error_share(language, text) > _MAX_SAMPLE_ERROR_SHARE


def _bracket_depth(data: bytes) -> int:
    """The deepest nesting of `([{` (openers minus closers so far), in one vectorized pass."""
    if not data:
        return 0
    steps = _BRACKET_STEP[np.frombuffer(data, dtype=np.uint8)]
    return int(np.cumsum(steps, dtype=np.int64).max())


def _top_level_parts(text: str, part_chars: int) -> list[str]:
    """`text` cut into parts of at least `part_chars`, each cut where a top-level definition
    starts: a line at column 0 after a blank line (a decorator, a comment, a `def`, `func`,
    `class`...). A part with no such line within four times `part_chars` (the size one parse
    may take) is cut at a line end; definitions split that way are simply not elided."""
    parts: list[str] = []
    start = 0
    n = len(text)
    while n - start > part_chars:
        cut = -1
        search = start + part_chars
        limit = min(n, start + 4 * part_chars)
        while search < limit:
            blank = text.find("\n\n", search, limit)
            if blank < 0:
                break
            line = blank + 2
            while line < limit and text[line] == "\n":
                line += 1
            if line < limit and not text[line].isspace() and text[line] not in ")]}":
                cut = line
                break
            search = line
        if cut < 0 and limit == n:
            break  # the rest fits in one parse
        if cut < 0:
            newline = text.find("\n", start + part_chars)
            cut = n if newline < 0 else newline + 1
        parts.append(text[start:cut])
        start = cut
    if start < n:
        parts.append(text[start:])
    return parts


def _header(output: str, trimmed: int, language: str, ctx: CompressContext, key: str) -> tuple[int, str]:
    """One marker at the top, (where it goes in `output`, its line): shortened comments have
    no room for their own."""
    lead = "#" if language == "python" else "//"
    what = "comment" if trimmed == 1 else "comments"
    marker = ctx.marker(f"{trimmed} {what} and docstrings shortened to one line", key)
    header = lead + " " + marker + "\n"
    position = 0
    for _ in range(2):  # after a shebang and an encoding declaration
        line_end = output.find("\n", position)
        if line_end < 0:
            break
        line = output[position:line_end]
        if line.startswith("#!") or (language == "python" and _CODING.match(line)):
            position = line_end + 1
        else:
            break
    return position, header


def _is_identifier(word: str) -> bool:
    """snake_case or camelCase: a word a person would not type unless naming code."""
    core = word.strip("_")
    return "_" in core or (any(c.isupper() for c in core[1:]) and any(c.islower() for c in core))


def _parses_like_input(syntax: ts.Syntax, input_errors: int) -> bool:
    """True when the outline of an error-free input in a C-like language is known to parse
    without errors, so it is not parsed again to check.

    There, every edit is one of two kinds. A body `{ ... }` becomes `{ /* marker */ }`: the
    parser reaches its `{` in the same state as before, an empty block reduces to the same
    node as the full one, and the text after its `}` is lexed and parsed from the same
    state as before (the grammars' external scanners keep no state between tokens outside
    raw strings). A run of comments becomes one comment that starts where the run did and
    ends where it did or on the same line: comments are extras, which leave the parser's
    state as it was, and the newline before the run (which automatic semicolons read) is
    kept. Python is re-parsed: its scanner's indentation rules do see comments and blank
    lines. (`tests/compressors/test_speed_code_reparse.py` checks this on real sources.)"""
    return syntax.block_body and input_errors == 0


def _reparses(language: str, output: bytes, input_errors: int) -> bool:
    tree = ts.parse(language, output)
    if tree is None:
        return False
    if input_errors == 0:
        return not tree.root_node.has_error
    return ts.error_stats(tree.root_node, limit=input_errors + 1)[0] <= input_errors


class _Planner:
    """Decides, for one parsed file, what is elided, kept and shortened, and renders it."""

    def __init__(
        self,
        language: str,
        data: bytes,
        root: Any,
        ctx: CompressContext,
        key: str,
        marker_tokens: int,
        row_offset: int = 0,
    ) -> None:
        self.row_offset = row_offset
        """Lines before this part of the file (markers name lines of the whole file)."""
        self.language = language
        self.syntax = ts.SYNTAX[language]
        self.data = data
        self.root = root
        self.ctx = ctx
        self.cfg = ctx.config.code
        self.key = key
        self.marker_tokens = marker_tokens
        # One query pass over the tree for everything the planner looks at.
        wanted = self.syntax.functions | self.syntax.comments | _CLASS_TYPES
        self.nodes = ts.capture(language, root, wanted)
        self._comments: list[tuple[int, int, bool, Any]] | None = None
        self.funcs = self._functions()
        self._decide()

    # ---------------------------------------------------------------- functions

    def _functions(self) -> list[_Func]:
        funcs: list[_Func] = []
        stack: list[int] = []
        for node in self.nodes:
            if node.type not in self.syntax.functions:
                continue
            body = node.child_by_field_name("body")
            if body is None or body.type not in _BODY_TYPES:
                continue
            while stack and funcs[stack[-1]].node.end_byte <= node.start_byte:
                stack.pop()
            parent = stack[-1] if stack else None
            funcs.append(_Func(node, body, self._name(node), parent, elision=_UNSET))
            stack.append(len(funcs) - 1)
        return funcs

    def _text(self, node: Any) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def _name(self, node: Any) -> str:
        name = node.child_by_field_name("name")
        if name is not None:
            return self._text(name)
        declarator = node.child_by_field_name("declarator")
        for _ in range(8):  # C/C++: walk declarators down to the function declarator's name
            if declarator is None:
                break
            if declarator.type == "function_declarator":
                idents = _IDENT.findall(
                    self._text(declarator.child_by_field_name("declarator") or declarator)
                )
                return idents[-1] if idents else ""
            declarator = declarator.child_by_field_name("declarator")
        parent = node.parent
        if parent is not None and parent.type in _ANON_PARENTS:
            target = (
                parent.child_by_field_name("name")
                or parent.child_by_field_name("key")
                or parent.child_by_field_name("left")
                or parent.child_by_field_name("pattern")
                or parent.child_by_field_name("declarator")
            )
            if target is not None:
                idents = _IDENT.findall(self._text(target))
                return idents[-1] if idents else ""
        return ""

    def _relevant(self) -> set[int]:
        query = self.ctx.query
        if not query or not self.funcs:
            return set()
        from headroom_core._relevance import bm25_scores, terms, top_k

        words = set(_IDENT.findall(query))
        lowered = {w.lower() for w in words if len(w) >= 4}
        # Identifiers of the query in any spelling: `runnable_sequence` names
        # `RunnableSequence` (never a part: `serve` of `ServeHTTP` names nothing; a plain
        # word such as "round" does not name `_round`).
        wholes = {w.lower().replace("_", "") for w in words if len(w) >= 4 and _is_identifier(w)}
        keep = set()
        for i, f in enumerate(self.funcs):
            if not f.name:
                continue
            low = f.name.lower()
            if f.name in words or (len(f.name) >= 4 and (low in lowered or low.replace("_", "") in wholes)):
                keep.add(i)
        if self.cfg.relevant_bodies > 0:
            limit = self.cfg.max_relevant_chars
            candidates = [
                i
                for i, f in enumerate(self.funcs)
                if f.node.end_point[0] - f.node.start_point[0] <= self.cfg.max_relevant_body_lines
            ]
            docs = []
            for i in candidates:
                node = self.funcs[i].node
                # Sliced as bytes first: a long function is not decoded whole to use its start.
                head = self.data[node.start_byte : min(node.end_byte, node.start_byte + 4 * limit)]
                docs.append(f"{self.funcs[i].name} {head.decode('utf-8', 'replace')[:limit]}")
            # Only bodies holding a selective query term (one found in few bodies) are
            # tokenized for BM25: tokenizing every body of a large file costs more than
            # everything else, and a body without such a term cannot rank at the top.
            pool = list(range(len(docs)))
            if sum(map(len, docs)) > _PREFILTER_CHARS:
                lowered_docs = [d.lower() for d in docs]
                query_terms = [t for t in dict.fromkeys(terms(query)) if len(t) >= 3]
                most = max(2, int(_SELECTIVE_SHARE * len(docs)))
                selective = [t for t in query_terms if sum(1 for d in lowered_docs if t in d) <= most]
                pool = [j for j, d in enumerate(lowered_docs) if any(t in d for t in selective)]
            if pool:
                scores = bm25_scores(query, [docs[j] for j in pool])
                keep.update(candidates[pool[j]] for j in top_k(scores, self.cfg.relevant_bodies))
        return keep

    def _decide(self) -> None:
        keep = self._relevant()
        has_kept_descendant: set[int] = set()
        for i in keep:
            parent = self.funcs[i].parent
            while parent is not None and parent not in has_kept_descendant:
                has_kept_descendant.add(parent)
                parent = self.funcs[parent].parent
        children: dict[int, list[int]] = {}
        for i, f in enumerate(self.funcs):
            if f.parent is not None:
                children.setdefault(f.parent, []).append(i)
        for i, f in enumerate(self.funcs):
            if f.parent is not None and self.funcs[f.parent].decision != "open":
                f.decision = "inside"
                continue
            if i in keep:
                f.decision = "keep"
            elif i in has_kept_descendant or self._module_like(f, children.get(i, [])):
                f.decision = "open"
            elif self._elision(f) is not None:
                f.decision = "elide"
            else:
                f.decision = "open"

    def _module_like(self, f: _Func, kids: list[int]) -> bool:
        """A body that is mostly nested functions (an IIFE, a closure module, a test suite)."""
        if len(kids) >= 8:
            return True  # an organizing unit, whatever share its comments take
        if len(kids) < 3:
            return False
        nested = sum(self.funcs[k].node.end_byte - self.funcs[k].node.start_byte for k in kids)
        return nested * 2 >= f.body.end_byte - f.body.start_byte

    # ---------------------------------------------------------------- edits

    def _marker(self, first_row: int, last_row: int) -> bytes:
        first, last = first_row + 1 + self.row_offset, last_row + 1 + self.row_offset
        return self.ctx.marker(f"lines {first}-{last} omitted", self.key).encode()

    def _worth(self, start: int, end: int, lines: int) -> bool:
        if lines < self.cfg.min_body_lines:
            return False
        return (end - start) / 4.0 >= self.marker_tokens + 6

    def _elision(self, f: _Func) -> _Edit | None:
        """The edit that elides `f`'s body (computed once: `_decide` and each render ask)."""
        if f.elision is _UNSET:
            f.elision = self._make_elision(f)
        return f.elision

    def _make_elision(self, f: _Func) -> _Edit | None:
        if f.node.has_error:
            return None  # boundaries inside a broken function are guesses
        if not self.syntax.block_body:
            return self._python_elision(f)
        body = f.body
        inner_lines = body.end_point[0] - body.start_point[0] - 1
        if not self._worth(body.start_byte, body.end_byte, inner_lines):
            return None
        marker = self._marker(body.start_point[0], body.end_point[0])
        if b"*/" in marker:
            return None  # it would close the comment early (`_parses_like_input` needs this)
        return _Edit(body.start_byte, body.end_byte, b"{ /* " + marker + b" */ }")

    def _python_elision(self, f: _Func) -> _Edit | None:
        body = f.body
        if f.node.start_point[0] == body.start_point[0]:
            return None  # a body on the `def` line is tiny and has no indentation to reuse
        statements = body.named_children
        doc = statements[0] if statements and _is_docstring(statements[0]) else None
        rest = statements[1:] if doc is not None else statements
        # The elision must sit at the block's indentation, which comments need not have.
        anchor = next((n for n in rest if n.type != "comment"), None)
        if anchor is None:
            return None
        indent = self._indent_before(anchor.start_byte)
        if indent is None:
            return None
        if doc is not None:
            start = doc.start_byte
            first = rest[0]
            prefix = b""
            if self.cfg.keep_docstring_first_line:
                prefix = self._short_docstring(doc) + b"\n" + indent
        else:
            first = next((n for n in rest if self._indent_before(n.start_byte) is not None), None)
            if first is None:
                return None
            start = self.data.rfind(b"\n", 0, first.start_byte) + 1
            prefix = indent
        first_row, last_row = first.start_point[0], body.end_point[0]
        if not self._worth(first.start_byte, body.end_byte, last_row - first_row + 1):
            return None
        marker = self._marker(first_row, last_row)
        return _Edit(start, body.end_byte, prefix + b"...  # " + marker)

    def _indent_before(self, offset: int) -> bytes | None:
        """The whitespace from the start of the line to `offset`, or None if code precedes it."""
        line_start = self.data.rfind(b"\n", 0, offset) + 1
        indent = self.data[line_start:offset]
        return None if indent.strip() else indent

    def _short_docstring(self, statement: Any) -> bytes:
        text = self.data[statement.start_byte : statement.end_byte]
        if b"\n" not in text:
            return text
        match = _DOCSTRING_OPEN.match(text)
        if match is None:
            return text
        prefix, quote = match.group(1), match.group(2)
        content = text[match.end() :]
        first = b""
        for line in content.split(b"\n"):
            line = line.strip().rstrip(b"\\").strip()
            if line:
                first = line
                break
        if first.endswith(quote):
            first = first[: -len(quote)]
        first = first.rstrip(b"\"'\\ ").strip()
        return prefix + quote + first + quote

    def _comment_nodes(self) -> list[tuple[int, int, bool, Any]]:
        """(start, end, starts its line, node) of each outermost comment, in source order:
        made once per file, whichever renders ask for them."""
        if self._comments is None:
            comments = self.syntax.comments
            found: list[tuple[int, int, bool, Any]] = []
            comment_end = -1
            for node in self.nodes:
                if node.type not in comments:
                    continue
                start = node.start_byte
                # Nodes come in source order, outer first: a comment inside the previous one
                # (a doc-comment part) is part of it. (`node.parent` would walk from the root.)
                if start < comment_end:
                    continue
                comment_end = node.end_byte
                found.append((start, comment_end, self._starts_line(start), node))
            self._comments = found
        return self._comments

    def _comment_edits(self, protected: list[tuple[int, int]]) -> list[_Edit]:
        runs: list[list[Any]] = []
        last_end = -1
        i = 0  # protected ranges are sorted and disjoint; comments come in order
        for start, end, starts_line, node in self._comment_nodes():
            while i < len(protected) and protected[i][1] <= start:
                i += 1
            if (i < len(protected) and protected[i][0] <= start) or not starts_line:
                if runs and runs[-1]:
                    runs.append([])
                continue
            if runs and runs[-1]:
                gap = self.data[last_end:start]
                if not gap.strip() and gap.count(b"\n") <= 1:
                    runs[-1].append(node)
                    last_end = end
                    continue
            runs.append([node])
            last_end = end
        edits = []
        for run in runs:
            edit = self._comment_edit(run)
            if edit is not None:
                edits.append(edit)
        return edits

    def _starts_line(self, offset: int) -> bool:
        return self._indent_before(offset) is not None

    def _comment_edit(self, run: list[Any]) -> _Edit | None:
        if not run:
            return None
        start, end = run[0].start_byte, run[-1].end_byte
        original = self.data[start:end]
        last_row = run[-1].end_point[0] - (1 if original.endswith(b"\n") else 0)
        if last_row - run[0].start_point[0] + 1 <= self.cfg.max_comment_lines:
            return None
        if self.language == "python" and run[0].start_point[0] < 2:
            return None  # shebang and encoding declarations live here
        if _DIRECTIVE_ON_FIRST_LINE.match(original) or _DIRECTIVE_ON_LATER_LINE.search(original):
            return None
        after = self.data[end : end + 40].lstrip()
        if self.language == "go" and after.startswith(b'import "C"'):
            return None  # a cgo preamble is code
        line = self._first_comment_line(run)
        if line is None:
            return None
        if original.endswith(b"\n"):
            line += b"\n"
        elif not line.endswith(b"*/") and self._code_follows(end):
            return None  # "// first line ..." would swallow the code after a closing /* */
        if len(line) >= len(original):
            return None
        return _Edit(start, end, line)

    def _code_follows(self, offset: int) -> bool:
        """Something other than blanks after `offset` on the same line."""
        newline = self.data.find(b"\n", offset)
        return bool(self.data[offset : newline if newline != -1 else len(self.data)].strip())

    def _first_comment_line(self, run: list[Any]) -> bytes | None:
        for node in run:
            text = self.data[node.start_byte : node.end_byte]
            if not _WORD_BYTE.search(text):
                continue
            if text.startswith(b"/*"):
                opener = b"/**" if text.startswith(b"/**") else b"/*"
                inner = text[len(opener) :]
                if inner.endswith(b"*/"):
                    inner = inner[:-2]
                for raw in inner.split(b"\n"):
                    raw = raw.strip().lstrip(b"*!").strip()
                    if _WORD_BYTE.search(raw):
                        raw = raw.replace(b"*/", b"").replace(b"/*", b"")
                        return opener + b" " + raw + b" ... */"
                return None
            first = text.split(b"\n", 1)[0].rstrip(b"\r")
            return first.rstrip(b"\\") + b" ..."
        return None

    def _docstring_edits(self, protected: list[tuple[int, int]]) -> list[_Edit]:
        """Python module and class docstrings, shortened to their first line."""
        if self.language != "python":
            return []
        starts = [s for s, _ in protected]
        blocks = [self.root]
        blocks.extend(n.child_by_field_name("body") for n in self.nodes if n.type in _CLASS_TYPES)
        edits = []
        for block in blocks:
            if block is None or block.named_child_count == 0:
                continue
            statement = block.named_children[0]
            if not _is_docstring(statement) or statement.has_error:
                continue
            i = bisect.bisect_right(starts, statement.start_byte) - 1
            if i >= 0 and protected[i][0] <= statement.start_byte < protected[i][1]:
                continue
            if statement.end_point[0] - statement.start_point[0] + 1 <= self.cfg.max_comment_lines:
                continue
            short = self._short_docstring(statement)
            if len(short) < statement.end_byte - statement.start_byte:
                edits.append(_Edit(statement.start_byte, statement.end_byte, short))
        return edits

    # ---------------------------------------------------------------- render

    def render(self, *, trim_comments: bool) -> tuple[bytes, int, int, list[_Edit]] | None:
        """(output bytes, bodies elided, comments shortened, the edits made), or None when
        nothing pays."""
        edits: list[_Edit] = []
        protected: list[tuple[int, int]] = []
        for f in self.funcs:
            if f.decision == "elide":
                edit = self._elision(f)
                if edit is not None:
                    edits.append(edit)
                    protected.append((edit.start, edit.end))
            elif f.decision == "keep":
                protected.append((f.body.start_byte, f.body.end_byte))
        elided = len(edits)
        trimmed = 0
        if trim_comments and self.cfg.shorten_comments:
            protected.sort()
            extra = self._comment_edits(protected) + self._docstring_edits(protected)
            trimmed = len(extra)
            edits.extend(extra)
        if not edits:
            return None
        edits.sort(key=lambda e: (e.start, e.end))
        pieces: list[bytes] = []
        applied: list[_Edit] = []
        position = 0
        for edit in edits:
            if edit.start < position:
                continue  # overlapping edits cannot happen by construction; be safe anyway
            pieces.append(self.data[position : edit.start])
            pieces.append(edit.replacement)
            applied.append(edit)
            position = edit.end
        pieces.append(self.data[position:])
        return b"".join(pieces), elided, trimmed, applied


def _is_docstring(statement: Any) -> bool:
    return (
        statement.type == "expression_statement"
        and statement.named_child_count == 1
        and statement.named_children[0].type in ("string", "concatenated_string")
    )


__all__ = ["CodeCompressor", "detect_language"]
