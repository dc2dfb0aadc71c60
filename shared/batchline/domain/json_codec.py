"""JSON read and written exactly as the standard library does, at msgspec's and orjson's speed.

`loads(raw)` is `json.loads(raw)`, the same value (msgspec parses; numbers, surrogates and
key order all come out alike); what msgspec refuses (NaN and Infinity, a number beyond a
double, an unpaired surrogate, bad JSON) json parses, or refuses with its own error.

`compact(value)` is the same value in orjson's own spelling, where only machines read it.

`dumps(value)` is `json.dumps(value, ensure_ascii=False, separators=(",", ":"))` as UTF-8,
byte for byte, for the JSON values Batchline writes (what JSON parsing gives, and rows of
them). orjson writes it; where its output could differ, json.dumps does: a float written with
a negative exponent (orjson spells 2.5e-7, Python's repr 2.5e-07: the output is scanned for
one, hyphen to hyphen), an integer outside 64 bits or a key that is not a string (orjson refuses
them). One difference is kept on purpose: a NaN or an infinity, which no JSON text holds
(the validator refuses them, BigQuery cannot load them), becomes null, not `NaN`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec
import orjson

__all__ = ["compact", "dumps", "dumps_line", "dumps_text", "loads"]

_decode = msgspec.json.Decoder().decode
# Where orjson and repr may spell a float differently: a magnitude below 1e-4, which repr
# writes with an exponent of two digits (9.99e-05) and orjson with one (2.5e-7) or none
# (0.0000999). Text inside strings may match too; that only costs a json.dumps.
_SMALL_FLOAT = re.compile(rb"[0-9][eE]-[0-9]|(?<![0-9])0\.0000[0-9]")
_LOWER_E = ord("e")
# Past this many hyphens in one text, a two-byte search is faster than a loop over them.
_HYPHENS_ONE_BY_ONE = 24


def loads(raw: bytes | str) -> Any:
    try:
        return _decode(raw)
    except (ValueError, RecursionError):
        return json.loads(raw)


def dumps(value: Any) -> bytes:
    written = _as_json_dumps_writes(value)
    return written if written is not None else _standard(value).encode("utf-8")


def dumps_line(value: Any) -> bytes:
    """`dumps(value)` and a newline: one line of newline-delimited JSON (orjson appends it,
    which spares copying the line once more)."""
    written = _as_json_dumps_writes(value, orjson.OPT_APPEND_NEWLINE)
    return written if written is not None else (_standard(value) + "\n").encode("utf-8")


def compact(value: Any) -> bytes:
    """Compact JSON as orjson writes it, for text only machines read (the staged requests
    Vertex AI parses, the parts' indexes): the same value as `dumps`, a float below 1e-4
    perhaps spelled otherwise (2.5e-7 for 2.5e-07). json.dumps where orjson refuses."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return _standard(value).encode("utf-8")


def dumps_text(value: Any) -> str:
    """`dumps` as text: json.dumps' own result, character for character (a lone surrogate,
    which UTF-8 cannot hold, included)."""
    written = _as_json_dumps_writes(value)
    return written.decode("utf-8") if written is not None else _standard(value)


def _as_json_dumps_writes(value: Any, option: int = 0) -> bytes | None:
    """orjson's bytes for `value` when they are json.dumps' too; None where they could differ
    (a small float) or orjson refuses the value (orjson.JSONEncodeError, a TypeError: a big
    integer, a key not a string, depth, a lone surrogate)."""
    try:
        written = orjson.dumps(value, option=option)
    except TypeError:
        return None
    return None if _may_hold_small_float(written) else written


def _may_hold_small_float(written: bytes) -> bool:
    # Substring tests first; the pattern only on the rare text that has one. orjson writes
    # its exponents with a lowercase e: an "E-" is in a string, never in its float.
    if not _holds_e_minus(written) and b"0.0000" not in written:
        return False
    return _SMALL_FLOAT.search(written) is not None


def _holds_e_minus(written: bytes) -> bool:
    """Whether b"e-" is in `written`. Searching for those two bytes crawls through prose
    (every "e" is a candidate: 1 ns a byte, more than orjson's writing); a row has a few
    hyphens, which memchr jumps between, so the byte before each is looked at instead, and
    the plain search takes over from the hyphen after _HYPHENS_ONE_BY_ONE of them."""
    find = written.find
    hyphen = find(b"-", 1)  # a hyphen at 0 follows nothing
    for _ in range(_HYPHENS_ONE_BY_ONE):
        if hyphen < 0:
            return False
        if written[hyphen - 1] == _LOWER_E:
            return True
        hyphen = find(b"-", hyphen + 1)
    return hyphen >= 0 and find(b"e-", hyphen - 1) >= 0


def _standard(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a NaN or an infinity: null, as orjson writes it
        return json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
