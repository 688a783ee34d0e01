"""Language detection: is this text source code, and in which language?

`detect_language(text, path)` looks at the path's extension, a shebang line, then cheap
regular-expression signals confirmed by a tree-sitter parse of a bounded sample with few
error nodes. The router calls it to send code to the code compressor; it lives here, not
in the code compressor, so that routing never imports a compressor.

Time is bounded on any input: the signals run on a sample of at most
`_DETECT_SAMPLE_CHARS` characters whose lines are cut to `_SIGNAL_LINE_CHARS`, and no
signal pattern can cross a line break, so a 20 KB single word or 20 KB of blank lines
costs a linear scan, not a quadratic one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

import orjson

from headroom_core._text import looks_binary
from headroom_core.compressors import _treesitter as ts

__all__ = ["detect_language", "sample_error_share"]

_DETECT_SAMPLE_CHARS = 20_000
# Lines of the sample are cut to this length before the regex signals run on them: no
# pattern's backtracking can then cost more than a constant per line.
_SIGNAL_LINE_CHARS = 300

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
            r"^[ \t]*def \w+[ \t]*\(.*\)[ \t]*(?:->[ \t]*[^:\n]+)?:[ \t]*$",
            r"^[ \t]*class \w+(?:\(.*\))?:[ \t]*$",
            r"^(?:from [\w.]+ import \w|import \w[\w.]*(?:, \w[\w.]*)*[ \t]*$)",
            r"^[ \t]*(?:elif .*|else|try|finally|except(?: .*)?):[ \t]*$",
            r"\bself\.\w+",
            r"^[ \t]*@\w[\w.]*(?:\(.*\))?[ \t]*$",
            r"^[ \t]*return\b(?!.*;[ \t]*$)",
        )
    ),
    "javascript": tuple(
        re.compile(p, _M)
        for p in (
            r"\bfunction[ \t]*\w*[ \t]*\([^)\n]*\)[ \t]*\{",
            r"^[ \t]*(?:const|let|var) [\w${}\[\], ]+=",
            r"=>[ \t]*[{(\w]",
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
            r"^[ \t]*(?:export )?(?:interface|type) \w+(?:<[^>\n]*>)?[ \t]*(?:=|\{|extends)",
            r"\w\??:[ \t]*(?:string|number|boolean|any|unknown|void|never)\b",
            r"\b(?:private|public|protected|readonly) \w+[ \t]*[:(]",
            r"\bas const\b|\bimplements \w+",
            r"^import type |^export type \{|(?<!\w)\w+<\w+(?:\[\])?>\(",
        )
    ),
    "go": tuple(
        re.compile(p, _M)
        for p in (
            r"^package \w+[ \t]*$",
            r"^func (?:\([^)\n]*\) )?\w+\(",
            r"^import (?:\(|\"[\w./-]+\")",
            r"(?<!\w)\w+ := ",
            r"^type \w+ (?:struct|interface)\b",
            r"\bif err != nil\b",
        )
    ),
    "rust": tuple(
        re.compile(p, _M)
        for p in (
            r"^[ \t]*(?:pub(?:\([^)\n]*\))? )?(?:const |async |unsafe )*fn \w+",
            r"^[ \t]*use \w+(?:::\w+)*(?:::\{|::\*|;)",
            r"\blet (?:mut )?\w+",
            r"^[ \t]*impl\b",
            r"^[ \t]*#!?\[\w+",
            r"&(?:mut )?self\b",
            r"^[ \t]*(?:pub(?:\([^)\n]*\))? )?(?:struct|enum|trait|mod) \w+",
        )
    ),
    "java": tuple(
        re.compile(p, _M)
        for p in (
            r"^package [\w.]+;",
            r"^import (?:static )?[\w.*]+;",
            r"^[ \t]*(?:public|private|protected) (?:static )?(?:final )?(?:abstract )?"
            r"(?:class|interface|enum|record) \w+",
            r"^[ \t]*(?:public|private|protected) (?:static )?(?:final )?[\w<>\[\], ]+ \w+\(",
            r"@Override\b|System\.out\.",
        )
    ),
    "c": tuple(
        re.compile(p, _M)
        for p in (
            r"^#include [<\"]",
            r"^#(?:define|ifdef|ifndef|endif|if|pragma)\b",
            r"^(?:static |extern |inline )*(?:const )?(?:unsigned |signed )?"
            r"(?:void|int|char|long|short|float|double|size_t|bool|struct \w+)[ \t]*\**[ \t]*\w+[ \t]*\(",
            r"\b(?:malloc|free|printf|fprintf|memcpy|sizeof)\(",
            r"\w->\w",
            r"^(?:typedef )?struct \w*[ \t]*\{",
        )
    ),
    "cpp": tuple(
        re.compile(p, _M)
        for p in (
            r"\bstd::\w+",
            r"\btemplate[ \t]*<",
            r"^[ \t]*namespace \w+",
            r"^[ \t]*(?:public|private|protected):[ \t]*$",
            r"\bnullptr\b|\bconstexpr\b|\bauto\b",
            r"^#include <(?:iostream|vector|string|memory|map|algorithm|cstdint|cstdio)>",
            r"^[ \t]*class \w+(?:[ \t]*(?:final[ \t]*)?:[ \t]*(?:public|private) \w+)?[ \t]*\{?[ \t]*$",
        )
    ),
}
_MIN_SIGNALS = 2
_JSX_TAG = re.compile(r"<[A-Z]\w*[\s/>]|</\w+>")
_JSX = re.compile(r"</[A-Za-z][\w.]*>|<[A-Za-z][\w.]*[ \t][^<>\n]*/>")
_CPP_HEADER = re.compile(r"^[ \t]*(?:class|namespace|template)\b|\bstd::|\bpublic:|\bvirtual\b", _M)
_NON_SPACE = re.compile(r"\S")
_MAX_ERROR_SHARE = 0.05
_MAX_ERROR_SHARE_WITH_PATH = 0.1
_DIFF_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@", _M)
_DIFF_FILE = re.compile(r"^(?:diff --git |--- |\+\+\+ )", _M)
# `path:12:` / `path-12-` / `  12\t` line prefixes of grep, ripgrep and numbered listings.
_LOCATION_PREFIX = re.compile(r"^(?:[\w./\\-]+[:-]\d+[:-]|\s*\d+(?:\t|: |→))")


def _extension(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1].split("?", 1)[0].split("#", 1)[0]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _sample(text: str) -> str:
    if len(text) <= _DETECT_SAMPLE_CHARS:
        return text
    cut = text.rfind("\n", 0, _DETECT_SAMPLE_CHARS)
    return text[: cut if cut > 0 else _DETECT_SAMPLE_CHARS]


def _signal_sample(sample: str) -> str:
    """The sample with every line cut to `_SIGNAL_LINE_CHARS` (signals never need more)."""
    return "\n".join(line[:_SIGNAL_LINE_CHARS] for line in sample.split("\n"))


def _looks_like_tool_listing(sample: str) -> bool:
    """A unified diff, or grep/ripgrep output: code inside, but not a source file."""
    if _DIFF_HUNK.search(sample) and _DIFF_FILE.search(sample):
        return True
    lines = [line[:_SIGNAL_LINE_CHARS] for line in sample.split("\n")[:200] if line.strip()]
    prefixed = sum(1 for line in lines if _LOCATION_PREFIX.match(line))
    return bool(lines) and prefixed * 2 >= len(lines)


def _is_json_document(text: str) -> bool:
    """JSON parses as a JavaScript (or Python) expression; it belongs to the JSON compressor."""
    first = _NON_SPACE.search(text)
    if first is None or text[first.start()] not in "{[":
        return False  # decided without copying a large text to strip it
    stripped = text.strip()
    if stripped[-1:] not in ("}", "]"):
        return False
    try:
        orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return False
    return True


def sample_error_share(language: str, text: str) -> float:
    """`_error_share` of the sample detection reads (the first ~20 KB of `text`): the code
    compressor asks the same question of the language the router found, and gets the
    answer of the router's parse instead of parsing again."""
    return _error_share(language, _sample(text))


@lru_cache(maxsize=32)
def _error_share(language: str, sample: str) -> float:
    """Share of the sample's bytes the grammar could not parse (1.0 when it cannot parse).

    Remembered for the last few samples (at most `_DETECT_SAMPLE_CHARS` each): detection
    and the code compressor judge the same sample, and a parse costs far more than a hash."""
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


def _refine_family(language: str, scores: Mapping[str, int], sample: str, signals: str) -> str:
    """Pick the right member of a grammar family (JS ⊂ TS ⊂ TSX, C ⊂ C++)."""
    if language in ("javascript", "typescript"):
        if scores.get("typescript", 0) >= 1 and _error_share("typescript", sample) <= _MAX_ERROR_SHARE:
            language = "typescript"
        if (
            language == "typescript"
            and _JSX_TAG.search(signals)
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
    if not isinstance(text, str) or not text or text.isspace():
        return None
    sample = _sample(text)
    if looks_binary(sample) or _looks_like_tool_listing(sample) or _is_json_document(text):
        return None
    if isinstance(path, str) and path:
        ext = _extension(path)
        if ext in _NON_CODE_EXTENSIONS:
            return None
        language = _EXTENSIONS.get(ext)
        if language is not None:
            if language == "c" and ext == ".h" and _CPP_HEADER.search(_signal_sample(sample)):
                language = "cpp"
            # A path is strong evidence, but an error page or a listing is still not code.
            return language if _error_share(language, sample) <= _MAX_ERROR_SHARE_WITH_PATH else None
    first_line = sample.split("\n", 1)[0]
    if first_line.startswith("#!"):
        for pattern, language in _SHEBANGS:
            if pattern.search(first_line):
                return language
    signals = _signal_sample(sample)
    scores = _signal_scores(signals)
    ranked = sorted(
        (lang for lang, score in scores.items() if score >= _MIN_SIGNALS),
        key=lambda lang: (-scores[lang], ts.LANGUAGES.index(lang)),
    )
    if _JSX.search(signals) and ("typescript" in ranked or "javascript" in ranked):
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
    return _refine_family(best[2], scores, sample, signals)
