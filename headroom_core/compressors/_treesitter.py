"""Tree-sitter grammars for the code compressor, loaded lazily from the official wheels.

One `Language` per grammar is built on first use and cached; `Parser` objects are cheap
and not thread-safe, so every parse gets its own. A missing grammar wheel only means that
language is not handled (None), never an ImportError at the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import Any

LANGUAGES: tuple[str, ...] = (
    "python",
    "javascript",
    "typescript",
    "tsx",
    "go",
    "rust",
    "java",
    "c",
    "cpp",
)

# language -> (wheel module, function returning the grammar pointer)
_GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
}


@dataclass(frozen=True)
class Syntax:
    """What the compressor needs to know about one language's grammar."""

    functions: frozenset[str]
    """Node types of things with a body worth eliding (functions, methods, lambdas)."""
    comments: frozenset[str]
    """Node types of comments."""
    block_body: bool
    """True: bodies are `{ ... }` blocks (C-like); False: Python indented blocks."""


_JS_FUNCTIONS = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "function_expression",
        "function",
        "generator_function",
        "arrow_function",
        "method_definition",
    }
)

SYNTAX: dict[str, Syntax] = {
    "python": Syntax(frozenset({"function_definition"}), frozenset({"comment"}), False),
    "javascript": Syntax(_JS_FUNCTIONS, frozenset({"comment"}), True),
    "typescript": Syntax(_JS_FUNCTIONS, frozenset({"comment"}), True),
    "tsx": Syntax(_JS_FUNCTIONS, frozenset({"comment"}), True),
    "go": Syntax(
        frozenset({"function_declaration", "method_declaration", "func_literal"}),
        frozenset({"comment"}),
        True,
    ),
    "rust": Syntax(
        frozenset({"function_item", "closure_expression"}),
        frozenset({"line_comment", "block_comment"}),
        True,
    ),
    "java": Syntax(
        frozenset(
            {
                "method_declaration",
                "constructor_declaration",
                "compact_constructor_declaration",
                "lambda_expression",
            }
        ),
        frozenset({"line_comment", "block_comment"}),
        True,
    ),
    "c": Syntax(frozenset({"function_definition"}), frozenset({"comment"}), True),
    "cpp": Syntax(frozenset({"function_definition", "lambda_expression"}), frozenset({"comment"}), True),
}

_lock = threading.Lock()


@cache
def get_language(name: str) -> Any | None:
    """The tree-sitter `Language` for `name`, or None if its grammar is not installed."""
    entry = _GRAMMARS.get(name)
    if entry is None:
        return None
    module_name, attr = entry
    try:
        from tree_sitter import Language

        module = import_module(module_name)
        return Language(getattr(module, attr)())
    except (ImportError, AttributeError, ValueError, TypeError):
        return None


@cache
def _query(language: str, source: str) -> Any | None:
    lang = get_language(language)
    if lang is None:
        return None
    from tree_sitter import Query

    with _lock:
        return Query(lang, source)


def parse(language: str, data: bytes) -> Any | None:
    """A tree for `data` (UTF-8 bytes), or None if the grammar is missing or parsing fails."""
    lang = get_language(language)
    if lang is None:
        return None
    try:
        from tree_sitter import Parser

        return Parser(lang).parse(data)
    except (ValueError, TypeError, RuntimeError, MemoryError):
        return None


def capture(language: str, node: Any, node_types: frozenset[str]) -> list[Any]:
    """Every descendant of `node` whose type is in `node_types`, in source order.

    One query runs in C over the whole tree, which is far cheaper than walking millions
    of nodes from Python.
    """
    lang = get_language(language)
    if lang is None:
        return []
    known = sorted(t for t in node_types if _has_node_type(language, t))
    if not known:
        return []
    query = _query(language, "[" + " ".join(f"({t})" for t in known) + "] @n")
    if query is None:
        return []
    from tree_sitter import QueryCursor

    nodes = QueryCursor(query).captures(node).get("n", [])
    return sorted(nodes, key=lambda n: (n.start_byte, -n.end_byte))


@cache
def _has_node_type(language: str, node_type: str) -> bool:
    lang = get_language(language)
    if lang is None:
        return False
    try:
        return lang.id_for_node_kind(node_type, True) not in (None, 0)
    except (ValueError, TypeError):
        return False


def iter_errors(node: Any) -> Iterator[Any]:
    """ERROR and MISSING nodes under `node`; only subtrees flagged `has_error` are visited."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.is_error or current.is_missing:
            yield current
            if current.is_missing:
                continue
        if current.has_error:
            stack.extend(reversed(current.children))


def error_stats(node: Any, limit: int = 10_000) -> tuple[int, int]:
    """(number of ERROR/MISSING nodes, bytes of tokens the parser could not place).

    Only the *leaf* tokens directly under an ERROR node count as unplaced: a file cut in
    the middle of a function yields an ERROR that wraps many well-formed declarations,
    and those are fine. Counting stops after `limit` error nodes (bounded work).
    """
    count = 0
    unplaced = 0
    for err in iter_errors(node):
        count += 1
        if err.is_error:
            unplaced += sum(
                c.end_byte - c.start_byte for c in err.children if c.child_count == 0 and not c.is_extra
            )
        if count >= limit:
            break
    return count, unplaced
