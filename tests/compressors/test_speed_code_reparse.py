"""The code compressor does not parse again the outline of an error-free C-like source
(`_parses_like_input`): body swaps and comment runs shortened to one comment cannot make a
parse error there. These tests parse every such outline anyway, on real sources, on cuts of
them and on small programs written around what could break it (automatic semicolons,
arrow functions whose body could read as an object, preprocessor lines, nested comments),
and check that `compress()` gives the same output with and without the shortcut."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from headroom_core import HeadroomConfig, MemoryCCRStore, compress
from headroom_core.compressors import _treesitter as ts
from headroom_core.compressors import code_compressor
from tests.support import make_ctx

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
_EXTENSIONS = {
    ".c": "c",
    ".cpp": "cpp",
    ".go": "go",
    ".java": "java",
    ".js": "javascript",
    ".rs": "rust",
    ".ts": "typescript",
    ".tsx": "tsx",
}

_WRITTEN: list[tuple[str, str]] = [
    (
        "javascript",
        "var a = b\n/* a comment\n   over\n   three lines\n   and a fourth */\n(c || d).e()\n"
        "const f = (x) => {\n  // one\n  // two\n  // three\n  // four\n  return x + 1\n"
        "  // five\n}\nlet g = x => { return { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7 } }\n"
        "function h() {\n  if (x) {\n    return\n  }\n  /* block\n  comment\n  here\n  again */"
        " y()\n  z()\n  w()\n}\nclass K { m() {\n  a()\n  b()\n  c()\n} static n() {\n  a()\n"
        "  b()\n  c()\n} }\nlabel: {\n  a()\n  b()\n}\nconst t = `x${() => {\n  a()\n  b()\n"
        "  c()\n}}y`\n",
    ),
    (
        "typescript",
        "export function f<T>(x: T): T {\n  // a\n  // b\n  // c\n  // d\n  return x\n}\n"
        "const g = async (y: number): Promise<void> => {\n  await h(y)\n  await h(y)\n  await h(y)\n}\n"
        "abstract class A { abstract m(): void; n(): number {\n  return 1 +\n  2 +\n  3\n} }\n",
    ),
    (
        "c",
        "#include <stdio.h>\n/* a\n * b\n * c\n * d\n */\nint f(int x)\n{\n#ifdef DEBUG\n"
        '  printf("%d\\n", x);\n#endif\n  return x * 2 +\n    1;\n}\n#define M(x) \\\n  do { \\\n'
        "    g(x); \\\n  } while (0)\nstatic void g(void) {\n  // one\n  // two \\\n  continued\n"
        "  // three\n  // four\n  h();\n}\n",
    ),
    (
        "cpp",
        'auto s = R"x(raw { string } */ )x";\nnamespace n {\ntemplate <class T> T f(T x) {\n'
        "  auto l = [&](int y) {\n    return y +\n      x;\n  };\n  return l(1);\n}\n}\n"
        "struct S { S() : a(1) {\n    b();\n    c();\n  }\n  int a; };\n",
    ),
    (
        "rust",
        "/* outer /* nested */ still\n   comment\n   here\n   and here */\nfn f(x: i32) -> i32 {\n"
        "    let c = |y| {\n        y + 1\n    };\n    'a: {\n        break 'a;\n    }\n    c(x)\n}\n"
        "/// doc\n/// more\n/// and more\n/// end\npub fn g() {\n    //! inner\n    h();\n    h();\n}\n",
    ),
    (
        "go",
        "package p\n\n// F does\n// a thing\n// over\n// lines\nfunc F(x int) int {\n\tif x > 0 {\n"
        "\t\treturn x\n\t}\n\treturn -x\n}\n\nvar g = func() {\n\ta()\n\tb()\n\tc()\n}\n",
    ),
    (
        "java",
        "class A {\n  /** doc\n   * more\n   * more\n   * end */\n  A() {\n    super();\n    x = 1;\n"
        "  }\n  int m(int y) {\n    Runnable r = () -> {\n      a();\n      b();\n      c();\n    };\n"
        "    return y;\n  }\n}\n",
    ),
]


def _real_sources() -> list[tuple[str, str]]:
    found = []
    for path in sorted(FIXTURES.rglob("*")):
        language = _EXTENSIONS.get(path.suffix)
        if language is not None and path.is_file():
            found.append((language, path.read_text(encoding="utf-8")))
    return found


def _cuts(text: str, count: int) -> list[str]:
    """Stretches of `text` between blank lines, of several sizes (some parse cleanly)."""
    starts = [0] + [match.end() for match in re.finditer("\n\n", text)]
    step = max(1, len(starts) // count)
    return [text[starts[i] : starts[min(i + step, len(starts) - 1)]] for i in range(0, len(starts) - 1, step)]


def _configs() -> list[HeadroomConfig]:
    base = HeadroomConfig()
    eager = dataclasses.replace(base.code, min_body_lines=1, max_comment_lines=1)
    return [base, base.with_(code=eager)]


def _sources() -> list[tuple[str, str]]:
    sources = _real_sources() + _WRITTEN
    for language, text in _real_sources():
        sources += [(language, cut) for cut in _cuts(text, 40)]
    return sources


def test_outlines_of_error_free_c_like_sources_parse_without_errors() -> None:
    checked = 0
    for language, text in _sources():
        data = text.encode("utf-8")
        tree = ts.parse(language, data)
        assert tree is not None
        if tree.root_node.has_error:
            continue  # the shortcut does not apply: the outline is parsed again
        assert code_compressor._parses_like_input(ts.SYNTAX[language], 0)
        for config in _configs():
            for query in (None, "how does f handle the error"):
                ctx = make_ctx(query=query, config=config)
                planner = code_compressor._Planner(language, data, tree.root_node, ctx, "k" * 16, 40)
                for trim_comments in (True, False):
                    result = planner.render(trim_comments=trim_comments)
                    if result is not None:
                        assert code_compressor._reparses(language, result[0], 0), (language, text[:80])
                        checked += 1
    assert checked > 300


def test_python_outlines_are_still_parsed_again() -> None:
    assert not code_compressor._parses_like_input(ts.SYNTAX["python"], 0)
    assert not code_compressor._parses_like_input(ts.SYNTAX["go"], 1)


@pytest.mark.parametrize("config", _configs(), ids=["default", "eager"])
def test_compress_gives_the_same_output_without_the_shortcut(
    config: HeadroomConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = {"javascript": "a.js", "typescript": "a.ts", "c": "a.c", "cpp": "a.cpp"}
    names |= {"rust": "a.rs", "go": "a.go", "java": "A.java", "tsx": "a.tsx"}

    def run() -> list[object]:
        outputs = []
        for language, text in _real_sources() + _WRITTEN:
            messages = [
                {"role": "user", "content": "How does the main function handle errors?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "read", "arguments": f'{{"path": "{names[language]}"}}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": text},
            ]
            result = compress(messages, "gpt-4o", config=config.with_(ccr_store=MemoryCCRStore()))
            outputs.append((result.messages, result.tokens_after))
        return outputs

    quick = run()
    monkeypatch.setattr(code_compressor, "_parses_like_input", lambda syntax, errors: False)
    assert quick == run()
