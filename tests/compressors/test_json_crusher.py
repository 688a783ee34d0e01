"""SmartCrusher (JSON arrays): output forms, what is kept, CCR round trips, bad input, real files."""

from __future__ import annotations

import random
import re
from typing import Any

import orjson
import pytest

from headroom_core import (
    DiskCCRStore,
    HeadroomConfig,
    JsonConfig,
    MemoryCCRStore,
    compress,
    parse_markers,
    retrieve,
)
from headroom_core._ccr import load
from headroom_core.compressors import get_compressor
from headroom_core.compressors._base import CompressContext
from headroom_core.compressors.json import (
    TABLE_HEADER_PREFIX,
    TABLE_KEY,
    SmartCrusher,
    crush,
    expand_output,
    parse_table_text,
)
from tests.support import TOKENIZER, make_ctx, openai_conversation


def orders(n: int = 1200, seed: int = 7) -> list[dict[str, Any]]:
    """Payment rows: constant currency, url templated on id, 3 failed, one huge amount."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        rows.append(
            {
                "id": f"ord_{i:05d}",
                "amount": round(rng.uniform(20, 80), 2),
                "currency": "usd",
                "status": "settled",
                "url": f"https://api.shop.example/v1/orders/ord_{i:05d}",
                "customer": f"cus_{rng.randrange(400):04d}",
                "created": f"2025-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            }
        )
    for i in (211, 640, 1033):
        if i < n:
            rows[i]["status"] = "failed"
    if n > 905:
        rows[777]["amount"] = 98_765.43
        rows[905]["status"] = "disputed"  # a rare category
    return rows


def pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def only_marker(text: str) -> Any:
    markers = parse_markers(text)
    assert markers, "expected a CCR marker"
    assert len({m.key for m in markers}) == 1
    return markers[0]


# --------------------------------------------------------------------------- registry


def test_registered_for_json_kind():
    compressor = get_compressor("json")
    assert isinstance(compressor, SmartCrusher)
    assert compressor.name == "smart_crusher"


# --------------------------------------------------------------------------- lossless forms


def test_lossless_table_states_constant_and_template_once_and_expands_back():
    rows = orders(300)
    text = pretty(rows)
    out = crush(text, make_ctx(json={"target_ratio": 0.9, "lossless_max_tokens": None}))
    assert out is not None and out.ccr_keys == ()
    assert out.text.startswith(TABLE_HEADER_PREFIX)
    table = parse_table_text(out.text)
    assert table["constant"] == {"currency": "usd"}
    assert table["template"] == {"url": "https://api.shop.example/v1/orders/{id}"}
    assert "currency" not in table["fields"] and "url" not in table["fields"]
    assert out.text.count('"usd"') == 1
    assert out.text.count("api.shop.example") == 1
    assert len(table["rows"]) == 300
    assert expand_output(out.text) == rows


def test_nested_uniform_array_becomes_embedded_table_and_stays_json():
    doc = {"total_count": 40, "items": orders(40), "next": None}
    out = crush(pretty(doc), make_ctx(json={"target_ratio": 0.9}))
    assert out is not None
    parsed = orjson.loads(out.text)
    assert parsed["items"][TABLE_KEY].startswith("40 rows x 7 fields")
    assert expand_output(out.text) == doc


def test_ccr_disabled_only_lossless():
    rows = orders(1500)
    ctx = make_ctx(None, json={"target_ratio": 0.05})
    assert not ctx.can_drop
    out = crush(pretty(rows), ctx)
    assert out is not None and out.ccr_keys == ()
    assert not parse_markers(out.text)
    assert expand_output(out.text) == rows


def test_ccr_disabled_without_table_form_is_minified_json():
    rows = orders(50)
    out = crush(pretty(rows), make_ctx(None, json={"allow_table_form": False}))
    assert out is not None
    assert out.text == orjson.dumps(rows).decode()


# --------------------------------------------------------------------------- what is kept


def lossy(rows: Any, query: str | None = None, **changes: Any) -> tuple[Any, CompressContext]:
    changes.setdefault("target_ratio", 0.05)
    ctx = make_ctx(query=query, json=changes)
    out = crush(pretty(rows), ctx)
    assert out is not None
    return out, ctx


def test_errors_anomalies_rare_categories_and_query_matches_are_kept():
    rows = orders()
    out, _ = lossy(rows, query="what happened to order ord_00333")
    for needle in ("ord_00211", "ord_00640", "ord_01033", "98765.43", "disputed", "ord_00333"):
        assert needle in out.text, needle
    assert "ord_00000" in out.text and "ord_01199" in out.text  # first and last
    assert out.text.count("\n") < 60  # and most rows are gone


def test_summary_line_counts_are_right():
    rows = orders()
    out, _ = lossy(rows)
    marker = only_marker(out.text)
    table = parse_table_text(out.text)
    shown = [r for r in table["rows"] if isinstance(r, list)]
    omitted = len(rows) - len(shown)
    assert marker.description.startswith(f"{omitted:,} of 1,200 rows omitted")
    assert "failed x3 (all kept)" in marker.description
    assert "settled x1,196" in marker.description
    assert "disputed x1 (all kept)" in marker.description
    assert "currency: always usd" in marker.description
    assert "errors 3" in marker.description
    gaps = [
        int(m.group(1).replace(",", "")) for m in re.finditer(r"\(([\d,]+) more rows omitted\)", out.text)
    ]
    # The marker sits at the first gap; the later gaps count the rest.
    assert sum(gaps) < omitted


def test_json_form_with_marker_string_at_the_gap():
    rows = orders(300)
    out, _ = lossy(rows, allow_table_form=False)
    parsed = orjson.loads(out.text)
    assert isinstance(parsed, list)
    assert parsed[:3] == rows[:3]
    assert isinstance(parsed[3], str) and parse_markers(parsed[3])
    kept = [x for x in parsed if isinstance(x, dict)]
    assert all(x in rows for x in kept)
    assert rows[211] in kept and rows[-1] in kept


def test_change_point_in_ordered_series_is_kept():
    rng = random.Random(3)
    series = [{"t": i, "latency_ms": round(rng.gauss(40, 3), 1)} for i in range(600)]
    for row in series[420:]:
        row["latency_ms"] = round(row["latency_ms"] + 60, 1)
    out, _ = lossy(series)
    shown = [r[0] for r in parse_table_text(out.text)["rows"] if isinstance(r, list)]
    assert 419 in shown and 420 in shown


def test_numeric_array_keeps_outliers_and_states_stats():
    rng = random.Random(5)
    values = [round(rng.gauss(100, 5), 3) for _ in range(5000)]
    values[3210] = 9999.5
    out, _ = lossy({"samples": values})
    parsed = orjson.loads(out.text)
    assert 9999.5 in parsed["samples"]
    marker = only_marker(out.text)
    assert "numbers omitted" in marker.description and "median" in marker.description


def test_string_array_keeps_error_lines():
    lines = [f"2025-01-01T00:00:{i % 60:02d} INFO request {i} ok" for i in range(400)]
    lines[123] = "2025-01-01T00:02:03 ERROR upstream timed out after 30s"
    lines[300] = "Traceback (most recent call last): boom"
    out, _ = lossy({"lines": lines})
    parsed = orjson.loads(out.text)["lines"]
    assert lines[123] in parsed and lines[300] in parsed
    assert len(parsed) < 30


def test_long_text_is_cut_but_every_item_kept_when_that_meets_the_target():
    rng = random.Random(11)
    words = ["the", "app", "crashes", "when", "saving", "a", "file", "with", "unicode", "names"]
    issues = [
        {
            "number": 1000 + i,
            "title": f"Issue title number {i}",
            "state": "open",
            "body": " ".join(rng.choice(words) for _ in range(400)),
        }
        for i in range(40)
    ]
    out, ctx = lossy(issues, target_ratio=0.35)
    for issue in issues:
        assert str(issue["number"]) in out.text and issue["title"] in out.text
    marker = only_marker(out.text)
    assert "every item kept" in marker.description
    assert retrieve(marker.key, store=ctx.store) == pretty(issues)


# --------------------------------------------------------------------------- CCR


@pytest.mark.parametrize("store_kind", ["memory", "disk"])
def test_round_trip_is_byte_identical_and_dropped_items_are_retrievable(store_kind, tmp_path):
    store = MemoryCCRStore() if store_kind == "memory" else DiskCCRStore(tmp_path / "ccr")
    rows = orders(500)
    rows[10]["customer"] = "Zoë Ünïcødé ✓"
    text = pretty({"data": {"orders": rows}}) + "\n"
    ctx = make_ctx(store, json={"target_ratio": 0.05})
    out = crush(text, ctx)
    assert out is not None and len(out.ccr_keys) == 1
    key = out.ccr_keys[0]
    assert only_marker(out.text).key == key
    assert retrieve(key, store=store) == text
    meta, _ = load(store, key)
    assert meta["paths"] == [["data", "orders"]]
    shown_ids = set(re.findall(r"ord_\d{5}", out.text))
    dropped = [r for r in rows if r["id"] not in shown_ids]
    assert len(dropped) > 400
    original = retrieve(key, store=store)
    for row in dropped[::40]:
        assert orjson.dumps(row).decode() in orjson.dumps(orjson.loads(original)).decode()
        found = orjson.loads(retrieve(key, query=row["id"], limit=3, store=store))
        assert row in found
    if isinstance(store, DiskCCRStore):
        store.close()


def test_deterministic():
    rows = orders()
    a, _ = lossy(rows, query="failed orders")
    b, _ = lossy(rows, query="failed orders")
    assert a.text == b.text and a.summary == b.summary


def test_one_key_for_several_arrays_in_one_text():
    doc = {"a": orders(300, seed=1), "b": orders(300, seed=2)}
    ctx = make_ctx(json={"target_ratio": 0.05})
    out = crush(pretty(doc), ctx)
    assert out is not None and len(out.ccr_keys) == 1
    assert len(parse_markers(out.text)) == 2
    meta, _ = load(ctx.store, out.ccr_keys[0])
    assert meta["paths"] == [["a"], ["b"]]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "text",
    [
        "{not json at all",
        '{"a": [1, 2, 3,]}',
        "[1, 2",
        "",
        "   ",
        "null",
        "42",
        '"just a string"',
        '{"a": NaN}',
        "[1e400]",
    ],
)
def test_not_json_or_not_a_container_returns_none(text):
    assert SmartCrusher().compress(text, make_ctx()) is None


def test_json_looking_message_that_is_not_json():
    text = '{"status": "ok", "items": [' + ", ".join(f"item {i}" for i in range(500)) + "]}"
    assert SmartCrusher().compress(text, make_ctx()) is None


@pytest.mark.parametrize("text", ['["\ud800 lone surrogate"]', '["\\ud800 escaped lone surrogate"]'])
def test_lone_surrogates_do_not_raise(text):
    big = "[" + ",".join([text[1:-1]] * 50) + "]"
    assert SmartCrusher().compress(big, make_ctx()) is None


def test_twenty_levels_of_nesting():
    rows = orders(400)
    doc: Any = {"rows": rows}
    path: list[Any] = ["rows"]
    for level in range(20):
        doc = {f"level{level}": [doc]} if level % 2 else {f"level{level}": doc}
        path = [f"level{level}", 0, *path] if level % 2 else [f"level{level}", *path]
    ctx = make_ctx(json={"target_ratio": 0.05})
    out = crush(pretty(doc), ctx)
    assert out is not None
    meta, _ = load(ctx.store, out.ccr_keys[0])
    assert meta["paths"] == [path]
    assert "ord_00211" in out.text
    found = orjson.loads(retrieve(out.ccr_keys[0], query="ord_00300", limit=2, store=ctx.store))
    assert rows[300] in found


def test_absurd_nesting_passes_through():
    text = "[" * 600 + "]" * 600
    assert SmartCrusher().compress(text, make_ctx()) is None


def test_huge_array():
    rows = [{"i": i, "v": i % 7, "tag": "x"} for i in range(60_000)]
    out, ctx = lossy(rows)
    assert len(out.text) < 3000
    assert "60,000 rows" in out.text
    assert retrieve(out.ccr_keys[0], store=ctx.store) == pretty(rows)


def test_small_json_is_left_alone_or_not_inflated():
    text = '{"ok": true, "items": [1, 2, 3]}'
    out = SmartCrusher().compress(text, make_ctx())
    assert out is None or len(out.text) <= len(text)


# --------------------------------------------------------------------------- real inputs


def test_real_moto_ec2_offerings(fixtures_dir):
    text = (fixtures_dir / "moto_ec2_instance_type_offerings_az_us-east-1.json").read_text()
    records = orjson.loads(text)
    ctx = make_ctx()
    out = crush(text, ctx)
    assert out is not None
    assert out.text.startswith(TABLE_HEADER_PREFIX)
    assert TOKENIZER.count(out.text) < 0.05 * TOKENIZER.count(text)
    marker = only_marker(out.text)
    assert marker.description.startswith(f"{len(records) - 5:,} of {len(records):,} rows omitted")
    assert retrieve(marker.key, store=ctx.store) == text
    found = orjson.loads(retrieve(marker.key, query="x2iedn.metal us-east-1d", limit=5, store=ctx.store))
    assert {"InstanceType": "x2iedn.metal", "Location": "us-east-1d"} in found


def test_real_npm_view_express(fixtures_dir):
    text = (fixtures_dir / "npm_view_express.json").read_text()
    ctx = make_ctx()
    out = crush(text, ctx)
    assert out is not None
    parsed = orjson.loads(out.text)
    original = orjson.loads(text)
    assert parsed["name"] == "express" and parsed["description"] == original["description"]
    assert parsed["versions"][:3] == original["versions"][:3]
    assert parsed["versions"][-1] == original["versions"][-1]
    assert TOKENIZER.count(out.text) < TOKENIZER.count(text)
    versions = orjson.loads(retrieve(out.ccr_keys[0], query="4.17.1", store=ctx.store))
    assert "4.17.1" in versions


def test_real_openml_features(fixtures_dir):
    text = (fixtures_dir / "openml_api_data_features_40966.json").read_text()
    ctx = make_ctx()
    out = crush(text, ctx)
    assert out is not None
    parsed = orjson.loads(out.text)
    kept = expand_output(out.text)["data_features"]["feature"]
    records = [r for r in kept if isinstance(r, dict)]
    # The one row identifier and the target are rare categories: kept.
    assert any(r["is_row_identifier"] == "true" for r in records)
    assert any(r["is_target"] == "true" for r in records)
    assert "data_features" in parsed
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text


# --------------------------------------------------------------------------- through compress()


def test_through_compress_with_openai_messages():
    rows = orders()
    store = MemoryCCRStore()
    messages = openai_conversation(
        pretty(rows), system=None, question="Which orders failed?", tool="list_orders"
    )
    result = compress(messages, "gpt-4o", config=HeadroomConfig(ccr_store=store))
    out = result.messages[2]["content"]
    assert result.tokens_after < 0.35 * result.tokens_before
    assert messages[2]["content"] == pretty(rows)  # the caller's list is untouched
    for needle in ("ord_00211", "ord_00640", "ord_01033"):
        assert needle in out
    for key in result.ccr_keys:
        assert retrieve(key, store=store) == pretty(rows)


def test_array_of_rows_uses_positional_columns():
    rng = random.Random(1)
    rows = [[i, round(rng.gauss(50, 5), 2), "ok"] for i in range(500)]
    rows[300][1] = 5000.0
    rows[420][2] = "failed"
    out, _ = lossy({"columns": ["id", "amount", "status"], "rows": rows})
    parsed = orjson.loads(out.text)
    assert [300, 5000.0, "ok"] in parsed["rows"] and [420, rows[420][1], "failed"] in parsed["rows"]
    marker = only_marker(out.text)
    assert "rows omitted" in marker.description and "#1: " in marker.description
    assert any(isinstance(x, str) and x.endswith("more rows omitted)") for x in parsed["rows"])


def test_lossless_table_is_preferred_when_it_meets_the_target():
    rows = orders(600)
    for row in rows:
        del row["created"]  # what is left tabulates to ~27% of the tokens
    out = crush(pretty(rows), make_ctx(json={"lossless_max_tokens": None}))  # default target_ratio 0.35
    assert out is not None and out.ccr_keys == ()
    assert TOKENIZER.count(out.text) <= 0.35 * TOKENIZER.count(pretty(rows))
    assert expand_output(out.text) == rows


def test_every_error_is_kept_even_past_max_items():
    rows = orders(2000)
    failing = list(range(17, 2000, 50))  # 40 failures
    for i in failing:
        rows[i]["status"] = "error"
    out, _ = lossy(rows, max_items=10)
    for i in failing:
        assert rows[i]["id"] in out.text


def test_error_cap_is_reported_in_the_summary():
    rows = orders(2000)
    for i in range(100, 400):
        rows[i]["status"] = "failed"
    out, _ = lossy(rows, max_error_items=20)
    marker = only_marker(out.text)
    assert "errors 20" in marker.description
    assert "more errors not shown" in marker.description


def test_cut_mode_keeps_error_text_whole():
    long_trace = "Traceback (most recent call last): " + "frame " * 200 + "ValueError: bad input"
    jobs = [{"job": f"job-{i}", "state": "done", "log": "step ok " * 80} for i in range(30)]
    jobs[12] = {"job": "job-12", "state": "failed", "log": long_trace}
    out, _ = lossy(jobs, target_ratio=0.5)
    assert "every item kept" in only_marker(out.text).description
    assert long_trace in out.text
    assert all(f"job-{i}" in out.text for i in range(30))


def test_compress_text_with_ccr_disabled_is_lossless():
    from headroom_core import compress_text

    rows = orders()
    result = compress_text(pretty(rows), config=HeadroomConfig(ccr_enabled=False))
    assert result.tokens_after < result.tokens_before
    assert not parse_markers(result.text)
    assert expand_output(result.text) == rows


def test_through_compress_with_anthropic_messages():
    rows = orders()
    store = MemoryCCRStore()
    messages = [
        {"role": "user", "content": "Which orders failed?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "list_orders", "input": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": pretty(rows)}]},
    ]
    config = HeadroomConfig(ccr_store=store, json=JsonConfig(target_ratio=0.05))
    result = compress(messages, "claude-3-5-sonnet", config=config)
    out = result.messages[2]["content"][0]["content"]
    assert "ord_00640" in out and parse_markers(out)
    assert retrieve(result.ccr_keys[0], store=store) == pretty(rows)


def test_extreme_numbers_give_no_numpy_warnings(recwarn):
    values = [0.0] * 30 + [1e308, -1e308, 5e-324] + [1.0] * 30
    out, _ = lossy({"v": values, "rows": [{"x": v, "y": -v} for v in values]})
    parsed = orjson.loads(out.text)
    assert 1e308 in parsed["v"] and -1e308 in parsed["v"]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_work_is_bounded_for_many_arrays_and_long_queries():
    rng = random.Random(2)
    doc = {f"series{i}": [round(rng.random(), 4) for _ in range(150)] for i in range(100)}
    long_query = "ord_00333 " + " ".join(f"word{i}" for i in range(2000))
    ctx = make_ctx(query=long_query, json={"target_ratio": 0.05})
    out = crush(pretty(doc), ctx)
    assert out is not None
    assert len(parse_markers(out.text)) == 64  # the analysis cap; the rest is minified
    meta, _ = load(ctx.store, out.ccr_keys[0])
    assert len(meta["paths"]) == 64
    rows_out, _ = lossy(orders(), query=long_query)
    assert "ord_00333" in rows_out.text  # the first query terms still count


def test_surrounding_whitespace_is_kept_for_embedded_segments():
    text = "\n  " + pretty(orders(300)) + "\n\n"
    ctx = make_ctx(json={"target_ratio": 0.05})
    out = crush(text, ctx)
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    assert out.text.startswith("\n  [headroom table: ") and out.text.endswith("]\n\n")
