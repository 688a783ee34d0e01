"""JSON numbers exactly as written.

orjson reads an integer outside the 64-bit range as a float, and a decimal with more
significant digits than a double holds comes back rounded; writing such a value back would
change the number the tool printed (a wei amount, a 128-bit id, a high-precision price).
Those numbers are read as `ExactNumber`: a float (so statistics and ordering work on it)
that remembers its source text and is written back as that text.

Finding them costs one byte-class pass over the text (only a run of 16 or more digits,
or a three-digit exponent, can be a number a double does not hold); where there is such a
run, each suspect token is checked on its own, and only when one really is inexact is the
document parsed again with the standard library, which hands every number's text to a hook.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
"""The integers orjson reads as integers; others become floats."""
_MAX_NUMBER_CHARS = 400
"""Longer number tokens are treated as inexact without converting them (bounded work)."""


class ExactNumber(float):
    """A JSON number a double cannot hold exactly: its float value plus its source text.

    Equal (and hashed) by source text, so distinct large values never merge into one
    constant; written back verbatim by `dumps`.
    """

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> ExactNumber:
        self = super().__new__(cls, float(text))
        self.text = text
        return self

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExactNumber) and self.text == other.text

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self.text)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (ExactNumber, (self.text,))


def _default(value: Any) -> Any:
    if isinstance(value, ExactNumber):
        return orjson.Fragment(value.text)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumpb(value: Any) -> bytes:
    """Minified JSON bytes; `ExactNumber`s are written as their source text."""
    return orjson.dumps(value, default=_default)


def dumps(value: Any) -> str:
    """Minified JSON text; `ExactNumber`s are written as their source text."""
    return orjson.dumps(value, default=_default).decode()


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_TOKEN_CHARS = frozenset("0123456789.-+eE")
_BEFORE_NUMBER = frozenset(" \t\r\n:[,")
_AFTER_NUMBER = frozenset(" \t\r\n,]}")
_MAX_BACKTRACK = 64


def _exact_int(token: str) -> bool:
    return len(token) <= 24 and _INT_MIN <= int(token) <= _INT_MAX


def _exact_float(token: str) -> bool:
    value = float(token)
    if not math.isfinite(value):
        return False
    try:
        return Decimal(repr(value)) == Decimal(token)
    except InvalidOperation:
        return False


def number_is_exact(token: str) -> bool:
    """True when orjson reads the JSON number `token` as a value that writes back equal."""
    if len(token) > _MAX_NUMBER_CHARS:
        return False
    if "." in token or "e" in token or "E" in token:
        return _exact_float(token)
    return _exact_int(token)


def _table(classes: dict[bytes, bytes]) -> bytes:
    table = bytearray(b" " * 256)
    for members, cls in classes.items():
        for byte in members:
            table[byte] = cls[0]
    return bytes(table)


# Byte classes: a run of 16 digits-or-dots ("0" * 16 after _DIGITS) and a digit exponent
# ("e000" or "e+000" after _EXPONENTS) are the only suspect places. bytes.translate and
# bytes.find run at memory speed, unlike a regex that tries every position.
_DIGITS = _table({b"0123456789.": b"0"})
_EXPONENTS = _table({b"0123456789": b"0", b"eE": b"e", b"+-": b"+"})
_RUN = b"0" * 16


def _suspect_positions(text: str) -> list[int]:
    """Where a suspect token starts (or its digits or exponent do), in text order."""
    # One byte per character (others become "?"), so byte offsets are character offsets.
    data = text.encode("ascii", "replace")
    found: list[int] = []
    digits = data.translate(_DIGITS)
    at = digits.find(_RUN)
    while at >= 0:
        found.append(at)
        end = digits.find(b" ", at)
        if end < 0:
            break
        at = digits.find(_RUN, end)
    exponents = data.translate(_EXPONENTS)
    if b"e000" in exponents or b"e+000" in exponents:
        for pattern in (b"e000", b"e+000"):
            at = exponents.find(pattern)
            while at >= 0:
                found.append(at)
                at = exponents.find(pattern, at + 1)
    return sorted(found)


def has_inexact_numbers(text: str) -> bool:
    """True if `text` may hold a number that orjson would not read exactly.

    Tokens inside strings are checked too (a conservative answer costs only a slower
    parse, never a wrong number)."""
    for position in _suspect_positions(text):
        start = position
        floor = max(0, start - _MAX_BACKTRACK)
        while start > floor and text[start - 1] in _TOKEN_CHARS:
            start -= 1
        if start == floor and floor > 0 and text[start - 1] in _TOKEN_CHARS:
            return True  # an absurdly long token: let the exact parse decide
        number = _NUMBER.match(text, start)
        if number is None:
            continue
        end = number.end()
        if (start > 0 and text[start - 1] not in _BEFORE_NUMBER) or (
            end < len(text) and text[end] not in _AFTER_NUMBER
        ):
            continue  # not delimited like a JSON number: digits inside a string (a hash, an id)
        if not number_is_exact(number.group()):
            return True
    return False


def _int_hook(token: str) -> Any:
    if len(token) <= 24:
        value = int(token)
        if _INT_MIN <= value <= _INT_MAX:
            return value
    return ExactNumber(token)


def _float_hook(token: str) -> Any:
    return float(token) if number_is_exact(token) else ExactNumber(token)


def loads(text: str) -> Any:
    """Parse JSON like orjson (same acceptance), keeping inexact numbers as `ExactNumber`.

    Raises orjson.JSONDecodeError (a ValueError) for text that is not JSON."""
    doc = orjson.loads(text)
    if isinstance(doc, (list, dict)) and has_inexact_numbers(text):
        return json.loads(text, parse_int=_int_hook, parse_float=_float_hook)
    return doc


__all__ = ["ExactNumber", "dumpb", "dumps", "has_inexact_numbers", "is_number", "loads", "number_is_exact"]
