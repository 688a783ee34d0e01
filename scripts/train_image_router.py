"""Train the image strategy router and rewrite headroom_core/images/router_weights.json.

Reproducible: fixed seeds, a fixed list of sources, deterministic image operations, and a
solver without randomness; running it twice writes the same file.

Data. Real images that ship with installed packages (scikit-learn's sample photos,
matplotlib's sample data and toolbar icons, scikit-image's data directory when it is
installed) and the real images in tests/fixtures/, plus generated screenshots, charts
(matplotlib) and text pages (Pillow's default font). Each base image also yields
augmentations: a crop and resizes. Samples are grouped by base image, and a quarter of
the groups is held out, so no crop of a held-out image is seen in training.

Labels. For every sample and provider, every level (keep, fewer_tiles, half, low) is
encoded exactly as at run time, decoded back and measured against what the provider
would see of the original: SSIM and detail retention (the text-legibility proxy). The
label is the cheapest level (fewest tokens) above the quality bar.

Model. Multinomial logistic regression on standardised features (scikit-learn at
training time only; inference is numpy). Run: `.venv/bin/python scripts/train_image_router.py`
(`--quick` trains on a tiny subset, for tests; `--out` writes elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from headroom_core._config import ImageConfig  # noqa: E402
from headroom_core.images import _compress  # noqa: E402
from headroom_core.images._analysis import FEATURE_NAMES, features, uniform_border  # noqa: E402
from headroom_core.images._providers import LEVELS, PROVIDERS, image_tokens  # noqa: E402

SEED = 20261124
MAX_SIDE = 1600
"""Training images are capped at this long side (bounds the labelling time)."""
HELD_OUT_SHARE = 0.25
WEIGHTS_PATH = ROOT / "headroom_core" / "images" / "router_weights.json"
FIXTURES = ROOT / "tests" / "fixtures"
BAR = ImageConfig()


# --------------------------------------------------------------------------- sources


def _load(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return _compress._normalise_mode(image.copy())


def real_images() -> list[tuple[str, str, Image.Image]]:
    """(group name, kind, image) for real images found in installed packages and fixtures."""
    found: list[tuple[str, str, Image.Image]] = []
    for name, kind in (
        ("gnome_help_screenshot_shell-appts.png", "screenshot"),
        ("skimage_page_scanned_document.png", "text"),
        ("skimage_hubble_deep_field.jpg", "photo"),
        ("pydocs_logging_flow_diagram.png", "diagram"),
    ):
        found.append((f"fixture:{name}", kind, _load(FIXTURES / name)))
    from sklearn.datasets import load_sample_images

    samples = load_sample_images()
    for fname, array in zip(samples.filenames, samples.images, strict=True):
        found.append((f"sklearn:{Path(fname).name}", "photo", Image.fromarray(array)))
    import matplotlib

    mpl = Path(matplotlib.get_data_path())
    for name in ("grace_hopper.jpg", "logo2.png", "Minduka_Present_Blue_Pack.png"):
        path = mpl / "sample_data" / name
        if path.exists():
            found.append((f"mpl:{name}", "photo" if name.endswith("jpg") else "graphic", _load(path)))
    for path in sorted((mpl / "images").glob("*_large.png")):
        found.append((f"mpl:{path.name}", "icon", _load(path)))
    try:
        import skimage
    except ImportError:
        skimage = None
    if skimage is not None:
        data = Path(skimage.__file__).parent / "data"
        for path in sorted(data.iterdir()):
            # hubble_deep_field.jpg and page.png are already in tests/fixtures (same group).
            if path.suffix.lower() not in (".png", ".jpg") or path.name in (
                "hubble_deep_field.jpg",
                "page.png",
            ):
                continue
            found.append((f"skimage:{path.name}", "skimage", _load(path)))
    return found


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizing
        return ImageFont.load_default()


_WORDS = [
    "request",
    "failed",
    "timeout",
    "retry",
    "config",
    "server",
    "client",
    "build",
    "deploy",
    "token",
    "cache",
    "index",
    "user",
    "account",
    "settings",
    "update",
    "install",
    "version",
    "error",
    "warning",
    "result",
    "output",
    "file",
    "module",
    "function",
    "value",
    "table",
    "query",
    "report",
    "status",
    "network",
    "memory",
    "process",
    "thread",
]


def _sentence(rng: np.random.Generator, n: int) -> str:
    return " ".join(_WORDS[i] for i in rng.integers(0, len(_WORDS), n))


def text_page(rng: np.random.Generator) -> Image.Image:
    width = int(rng.integers(700, 1500))
    height = int(width * rng.uniform(0.9, 1.45))
    size = int(rng.integers(11, 22))
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = _font(size)
    y = int(rng.integers(20, 60))
    margin = int(rng.integers(20, 80))
    while y < height - size * 2:
        words = int((width - 2 * margin) / (size * 3.2))
        draw.text((margin, y), _sentence(rng, max(3, words)), fill=(20, 20, 20), font=font)
        y += int(size * rng.uniform(1.3, 1.8))
        if rng.random() < 0.12:
            y += size
    return image


def screenshot(rng: np.random.Generator) -> Image.Image:
    width, height = int(rng.integers(900, 1600)), int(rng.integers(600, 1000))
    dark = rng.random() < 0.4
    bg, fg = ((36, 37, 41), (225, 225, 225)) if dark else ((246, 246, 248), (30, 30, 30))
    image = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(image)
    size = int(rng.integers(11, 17))
    font = _font(size)
    draw.rectangle((0, 0, width, 34), fill=(60, 64, 72) if dark else (222, 224, 228))
    draw.text((12, 10), _sentence(rng, 4), fill=fg, font=font)
    side = int(rng.integers(160, 260))
    draw.rectangle((0, 35, side, height), fill=(44, 46, 52) if dark else (236, 237, 240))
    for i in range(int((height - 60) / (size * 2.2))):
        draw.text((14, 50 + i * size * 2.2), _sentence(rng, 2), fill=fg, font=font)
    y = 50
    while y < height - 40:
        if rng.random() < 0.15:
            colour = tuple(int(c) for c in rng.integers(40, 220, 3))
            draw.rounded_rectangle((side + 20, y, side + 140, y + size + 12), 6, fill=colour)
            draw.text((side + 30, y + 5), _sentence(rng, 1), fill="white", font=font)
            y += size + 24
        else:
            draw.text((side + 20, y), _sentence(rng, int(rng.integers(4, 14))), fill=fg, font=font)
            y += int(size * 1.7)
    return image


def chart(rng: np.random.Generator) -> Image.Image:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(rng.uniform(5, 10), rng.uniform(3.5, 7)), dpi=int(rng.integers(70, 150)))
    kind = int(rng.integers(0, 4))
    x = np.arange(30)
    if kind == 0:
        for _ in range(int(rng.integers(1, 4))):
            ax.plot(x, np.cumsum(rng.normal(size=30)), label=_sentence(rng, 1))
        ax.legend()
    elif kind == 1:
        ax.bar(_WORDS[:8], rng.uniform(1, 10, 8))
    elif kind == 2:
        ax.scatter(rng.normal(size=200), rng.normal(size=200), s=8)
    else:
        ax.imshow(rng.random((12, 12)), cmap="viridis")
    ax.set_title(_sentence(rng, 4))
    ax.set_xlabel(_sentence(rng, 2))
    fig.canvas.draw()
    image = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("RGB")
    plt.close(fig)
    return image


def generated_images(rng: np.random.Generator, count: int) -> list[tuple[str, str, Image.Image]]:
    makers = (("text", text_page), ("screenshot", screenshot), ("chart", chart))
    out = []
    for i in range(count):
        kind, make = makers[i % len(makers)]
        out.append((f"generated:{kind}:{i}", kind, make(rng)))
    return out


def _cap(image: Image.Image) -> Image.Image:
    factor = min(1.0, MAX_SIDE / max(image.size))
    if factor >= 1.0:
        return image
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)


def augment(rng: np.random.Generator, image: Image.Image, copies: int) -> list[Image.Image]:
    """The image itself plus `copies` variants: crops (50-90% per side) and rescales."""
    out = [_cap(image)]
    for i in range(copies):
        w, h = image.size
        if (i + int(rng.integers(0, 2))) % 2 == 0 and min(w, h) >= 128:
            cw, ch = int(w * rng.uniform(0.5, 0.9)), int(h * rng.uniform(0.5, 0.9))
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            out.append(_cap(image.crop((x, y, x + cw, y + ch))))
        else:
            factor = float(rng.choice([0.6, 1.5, 2.0]))
            size = (max(8, round(w * factor)), max(8, round(h * factor)))
            out.append(_cap(image.resize(size, Image.Resampling.LANCZOS)))
    return out


# --------------------------------------------------------------------------- labelling


def label_one(args: tuple[Image.Image, str]) -> dict | None:
    """Features, per-level tokens and quality for one image and provider (as at run time)."""
    image, provider = args
    fmt = "JPEG" if len(image.getcolors(1 << 16) or ()) == 0 else "PNG"
    box = uniform_border(image)
    work = image.crop(box) if box is not None else image
    tokens_before = image_tokens(provider, image.width, image.height)
    if tokens_before < BAR.min_tokens:
        return None
    reference = _compress.reference_view(work, provider, None)
    rows = []
    for level in LEVELS:
        c = _compress.evaluate_level(
            work, fmt, provider, level, None, BAR.jpeg_quality, reference, png_level=1
        )
        passed = c.ssim >= BAR.min_ssim and c.detail_kept >= BAR.min_detail
        rows.append(
            {"level": level, "tokens": c.tokens, "ssim": c.ssim, "detail": c.detail_kept, "passed": passed}
        )
    seen_tokens = image_tokens(provider, work.width, work.height)
    passing = [r for r in rows if r["passed"]] or [rows[0]]
    label = min(passing, key=lambda r: (r["tokens"], -LEVELS.index(r["level"])))["level"]
    return {
        "x": features(work, provider, seen_tokens).tolist(),
        "label": label,
        "tokens_before": tokens_before,
        "levels": rows,
    }


def build_dataset(quick: bool, workers: int) -> list[dict]:
    rng = np.random.default_rng(SEED)
    if quick:
        bases = real_images()[:1] + generated_images(rng, 3)
    else:
        bases = real_images() + generated_images(rng, 24)
    jobs, meta = [], []
    for group, kind, image in bases:
        for variant in augment(rng, image, 1):
            for provider in PROVIDERS if not quick else ("openai",):
                jobs.append((variant, provider))
                meta.append((group, kind, provider))
    if workers > 1:
        with get_context("fork").Pool(workers) as pool:
            results = pool.map(label_one, jobs, chunksize=2)
    else:
        results = [label_one(job) for job in jobs]
    rows = []
    for (group, kind, provider), result in zip(meta, results, strict=True):
        if result is not None:
            rows.append({"group": group, "kind": kind, "provider": provider, **result})
    return rows


# --------------------------------------------------------------------------- training


def split_groups(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    groups = sorted({r["group"] for r in rows})
    rng = np.random.default_rng(SEED + 1)
    held = set(rng.choice(groups, size=max(1, round(len(groups) * HELD_OUT_SHARE)), replace=False).tolist())
    return [r for r in rows if r["group"] not in held], [r for r in rows if r["group"] in held]


def fit(train: list[dict]) -> dict:
    from sklearn.linear_model import LogisticRegression

    x = np.array([r["x"] for r in train], dtype=np.float64)
    y = np.array([LEVELS.index(r["label"]) for r in train])
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    coef = np.zeros((len(LEVELS), x.shape[1]))
    intercept = np.full(len(LEVELS), -1e3)  # a level never seen in training is never chosen
    if len(set(y.tolist())) == 1:  # (tiny subsets only) one class: always predict it
        intercept[y[0]] = 0.0
        return {"mean": mean, "scale": scale, "coef": coef, "intercept": intercept}
    model = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced")
    model.fit((x - mean) / scale, y)
    if len(model.classes_) == 2:  # binary: scikit-learn keeps one row for the second class
        coef[model.classes_[1]] = model.coef_[0]
        intercept[model.classes_[1]] = model.intercept_[0]
        coef[model.classes_[0]] = 0.0
        intercept[model.classes_[0]] = 0.0
    else:
        for row, cls in enumerate(model.classes_):
            coef[cls] = model.coef_[row]
            intercept[cls] = model.intercept_[row]
    return {"mean": mean, "scale": scale, "coef": coef, "intercept": intercept}


def predict(params: dict, x: list[float]) -> str:
    z = (np.asarray(x) - params["mean"]) / params["scale"]
    return LEVELS[int(np.argmax(params["coef"] @ z + params["intercept"]))]


def run_time_choice(row: dict, start: str) -> dict:
    """What the run-time search (`choose_level`) ends with, from the recorded measurements."""
    levels = {r["level"]: r for r in row["levels"]}
    found = _compress.choose_level(LEVELS, start, lambda lv: levels[lv] if levels[lv]["passed"] else None)
    if found is not None:
        return found
    return {"level": "none", "tokens": row["tokens_before"], "passed": True, "ssim": 1.0, "detail": 1.0}


def evaluate(params: dict, rows: list[dict]) -> dict:
    if not rows:
        return {}
    predicted = [predict(params, r["x"]) for r in rows]
    correct = sum(p == r["label"] for p, r in zip(predicted, rows, strict=True))
    chosen = [run_time_choice(r, p) for p, r in zip(predicted, rows, strict=True)]
    oracle = [run_time_choice(r, r["label"]) for r in rows]
    before = sum(r["tokens_before"] for r in rows)

    def saved(choices: list[dict]) -> float:
        return (
            1 - sum(min(c["tokens"], r["tokens_before"]) for c, r in zip(choices, rows, strict=True)) / before
        )

    per_kind: dict[str, dict] = {}
    for r, c in zip(rows, chosen, strict=True):
        k = per_kind.setdefault(r["kind"], {"n": 0, "before": 0, "after": 0})
        k["n"] += 1
        k["before"] += r["tokens_before"]
        k["after"] += min(c["tokens"], r["tokens_before"])
    direct_pass = sum(
        next(lv for lv in r["levels"] if lv["level"] == p)["passed"]
        for p, r in zip(predicted, rows, strict=True)
    )
    return {
        "samples": len(rows),
        "accuracy": round(correct / len(rows), 4),
        "router_first_try_above_bar": round(direct_pass / len(rows), 4),
        "token_savings": round(saved(chosen), 4),
        "oracle_token_savings": round(saved(oracle), 4),
        "all_above_bar": all(c["passed"] for c in chosen),
        "mean_ssim": round(float(np.mean([c["ssim"] for c in chosen])), 4),
        "min_ssim": round(float(min(c["ssim"] for c in chosen)), 4),
        "min_detail": round(float(min(c["detail"] for c in chosen)), 4),
        "label_counts": {lv: sum(r["label"] == lv for r in rows) for lv in LEVELS},
        "savings_by_kind": {
            k: {"n": v["n"], "saved": round(1 - v["after"] / v["before"], 4)}
            for k, v in sorted(per_kind.items())
        },
    }


def weights_json(params: dict, metrics: dict) -> str:
    def r(values: np.ndarray) -> list:
        return np.round(values, 8).tolist()

    doc = {
        "version": 1,
        "model": "multinomial logistic regression (scikit-learn lbfgs, balanced classes, C=1)",
        "levels": list(LEVELS),
        "features": list(FEATURE_NAMES),
        "mean": r(params["mean"]),
        "scale": r(params["scale"]),
        "coef": r(params["coef"]),
        "intercept": r(params["intercept"]),
        "quality_bar": {"min_ssim": BAR.min_ssim, "min_detail": BAR.min_detail},
        "seed": SEED,
        "metrics": metrics,
    }
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny subset (tests)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    rows = build_dataset(args.quick, args.workers)
    train, held = split_groups(rows)
    params = fit(train)
    metrics = {"train": evaluate(params, train), "held_out": evaluate(params, held)}
    metrics["data"] = {
        "samples": len(rows),
        "groups": len({r["group"] for r in rows}),
        "held_out_groups": sorted({r["group"] for r in held}),
    }
    args.out.write_text(weights_json(params, metrics), encoding="utf-8")
    print(json.dumps({k: metrics[k] for k in ("train", "held_out")}, indent=1))
    print(f"wrote {args.out}")
    return metrics


if __name__ == "__main__":
    main()
