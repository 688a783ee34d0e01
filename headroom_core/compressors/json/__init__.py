"""SmartCrusher, the JSON compressor, and the table codec its output forms use.

Modules: `_numbers` (numbers exactly as written), `_signals` (what makes an item worth
keeping), `_table` (the table codec and its header format), `_plan` (what to keep from one
array or map), `_render` (output text), `_crusher` (the compressor). See
docs/compressors/json.md.
"""

from __future__ import annotations

from headroom_core.compressors.json._crusher import SmartCrusher, crush
from headroom_core.compressors.json._numbers import ExactNumber
from headroom_core.compressors.json._numbers import dumps as to_json
from headroom_core.compressors.json._table import (
    TABLE_HEADER_PREFIX,
    TABLE_KEY,
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
    "to_json",
]
