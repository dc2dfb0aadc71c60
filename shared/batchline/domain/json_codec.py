"""JSON read and written exactly as the standard library does, at msgspec's and orjson's speed.

`loads(raw)` is `json.loads(raw)`, the same value (msgspec parses; numbers, surrogates and
key order all come out alike); what msgspec refuses (NaN and Infinity, a number beyond a
double, an unpaired surrogate, bad JSON) json parses, or refuses with its own error.

`dumps(value)` is `json.dumps(value, ensure_ascii=False, separators=(",", ":"))` as UTF-8,
byte for byte. orjson writes it, except where its output would differ: a float below 1e-4
(orjson spells 2.5e-7, Python's repr 2.5e-07) or not finite (orjson writes null), an integer
outside 64 bits or a key that is not a string (orjson refuses them), a type other than the
plain JSON ones (orjson writes dataclasses and dates that json refuses). Those values go to
json.dumps, which also raises what it raised before.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import orjson

__all__ = ["dumps", "dumps_text", "loads"]

_decode = msgspec.json.Decoder().decode
# Floats orjson writes as repr does: zero, and magnitudes from 1e-4 up (tested over the range).
_SMALLEST_ALIKE = 1e-4
_INFINITY = float("inf")
_SCALARS = frozenset({str, int, bool, type(None)})


def loads(raw: bytes | str) -> Any:
    try:
        return _decode(raw)
    except (ValueError, RecursionError):
        return json.loads(raw)


def dumps(value: Any) -> bytes:
    try:
        if _alike(value):
            return orjson.dumps(value)
    except (TypeError, RecursionError):  # orjson.JSONEncodeError is a TypeError
        pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def dumps_text(value: Any) -> str:
    """`dumps` as text: json.dumps' own result, character for character."""
    try:
        if _alike(value):
            return orjson.dumps(value).decode("utf-8")
    except (TypeError, RecursionError):
        pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _alike(value: Any) -> bool:
    """Whether orjson writes `value` as json.dumps does (its keys aside: orjson refuses
    those that are not strings)."""
    kind = type(value)
    if kind is dict:
        return all(map(_alike, value.values()))
    if kind is list or kind is tuple:
        return all(map(_alike, value))
    if kind is float:
        return bool(value == 0.0 or _SMALLEST_ALIKE <= abs(value) < _INFINITY)
    return kind in _SCALARS
