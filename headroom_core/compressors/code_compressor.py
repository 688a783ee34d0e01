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
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from headroom_core._ccr import content_key
from headroom_core.compressors import _treesitter as ts
from headroom_core.compressors._base import CompressContext, Compressed

_DETECT_SAMPLE_CHARS = 20_000
_PATH_KEYS = ("path", "file_path", "filepath", "filename", "file", "target_file", "uri", "url")

_EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".pyw": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
    ".h++": "cpp",
    ".ipp": "cpp",
    ".inl": "cpp",
}
# Extensions that say "this is not source code in one of our languages".
_NON_CODE_EXTENSIONS = frozenset(
    [
        ".md",
        ".markdown",
        ".rst",
        ".txt",
        ".json",
        ".jsonl",
        ".yaml",
        ".yml",
        ".toml",
        ".ini",
        ".cfg",
        ".csv",
        ".tsv",
        ".log",
        ".xml",
        ".html",
        ".htm",
        ".css",
        ".svg",
        ".lock",
        ".sql",
        ".sh",
        ".bash",
        ".rb",
        ".php",
        ".kt",
        ".swift",
        ".scala",
        ".cs",
        ".lua",
        ".r",
    ]
)

_SHEBANGS = (
    (re.compile(r"\bpython[0-9.]*\b"), "python"),
    (re.compile(r"\b(?:ts-node|tsx|deno|bun)\b"), "typescript"),
    (re.compile(r"\bnode(?:js)?\b"), "javascript"),
    (re.compile(r"\brust-script\b"), "rust"),
)

_M = re.MULTILINE
# Cheap signals per language; each distinct pattern that matches adds one point.
_SIGNALS: dict[str, tuple[re.Pattern[str], ...]] = {
    "python": tuple(
        re.compile(p, _M)
        for p in (
            r"^\s*def \w+\s*\(.*\)\s*(?:->\s*[^:]+)?:\s*$",
            r"^\s*class \w+(?:\(.*\))?:\s*$",
            r"^(?:from [\w.]+ import \w|import \w[\w.]*(?:, \w[\w.]*)*\s*$)",
            r"^\s*(?:elif .*|else|try|finally|except(?: .*)?):\s*$",
            r"\bself\.\w+",
            r"^\s*@\w[\w.]*(?:\(.*\))?\s*$",
            r"^\s*return\b(?!.*;\s*$)",
        )
    ),
    "javascript": tuple(
        re.compile(p, _M)
        for p in (
            r"\bfunction\s*\w*\s*\([^)]*\)\s*\{",
            r"^\s*(?:const|let|var) [\w${}\[\], ]+=",
            r"=>\s*[{(\w]",
            r"\brequire\(['\"]",
            r"\bmodule\.exports\b|^export (?:default|const|function|class)\b",
            r"^import .* from ['\"]",
            r"\bconsole\.\w+\(|\bdocument\.\w+|\bwindow\.\w+",
            r"===|!==",
        )
    ),
    "typescript": tuple(
        re.compile(p, _M)
        for p in (
            r"^\s*(?:export )?(?:interface|type) \w+(?:<[^>]*>)?\s*(?:=|\{|extends)",
            r"\w\??:\s*(?:string|number|boolean|any|unknown|void|never)\b",
            r"\b(?:private|public|protected|readonly) \w+\s*[:(]",
            r"\bas const\b|\bimplements \w+",
            r"^import type |^export type \{|\w+<\w+(?:\[\])?>\(",
        )
    ),
    "go": tuple(
        re.compile(p, _M)
        for p in (
            r"^package \w+\s*$",
            r"^func (?:\([^)]*\) )?\w+\(",
            r"^import (?:\(|\"[\w./-]+\")",
            r"\w+ := ",
            r"^type \w+ (?:struct|interface)\b",
            r"\bif err != nil\b",
        )
    ),
    "rust": tuple(
        re.compile(p, _M)
        for p in (
            r"^\s*(?:pub(?:\([^)]*\))? )?(?:const |async |unsafe )*fn \w+",
            r"^\s*use \w+(?:::\w+)*(?:::\{|::\*|;)",
            r"\blet (?:mut )?\w+",
            r"^\s*impl\b",
            r"^\s*#!?\[\w+",
            r"&(?:mut )?self\b",
            r"^\s*(?:pub(?:\([^)]*\))? )?(?:struct|enum|trait|mod) \w+",
        )
    ),
    "java": tuple(
        re.compile(p, _M)
        for p in (
            r"^package [\w.]+;",
            r"^import (?:static )?[\w.*]+;",
            r"^\s*(?:public|private|protected) (?:static )?(?:final )?(?:abstract )?"
            r"(?:class|interface|enum|record) \w+",
            r"^\s*(?:public|private|protected) (?:static )?(?:final )?[\w<>\[\], ]+ \w+\(",
            r"@Override\b|System\.out\.",
        )
    ),
    "c": tuple(
        re.compile(p, _M)
        for p in (
            r"^#include [<\"]",
            r"^#(?:define|ifdef|ifndef|endif|if|pragma)\b",
            r"^(?:static |extern |inline )*(?:const )?(?:unsigned |signed )?"
            r"(?:void|int|char|long|short|float|double|size_t|bool|struct \w+)\s*\**\s*\w+\s*\(",
            r"\b(?:malloc|free|printf|fprintf|memcpy|sizeof)\(",
            r"\w->\w",
            r"^(?:typedef )?struct \w*\s*\{",
        )
    ),
    "cpp": tuple(
        re.compile(p, _M)
        for p in (
            r"\bstd::\w+",
            r"\btemplate\s*<",
            r"^\s*namespace \w+",
            r"^\s*(?:public|private|protected):\s*$",
            r"\bnullptr\b|\bconstexpr\b|\bauto\b",
            r"^#include <(?:iostream|vector|string|memory|map|algorithm|cstdint|cstdio)>",
            r"^\s*class \w+(?:\s*(?:final\s*)?:\s*(?:public|private) \w+)?\s*\{?\s*$",
        )
    ),
}
_MIN_SIGNALS = 2
_JSX = re.compile(r"</[A-Za-z][\w.]*>|<[A-Za-z][\w.]*\s[^<>]*/>")
_CPP_HEADER = re.compile(r"^\s*(?:class|namespace|template)\b|\bstd::|\bpublic:|\bvirtual\b", _M)
_CONTROL_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f\ufffd]")
_MAX_ERROR_SHARE = 0.05
_MAX_ERROR_SHARE_WITH_PATH = 0.1
_DIFF_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@", _M)
_DIFF_FILE = re.compile(r"^(?:diff --git |--- |\+\+\+ )", _M)
# `path:12:` / `path-12-` / `  12\t` line prefixes of grep, ripgrep and numbered listings.
_LOCATION_PREFIX = re.compile(r"^(?:[\w./\\-]+[:-]\d+[:-]|\s*\d+(?:\t|: |→))")


def _path_hint(tool_args: Mapping[str, Any] | None) -> str | None:
    if not isinstance(tool_args, Mapping):
        return None
    for key in _PATH_KEYS:
        value = tool_args.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _extension(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1].split("?", 1)[0].split("#", 1)[0]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _sample(text: str) -> str:
    if len(text) <= _DETECT_SAMPLE_CHARS:
        return text
    cut = text.rfind("\n", 0, _DETECT_SAMPLE_CHARS)
    return text[: cut if cut > 0 else _DETECT_SAMPLE_CHARS]


def _looks_binary(sample: str) -> bool:
    if "\x00" in sample:
        return True
    return len(_CONTROL_CHARS.findall(sample)) > len(sample) // 100 + 1


def _looks_like_tool_listing(sample: str) -> bool:
    """A unified diff, or grep/ripgrep output: code inside, but not a source file."""
    if _DIFF_HUNK.search(sample) and _DIFF_FILE.search(sample):
        return True
    lines = [line for line in sample.split("\n")[:200] if line.strip()]
    prefixed = sum(1 for line in lines if _LOCATION_PREFIX.match(line))
    return bool(lines) and prefixed * 2 >= len(lines)


def _is_json_document(text: str) -> bool:
    """JSON parses as a JavaScript (or Python) expression; it belongs to the JSON compressor."""
    stripped = text.strip()
    if stripped[:1] not in ("{", "[") or stripped[-1:] not in ("}", "]"):
        return False
    try:
        orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return False
    return True


def _error_share(language: str, sample: str) -> float:
    """Share of the sample's bytes the grammar could not parse (1.0 when it cannot parse)."""
    try:
        data = sample.encode("utf-8")
    except UnicodeEncodeError:
        return 1.0
    tree = ts.parse(language, data)
    if tree is None or not data:
        return 1.0
    count, covered = ts.error_stats(tree.root_node, limit=2000)
    # Each error node costs a little (a cut file has a few); unplaced tokens cost their size.
    return (covered + 8 * count) / len(data)


def _signal_scores(sample: str) -> dict[str, int]:
    return {
        lang: sum(1 for pattern in patterns if pattern.search(sample)) for lang, patterns in _SIGNALS.items()
    }


def _refine_family(language: str, scores: Mapping[str, int], sample: str) -> str:
    """Pick the right member of a grammar family (JS ⊂ TS ⊂ TSX, C ⊂ C++)."""
    if language in ("javascript", "typescript"):
        if scores.get("typescript", 0) >= 1 and _error_share("typescript", sample) <= _MAX_ERROR_SHARE:
            language = "typescript"
        if (
            language == "typescript"
            and re.search(r"<[A-Z]\w*[\s/>]|</\w+>", sample)
            and _error_share("tsx", sample) < _error_share("typescript", sample)
        ):
            return "tsx"
        return language
    if language == "c" and scores.get("cpp", 0) >= 2:
        return "cpp"
    return language


def detect_language(text: str, path: str | None = None) -> str | None:
    """The programming language of `text`, or None if it is not (clearly) source code.

    Order: the path's extension, a shebang line, then cheap regex signals confirmed by a
    tree-sitter parse of the first ~20 KB with few error nodes. Returns one of "python",
    "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp". Never raises.
    """
    try:
        return _detect(text, path)
    except Exception:  # detection is advisory: odd input must never break routing
        return None


def _detect(text: str, path: str | None) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return None
    sample = _sample(text)
    if _looks_binary(sample) or _looks_like_tool_listing(sample) or _is_json_document(text):
        return None
    if isinstance(path, str) and path:
        ext = _extension(path)
        if ext in _NON_CODE_EXTENSIONS:
            return None
        language = _EXTENSIONS.get(ext)
        if language is not None:
            if language == "c" and ext == ".h" and _CPP_HEADER.search(sample):
                language = "cpp"
            # A path is strong evidence, but an error page or a listing is still not code.
            return language if _error_share(language, sample) <= _MAX_ERROR_SHARE_WITH_PATH else None
    first_line = sample.split("\n", 1)[0]
    if first_line.startswith("#!"):
        for pattern, language in _SHEBANGS:
            if pattern.search(first_line):
                return language
    scores = _signal_scores(sample)
    ranked = sorted(
        (lang for lang, score in scores.items() if score >= _MIN_SIGNALS),
        key=lambda lang: (-scores[lang], ts.LANGUAGES.index(lang)),
    )
    if _JSX.search(sample) and ("typescript" in ranked or "javascript" in ranked):
        ranked.append("tsx")  # JSX breaks the TypeScript grammar; TSX is its own
    best: tuple[float, int, str] | None = None
    for position, language in enumerate(ranked[:4]):
        share = _error_share(language, sample)
        if share > _MAX_ERROR_SHARE:
            continue
        candidate = (share, position, language)
        if best is None or candidate < best:
            best = candidate
    if best is None:
        return None
    return _refine_family(best[2], scores, sample)


# --------------------------------------------------------------------------- compression

_CLASS_TYPES = frozenset({"class_definition"})  # Python classes, for their docstrings
_BODY_TYPES = frozenset({"block", "statement_block", "compound_statement", "constructor_body"})
_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_DIRECTIVE = re.compile(
    rb"^\s*(?://go:|//\s*\+build|//export |//line |//nolint|#!|#\s*-\*-|#.*coding[:=]|"
    rb"//\s*@ts-|/\*\s*eslint|//\s*eslint|#\s*type:|#\s*noqa|#\s*pragma|#\s*fmt:)",
    re.MULTILINE,
)
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


@dataclass
class _Func:
    node: Any
    body: Any
    name: str
    parent: int | None = None
    decision: str = ""
    """'elide', 'keep' (whole), or 'open' (signature kept, nested functions decided on their own)."""


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
        if not text.strip() or len(text) > cfg.max_chars or "\x00" in text:
            return None
        if max((len(line) for line in text.split("\n")), default=0) > cfg.max_line_chars:
            return None  # minified or generated: there are no line ranges worth naming
        language = ctx.language or detect_language(text, _path_hint(ctx.tool_args))
        if language is None:
            return None
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            return None
        tree = ts.parse(language, data)
        if tree is None:
            return None
        input_errors = ts.error_stats(tree.root_node)[0]
        key = content_key(text)
        marker_tokens = ctx.tokenizer.count(ctx.marker("lines 1000-2000 omitted", key)) + 4
        planner = _Planner(language, data, tree.root_node, ctx, key, marker_tokens)
        for trim_comments in (True, False):
            result = planner.render(trim_comments=trim_comments)
            if result is None:
                return None
            output, elided, trimmed = result
            if not _reparses(language, output, input_errors):
                continue
            try:
                new_text = output.decode("utf-8")
            except UnicodeDecodeError:
                return None
            if len(new_text) >= len(text):
                return None
            stored = ctx.stash(text, "code", unit="block", language=language)
            if stored != key:  # the markers must point at what was stored
                return None
            parts = [f"{language}: {elided} bodies elided"]
            if trimmed:
                parts.append(f"{trimmed} comments/docstrings shortened")
            return Compressed(new_text, (key,), ", ".join(parts))
        return None


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
        self, language: str, data: bytes, root: Any, ctx: CompressContext, key: str, marker_tokens: int
    ) -> None:
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
            funcs.append(_Func(node, body, self._name(node), parent))
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
        words = set(_IDENT.findall(query))
        lowered = {w.lower() for w in words if len(w) >= 4}
        keep = {
            i
            for i, f in enumerate(self.funcs)
            if f.name and (f.name in words or (len(f.name) >= 4 and f.name.lower() in lowered))
        }
        if self.cfg.relevant_bodies > 0:
            from headroom_core._relevance import bm25_scores, top_k

            candidates = [
                i
                for i, f in enumerate(self.funcs)
                if f.node.end_point[0] - f.node.start_point[0] <= self.cfg.max_relevant_body_lines
            ]
            docs = [
                f"{self.funcs[i].name} {self._text(self.funcs[i].node)[: self.cfg.max_relevant_chars]}"
                for i in candidates
            ]
            scores = bm25_scores(query, docs)
            keep.update(candidates[j] for j in top_k(scores, self.cfg.relevant_bodies))
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
        return self.ctx.marker(f"lines {first_row + 1}-{last_row + 1} omitted", self.key).encode()

    def _worth(self, start: int, end: int, lines: int) -> bool:
        if lines < self.cfg.min_body_lines:
            return False
        return (end - start) / 4.0 >= self.marker_tokens + 6

    def _elision(self, f: _Func) -> _Edit | None:
        if f.node.has_error:
            return None  # boundaries inside a broken function are guesses
        if not self.syntax.block_body:
            return self._python_elision(f)
        body = f.body
        inner_lines = body.end_point[0] - body.start_point[0] - 1
        if not self._worth(body.start_byte, body.end_byte, inner_lines):
            return None
        marker = self._marker(body.start_point[0], body.end_point[0])
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
        match = re.match(rb"([rRuUbBfF]*)(\"\"\"|''')", text)
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

    def _comment_edits(self, protected: list[tuple[int, int]]) -> list[_Edit]:
        starts = [s for s, _ in protected]

        def is_protected(node: Any) -> bool:
            i = bisect.bisect_right(starts, node.start_byte) - 1
            return i >= 0 and protected[i][0] <= node.start_byte < protected[i][1]

        runs: list[list[Any]] = []
        for node in self.nodes:
            if node.type not in self.syntax.comments:
                continue
            if node.parent is not None and node.parent.type in self.syntax.comments:
                continue
            if is_protected(node) or not self._starts_line(node.start_byte):
                if runs and runs[-1]:
                    runs.append([])
                continue
            if runs and runs[-1]:
                last = runs[-1][-1]
                gap = self.data[last.end_byte : node.start_byte]
                if not gap.strip() and gap.count(b"\n") <= 1:
                    runs[-1].append(node)
                    continue
            runs.append([node])
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
        if _DIRECTIVE.search(original):
            return None
        after = self.data[end : end + 40].lstrip()
        if self.language == "go" and after.startswith(b'import "C"'):
            return None  # a cgo preamble is code
        line = self._first_comment_line(run)
        if line is None:
            return None
        if original.endswith(b"\n"):
            line += b"\n"
        if len(line) >= len(original):
            return None
        return _Edit(start, end, line)

    def _first_comment_line(self, run: list[Any]) -> bytes | None:
        for node in run:
            text = self.data[node.start_byte : node.end_byte]
            if not re.search(rb"\w", text):
                continue
            if text.startswith(b"/*"):
                opener = b"/**" if text.startswith(b"/**") else b"/*"
                inner = text[len(opener) :]
                if inner.endswith(b"*/"):
                    inner = inner[:-2]
                for raw in inner.split(b"\n"):
                    raw = raw.strip().lstrip(b"*!").strip()
                    if re.search(rb"\w", raw):
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

    def render(self, *, trim_comments: bool) -> tuple[bytes, int, int] | None:
        """(output bytes, bodies elided, comments shortened), or None when nothing pays."""
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
        position = 0
        for edit in edits:
            if edit.start < position:
                continue  # overlapping edits cannot happen by construction; be safe anyway
            pieces.append(self.data[position : edit.start])
            pieces.append(edit.replacement)
            position = edit.end
        pieces.append(self.data[position:])
        output = b"".join(pieces)
        if trimmed:
            output = self._with_header(output, trimmed)
        return output, elided, trimmed

    def _with_header(self, output: bytes, trimmed: int) -> bytes:
        """One marker at the top: shortened comments have no room for their own."""
        lead = b"#" if self.language == "python" else b"//"
        what = "comment" if trimmed == 1 else "comments"
        marker = self.ctx.marker(f"{trimmed} {what} and docstrings shortened to one line", self.key)
        header = lead + b" " + marker.encode() + b"\n"
        position = 0
        for _ in range(2):  # after a shebang and an encoding declaration
            line_end = output.find(b"\n", position)
            if line_end < 0:
                break
            line = output[position:line_end]
            if line.startswith(b"#!") or (self.language == "python" and re.match(rb"#.*coding[:=]", line)):
                position = line_end + 1
            else:
                break
        return output[:position] + header + output[position:]


def _is_docstring(statement: Any) -> bool:
    return (
        statement.type == "expression_statement"
        and statement.named_child_count == 1
        and statement.named_children[0].type in ("string", "concatenated_string")
    )


__all__ = ["CodeCompressor", "detect_language"]
