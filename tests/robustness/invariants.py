"""The promises every compressor keeps, as assertions the robustness tests share.

Whatever the router sends it, a compressor:

1. never raises (pytest turns `CompressorFailedWarning` into an error);
2. leaves every CCR key retrieving the exact original of the part it replaced, and every
   marker in the output names one of the result's keys;
3. never inflates (and token counts are honest);
4. is deterministic (fresh stores, memory or disk, give byte-identical messages);
5. changes nothing silently: a changed part is either behind a CCR key or losslessly
   rewritten (JSON minified or in table form that expands back to the same document;
   search results grouped by file that rebuild the same lines);
6. receives every real fixture it is meant for.

`run_checked` (messages through `compress()`) and `text_checked` (one text through
`compress_text()`) check 1-5; `assert_slot_invariants` re-derives the segments with the
router and accounts for each of them. The tests are in `test_robustness_fixtures.py`
(real outputs), `test_robustness_adversarial.py` (hostile input) and
`test_robustness_determinism.py` (determinism and stores).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, settings

from headroom_core import (
    CompressResult,
    HeadroomConfig,
    MemoryCCRStore,
    Transform,
    _ccr,
    compress,
    compress_text,
    count_tokens,
    get_tokenizer,
    parse_markers,
    retrieve,
)
from headroom_core._router import RouteHints, route
from headroom_core.compressors import get_compressor
from tests.support import make_ctx, openai_conversation

# --------------------------------------------------------------------------- fixtures


MODEL = "gpt-4o"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# Every UTF-8 text fixture and the route its content must take (with a path hint).
EXPECTED_ROUTES: dict[str, str] = {
    "git_diff_flask_3.1.0..3.1.3.diff": "diff",
    "go1.19_net_http_server.go": "code:go",
    "grep_rn_TODO_FIXME_XXX_cpython3.11_stdlib.txt": "search_results",
    "lodash_4.17.21.js": "code:javascript",
    "loghub_HDFS_2k.log": "log",
    "loghub_OpenStack_2k.log": "log",
    "man_find.1.txt": "prose",
    "moto_ec2_instance_type_offerings_az_us-east-1.json": "json",
    "npm_view_express.json": "json",
    "openml_api_data_features_40966.json": "json",
    "npm_view_typescript_time.json": "json",
    "pip_inspect_venv_no_descriptions.json": "json",
    "ruff_0.17.6_cyclonedx_sbom.json": "json",
    "torch_dynamo_graph_break_registry.json": "json",
    "pydocs3.11_tutorial_classes.rst.txt": "prose",
    "pytest_v_flask_head_tests_vs_installed_3.1.3.log": "test_output",
    "rg_n_C3_ServeHTTP_go1.19_net_http.txt": "search_results",
    "rust1.63_core_iter_iterator.rs": "code:rust",
    "var_log_dpkg.log": "log",
    "apt_cache_show_python3_bash_coreutils.txt": "records",
    "apt_cache_show_80_installed_debian12.txt": "records",
    "pip_show_v_requests_orjson_tiktoken.txt": "records",
    "sysctl_a_container.txt": "records",
    "etc_debconf.conf": "records",
    "apt_get_update_install_transcript.txt": "log",
    "apt_get_install_simulate_texlive_libreoffice.txt": "log",
    "pip_install_transcript.txt": "log",
    "npm_install_loglevel_http_express_request.txt": "log",
    "make_k_gcc_warnings_error.txt": "log",
    "cargo_build_offline_workspace.txt": "log",
    "code/InventoryService.java": "code:java",
    "code/UserCard.tsx": "code:tsx",
    "code/event_store.ts": "code:typescript",
    "code/kvstore.go": "code:go",
    "code/lexer.rs": "code:rust",
    "code/rate_limiter.js": "code:javascript",
    "code/ring_buffer.c": "code:c",
    "code/thread_pool.cpp": "code:cpp",
}
FIXTURE_NAMES = sorted(EXPECTED_ROUTES)


def _is_utf8(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# Every file under fixtures/ (recursively) except the READMEs that describe them.
ALL_FIXTURE_FILES = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix != ".md")
BINARY_FIXTURES = [p.relative_to(FIXTURES).as_posix() for p in ALL_FIXTURE_FILES if not _is_utf8(p)]


@cache
def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@cache
def fixture_text(name: str) -> str:
    # Bytes, not read_text(): the loghub files use CRLF and must reach the pipeline as they are.
    return fixture_bytes(name).decode("utf-8")


def is_code(name: str) -> bool:
    return EXPECTED_ROUTES[name].startswith("code:")


def fixture_turn(name: str, text: str | None = None) -> tuple[list[dict], RouteHints]:
    """The fixture as a `read_file` tool result in an OpenAI conversation, and its hints."""
    args = {"path": name.rsplit("/", 1)[-1]}
    text = fixture_text(name) if text is None else text
    return openai_conversation(text, args=args), RouteHints("read_file", args)


# --------------------------------------------------------------------------- invariants


def canonical(messages: Any) -> bytes:
    """Byte form for determinism checks (orjson; lone surrogates need the json fallback)."""
    try:
        return orjson.dumps(messages)
    except orjson.JSONEncodeError:
        return json.dumps(messages, ensure_ascii=True).encode()


Position = tuple[int, int | None, int | None]


def position(t: Transform) -> Position:
    return (t.message_index, t.part_index, t.sub_index)


def _walk_texts(messages: list[dict], blank: str | None = None) -> dict[Position, str]:
    """Every text slot by (message index, part index, sub index), numbered as `Transform`
    does: the text blocks inside a tool_result's list take the tool_result's part index
    and their own index inside it as sub index."""
    out: dict[Position, str] = {}

    def visit(pos: Position, container: Any, key: Any) -> None:
        assert pos not in out, f"two text slots share the position {pos}"
        out[pos] = container[key]
        if blank is not None:
            container[key] = blank

    for mi, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, str):
            visit((mi, None, None), message, "content")
            continue
        for pi, block in enumerate(content if isinstance(content, list) else ()):
            if isinstance(block, str):
                visit((mi, pi, None), content, pi)
            elif (
                isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
            ):
                visit((mi, pi, None), block, "text")
            elif isinstance(block, dict) and block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, str):
                    visit((mi, pi, None), block, "content")
                for qi, part in enumerate(inner if isinstance(inner, list) else ()):
                    if isinstance(part, str):
                        visit((mi, pi, qi), inner, qi)
                    elif isinstance(part, dict) and part.get("type") == "text":
                        visit((mi, pi, qi), part, "text")
    return out


def text_slots(messages: list[dict]) -> dict[Position, str]:
    return _walk_texts(messages)


def strip_texts(messages: list[dict]) -> list[dict]:
    """The conversation with every text blanked: what compression must never change."""
    out = copy.deepcopy(messages)
    _walk_texts(out, blank="<text>")
    return out


def json_content(text: str) -> str:
    """A comparable form of a JSON text: every member kept (duplicate keys too), types
    exact (`1`, `1.0` and `true` differ), object member order ignored."""

    def members(pairs: list[tuple[str, Any]]) -> tuple[str, Any]:
        return ("{", tuple(sorted(((k, repr(v)) for k, v in pairs), key=repr)))

    def exact_float(source: str) -> tuple[str, str]:
        # Numbers compare by the value their source text spells (`1.50` == `1.5`), never
        # through a double, which would hide a rounded 0.00012345678901234567890.
        return ("float", str(Decimal(source).normalize()))

    return repr(json.loads(text, object_pairs_hook=members, parse_float=exact_float))


def lossless_json_form(segment: str, hints: RouteHints | None) -> str | None:
    """What the crusher writes for `segment` when it may not drop anything (CCR off)."""
    crusher = get_compressor("json")
    assert crusher is not None
    ctx = make_ctx(
        None, tool_name=hints.tool_name if hints else None, tool_args=hints.tool_args if hints else None
    )
    out = crusher.compress(segment, ctx)
    return None if out is None else out.text


def assert_json_lossless(original: str, output: str, *, whole: bool, hints: RouteHints | None) -> None:
    """A JSON part rewritten without a CCR key must still hold the whole document.

    `output` is the crusher's output for exactly this part (whole text) or the whole
    output of a mixed text, which must then contain the part's lossless form.
    """
    from headroom_core.compressors.json import expand_output, to_json

    form = output
    if not whole:
        form = lossless_json_form(original, hints) or ""
        assert form and form in output, "a JSON part changed, and not into its lossless form"
    try:
        expanded = expand_output(form)
    except ValueError as exc:
        raise AssertionError(f"lossless JSON output is neither JSON nor a table: {exc}") from exc
    assert json_content(to_json(expanded)) == json_content(original), (
        "lossless JSON output lost or changed values"
    )


_GROUP_HEADER = re.compile(r"^(?P<path>.+): (?P<count>\d+) match(?:es)?$")
_GROUPED_LINE = re.compile(r"^(?P<line>\d+)(?P<sep>[:-])(?P<body>.*)$", re.DOTALL)


def assert_search_lossless(original: str, output: str) -> None:
    """Grouping search results by file is lossless: the original lines can be rebuilt."""
    rebuilt: list[str] = []
    path = None
    for line in output.split("\n"):
        header = _GROUP_HEADER.match(line)
        grouped = _GROUPED_LINE.match(line) if path is not None else None
        if header and not grouped:
            path = header["path"]
        elif grouped:
            rebuilt.append(f"{path}{grouped['sep']}{grouped['line']}{grouped['sep']}{grouped['body']}")
        elif line.strip() and line != "--":
            rebuilt.append(line)
            path = None
    # Separators and blank lines carry no content: grouping may move or drop them.
    wanted = [line for line in original.split("\n") if line.strip() and line != "--"]
    assert rebuilt == wanted, "grouped search results do not rebuild the original lines"


# Terminal escape sequences: CSI (colours, cursor moves) and OSC (titles, hyperlinks).
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def assert_record_meta(key: str, store: Any) -> None:
    """The record says how `retrieve(key, query=...)` splits it: JSON `paths` that lead to
    arrays, or a text `unit` of lines or blocks."""
    meta, original = _ccr.load(store, key)
    if meta.get("kind") == "json":
        doc = orjson.loads(original)
        for path in meta.get("paths") or [[]]:
            node = doc
            for step in path:
                node = node[step]
            assert isinstance(node, (list, dict)), f"CCR path {path} leads to neither an array nor a map"
    else:
        assert meta.get("unit") in ("line", "block"), f"CCR record without a unit: {meta}"


def _is_valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def assert_slot_invariants(
    before: str,
    after: str,
    *,
    route_name: str,
    compressor: str,
    keys: tuple[str, ...] | list[str],
    store: Any,
    hints: RouteHints | None,
) -> None:
    """Invariants 2 and 5 for one text: markers, exact originals, no silent loss."""
    markers_before = {m.key for m in parse_markers(before)}
    for marker in parse_markers(after):
        assert marker.key in keys or marker.key in markers_before, (
            f"marker {marker.key} is not one of the result's CCR keys {list(keys)}"
        )
    marked = {m.key for m in parse_markers(after)}
    unmarked = [key for key in keys if key not in marked]
    assert not unmarked, f"CCR keys with no parseable marker in the output: {unmarked}"
    originals = {key: retrieve(key, store=store) for key in keys}
    for key in keys:
        assert_record_meta(key, store)
    if after == before:
        return
    assert compressor != "none", "text changed but no compressor is named"
    if _is_valid_unicode(before):
        assert _is_valid_unicode(after), "compression produced text an LLM API cannot encode"
    segments = route(before, hints)
    parts = {seg.text for seg in segments} | {before}
    plain = ANSI_ESCAPE.sub("", before)
    if plain != before and before in originals.values():
        # Colour codes removed before routing (the exact coloured text is what is stashed).
        segments = route(plain, hints)
    for key, original in originals.items():
        assert original in parts, (
            f"retrieve({key!r}) is not byte-identical to a compressed part "
            f"({len(original)} chars; parts are {sorted(len(p) for p in parts)})"
        )
    if route_name != "oversize":
        expected = "+".join(f"{s.kind}:{s.language}" if s.language else s.kind for s in segments)
        assert route_name == expected
    stashed = set(originals.values())
    if before in stashed:
        return
    for seg in segments:
        if seg.text in stashed or seg.text in after:
            continue
        if seg.kind == "json":
            assert_json_lossless(seg.text, after, whole=len(segments) == 1, hints=hints)
            continue
        if seg.kind == "search_results" and len(segments) == 1:
            assert_search_lossless(seg.text, after)
            continue
        pytest.fail(f"a {seg.kind} part changed ({len(seg.text)} chars) with no CCR key behind it")


def assert_result_invariants(
    messages: list[dict], result: CompressResult, store: Any, hints: RouteHints | None, model: str = MODEL
) -> None:
    assert result.warnings == []
    assert 0 <= result.tokens_after <= result.tokens_before
    assert result.tokens_before == count_tokens(messages, model)
    assert result.tokens_after == count_tokens(result.messages, model)
    assert strip_texts(result.messages) == strip_texts(messages), "non-text content changed"
    transforms = {position(t): t for t in result.transforms_applied}
    assert len(transforms) == len(result.transforms_applied)
    for t in result.transforms_applied:
        assert t.tokens_after <= t.tokens_before
        assert set(t.ccr_keys) <= set(result.ccr_keys)
    assert sorted(set(result.ccr_keys)) == sorted({k for t in transforms.values() for k in t.ccr_keys})
    before, after = text_slots(messages), text_slots(result.messages)
    assert before.keys() == after.keys()
    for slot, text in before.items():
        t = transforms.get(slot)
        if t is None:
            assert after[slot] == text, f"slot {slot} changed without a transform"
            continue
        assert_slot_invariants(
            text,
            after[slot],
            route_name=t.route,
            compressor=t.compressor,
            keys=t.ccr_keys,
            store=store,
            hints=hints,
        )


@dataclass
class Run:
    result: CompressResult
    store: Any


def run_checked(
    messages: list[dict],
    hints: RouteHints | None,
    *,
    store: Any = None,
    query: str | None = None,
    twice: bool = True,
    config: HeadroomConfig | None = None,
    model: str = MODEL,
) -> Run:
    """compress() with invariants 1-5 checked; `twice` adds the determinism run."""
    snapshot = copy.deepcopy(messages)
    store = MemoryCCRStore() if store is None else store
    config = config or HeadroomConfig()
    result = compress(messages, model, query=query, config=config.with_(ccr_store=store))
    assert messages == snapshot, "compress() mutated its input"
    assert_result_invariants(messages, result, store, hints, model)
    if twice:
        again = compress(messages, model, query=query, config=config.with_(ccr_store=MemoryCCRStore()))
        assert canonical(again.messages) == canonical(result.messages)
        assert again.ccr_keys == result.ccr_keys
        assert again.transforms_applied == result.transforms_applied
    return Run(result, store)


def text_checked(
    text: str,
    hints: RouteHints | None = None,
    *,
    twice: bool = True,
    query: str | None = None,
    config: HeadroomConfig | None = None,
) -> Any:
    """compress_text() with the same invariants."""
    store = MemoryCCRStore()
    config = (config or HeadroomConfig()).with_(ccr_store=store)
    name, args = (hints.tool_name, hints.tool_args) if hints else (None, None)
    res = compress_text(text, query=query, config=config, tool_name=name, tool_args=args)
    tokenizer = get_tokenizer(MODEL)
    assert res.tokens_after <= res.tokens_before
    assert res.tokens_before == tokenizer.count(text)
    assert res.tokens_after == tokenizer.count(res.text)
    if res.text == text:
        assert res.ccr_keys == ()
    assert_slot_invariants(
        text,
        res.text,
        route_name=res.route,
        compressor=res.compressor,
        keys=res.ccr_keys,
        store=store,
        hints=hints,
    )
    if twice:
        again = compress_text(
            text,
            query=query,
            config=config.with_(ccr_store=MemoryCCRStore()),
            tool_name=name,
            tool_args=args,
        )
        assert again == res
    return res


def output_digests() -> dict[str, str]:
    """sha256 of the compressed output of every fixture, with and without a query."""
    digests = {}
    for name in FIXTURE_NAMES:
        messages, hints = fixture_turn(name)
        result = compress(messages, MODEL, config=HeadroomConfig(ccr_store=MemoryCCRStore()))
        digests[name] = hashlib.sha256(canonical(result.messages)).hexdigest()
        res = compress_text(
            fixture_text(name),
            query="error timeout ServeHTTP express versions lexer",
            config=HeadroomConfig(ccr_store=MemoryCCRStore()),
            tool_name=hints.tool_name,
            tool_args=hints.tool_args,
        )
        digests[name + "?query"] = hashlib.sha256(res.text.encode("utf-8", "surrogatepass")).hexdigest()
    return digests


# --------------------------------------------------------------------------- hypothesis settings


# Derandomized so the suite is stable; HEADROOM_FUZZ=<n> explores n times more examples
# from a random seed (for bug hunting: `HEADROOM_FUZZ=10 pytest tests/robustness`).
FUZZ = int(os.environ.get("HEADROOM_FUZZ", "0") or 0)


def property_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples * max(1, FUZZ),
        deadline=None,
        database=None,
        derandomize=not FUZZ,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
