"""Former home of SmartCrusher, kept so existing imports work: see `headroom_core.compressors.json`."""

from __future__ import annotations

from headroom_core.compressors.json import (
    TABLE_HEADER_PREFIX,
    TABLE_KEY,
    ExactNumber,
    SmartCrusher,
    crush,
    expand_output,
    expand_table_rows,
    parse_table_text,
)

__all__ = [
    "TABLE_HEADER_PREFIX",
    "TABLE_KEY",
    "ExactNumber",
    "SmartCrusher",
    "crush",
    "expand_output",
    "expand_table_rows",
    "parse_table_text",
]
