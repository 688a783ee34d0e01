"""Robustness on real tool outputs: every fixture reaches its compressor and keeps the promises
(see `invariants.py`), in every message shape, setting and model."""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headroom_core import (
    CodeConfig,
    HeadroomConfig,
    JsonConfig,
    LogConfig,
    MemoryCCRStore,
    TextConfig,
    compress,
    count_tokens,
    parse_markers,
    retrieve,
)
from headroom_core._router import RouteHints
from headroom_core.compressors import REGISTRY, get_compressor
from tests.robustness.invariants import (
    ALL_FIXTURE_FILES,
    BINARY_FIXTURES,
    EXPECTED_ROUTES,
    FIXTURE_NAMES,
    FIXTURES,
    MODEL,
    assert_json_lossless,
    assert_search_lossless,
    canonical,
    fixture_bytes,
    fixture_text,
    fixture_turn,
    is_code,
    position,
    property_settings,
    run_checked,
    text_checked,
    text_slots,
)
from tests.support import QUESTION, anthropic_conversation, openai_conversation, openai_tool_turn


def test_every_text_fixture_has_an_expected_route():
    found = {p.relative_to(FIXTURES).as_posix() for p in ALL_FIXTURE_FILES} - set(BINARY_FIXTURES)
    assert found == set(EXPECTED_ROUTES), "add new fixtures to EXPECTED_ROUTES"


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_line_endings_and_no_hints(name):
    text = fixture_text(name)
    lf = text.replace("\r\n", "\n")
    crlf = lf.replace("\n", "\r\n")
    hints = RouteHints("read_file", {"path": name.rsplit("/", 1)[-1]})
    for variant, query in ((lf, None), (crlf, "error timeout request handler")):
        res = text_checked(variant, hints, twice=False, query=query)
        assert res.route == EXPECTED_ROUTES[name], "LF" if variant is lf else "CRLF"
    if not is_code(name):
        # Only code needs the path hint; everything else is recognised from content alone.
        assert text_checked(text, None, twice=False).route == EXPECTED_ROUTES[name]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_with_ccr_disabled_is_lossless(name):
    messages, _ = fixture_turn(name)
    result = compress(messages, MODEL, config=HeadroomConfig(ccr_enabled=False))
    assert result.ccr_keys == [] and result.warnings == []
    assert result.tokens_after <= result.tokens_before
    before, after = fixture_text(name), result.messages[3]["content"]
    assert not parse_markers(after)
    if after != before:
        # Only JSON (minified / table form) and search results (grouped by file) have a
        # lossless rewrite; every other compressor must leave the text alone without CCR.
        assert EXPECTED_ROUTES[name] in ("json", "search_results")
        if EXPECTED_ROUTES[name] == "json":
            assert_json_lossless(before, after, whole=True, hints=None)
        else:
            assert_search_lossless(before, after)


@pytest.mark.parametrize("name", ["loghub_HDFS_2k.log", "npm_view_express.json", "code/kvstore.go"])
def test_compressing_compressed_output_again(name):
    messages, hints = fixture_turn(name)
    first = run_checked(messages, hints, twice=False)
    second = run_checked(first.result.messages, hints, twice=False)
    assert second.result.tokens_after <= first.result.tokens_after
    # Keys from the first pass survive (verbatim or inside the second pass's originals).
    out = second.result.messages[3]["content"]
    originals = [retrieve(k, store=second.store) for k in second.result.ccr_keys]
    for key in first.result.ccr_keys:
        assert key in out or any(key in o for o in originals)


def test_anthropic_tool_result_with_list_of_text_blocks():
    names = [
        "loghub_HDFS_2k.log",
        "npm_view_express.json",
        "git_diff_flask_3.1.0..3.1.3.diff",
        "rg_n_C3_ServeHTTP_go1.19_net_http.txt",
    ]
    tiny = "exit code 0"
    outputs = [fixture_text(n) for n in names] + [tiny, ""]
    messages = anthropic_conversation(outputs, args={"command": "collect-artifacts --all"})
    hints = RouteHints("bash", {"command": "collect-artifacts --all"})
    run = run_checked(messages, hints)
    result = run.result
    assert result.format == "anthropic"
    routes = {t.sub_index: t.route for t in result.transforms_applied if t.message_index == 2}
    assert routes == {0: "log", 1: "json", 2: "diff", 3: "search_results"}
    block = result.messages[2]["content"][0]
    assert block["cache_control"] == {"type": "ephemeral"} and block["tool_use_id"] == "toolu_1"
    texts = [part["text"] for part in block["content"]]
    assert texts[4:] == [tiny, ""]
    assert all(texts[i] != outputs[i] for i in range(4))


def test_budget_fitting_keeps_every_marker_retrievable():
    """With a token budget the context manager runs after the compressors: its shrink and
    drop markers must follow the same rules (keys in the result, exact originals)."""
    names = ["loghub_HDFS_2k.log", "npm_view_express.json", "code/lexer.rs", "man_find.1.txt"]
    messages: list[dict] = [{"role": "system", "content": "You are a careful engineering assistant."}]
    for i, name in enumerate(names):
        turn = openai_conversation(fixture_text(name), args={"path": name})[1:]
        turn[1]["tool_calls"][0]["id"] = turn[2]["tool_call_id"] = f"call_{i}"
        messages.extend(turn)
    store = MemoryCCRStore()
    result = compress(messages, MODEL, config=HeadroomConfig(ccr_store=store), token_budget=6000)
    assert result.tokens_after <= result.tokens_before
    assert result.tokens_after == count_tokens(result.messages, MODEL)
    assert result.tokens_after <= 6000 or result.context.over_budget
    originals = {key: retrieve(key, store=store) for key in result.ccr_keys}
    for message in result.messages:
        for marker in parse_markers(canonical(message).decode()):
            assert marker.key in originals
    # Each stash holds a whole tool output: as it came in, or as the compressors left it
    # before the budget step shrank it further.
    unbudgeted = compress(messages, MODEL, config=HeadroomConfig(ccr_store=MemoryCCRStore()))
    outputs = set(text_slots(messages).values()) | set(text_slots(unbudgeted.messages).values())
    for key, original in originals.items():
        assert original in outputs, f"{key} holds something that is no tool output"


def test_anthropic_parallel_tool_results_have_distinct_positions():
    """Parallel tool calls: one user message, several tool_result blocks whose content is
    a list of text blocks. Each transform must say which block it is about."""
    outputs = {"t1": fixture_text("loghub_HDFS_2k.log"), "t2": fixture_text("npm_view_express.json")}
    messages = [
        {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": tid, "name": "read_file", "input": {"path": f"out_{tid}"}}
                for tid in outputs
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": tid, "content": [{"type": "text", "text": text}]}
                for tid, text in outputs.items()
            ],
        },
    ]
    result = compress(messages, MODEL, config=HeadroomConfig(ccr_store=MemoryCCRStore()))
    assert [t.route for t in result.transforms_applied] == ["log", "json"]
    positions = [position(t) for t in result.transforms_applied]
    assert len(set(positions)) == len(positions), f"transforms share a position: {positions}"


def test_openai_tool_message_with_text_parts():
    parts = [fixture_text("var_log_dpkg.log"), fixture_text("code/ring_buffer.c"), "ok"]
    messages = openai_conversation("", args={"path": "ring_buffer.c"})
    messages[3]["content"] = [{"type": "text", "text": text} for text in parts]
    run = run_checked(messages, RouteHints("read_file", {"path": "ring_buffer.c"}))
    routes = {t.part_index: t.route for t in run.result.transforms_applied}
    assert routes == {0: "log", 1: "code:c"}
    assert run.result.messages[3]["content"][2] == {"type": "text", "text": "ok"}


def test_pasted_outputs_in_user_and_system_messages_when_enabled():
    config = HeadroomConfig(compress_user_messages=True, compress_system_messages=True)
    messages = [
        {"role": "system", "content": "Reference log:\n" + fixture_text("loghub_OpenStack_2k.log")[:40_000]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": fixture_text("pytest_v_flask_head_tests_vs_installed_3.1.3.log")}
            ],
        },
        {"role": "assistant", "content": "Looking."},
        {"role": "user", "content": "Why do the tests fail?"},
    ]
    run = run_checked(messages, None, config=config)
    assert {t.message_index for t in run.result.transforms_applied if t.compressor != "none"} == {0, 1}


# --------------------------------------------------------------------------- settings and models


# One real input per route; degenerate settings must not crash a compressor either.
ONE_PER_ROUTE = sorted({route_name: name for name, route_name in sorted(EXPECTED_ROUTES.items())}.values())
EXTREME_CONFIGS = {
    "zeros": HeadroomConfig(
        min_tokens=0,
        json=JsonConfig(
            keep_first=0,
            keep_last=0,
            max_items=0,
            min_items=0,
            relevant_items=0,
            target_ratio=0.0,
            truncate_chars=0,
            max_error_items=0,
            max_anomalies=0,
            table_min_rows=0,
        ),
        code=CodeConfig(relevant_bodies=0, min_body_lines=0, max_comment_lines=0, max_relevant_chars=0),
        logs=LogConfig(context_lines=0, keep_head=0, keep_tail=0, relevant_lines=0, test_failure_lines=0),
        text=TextConfig(
            target_ratio=0.0,
            matches_per_file=0,
            max_shown_matches=0,
            search_context_lines=0,
            diff_context_lines=0,
            diff_focus_min_files=0,
            min_prose_tokens=0,
        ),
    ),
}


@pytest.mark.parametrize(
    "build",
    [
        lambda: HeadroomConfig(json=JsonConfig(keep_first=-1, max_items=-5)),
        lambda: CodeConfig(relevant_bodies=-1),
        lambda: LogConfig(keep_head=-3),
        lambda: TextConfig(matches_per_file=-1),
    ],
)
def test_negative_settings_are_refused_at_construction(build):
    """Configs validate themselves (issue 10): negative counts never reach a compressor."""
    with pytest.raises(ValueError, match="must be >= 0"):
        build()


@pytest.mark.parametrize("config_name", sorted(EXTREME_CONFIGS))
@pytest.mark.parametrize("name", ONE_PER_ROUTE)
def test_extreme_settings(name, config_name):
    hints = RouteHints("read_file", {"path": name.rsplit("/", 1)[-1]})
    query = "error timeout ServeHTTP express"
    text_checked(fixture_text(name), hints, query=query, config=EXTREME_CONFIGS[config_name], twice=False)


@pytest.mark.parametrize("model", ["claude-sonnet-4", "gemini-2.5-pro", "gpt-3.5-turbo"])
@pytest.mark.parametrize("name", ["loghub_HDFS_2k.log", "npm_view_express.json", "code/lexer.rs"])
def test_other_models(name, model):
    """Other tokenizers (and the approximate ones) keep the same promises."""
    messages, hints = fixture_turn(name)
    run = run_checked(messages, hints, model=model, twice=False)
    assert run.result.model == model and run.result.tokens_after < run.result.tokens_before


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(HeadroomConfig(compress_tool_outputs=False), id="tool-outputs-off"),
        pytest.param(
            HeadroomConfig(disabled_compressors=frozenset(REGISTRY) | {"text", "oversize"}),
            id="every-kind-disabled",
        ),
        pytest.param(
            HeadroomConfig(disabled_compressors=frozenset(get_compressor(kind).name for kind in REGISTRY)),
            id="every-compressor-name-disabled",
        ),
    ],
)
def test_switched_off_means_untouched(config):
    outputs = [fixture_text(n) for n in FIXTURE_NAMES if not n.startswith("code/")]
    messages = anthropic_conversation(outputs, args={"command": "cat *"})
    store = MemoryCCRStore()
    result = compress(messages, MODEL, config=config.with_(ccr_store=store))
    assert result.messages == messages and result.ccr_keys == []
    assert result.tokens_after == result.tokens_before


def test_tuple_content_is_treated_like_a_list_or_refused():
    """`validate_messages` accepts tuples as content; then they must be counted and
    compressed like lists (a 97k-token log counted as 6 tokens breaks every budget)."""
    log = fixture_text("loghub_HDFS_2k.log")
    as_list = anthropic_conversation([log], args={"command": "cat hdfs.log"})
    outer = copy.deepcopy(as_list)
    outer[2]["content"] = tuple(outer[2]["content"])
    inner = copy.deepcopy(as_list)
    inner[2]["content"][0]["content"] = tuple(inner[2]["content"][0]["content"])
    expected = compress(as_list, MODEL, config=HeadroomConfig(ccr_store=MemoryCCRStore()))
    for messages in (outer, inner):
        try:
            result = compress(messages, MODEL, config=HeadroomConfig(ccr_store=MemoryCCRStore()))
        except TypeError:
            continue  # refusing tuples with a clear error is fine too
        assert result.tokens_before == expected.tokens_before == count_tokens(as_list, MODEL)
        assert result.tokens_after == expected.tokens_after


def test_same_output_twice_in_one_conversation():
    """Two identical tool results share one CCR key and compress the same way."""
    text = fixture_text("openml_api_data_features_40966.json")
    messages = openai_conversation(text, args={"path": "features.json"})
    messages += [
        {"role": "user", "content": "And again?"},
        *openai_tool_turn(text, call_id="call_2", args={"path": "features.json"}),
    ]
    run = run_checked(messages, RouteHints("read_file", {"path": "features.json"}))
    first, second = run.result.transforms_applied
    assert first.ccr_keys == second.ccr_keys and len(run.result.ccr_keys) == 1


# --------------------------------------------------------------------------- properties on real outputs


# A window of the fixture ending at the cut keeps each example fast on the large files.
TRUNCATION_WINDOW = 16_000


@pytest.mark.parametrize("name", FIXTURE_NAMES)
@property_settings(20)
@given(data=st.data())
def test_truncated_fixture(name, data):
    raw = fixture_bytes(name)
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)), label="cut")
    # Cut by bytes, as a tool that truncates its output does (possibly mid-character).
    text = raw[max(0, cut - TRUNCATION_WINDOW) : cut].decode("utf-8", errors="replace")
    words = sorted(set(re.findall(r"[A-Za-z_]\w{3,}", text)))[:300]
    query = data.draw(st.none() | st.sampled_from(words) if words else st.none(), label="query")
    hints = RouteHints("read_file", {"path": name.rsplit("/", 1)[-1]})
    text_checked(text, hints, query=query)


@property_settings(30)
@given(data=st.data())
def test_two_fixture_windows_glued_together(data):
    """Mixed content: a window of one real output right after a window of another."""
    pieces = []
    for label in ("first", "second"):
        name = data.draw(st.sampled_from(FIXTURE_NAMES), label=label)
        raw = fixture_bytes(name)
        start = data.draw(st.integers(0, len(raw)), label=f"{label} start")
        size = data.draw(st.integers(0, 6000), label=f"{label} size")
        pieces.append(raw[start : start + size].decode("utf-8", errors="replace"))
    separator = data.draw(st.sampled_from(["", "\n", "\n\n", "\r\n"]), label="separator")
    config = HeadroomConfig(ccr_enabled=data.draw(st.booleans(), label="ccr"))
    text_checked(separator.join(pieces), RouteHints("bash", {"command": "make check"}), config=config)


_junk_lines = st.sampled_from(
    [
        "",
        "}",
        "{",
        "@@ -1 +1 @@",
        "diff --git a/x b/x",
        "Traceback (most recent call last):",
        "E   assert 1 == 2",
        "=== 1 failed in 0.1s ===",
        "\x00",
        "\ud800",
        "--",
        "x.py:1:y",
        "2026-01-01 00:00:00 ERROR z",
        '"""',
        "/*",
        "```",
    ]
)


@property_settings(25)
@given(data=st.data())
def test_mutated_fixture_lines(data):
    """Real outputs with lines deleted, doubled, swapped, cut or replaced by junk that
    looks like another format: every compressor meets malformed versions of its input."""
    name = data.draw(st.sampled_from(FIXTURE_NAMES), label="fixture")
    raw = fixture_text(name)
    start = data.draw(st.integers(0, len(raw) - 1), label="start")
    lines = raw[start : start + 12_000].split("\n")
    for _ in range(data.draw(st.integers(1, 12), label="edits")):
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        op = data.draw(st.sampled_from(["delete", "double", "swap", "junk", "cut", "colour"]), label="op")
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "double":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = data.draw(st.integers(0, len(lines) - 1), label="other line")
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "junk":
            lines.insert(i, data.draw(_junk_lines, label="junk"))
        elif op == "cut":
            lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i])), label="cut")]
        elif op == "colour":
            at = data.draw(st.integers(0, len(lines[i])), label="at")
            escape = data.draw(
                st.sampled_from(["\x1b[31m", "\x1b[0m", "\x1b[1;32m", "\x1b[", "\x1b]8;;x\x07"])
            )
            lines[i] = lines[i][:at] + escape + lines[i][at:]
    query = data.draw(st.sampled_from([None, "error", "handler timeout"]), label="query")
    # Without CCR every change must be lossless, which the checks then verify.
    config = HeadroomConfig(ccr_enabled=data.draw(st.booleans(), label="ccr"))
    hints = RouteHints("read_file", {"path": name.rsplit("/", 1)[-1]})
    text_checked("\n".join(lines), hints, query=query, config=config)
