"""JSON the crusher was not written against (issue 11): one workload per class at least.

- nested records: `pip inspect` of this project's venv (fields under `metadata.*`);
- extremes: GeoJSON earthquake features generated with a fixed seed (`properties.mag`);
- large maps: torch's graph-break registry (id -> records) and `npm view typescript time`
  (version -> date, 3,478 keys);
- large table: the `dependencies` table of ruff's CycloneDX SBOM (331 uniform rows).

Real files are in tests/fixtures (origins in CORPUS_README.md). Needles are facts the
question needs, which must be in the compressed text.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson

from benchmarks._harness import Workload, tool_conversation

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def earthquakes(n: int = 2500, seed: int = 1906) -> dict[str, Any]:
    """A USGS-style GeoJSON FeatureCollection; magnitudes and depths log-normal-ish."""
    rng = random.Random(seed)
    regions = ["Alaska", "California", "Nevada", "Hawaii", "Puerto Rico", "Chile", "Japan", "Tonga"]
    features = []
    for i in range(n):
        mag = round(max(-0.9, rng.gauss(1.6, 0.9)), 2)
        region = rng.choice(regions)
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "mag": mag,
                    "place": f"{rng.randrange(1, 120)} km {rng.choice(['N', 'S', 'E', 'W', 'NE', 'SW'])} of {region}",
                    "time": 1_717_200_000_000 + i * 34_567,
                    "updated": 1_717_300_000_000 + i * 34_567,
                    "tz": None,
                    "url": f"https://earthquake.usgs.gov/earthquakes/eventpage/us7000{i:05d}",
                    "felt": None if rng.random() < 0.9 else rng.randrange(1, 400),
                    "cdi": None,
                    "alert": None,
                    "status": rng.choice(["automatic", "reviewed"]),
                    "tsunami": 0,
                    "sig": int(max(0, mag) * 60),
                    "net": "us",
                    "code": f"7000{i:05d}",
                    "magType": rng.choice(["ml", "md", "mb", "mww"]),
                    "type": "earthquake" if rng.random() > 0.01 else "quarry blast",
                    "title": f"M {mag} - {region}",
                },
                "geometry": {
                    "type": "Point",
                    "coordinates": [
                        round(rng.uniform(-180, 180), 4),
                        round(rng.uniform(-60, 70), 4),
                        round(rng.lognormvariate(2.3, 0.8), 2),
                    ],
                },
                "id": f"us7000{i:05d}",
            }
        )
    features[1717]["properties"].update(mag=7.8, title="M 7.8 - Tonga", place="95 km NE of Tonga", tsunami=1)
    features[404]["properties"]["mag"] = -1.4
    return {
        "type": "FeatureCollection",
        "metadata": {"generated": 1_717_400_000_000, "title": "USGS All Earthquakes, Past Week", "count": n},
        "features": features,
    }


def extremes_geojson() -> Workload:
    doc = earthquakes()
    question = "Which earthquake had the largest magnitude this week, and which the smallest?"
    return Workload(
        name="json: GeoJSON earthquakes, extremes question",
        messages=tool_conversation(
            question, "usgs_feed", orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()
        ),
        target_saved=0.95,
        needles=["us700001717", "7.8", "us700000404", "-1.4"],
        query=question,
        issue=11,
    )


def nested_pip_inspect() -> Workload:
    text = _fixture("pip_inspect_venv_no_descriptions.json")
    doc = orjson.loads(text)
    httpx = next(p for p in doc["installed"] if p["metadata"]["name"] == "httpx")
    question = "Which version of httpx is installed, and what does it require?"
    return Workload(
        name="json: pip inspect (nested metadata.*)",
        messages=tool_conversation(question, "pip_inspect", text),
        target_saved=0.80,
        needles=[f'"version":"{httpx["metadata"]["version"]}"', *httpx["metadata"]["requires_dist"][:2]],
        query=question,
        source="real: pip_inspect_venv_no_descriptions.json",
        issue=11,
    )


def map_torch_registry() -> Workload:
    text = _fixture("torch_dynamo_graph_break_registry.json")
    question = "What does graph break GB0123 mean, and how do I avoid it?"
    entry = orjson.loads(text)["GB0123"][0]
    return Workload(
        name="json: torch graph-break registry (id -> records map)",
        messages=tool_conversation(question, "read_json", text),
        target_saved=0.85,
        needles=['"GB0123"', entry["Gb_type"]],
        query=question,
        source="real: torch_dynamo_graph_break_registry.json",
        issue=11,
    )


def map_npm_time() -> Workload:
    text = _fixture("npm_view_typescript_time.json")
    times = orjson.loads(text)
    question = "When was typescript 5.4.2 published?"
    return Workload(
        name="json: npm view typescript time (3,478-key map)",
        messages=tool_conversation(question, "npm_view", text, {"package": "typescript", "field": "time"}),
        target_saved=0.95,
        needles=['"5.4.2"', times["5.4.2"]],
        query=question,
        source="real: npm_view_typescript_time.json",
        issue=11,
    )


def table_sbom_dependencies() -> Workload:
    text = _fixture("ruff_0.17.6_cyclonedx_sbom.json")
    question = "Which crates does ruff_linter depend on?"
    return Workload(
        name="json: ruff SBOM (331-row dependency table)",
        messages=tool_conversation(question, "read_json", text),
        target_saved=0.85,
        needles=['crates/ruff_linter#0.17.6","dependsOn"'],
        query=question,
        source="real: ruff_0.17.6_cyclonedx_sbom.json",
        issue=11,
    )


def workloads() -> list[Workload]:
    return [
        nested_pip_inspect(),
        extremes_geojson(),
        map_torch_registry(),
        map_npm_time(),
        table_sbom_dependencies(),
    ]
