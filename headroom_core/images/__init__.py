"""Images: provider-aware token accounting, compression strategies, the trained router.

`estimate_block_tokens(block, model)` sizes an image from its header only.
`compress_image_block(block, model=..., ctx=...)` returns an `ImageOutcome` or None.
`dedupe_images(messages, ctx)` replaces later copies of an image by a reference.
With `split_ok=True`, a screenshot that differs from an earlier one only in a small box
becomes a note plus that box (`ImageOutcome.blocks`).
Text-bearing images keep OCR word recall above `ImageConfig.min_ocr_recall` (tesseract
when installed, else the OCR-trained router); the question sent with an image decides
whether its text must stay readable. See docs/images.md for the formulas, strategies,
the OCR bar and how the router was trained.
"""

from __future__ import annotations

from headroom_core.images._compress import (
    DECISIONS,
    ImageOutcome,
    compress_image_block,
    estimate_block_tokens,
)
from headroom_core.images._dedupe import dedupe_images
from headroom_core.images._providers import image_tokens, infer_provider, seen_size

__all__ = [
    "DECISIONS",
    "ImageOutcome",
    "compress_image_block",
    "dedupe_images",
    "estimate_block_tokens",
    "image_tokens",
    "infer_provider",
    "seen_size",
]
