"""Old entry point of the text-compressor tests' context; test_llmlingua.py still imports it.

Delegates to the suite's one factory, `tests.support.make_ctx` (use that in new tests).
"""

from __future__ import annotations

from typing import Any

from headroom_core.compressors import CompressContext
from tests.support import make_ctx as _make_ctx


def make_ctx(query: str | None = None, ccr: bool = True, **text_options: Any) -> CompressContext:
    return _make_ctx("memory" if ccr else None, query=query, text=text_options)
