"""Image workloads: screenshots, photos, charts and diagrams sent to a vision model.

Real images come from tests/fixtures/ (a GNOME screenshot, the Hubble deep field photo,
the Python logging flow diagram, a scanned text page, scikit-image's cat photo); the
chart is drawn by matplotlib with a fixed seed (byte-identical on every run).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from benchmarks._harness import Workload

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"
ISSUE = 7
_REAL = {
    "screenshot": FIXTURES / "gnome_help_screenshot_shell-appts.png",
    "photo": FIXTURES / "skimage_hubble_deep_field.jpg",
    "diagram": FIXTURES / "pydocs_logging_flow_diagram.png",
    "text_page": FIXTURES / "skimage_page_scanned_document.png",
    "cat": FIXTURES / "images" / "chelsea.png",
}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _mime(path: Path) -> str:
    return "image/jpeg" if path.suffix == ".jpg" else "image/png"


def chart_png(seed: int = 11) -> bytes:
    """A line chart with a legend and labelled axes (1200x800 px)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(12, 8), dpi=100)
    for name in ("p50 latency", "p95 latency", "p99 latency"):
        ax.plot(np.cumsum(rng.normal(0.2, 1.0, 120)) + 50, label=name)
    ax.set_title("checkout-service latency (ms), last 2 hours")
    ax.set_xlabel("minute")
    ax.set_ylabel("ms")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _openai_image(raw: bytes, mime: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{_b64(raw)}"}}


def _anthropic_image(raw: bytes, mime: str) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": _b64(raw)}}


def _images(make: Any) -> list[dict[str, Any]]:
    blocks = [make(path.read_bytes(), _mime(path)) for path in _REAL.values()]
    blocks.append(make(chart_png(), "image/png"))
    return blocks


def _check_images(result: Any) -> str | None:
    """Every image transform must be a real compression with its quality reported."""
    for t in result.transforms_applied:
        if t.route != "image":
            continue
        if t.compressor == "passthrough":
            return f"image in message {t.message_index} passed through: {t.summary}"
        if t.compressor != "dedupe" and "SSIM" not in t.summary:
            return f"image in message {t.message_index} has no quality note"
    return None


def workloads() -> list[Workload]:
    question = "Here are the screenshot, photos, chart and diagram from the incident review. What stands out?"
    openai_mixed = [
        {"role": "system", "content": "You are a careful engineering assistant."},
        {"role": "user", "content": [{"type": "text", "text": question}, *_images(_openai_image)]},
    ]
    shot = _REAL["screenshot"].read_bytes()
    agent_loop: list[dict[str, Any]] = [
        {"role": "system", "content": "You operate a desktop through screenshots."}
    ]
    for step in range(4):
        agent_loop.append(
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": f"step {step}: screen now"},
                    _openai_image(shot, "image/png"),
                ],
            }
        )
        agent_loop.append({"role": "assistant", "content": f"Clicked the calendar (step {step})."})
    return [
        Workload(
            "images: mixed screenshot/photo/chart/diagram (OpenAI, gpt-4o)",
            openai_mixed,
            0.4,
            needles=[question],
            source="real: tests/fixtures images + matplotlib chart",
            issue=ISSUE,
            check=_check_images,
        ),
        Workload(
            "images: agent loop re-sending the same screenshot",
            agent_loop,
            0.7,
            needles=["step 3: screen now"],
            source="real: tests/fixtures/gnome_help_screenshot_shell-appts.png",
            issue=ISSUE,
            check=_check_images,
        ),
    ]


MODELS = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.0-flash"}


def provider_table() -> list[dict[str, Any]]:
    """The mixed set through `compress()` once per provider (the harness prices everything
    for gpt-4o): image tokens before/after and the worst quality figures."""
    from headroom_core import HeadroomConfig, MemoryCCRStore, compress
    from headroom_core.images import estimate_block_tokens

    rows = []
    for provider, model in MODELS.items():
        make = _anthropic_image if provider == "anthropic" else _openai_image
        messages = [
            {"role": "user", "content": [{"type": "text", "text": "Describe these."}, *_images(make)]}
        ]
        result = compress(messages, model, config=HeadroomConfig(ccr_store=MemoryCCRStore()))
        images = [t for t in result.transforms_applied if t.route == "image"]
        before = sum(estimate_block_tokens(b, model) for b in messages[0]["content"][1:])
        after = before - sum(t.tokens_before - t.tokens_after for t in images)
        rows.append(
            {
                "provider": provider,
                "model": model,
                "images": len(messages[0]["content"]) - 1,
                "image_tokens_before": before,
                "image_tokens_after": after,
                "saved": round(1 - after / before, 4) if before else 0.0,
                "strategies": [t.compressor for t in images],
                "summaries": [t.summary.split("; original")[0] for t in images],
            }
        )
    return rows


def extra_reports() -> list[str]:
    """The per-provider table as Markdown lines, for benchmarks/RESULTS.md."""
    lines = [
        "### Images by provider (issue 7)",
        "",
        "The mixed set (screenshot, photo, diagram, text page, photo, chart) through `compress()` "
        "once per provider, image tokens only.",
        "",
        "| provider | model | images | image tokens before | after | saved | strategies |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in provider_table():
        lines.append(
            f"| {row['provider']} | {row['model']} | {row['images']} | {row['image_tokens_before']:,} | "
            f"{row['image_tokens_after']:,} | {row['saved']:.1%} | {', '.join(row['strategies'])} |"
        )
    return lines


if __name__ == "__main__":
    import json

    print(json.dumps(provider_table(), indent=1))
