"""The validator's fast path: one msgspec decode that succeeds only for a valid line.

The types (request_types.py, generated from the same frozen schema and the rules' fast
forms) check a line while parsing it, in C: no Python call per field. A line they refuse is
not necessarily invalid (they are narrower than the schema in a few places, listed in
rules.py); the stream sends it to the precise path, which decides and words the report.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import msgspec

__all__ = ["FAST_ERRORS", "UNSET", "Decode", "LineDecoder", "line_decoder"]

UNSET = msgspec.UNSET
# What decoding a line that is not valid as the types say raises: msgspec's DecodeError and
# ValidationError, UnicodeDecodeError (all ValueErrors), and RecursionError for deep input.
FAST_ERRORS = (ValueError, RecursionError)

# bytes -> the decoded line (a request_types.Line), or one of FAST_ERRORS.
Decode = Callable[[bytes], Any]
# The decoders to try in turn: the lowerCamelCase types, then those with either spelling.
LineDecoder = tuple[Decode, Decode]


@cache
def line_decoder() -> LineDecoder:
    """Built once per process on first use (the types take some 0.1 s to compile).

    Decoding also counts the estimate's tally into this thread's line counts
    (validation.line_counts): a caller other than the stream clears them after use."""
    from batchline.domain.validation.request_types import CamelLine, Line

    return msgspec.json.Decoder(CamelLine).decode, msgspec.json.Decoder(Line).decode
