"""Code workloads: an agent explores a codebase by reading whole source files.

Every file comes back as its own tool message (a `read_file` call whose arguments carry
the path). The files are real: CPython standard-library modules as installed, and the
Go, Rust and JavaScript sources in tests/fixtures/. Needles are a few top-level
signatures per file (they must stay in the outline) and a distinctive line of the body
of the function the question asks about (it must stay whole).
"""

from __future__ import annotations

import inspect
import json.decoder
import textwrap
from pathlib import Path
from typing import Any

import orjson

from benchmarks._harness import Workload

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"


def _exploration(question: str, files: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """System, question, one assistant turn calling read_file per file, one tool message each."""
    calls = [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": "read_file", "arguments": orjson.dumps({"path": path}).decode()},
        }
        for i, (path, _) in enumerate(files, 1)
    ]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a careful engineering assistant."},
        {"role": "user", "content": question},
        {"role": "assistant", "content": None, "tool_calls": calls},
    ]
    for i, (_, text) in enumerate(files, 1):
        messages.append({"role": "tool", "tool_call_id": f"call_{i}", "content": text})
    return messages


def _signatures(text: str, starts: tuple[str, ...], count: int) -> list[str]:
    """The first and last few top-level declaration lines (as they appear in the file)."""
    lines = [line.rstrip() for line in text.splitlines() if line.startswith(starts)]
    picked = lines[: count - count // 2] + lines[-(count // 2) :]
    return list(dict.fromkeys(line.rstrip("{").rstrip() for line in picked))


def _read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


SPEED_GOAL = "speed goal: ratio <= 3x"


def stdlib_concatenated(min_chars: int = 4_200_000) -> tuple[str, list[str]]:
    """Top-level CPython standard-library modules (sorted by name) joined into one source of
    at least `min_chars` characters: above `CodeConfig.max_chars`, so it is outlined by parts.
    Returns the text and the names of the modules in it."""
    import sysconfig

    root = Path(sysconfig.get_paths()["stdlib"])
    chunks: list[str] = []
    names: list[str] = []
    total = 0
    for path in sorted(root.glob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        chunks.append(text)
        names.append(path.name)
        total += len(text) + 2
        if total >= min_chars:
            break
    return "\n\n".join(chunks), names


def large_workloads() -> list[Workload]:
    import _pydecimal

    decimal_py = inspect.getsource(_pydecimal)
    big, _ = stdlib_concatenated()
    big_needles = [
        "class ArgumentParser(_AttributeHolder, _ActionsContainer):",
        "    def parse_known_args(self, args=None, namespace=None):",
        "class Fraction(numbers.Rational):",
    ]
    return [
        Workload(
            issue=11,
            name=f"code: _pydecimal.py, one large module ({SPEED_GOAL})",
            messages=_exploration(
                "How does Decimal.quantize round to the exponent of another number?",
                [("Lib/_pydecimal.py", decimal_py)],
            ),
            target_saved=0.5,
            needles=[
                *_signatures(decimal_py, ("def ", "class "), 4),
                "    def quantize(self, exp, rounding=None, context=None):",
                "'target exponent out of bounds in quantize')",
            ],
            source="real: CPython _pydecimal.py",
        ),
        Workload(
            issue=11,
            name=f"code: 4.2M-character source, outlined by parts ({SPEED_GOAL})",
            messages=_exploration(
                "How does ArgumentParser.parse_known_args split options from positionals?",
                [("generated/stdlib_all_in_one.py", big)],
            ),
            target_saved=0.4,
            needles=big_needles,
            source="real: CPython standard-library modules, concatenated",
        ),
    ]


def workloads() -> list[Workload]:
    server_go = _read("go1.19_net_http_server.go")
    iterator_rs = _read("rust1.63_core_iter_iterator.rs")
    lodash_js = _read("lodash_4.17.21.js")
    decoder_py = inspect.getsource(json.decoder)
    textwrap_py = inspect.getsource(textwrap)

    explore_needles = (
        _signatures(server_go, ("func ", "type "), 4)
        + _signatures(decoder_py, ("def ", "class "), 3)
        + _signatures(textwrap_py, ("def ", "class "), 3)
        + _signatures(iterator_rs, ("pub trait ", "fn ", "pub fn "), 2)
        # The body of the method the question names, kept whole:
        + ["handler := sh.srv.Handler", 'if req.RequestURI == "*" && req.Method == "OPTIONS" {']
    )
    lodash_needles = [
        *_signatures(lodash_js, ("  function ",), 6),
        "baseFlatten(value, depth - 1, predicate, isStrict, result);",
    ]
    return [
        Workload(
            issue=3,
            name="code: codebase exploration (Go, Python, Rust)",
            messages=_exploration(
                "How does serverHandler.ServeHTTP in net/http choose the handler for a request?",
                [
                    ("src/net/http/server.go", server_go),
                    ("Lib/json/decoder.py", decoder_py),
                    ("Lib/textwrap.py", textwrap_py),
                    ("library/core/src/iter/traits/iterator.rs", iterator_rs),
                ],
            ),
            target_saved=0.5,
            needles=explore_needles,
            query=None,  # the question above is the query
            source="real: go1.19_net_http_server.go, rust1.63_core_iter_iterator.rs, CPython stdlib",
        ),
        Workload(
            issue=3,
            name="code: read lodash.js",
            messages=_exploration(
                "Where does baseFlatten recurse into nested arrays?",
                [("node_modules/lodash/lodash.js", lodash_js)],
            ),
            target_saved=0.5,
            needles=lodash_needles,
            source="real: lodash_4.17.21.js",
        ),
        *large_workloads(),
    ]
