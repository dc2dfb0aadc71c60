"""The validator's fast path: one msgspec decode that succeeds only for a valid line.

The types (request_types.py, generated from the same frozen schema and the rules' fast
forms) check a line while parsing it, in C: no Python call per field. A line they refuse is
not necessarily invalid (they are narrower than the schema in a few places, listed in
rules.py); the stream sends it to the precise path, which decides and words the report.

Decoding also counts the estimate's tally of the line into the module's TEXT_CHARS,
MEDIA_TYPES and OUTPUT_BOUND (the parts' and the generation config's __post_init__). So that
two files validated at once in one process count apart, each validation holds a copy of the
types of its own while it runs (`line_decoder`): the module itself for the first, a copy
executed from the same code for any that runs while it does. Counters in plain module
globals cost a part half what a thread-local's did.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgspec

__all__ = ["FAST_ERRORS", "UNSET", "Decode", "LineDecoder", "decoder_of", "line_decoder"]

UNSET = msgspec.UNSET
# What decoding a line that is not valid as the types say raises: msgspec's DecodeError and
# ValidationError, UnicodeDecodeError (all ValueErrors), and RecursionError for deep input.
FAST_ERRORS = (ValueError, RecursionError)

# bytes -> the decoded line (a request_types.Line), or one of FAST_ERRORS.
Decode = Callable[[bytes], Any]

TYPES_MODULE = "batchline.domain.validation.request_types"


@dataclass(frozen=True, slots=True)
class LineDecoder:
    """One copy of the types: the decoders to try in turn (lowerCamelCase, then either
    spelling) and the counters their decodes add to."""

    camel: Decode
    either: Decode
    # The characters of the text parts decoded since the counter was last cleared (one item).
    text_chars: list[int]
    # The MIME type of each media part decoded since then.
    media_types: list[object]
    # The maxOutputTokens of the request decoded last (0: none set), one item.
    output_bound: list[int]

    def clear(self) -> None:
        self.text_chars[0] = 0
        self.media_types.clear()
        self.output_bound[0] = 0


def decoder_of(module: types.ModuleType) -> LineDecoder:
    """The decoders of a module of generated types."""
    return LineDecoder(
        msgspec.json.Decoder(module.CamelLine).decode,
        msgspec.json.Decoder(module.Line).decode,
        module.TEXT_CHARS,
        module.MEDIA_TYPES,
        module.OUTPUT_BOUND,
    )


_copies = itertools.count()
_idle: list[LineDecoder] = []
_idle_lock = threading.Lock()


def _new_decoder() -> LineDecoder:
    copy = next(_copies)
    if copy == 0:
        return decoder_of(importlib.import_module(TYPES_MODULE))
    spec = importlib.util.find_spec(TYPES_MODULE)
    loader = spec.loader if spec is not None else None
    if loader is None or not hasattr(loader, "get_code"):
        raise ImportError(f"cannot read the code of {TYPES_MODULE}", name=TYPES_MODULE)
    module = types.ModuleType(f"{TYPES_MODULE}_copy{copy}")
    sys.modules[module.__name__] = module  # msgspec resolves the annotations through it
    exec(loader.get_code(TYPES_MODULE), module.__dict__)
    return decoder_of(module)


@contextmanager
def line_decoder() -> Iterator[LineDecoder]:
    """A copy of the types for one validation, its counters clear; returned after it.

    The first is built on first use (the types take some 0.1 s to compile); a validation that
    starts while all are in use builds another, kept for the next.
    """
    with _idle_lock:
        decoder = _idle.pop() if _idle else None
    if decoder is None:
        decoder = _new_decoder()
    decoder.clear()
    try:
        yield decoder
    finally:
        decoder.clear()
        with _idle_lock:
            _idle.append(decoder)
