"""SmartCrusher on shapes found in real tool outputs (issue 11): nested records, extremes
questions, large maps, large lossless tables and derived columns; on generated data and on
real files (tests/fixtures, origins in CORPUS_README.md)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from headroom_core import parse_markers, retrieve
from headroom_core._ccr import load
from headroom_core.compressors.json import TABLE_HEADER_PREFIX, crush, expand_output, parse_table_text
from headroom_core.compressors.json._signals import _query_fields
from tests.support import TOKENIZER, make_ctx


def pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def features(n: int = 1500, seed: int = 4) -> list[dict[str, Any]]:
    """GeoJSON-like earthquake features: the interesting fields are under `properties`."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(
            {
                "type": "Feature",
                "properties": {
                    "mag": round(rng.uniform(0.5, 3.0), 2),
                    "place": f"{rng.randrange(1, 90)} km N of Town{rng.randrange(40)}",
                    "status": "reviewed",
                    "latency_ms": rng.randrange(80, 120),
                    "type": "earthquake",
                },
                "geometry": {"type": "Point", "coordinates": [rng.uniform(-180, 180), rng.uniform(-60, 60)]},
                "id": f"ev{i:05d}",
            }
        )
    out[1111]["properties"]["mag"] = 7.9
    out[222]["properties"]["mag"] = -0.4
    out[333]["properties"]["latency_ms"] = 9000
    out[444]["properties"]["type"] = "quarry blast"
    return out


def marker_of(text: str) -> Any:
    markers = parse_markers(text)
    assert markers
    return markers[0]


# --------------------------------------------------------------------------- nested records and extremes


def test_nested_fields_get_statistics_extremes_and_rare_values():
    doc = {"type": "FeatureCollection", "features": features()}
    ctx = make_ctx(query="Which earthquake had the largest magnitude?", json={"target_ratio": 0.05})
    out = crush(pretty(doc), ctx)
    assert out is not None
    for needle in ('"ev01111"', '"ev00222"', '"ev00333"', '"ev00444"'):
        assert needle in out.text, needle  # max and min mag, latency outlier, rare type
    description = marker_of(out.text).description
    assert "properties.mag: min -0.4" in description and "max 7.9" in description
    assert "median" in description
    assert "properties.type: earthquake x1,499, quarry blast x1 (all kept)" in description
    # the query names the field: its statistics come first
    assert description.index("properties.mag") < description.index("properties.latency_ms")


def test_extremes_are_bounded():
    rng = random.Random(8)
    rows = [{f"f{j}": rng.random() for j in range(12)} | {"id": i} for i in range(800)]
    out = crush(
        pretty(rows), make_ctx(json={"target_ratio": 0.05, "max_extreme_fields": 2, "max_anomalies": 0})
    )
    assert out is not None
    description = marker_of(out.text).description
    assert "extremes 4" in description or "extremes 3" in description
    shown = [r for r in parse_table_text(out.text)["rows"] if isinstance(r, list)]
    assert len(shown) <= 3 + 2 + 4 + 4  # first, last, extremes, change points / rare values


@pytest.mark.parametrize(
    ("query", "fields", "expected"),
    [
        ("Which quake had the highest magnitude?", ["properties.mag", "properties.sig"], "properties.mag"),
        ("what was the worst latency", ["id", "latency_ms", "size"], "latency_ms"),
        ("the slowest request", ["bytes", "duration_ms"], "duration_ms"),
        ("largest payment amount", ["amountCents", "fee"], "amountCents"),
    ],
)
def test_query_names_fields_fuzzily(query, fields, expected):
    assert _query_fields(fields, query)[0] == expected


def test_summary_shows_exact_extremes_for_big_numbers():
    rows = [{"k": i, "wei": 10**22 + i * 10**5 + 1} for i in range(500)]
    text = "[" + ",".join(f'{{"k": {r["k"]}, "wei": {r["wei"]}}}' for r in rows) + "]"
    out = crush(text, make_ctx(json={"target_ratio": 0.05}))
    assert out is not None
    description = marker_of(out.text).description
    assert f"min {10**22 + 1}" in description and f"max {10**22 + 499 * 10**5 + 1}" in description


# --------------------------------------------------------------------------- large maps


def version_map(n: int = 900) -> dict[str, str]:
    return {
        f"{i // 100}.{(i // 10) % 10}.{i % 10}": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n)
    }


def test_large_map_keeps_named_key_first_and_last_and_stays_json():
    times = {"created": "2020-01-01", **version_map(), "modified": "2025-06-01"}
    ctx = make_ctx(query="When was 4.2.7 released?")
    out = crush(pretty({"name": "pkg", "time": times}), ctx)
    assert out is not None
    parsed = orjson.loads(out.text)  # valid JSON
    kept = parsed["time"]
    assert kept["4.2.7"] == times["4.2.7"]
    assert "created" in kept and "modified" in kept and "0.0.0" in kept
    marker = marker_of(out.text)
    assert marker.description.startswith(
        f"{len(times) - sum(1 for k in kept if not k.startswith('_headroom'))}"
    )
    assert "entries omitted" in marker.description
    meta, _ = load(ctx.store, marker.key)
    assert meta["paths"] == [["time"]]
    found = orjson.loads(retrieve(marker.key, query="8.1.3", store=ctx.store))
    assert {"8.1.3": times["8.1.3"]} in found


def test_map_of_records_keeps_errors_and_the_named_id():
    rng = random.Random(3)
    jobs = {
        f"job-{i:04d}": {"state": "done", "seconds": round(rng.uniform(1, 3), 2), "node": f"n{i % 7}"}
        for i in range(600)
    }
    jobs["job-0317"]["state"] = "failed"
    jobs["job-0450"]["seconds"] = 812.5
    out = crush(pretty(jobs), make_ctx(query="what happened to job-0099?"))
    assert out is not None
    kept = orjson.loads(out.text)
    assert kept["job-0317"]["state"] == "failed"
    assert kept["job-0450"]["seconds"] == 812.5
    assert "job-0099" in kept
    assert len(kept) < 40


def test_small_objects_are_records_not_maps():
    record = {f"field_{i}": i for i in range(150)}
    out = crush(pretty(record), make_ctx(json={"target_ratio": 0.05}))
    assert out is None or not parse_markers(out.text)


# --------------------------------------------------------------------------- the lossless cap


def payments(n: int) -> list[dict[str, Any]]:
    rng = random.Random(n)
    return [
        {"id": f"pay_{i:05d}", "amount": round(rng.uniform(5, 50), 2), "status": "ok", "currency": "eur"}
        for i in range(n)
    ]


def test_lossless_table_above_the_cap_selects_rows():
    rows = payments(2000)
    uncapped = crush(pretty(rows), make_ctx(json={"lossless_max_tokens": None}))
    assert uncapped is not None and uncapped.ccr_keys == ()
    assert TOKENIZER.count(uncapped.text) > 2000  # the lossless table is too big to send every turn
    ctx = make_ctx()
    capped = crush(pretty(rows), ctx)
    assert capped is not None and capped.ccr_keys
    assert TOKENIZER.count(capped.text) < 1000
    assert retrieve(capped.ccr_keys[0], store=ctx.store) == pretty(rows)


def test_lossless_table_under_the_cap_stays_lossless():
    rows = payments(60)
    out = crush(pretty(rows), make_ctx())
    assert out is not None and out.ccr_keys == ()
    assert expand_output(out.text) == rows


# --------------------------------------------------------------------------- derived columns


def test_arithmetic_progression_is_stated_once_in_the_header():
    rows = [
        {"id": 1 + 2 * i, "name": f"n{i % 3}", "url": f"https://x.example/{1 + 2 * i}"} for i in range(200)
    ]
    out = crush(pretty(rows), make_ctx(None))
    assert out is not None and out.text.startswith(TABLE_HEADER_PREFIX)
    table = parse_table_text(out.text)
    assert table["sequence"] == {"id": [1, 2]}
    assert table["template"] == {"url": "https://x.example/{id}"}
    assert table["fields"] == ["name"]
    assert expand_output(out.text) == rows
    embedded = crush(pretty({"rows": rows}), make_ctx(None))
    assert embedded is not None
    assert orjson.loads(embedded.text)["rows"]["sequence"] == {"id": [1, 2]}
    assert expand_output(embedded.text) == {"rows": rows}


def test_reduced_table_writes_ids_in_every_row():
    rows = [{"id": i + 1, "v": round(random.Random(i).random(), 3)} for i in range(3000)]
    out = crush(pretty(rows), make_ctx(json={"target_ratio": 0.05}))
    assert out is not None and out.ccr_keys
    table = parse_table_text(out.text)
    assert table["sequence"] == {} and table["fields"][0] == "id"


def test_a_row_keeps_one_value_when_every_field_is_derived():
    rows = [{"id": i, "status": "ok", "detail": f"row {i}"} for i in range(50)]
    out = crush(pretty(rows), make_ctx(None))
    assert out is not None
    table = parse_table_text(out.text)
    assert table["fields"] == ["id"] and table["sequence"] == {}
    assert expand_output(out.text) == rows


def test_progression_must_hold_for_every_row():
    rows = [{"id": i if i != 150 else 9999, "x": "a"} for i in range(200)]
    out = crush(pretty(rows), make_ctx(None))
    assert out is not None
    assert parse_table_text(out.text)["sequence"] == {}
    assert expand_output(out.text) == rows


# --------------------------------------------------------------------------- real files


def test_real_npm_time_map(fixtures_dir):
    text = (fixtures_dir / "npm_view_typescript_time.json").read_text()
    times = orjson.loads(text)
    ctx = make_ctx(query="When was typescript 5.4.2 published?")
    out = crush(text, ctx)
    assert out is not None
    kept = orjson.loads(out.text)
    assert kept["5.4.2"] == times["5.4.2"]
    assert TOKENIZER.count(out.text) < 0.02 * TOKENIZER.count(text)
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text


def test_real_torch_graph_break_registry(fixtures_dir):
    text = (fixtures_dir / "torch_dynamo_graph_break_registry.json").read_text()
    registry = orjson.loads(text)
    ctx = make_ctx(query="What does graph break GB0123 mean?")
    out = crush(text, ctx)
    assert out is not None
    kept = orjson.loads(out.text)
    assert kept["GB0123"][0]["Gb_type"] == registry["GB0123"][0]["Gb_type"]
    assert TOKENIZER.count(out.text) < 0.15 * TOKENIZER.count(text)


def test_real_pip_inspect_nested_metadata(fixtures_dir):
    text = (fixtures_dir / "pip_inspect_venv_no_descriptions.json").read_text()
    doc = orjson.loads(text)
    ctx = make_ctx(query="Which version of httpx is installed?")
    out = crush(text, ctx)
    assert out is not None
    httpx = next(p for p in doc["installed"] if p["metadata"]["name"] == "httpx")
    assert orjson.dumps(httpx["metadata"]["version"]).decode() in out.text
    description = marker_of(out.text).description
    assert "metadata." in description  # nested fields are described
    assert TOKENIZER.count(out.text) < 0.2 * TOKENIZER.count(text)


def test_real_sbom_dependency_table(fixtures_dir):
    text = (fixtures_dir / "ruff_0.17.6_cyclonedx_sbom.json").read_text()
    ctx = make_ctx(query="Which crates does ruff_linter depend on?")
    out = crush(text, ctx)
    assert out is not None
    assert 'crates/ruff_linter#0.17.6","dependsOn"' in out.text
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
