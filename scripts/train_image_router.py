"""Train the image strategy router and rewrite headroom_core/images/router_weights.json.

Reproducible: fixed seeds, a fixed list of sources, deterministic image operations,
single-threaded tesseract and a solver without randomness; running it twice writes the
same file.

Data. Real images: the fixtures in tests/fixtures/ and tests/fixtures/images/ (terminal,
IDE, GUI and web-page screenshots, charts, diagrams, a scanned page, photos; origins in
tests/fixtures/CORPUS_README.md), scikit-learn's two sample photos and matplotlib's sample
images. Generated with a fixed seed: terminal and IDE screenshots (real log lines and
source code from the fixtures), web pages, documents and scanned pages in DejaVu fonts
at several sizes, matplotlib charts with small labels, and box-and-arrow diagrams. Each
base image also yields one augmentation (a crop or a rescale). A quarter of the base
images is held out with their augmentations.

Labels. For every sample and provider, every level (keep, fewer_tiles, half, low) is
encoded exactly as at run time, decoded back and measured against what the provider
would see of the original: SSIM and detail retention (the visual bar) and, when
tesseract reads at least a few words in that view (text-bearing), OCR word recall (the
OCR bar, `ImageConfig.min_ocr_recall`). The label is the cheapest level that meets every
bar that applies. A second model learns to tell text-bearing images from the features.

Model. Multinomial logistic regression on standardised features, plus a binary logistic
regression for "text-bearing" (scikit-learn at training time only; inference is numpy).
Run: `make train-router` (`--quick` trains on a tiny subset, for tests; `--out` writes
elsewhere). Needs tesseract (Debian `tesseract-ocr`) except with `--quick`.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import sys
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from headroom_core._config import ImageConfig  # noqa: E402
from headroom_core.images import _compress, _ocr  # noqa: E402
from headroom_core.images._analysis import FEATURE_NAMES, features, uniform_border  # noqa: E402
from headroom_core.images._providers import LEVELS, PROVIDERS, image_tokens  # noqa: E402

SEED = 20261129
MAX_SIDE = 1600
"""Training images are capped at this long side (bounds the labelling time)."""
HELD_OUT_SHARE = 0.25
WEIGHTS_PATH = ROOT / "headroom_core" / "images" / "router_weights.json"
FIXTURES = ROOT / "tests" / "fixtures"
BAR = ImageConfig()
GENERATED_PER_KIND = 4

REAL_FIXTURES = (
    ("gnome_help_screenshot_shell-appts.png", "screenshot"),
    ("skimage_page_scanned_document.png", "scanned"),
    ("skimage_hubble_deep_field.jpg", "photo"),
    ("pydocs_logging_flow_diagram.png", "diagram"),
    ("images/chelsea.png", "photo"),
    ("images/rustc_llvm_cov_show_terminal.png", "terminal"),
    ("images/rustc_instrument_asm_screenshot.png", "ide"),
    ("images/valgrind_kcachegrind_gui.png", "ide"),
    ("images/rust_book_rustdoc_web_page.png", "web"),
    ("images/requests_docs_web_page.png", "web"),
    ("images/embedded_nrf52_spi_register.png", "document"),
    ("images/cargo_build_unit_time_chart.png", "chart"),
    ("images/cargo_concurrency_chart.png", "chart"),
    ("images/nodejs_compare_boxplot.png", "chart"),
    ("images/nodejs_scatter_plot.png", "chart"),
    ("images/embedded_nrf52_memory_map.png", "diagram"),
    ("images/gnupg_module_overview.png", "diagram"),
    ("images/pip_deps_diagram.png", "diagram"),
    ("images/embedded_f3_discovery_board.jpg", "photo"),
)


# --------------------------------------------------------------------------- sources


def _load(path: Path) -> tuple[Image.Image, str]:
    with Image.open(path) as image:
        image.load()
        return _compress._normalise_mode(image.copy()), str(image.format)


def real_images() -> list[tuple[str, str, Image.Image, str]]:
    """(group name, kind, image, source format) for the real images."""
    found: list[tuple[str, str, Image.Image, str]] = []
    for name, kind in REAL_FIXTURES:
        image, fmt = _load(FIXTURES / name)
        found.append((f"fixture:{Path(name).name}", kind, image, fmt))
    from sklearn.datasets import load_sample_images

    samples = load_sample_images()
    for fname, array in zip(samples.filenames, samples.images, strict=True):
        found.append((f"sklearn:{Path(fname).name}", "photo", Image.fromarray(array), "JPEG"))
    import matplotlib

    mpl = Path(matplotlib.get_data_path())
    for name, kind in (("grace_hopper.jpg", "photo"), ("logo2.png", "graphic")):
        path = mpl / "sample_data" / name
        if path.exists():
            image, fmt = _load(path)
            found.append((f"mpl:{name}", kind, image, fmt))
    return found


def _font_path(name: str) -> str:
    """DejaVu from matplotlib's own copy: the same glyphs on every machine."""
    import matplotlib

    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name)


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(_font_path(name), size)


def _lines(path: Path, limit: int = 4000) -> list[str]:
    text = path.read_text("utf-8", "replace")
    return [ln.rstrip().replace("\t", "    ") for ln in text.splitlines()[:limit] if ln.strip()]


_PROSE: list[str] = []
_CODE: list[str] = []
_LOGS: list[str] = []


def _corpora() -> tuple[list[str], list[str], list[str]]:
    if not _PROSE:
        prose = " ".join(_lines(FIXTURES / "pydocs3.11_tutorial_classes.rst.txt"))
        _PROSE.extend(w for w in prose.split() if w.isascii() and w.strip("*`:_.=") and len(w) < 18)
        _CODE.extend(ln[:110] for ln in _lines(FIXTURES / "go1.19_net_http_server.go") if ln.isascii())
        _CODE.extend(ln[:110] for ln in _lines(FIXTURES / "rust1.63_core_iter_iterator.rs") if ln.isascii())
        _LOGS.extend(ln[:150] for ln in _lines(FIXTURES / "loghub_HDFS_2k.log", 1500) if ln.isascii())
        _LOGS.extend(ln[:150] for ln in _lines(FIXTURES / "var_log_dpkg.log", 1500) if ln.isascii())
    return _PROSE, _CODE, _LOGS


def _words(rng: np.random.Generator, n: int) -> str:
    prose, _, _ = _corpora()
    start = int(rng.integers(0, len(prose) - n - 1))
    return " ".join(prose[start : start + n])


def _run(rng: np.random.Generator, lines: list[str], n: int) -> list[str]:
    start = int(rng.integers(0, max(1, len(lines) - n)))
    return lines[start : start + n]


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    out, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and draw.textlength(trial, font=font) > width:
            out.append(line)
            line = word
        else:
            line = trial
    if line:
        out.append(line)
    return out


def terminal(rng: np.random.Generator) -> Image.Image:
    _, _, logs = _corpora()
    size = int(rng.choice([10, 11, 12, 13, 14, 16, 18]))
    font = _font("DejaVuSansMono.ttf", size)
    width, height = int(rng.integers(800, 1600)), int(rng.integers(500, 1000))
    themes = [
        ((12, 12, 12), (204, 204, 204)),
        ((0, 43, 54), (147, 161, 161)),
        ((250, 250, 250), (30, 30, 30)),
    ]
    bg, fg = themes[int(rng.integers(0, len(themes)))]
    image = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(image)
    y, step = 6, int(size * 1.3)
    for line in _run(rng, logs, height // step):
        if rng.random() < 0.08:
            draw.text((6, y), "$ " + _words(rng, 3), fill=(80, 200, 80), font=font)
            y += step
        draw.text((6, y), line, fill=fg, font=font)
        y += step
    return image


_KEYWORDS = {"func", "fn", "return", "if", "else", "for", "let", "pub", "struct", "impl", "type", "var"}


def ide(rng: np.random.Generator) -> Image.Image:
    _, code, _ = _corpora()
    size = int(rng.choice([11, 12, 13, 14, 15, 16]))
    font = _font("DejaVuSansMono.ttf", size)
    ui = _font("DejaVuSans.ttf", max(10, size - 1))
    width, height = int(rng.integers(1000, 1600)), int(rng.integers(650, 1000))
    dark = rng.random() < 0.6
    bg, fg, side_bg = (
        ((30, 30, 30), (212, 212, 212), (37, 37, 38))
        if dark
        else ((255, 255, 255), (0, 0, 0), (243, 243, 243))
    )
    image = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(image)
    side = int(rng.integers(180, 280))
    draw.rectangle((0, 0, side, height), fill=side_bg)
    draw.rectangle((0, 0, width, 30), fill=(60, 60, 60) if dark else (221, 221, 221))
    draw.text((side + 12, 8), f"{_words(rng, 1)}.go", fill=fg, font=ui)
    for i in range(int((height - 60) / (size * 1.8))):
        draw.text((16, 44 + i * size * 1.8), _words(rng, 1)[:20], fill=fg, font=ui)
    y, step, number = 40, int(size * 1.45), int(rng.integers(1, 900))
    for line in _run(rng, code, (height - 70) // step):
        draw.text((side + 8, y), f"{number:4d}", fill=(133, 133, 133), font=font)
        first = line.split(" ", 1)[0].strip()
        colour = (86, 156, 214) if first in _KEYWORDS else (106, 153, 85) if first.startswith("//") else fg
        draw.text((side + 8 + size * 3.4, y), line, fill=colour, font=font)
        y, number = y + step, number + 1
    draw.rectangle((0, height - 22, width, height), fill=(0, 122, 204))
    draw.text((10, height - 19), f"Ln {number}, Col 1  UTF-8  {_words(rng, 2)}", fill="white", font=ui)
    return image


def web_page(rng: np.random.Generator) -> Image.Image:
    body = int(rng.choice([12, 13, 14, 15, 16, 18]))
    face = str(rng.choice(["DejaVuSans.ttf", "DejaVuSerif.ttf"]))
    font, bold = _font(face, body), _font("DejaVuSans-Bold.ttf", int(body * rng.uniform(1.6, 2.4)))
    nav = _font("DejaVuSans.ttf", max(11, body - 1))
    width, height = int(rng.integers(1000, 1600)), int(rng.integers(700, 1100))
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    accent = tuple(int(c) for c in rng.integers(20, 160, 3))
    draw.rectangle((0, 0, width, 56), fill=accent)
    x = 24
    for _ in range(5):
        label = _words(rng, 1)
        draw.text((x, 20), label, fill="white", font=nav)
        x += int(draw.textlength(label, font=nav)) + 28
    column = int(width * rng.uniform(0.55, 0.7))
    draw.text((40, 84), _words(rng, 5), fill=(20, 20, 20), font=bold)
    y = 84 + int(body * 3.4)
    if rng.random() < 0.6:  # a photo-like block: smooth colour field with noise
        h = int(rng.integers(120, 240))
        grad = np.linspace(0, 1, column)[None, :, None] * rng.uniform(60, 200, 3)[None, None, :]
        block = np.clip(grad + rng.normal(0, 18, (h, column, 3)) + 40, 0, 255).astype(np.uint8)
        image.paste(Image.fromarray(block), (40, y))
        y += h + body
    while y < height - body * 3:
        for line in _wrap(draw, _words(rng, int(rng.integers(25, 60))), font, column):
            if y > height - body * 3:
                break
            draw.text((40, y), line, fill=(40, 40, 40), font=font)
            y += int(body * 1.5)
        y += body
    sx = 40 + column + 40
    draw.rectangle((sx, 84, width - 24, 84 + 8 * body * 2), outline=(220, 220, 220), fill=(248, 248, 248))
    for i in range(7):
        draw.text((sx + 12, 96 + i * body * 2), _words(rng, 2), fill=accent, font=nav)
    return image


def document(rng: np.random.Generator) -> Image.Image:
    size = int(rng.choice([10, 11, 12, 14, 16, 20]))
    font = _font(str(rng.choice(["DejaVuSerif.ttf", "DejaVuSans.ttf"])), size)
    title = _font("DejaVuSerif-Bold.ttf", int(size * 1.6))
    width = int(rng.integers(700, 1300))
    height = int(width * rng.uniform(1.2, 1.45))
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    margin = int(rng.integers(40, 100))
    draw.text((margin, margin), _words(rng, 6), fill="black", font=title)
    y = margin + int(size * 3.5)
    while y < height - margin:
        for line in _wrap(draw, _words(rng, int(rng.integers(30, 90))), font, width - 2 * margin):
            if y > height - margin:
                break
            draw.text((margin, y), line, fill=(15, 15, 15), font=font)
            y += int(size * 1.45)
        y += size
    return image


def scanned(rng: np.random.Generator) -> Image.Image:
    page = document(rng).convert("L")
    page = page.rotate(float(rng.uniform(-1.5, 1.5)), Image.Resampling.BICUBIC, expand=True, fillcolor=235)
    page = page.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 0.9))))
    a = np.asarray(page, np.float64) * 0.88 + 18 + rng.normal(0, 6, (page.height, page.width))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).convert("RGB")


def chart(rng: np.random.Generator) -> Image.Image:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    small = float(rng.choice([6, 7, 8, 9, 10]))
    with matplotlib.rc_context({"font.size": small, "svg.hashsalt": "headroom"}):
        fig, ax = plt.subplots(
            figsize=(rng.uniform(5, 11), rng.uniform(3.5, 7)), dpi=int(rng.integers(80, 150))
        )
        kind = int(rng.integers(0, 4))
        x = np.arange(24)
        if kind == 0:
            for _ in range(int(rng.integers(2, 5))):
                ax.plot(x, np.cumsum(rng.normal(size=24)) * 10 + 100, label=_words(rng, 2))
            ax.legend(fontsize=small)
        elif kind == 1:
            names = _words(rng, 8).split()
            values = rng.uniform(1, 100, len(names))
            bars = ax.bar(range(len(names)), values)
            ax.set_xticks(range(len(names)), names, rotation=30, fontsize=small)
            for bar, v in zip(bars, values, strict=True):
                ax.annotate(f"{v:.1f}", (bar.get_x() + bar.get_width() / 2, v), ha="center", fontsize=small)
        elif kind == 2:
            ax.scatter(rng.normal(size=150), rng.normal(size=150), s=6, c=rng.random(150))
            for _ in range(5):
                ax.annotate(_words(rng, 1), (rng.normal(), rng.normal()), fontsize=small)
        else:
            names = _words(rng, 6).split()
            ax.barh(names, rng.uniform(5, 60, len(names)))
            ax.grid(axis="x", alpha=0.4)
        ax.set_title(_words(rng, 5))
        ax.set_xlabel(_words(rng, 2))
        ax.set_ylabel(_words(rng, 2))
        fig.tight_layout()
        fig.canvas.draw()
        image = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("RGB")
        plt.close(fig)
    return image


def diagram(rng: np.random.Generator) -> Image.Image:
    size = int(rng.choice([11, 12, 13, 14, 16]))
    font = _font("DejaVuSans.ttf", size)
    width, height = int(rng.integers(800, 1400)), int(rng.integers(500, 900))
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    cols, rows = int(rng.integers(3, 5)), int(rng.integers(2, 4))
    boxes = []
    for r in range(rows):
        for c in range(cols):
            if rng.random() < 0.2:
                continue
            cx = int((c + 0.5) * width / cols + rng.integers(-20, 20))
            cy = int((r + 0.5) * height / rows + rng.integers(-15, 15))
            label = _words(rng, int(rng.integers(1, 3)))
            w = int(draw.textlength(label, font=font)) + 24
            fill = tuple(int(v) for v in rng.integers(170, 250, 3))
            draw.rounded_rectangle(
                (cx - w // 2, cy - size, cx + w // 2, cy + size), 6, fill=fill, outline="black"
            )
            draw.text((cx - w // 2 + 12, cy - size // 2 - 2), label, fill="black", font=font)
            boxes.append((cx, cy))
    for (x1, y1), (x2, y2) in itertools.pairwise(boxes):
        draw.line((x1, y1 + size, x2, y2 - size), fill=(60, 60, 60), width=2)
        draw.text(((x1 + x2) // 2 + 4, (y1 + y2) // 2), _words(rng, 1), fill=(90, 90, 90), font=font)
    return image


MAKERS = (
    ("terminal", terminal),
    ("ide", ide),
    ("web", web_page),
    ("document", document),
    ("scanned", scanned),
    ("chart", chart),
    ("diagram", diagram),
)


def generated_images(rng: np.random.Generator, per_kind: int) -> list[tuple[str, str, Image.Image, str]]:
    out = []
    for i in range(per_kind):
        for kind, make in MAKERS:
            fmt = "JPEG" if kind == "scanned" else "PNG"
            out.append((f"generated:{kind}:{i}", kind, make(rng), fmt))
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
            factor = float(rng.choice([0.75, 1.5, 2.0]))
            size = (max(8, round(w * factor)), max(8, round(h * factor)))
            out.append(_cap(image.resize(size, Image.Resampling.LANCZOS)))
    return out


# --------------------------------------------------------------------------- labelling


def label_one(args: tuple[Image.Image, str, str, bool]) -> dict | None:
    """Features, per-level tokens and quality (visual and OCR) for one image and provider."""
    image, fmt, provider, use_ocr = args
    box = uniform_border(image)
    work = image.crop(box) if box is not None else image
    tokens_before = image_tokens(provider, image.width, image.height)
    if tokens_before < BAR.min_tokens:
        return None
    reference = _compress.reference_view(work, provider, None)
    words, scale = _compress.ocr_reference(reference) if use_ocr else (None, 1.0)
    text_bearing = bool(words is not None and words.text_bearing)
    min_detail = BAR.min_detail if text_bearing else BAR.min_detail_without_text
    rows = []
    legible = True  # OCR runs mildest first; once a level loses words, stronger ones count as failing
    for level in LEVELS:
        c = _compress.evaluate_level(
            work,
            fmt,
            provider,
            level,
            None,
            BAR.jpeg_quality,
            reference,
            png_level=1,
            text_bearing=text_bearing,
        )
        visual = c.ssim >= BAR.min_ssim and c.detail_kept >= min_detail
        recall = None
        if visual and text_bearing and words is not None and legible:
            recall = round(_compress.ocr_recall(reference, c.raw, words, scale), 4)
            legible = recall >= BAR.min_ocr_recall
        rows.append(
            {
                "level": level,
                "tokens": c.tokens,
                "size": list(c.size),
                "ssim": c.ssim,
                "detail": c.detail_kept,
                "visual": visual,
                "ocr_recall": recall,
                "passed": visual
                and (not text_bearing or (recall is not None and recall >= BAR.min_ocr_recall)),
            }
        )
    seen_tokens = image_tokens(provider, work.width, work.height)
    passing = [r for r in rows if r["passed"]] or [rows[0]]
    label = min(passing, key=lambda r: (r["tokens"], -LEVELS.index(r["level"])))["level"]
    return {
        "x": features(work, provider, seen_tokens).tolist(),
        "label": label,
        "text_bearing": text_bearing,
        "low_is_lossless": _low_size(work, provider) >= reference.width * reference.height,
        "ocr_words": len(words.confident) if words is not None else 0,
        "tokens_before": tokens_before,
        "levels": rows,
    }


def _low_size(work: Image.Image, provider: str) -> int:
    from headroom_core.images._providers import plan

    low = plan(provider, "low", work.width, work.height)
    return low.width * low.height


def build_dataset(quick: bool, workers: int) -> tuple[list[dict], bool]:
    use_ocr = _ocr.available()
    if not use_ocr and not quick:
        raise SystemExit("tesseract is needed to label the training set: apt-get install tesseract-ocr")
    rng = np.random.default_rng(SEED)
    if quick:  # small images, so that the reproducibility test stays short
        image, fmt = _load(FIXTURES / REAL_FIXTURES[0][0])
        bases = [("fixture:quick", REAL_FIXTURES[0][1], image, fmt)] + [
            (f"generated:{kind}:0", kind, make(rng), "PNG") for kind, make in MAKERS[:2]
        ]
        bases = [
            (g, k, im.resize((im.width // 2, im.height // 2), Image.Resampling.BOX), f)
            for g, k, im, f in bases
        ]
    else:
        bases = real_images() + generated_images(rng, GENERATED_PER_KIND)
    jobs, meta = [], []
    for group, kind, image, fmt in bases:
        for variant in augment(rng, image, 1 if not quick else 0):
            for provider in PROVIDERS if not quick else ("openai",):
                jobs.append((variant, fmt, provider, use_ocr))
                meta.append((group, kind, provider))
    results: list[dict | None] = []
    with get_context("fork").Pool(workers) if workers > 1 else contextlib.nullcontext() as pool:
        mapped = pool.imap(label_one, jobs, chunksize=1) if pool is not None else map(label_one, jobs)
        for done, result in enumerate(mapped, 1):
            results.append(result)
            if done % 50 == 0 or done == len(jobs):
                print(f"labelled {done}/{len(jobs)} samples", file=sys.stderr, flush=True)
    rows = []
    for (group, kind, provider), result in zip(meta, results, strict=True):
        if result is not None:
            rows.append({"group": group, "kind": kind, "provider": provider, **result})
    return rows, use_ocr


# --------------------------------------------------------------------------- training


ALWAYS_HELD_OUT = (
    "fixture:valgrind_kcachegrind_gui.png",
    "fixture:rust_book_rustdoc_web_page.png",
    "fixture:cargo_build_unit_time_chart.png",
    "fixture:nodejs_compare_boxplot.png",
    "fixture:embedded_f3_discovery_board.jpg",
    "fixture:skimage_hubble_deep_field.jpg",
    "fixture:gnupg_module_overview.png",
    "fixture:embedded_nrf52_memory_map.png",
)
"""The benchmark's mixed set (benchmarks/workloads/image_workloads.py): never trained on."""


def split_groups(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    groups = sorted({r["group"] for r in rows})
    fixed = [g for g in groups if g in ALWAYS_HELD_OUT]
    rest = [g for g in groups if g not in ALWAYS_HELD_OUT]
    want = max(1, round(len(groups) * HELD_OUT_SHARE)) - len(fixed)
    rng = np.random.default_rng(SEED + 1)
    held = set(fixed)
    if want > 0 and rest:
        held |= set(rng.choice(rest, size=min(want, len(rest)), replace=False).tolist())
    return [r for r in rows if r["group"] not in held], [r for r in rows if r["group"] in held]


def _standardise(train: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.array([r["x"] for r in train], dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    return (x - mean) / scale, mean, scale


def fit(train: list[dict]) -> dict:
    from sklearn.linear_model import LogisticRegression

    z, mean, scale = _standardise(train)
    y = np.array([LEVELS.index(r["label"]) for r in train])
    coef = np.zeros((len(LEVELS), z.shape[1]))
    intercept = np.full(len(LEVELS), -1e3)  # a level never seen in training is never chosen
    if len(set(y.tolist())) == 1:  # (tiny subsets only) one class: always predict it
        intercept[y[0]] = 0.0
    else:
        model = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced")
        model.fit(z, y)
        if len(model.classes_) == 2:  # binary: scikit-learn keeps one row for the second class
            coef[model.classes_[1]] = model.coef_[0]
            intercept[model.classes_[1]] = model.intercept_[0]
            coef[model.classes_[0]] = 0.0
            intercept[model.classes_[0]] = 0.0
        else:
            for row, cls in enumerate(model.classes_):
                coef[cls] = model.coef_[row]
                intercept[cls] = model.intercept_[row]
    t = np.array([int(r["text_bearing"]) for r in train])
    text_coef, text_intercept = np.zeros(z.shape[1]), -10.0
    if len(set(t.tolist())) == 2:
        text_model = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced")
        text_model.fit(z, t)
        text_coef, text_intercept = text_model.coef_[0], float(text_model.intercept_[0])
    elif t.size and t[0] == 1:
        text_intercept = 10.0
    return {
        "mean": mean,
        "scale": scale,
        "coef": coef,
        "intercept": intercept,
        "text_coef": text_coef,
        "text_intercept": text_intercept,
    }


def predict(params: dict, x: list[float]) -> str:
    z = (np.asarray(x) - params["mean"]) / params["scale"]
    return LEVELS[int(np.argmax(params["coef"] @ z + params["intercept"]))]


def predict_text(params: dict, x: list[float]) -> bool:
    z = (np.asarray(x) - params["mean"]) / params["scale"]
    score = float(params["text_coef"] @ z + params["text_intercept"])
    return 1.0 / (1.0 + math.exp(-score)) >= _compress.TEXT_PROBABILITY


_NONE = {"level": "none", "passed": True, "visual": True, "ocr_recall": None, "ssim": 1.0, "detail": 1.0}


def run_time_choice(row: dict, start: str, text_predicted: bool, ocr_on: bool) -> dict:
    """What `_shrink` ends with for a question that does not ask about layout or colour,
    from the recorded measurements: with OCR, the OCR-measured text flag and both bars;
    without, the learned text flag, the visual bar and the router's guess as a cap."""
    text = row["text_bearing"] if ocr_on else text_predicted
    levels = [lv for lv in LEVELS if not (text and lv == "low" and not row["low_is_lossless"])]
    by_level = {r["level"]: r for r in row["levels"]}

    min_detail = BAR.min_detail if text else BAR.min_detail_without_text

    def attempt(level: str) -> dict | None:
        r = by_level[level]
        ok = r["passed"] if ocr_on else r["ssim"] >= BAR.min_ssim and r["detail"] >= min_detail
        return r if ok else None

    # Rows written before sizes were recorded search as the run time did then.
    sized = all("size" in r for r in row["levels"])
    found = _compress.choose_level(
        levels,
        start,
        attempt,
        explore=not (text and not ocr_on),
        size_of=(lambda level: tuple(by_level[level]["size"])) if sized else None,
    )
    return found if found is not None else {**_NONE, "tokens": row["tokens_before"]}


def evaluate(params: dict, rows: list[dict]) -> dict:
    if not rows:
        return {}
    predicted = [predict(params, r["x"]) for r in rows]
    text_pred = [predict_text(params, r["x"]) for r in rows]
    correct = sum(p == r["label"] for p, r in zip(predicted, rows, strict=True))
    before = sum(r["tokens_before"] for r in rows)

    def saved(choices: list[dict], subset: list[int] | None = None) -> float:
        idx = subset if subset is not None else list(range(len(rows)))
        b = sum(rows[i]["tokens_before"] for i in idx)
        a = sum(min(choices[i]["tokens"], rows[i]["tokens_before"]) for i in idx)
        return round(1 - a / b, 4) if b else 0.0

    router_only = [
        run_time_choice(r, p, t, False) for p, t, r in zip(predicted, text_pred, rows, strict=True)
    ]
    with_ocr = [run_time_choice(r, p, t, True) for p, t, r in zip(predicted, text_pred, rows, strict=True)]
    oracle = [run_time_choice(r, r["label"], r["text_bearing"], True) for r in rows]
    text_rows = [i for i, r in enumerate(rows) if r["text_bearing"]]
    # Without OCR at run time: did the chosen level also meet the OCR bar?
    ocr_ok = [router_only[i]["passed"] or router_only[i]["level"] == "none" for i in text_rows]
    recalls = [router_only[i]["ocr_recall"] for i in text_rows if router_only[i]["ocr_recall"] is not None]
    per_kind: dict[str, dict] = {}
    for i, r in enumerate(rows):
        per_kind.setdefault(r["kind"], []).append(i)
    return {
        "samples": len(rows),
        "text_bearing_samples": len(text_rows),
        "accuracy": round(correct / len(rows), 4),
        "text_detector_accuracy": round(
            sum(t == r["text_bearing"] for t, r in zip(text_pred, rows, strict=True)) / len(rows), 4
        ),
        "token_savings_router_only": saved(router_only),
        "token_savings_with_ocr": saved(with_ocr),
        "oracle_token_savings": saved(oracle),
        "all_above_visual_bar": all(c["visual"] for c in router_only + with_ocr),
        "text_samples_meeting_ocr_bar_router_only": round(sum(ocr_ok) / len(ocr_ok), 4) if ocr_ok else 1.0,
        "min_ocr_recall_router_only": round(min(recalls), 4) if recalls else None,
        "min_ssim": round(float(min(c["ssim"] for c in router_only)), 4),
        "min_detail": round(float(min(c["detail"] for c in router_only)), 4),
        "label_counts": {lv: sum(r["label"] == lv for r in rows) for lv in LEVELS},
        "savings_by_kind": {
            k: {"n": len(idx), "router_only": saved(router_only, idx), "with_ocr": saved(with_ocr, idx)}
            for k, idx in sorted(per_kind.items())
        },
        "savings_by_provider": {
            p: {
                "router_only": saved(router_only, [i for i, r in enumerate(rows) if r["provider"] == p]),
                "with_ocr": saved(with_ocr, [i for i, r in enumerate(rows) if r["provider"] == p]),
            }
            for p in PROVIDERS
            if any(r["provider"] == p for r in rows)
        },
    } | {"tokens_before": before}


def weights_json(params: dict, metrics: dict) -> str:
    def r(values: np.ndarray) -> list:
        return np.round(values, 8).tolist()

    doc = {
        "version": 2,
        "model": "multinomial logistic regression (scikit-learn lbfgs, balanced classes, C=1)",
        "levels": list(LEVELS),
        "features": list(FEATURE_NAMES),
        "mean": r(params["mean"]),
        "scale": r(params["scale"]),
        "coef": r(params["coef"]),
        "intercept": r(params["intercept"]),
        "text_model": {
            "coef": r(params["text_coef"]),
            "intercept": round(float(params["text_intercept"]), 8),
        },
        "quality_bar": {
            "min_ssim": BAR.min_ssim,
            "min_detail": BAR.min_detail,
            "min_detail_without_text": BAR.min_detail_without_text,
            "min_ocr_recall": BAR.min_ocr_recall,
            "ocr_min_text_words": _ocr.MIN_TEXT_WORDS,
            "ocr_reference_confidence": _ocr.REFERENCE_CONF,
        },
        "seed": SEED,
        "metrics": metrics,
    }
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny subset (tests)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--rows", type=Path, help="also write every labelled sample (JSON) here")
    parser.add_argument("--from-rows", type=Path, help="refit from samples written by --rows")
    args = parser.parse_args(argv)
    if args.from_rows is not None:
        rows, used_ocr = json.loads(args.from_rows.read_text("utf-8")), True
    else:
        rows, used_ocr = build_dataset(args.quick, args.workers)
    if args.rows is not None:
        args.rows.write_text(json.dumps(rows, sort_keys=True), encoding="utf-8")
    train, held = split_groups(rows)
    params = fit(train)
    metrics = {"train": evaluate(params, train), "held_out": evaluate(params, held)}
    metrics["data"] = {
        "samples": len(rows),
        "groups": len({r["group"] for r in rows}),
        "ocr_labels": used_ocr,
        "held_out_groups": sorted({r["group"] for r in held}),
        "kinds": {k: sum(r["kind"] == k for r in rows) for k in sorted({r["kind"] for r in rows})},
    }
    args.out.write_text(weights_json(params, metrics), encoding="utf-8")
    print(json.dumps({k: metrics[k] for k in ("train", "held_out")}, indent=1))
    print(f"wrote {args.out}")
    return metrics


if __name__ == "__main__":
    main()
