"""Validator speed and memory, measured against plain parsing in the same run.

Generates a realistic 200,000-line requests file (text prompts of product-description
length, multimodal parts by URI and inline, generationConfig, system instructions, safety
settings, keys), then prints ratios of CPU time, each the median of the ratios measured within
interleaved rounds (measure.paired):
- the validator's time divided by the time to read the file and `json.loads` every line
  (target: at most 0.8x, validating faster than the standard library merely parses), and
  divided by the time to read it and `orjson.loads` every line (for information);
- validating and estimating (`batchline estimate`: the tally, then estimate_file) divided by
  validating without the tally (types generated without its counting, the stream without
  its sums; target: at most 1.10x: the estimate adds at most 10% to validation), over 9
  rounds;
- the key index's memory per distinct key at 1,000,000 keys, for a file (keys read again
  from it on a hash match; target: at most 40 bytes) and for a pipe (keys copied);
- the validator's peak resident memory for the file and for one three times larger, with
  three times as many keys (target: under 150 MB).
Exit status 1 when a target is missed. Usage: python bench/validate.py [--lines N]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import subprocess
import sys
import tempfile
import tracemalloc
import types
from functools import cache
from pathlib import Path
from typing import Any

from measure import Figure, orjson_only, paired, parse_only, report

RATIO_TARGET = 0.8
ESTIMATE_RATIO_TARGET = 1.10
KEY_BYTES_TARGET = 40.0
MEMORY_TARGET_MB = 150.0
KEYS_MEASURED = 1_000_000
WORDS = [
    "durable",
    "lightweight",
    "waterproof",
    "stainless",
    "ergonomic",
    "compact",
    "wireless",
    "premium",
    "organic",
    "adjustable",
    "rechargeable",
    "portable",
    "handcrafted",
    "breathable",
    "vintage",
    "modern",
    "cotton",
    "leather",
    "kitchen",
    "garden",
    "travel",
    "outdoor",
    "office",
    "kids",
    "pet",
    "fitness",
    "audio",
    "lamp",
    "chair",
    "bottle",
    "jacket",
]


def _prompt(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def make_line(rng: random.Random, index: int) -> str:
    kind = index % 10
    parts: list[dict[str, object]] = [
        {"text": "Write a product description for: " + _prompt(rng, rng.randint(40, 160))}
    ]
    if kind in (3, 4):
        parts.append(
            {
                "fileData": {
                    "fileUri": f"gs://shop-media/items/{index}.jpeg",
                    "mimeType": "image/jpeg",
                }
            }
        )
    if kind == 5:
        parts.append(
            {
                "inline_data": {
                    "mime_type": "image/png",
                    "data": base64.b64encode(rng.randbytes(rng.randint(200, 600))).decode(),
                }
            }
        )
    request: dict[str, object] = {"contents": [{"role": "user", "parts": parts}]}
    if kind % 2 == 0:
        request["generationConfig"] = {
            "temperature": round(rng.uniform(0, 1.5), 2),
            "topP": 0.95,
            "maxOutputTokens": rng.choice([256, 512, 1024]),
            "responseMimeType": "text/plain",
        }
    if kind in (1, 6):
        request["systemInstruction"] = {"parts": [{"text": "You are a concise copywriter."}]}
    if kind == 7:
        request["safetySettings"] = [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
        ]
    return json.dumps({"key": f"sku-{index:07d}", "request": request})


def write_file(path: Path, lines: int) -> None:
    """`lines` requests, every one with its own key (so the validator's key check grows)."""
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as out:
        for index in range(lines):
            out.write(make_line(rng, index))
            out.write("\n")


def validate(path: Path) -> None:
    from batchline.domain.validation import validate_stream

    with path.open("rb") as stream:
        report = validate_stream(stream, path.name)
    if not report.valid:
        raise SystemExit(f"benchmark file unexpectedly invalid: {report.errors[:3]}")


def validate_and_estimate(path: Path) -> None:
    """What `batchline estimate` does: validate (tallying the input), then price the tally."""
    from batchline.domain.estimate import estimate_file
    from batchline.domain.pricing import DEFAULT_PRICES
    from batchline.domain.validation import validate_stream

    with path.open("rb") as stream:
        report = validate_stream(stream, path.name)
    if report.inputs.requests != report.requests:
        raise SystemExit("benchmark: the tally missed requests")
    estimate_file(report.inputs, "gemini-3.5-flash", DEFAULT_PRICES)


@cache
def decoder_without_counts() -> Any:
    """The fast path's decoders, of types generated without the estimate's counting (the
    generator's own output, `counts=False`: the same types less the counting statements)."""
    from batchline.domain.validation.fast import decoder_of

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import generate_request_types

    module = types.ModuleType("request_types_without_counts")
    sys.modules[module.__name__] = module  # msgspec resolves the annotations in it
    source = generate_request_types.render(counts=False)
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    return decoder_of(module)


def validate_without_tally(path: Path) -> None:
    """The validator as it was before the estimate: no counting during the decode, no tally
    in the stream."""
    from batchline.domain.limits import SERVICE_LIMITS
    from batchline.domain.validation.stream import (
        DEFAULT_MAX_ERRORS,
        _in_large_blocks,
        _validate,
    )

    fast = decoder_without_counts()
    # Read as validate_stream reads a local file.
    with path.open("rb") as stream, _in_large_blocks(stream) as lines:
        report = _validate(
            lines, path.name, DEFAULT_MAX_ERRORS, None, SERVICE_LIMITS, fast, None, tally=False
        )
    if not report.valid or report.inputs.text_chars:
        raise SystemExit("benchmark: the validation without the tally is not that")


def key_bytes(*, from_file: bool) -> float:
    """Bytes the key index holds per distinct key, at KEYS_MEASURED keys like the file's."""
    from batchline.domain.validation.keys import KeyIndex

    keys = [f"sku-{index:07d}" for index in range(KEYS_MEASURED)]
    tracemalloc.start()
    index = KeyIndex((lambda offset: None) if from_file else None)
    for line, key in enumerate(keys, 1):
        index.first_use(key, line, line * 1000)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return held / KEYS_MEASURED


def peak_memory_mb(path: Path) -> float:
    """Peak RSS of a fresh process that validates `path` (the interpreter included).

    VmHWM, not ru_maxrss: the latter keeps the parent's high-water mark across fork + exec.
    """
    code = (
        "import re, sys\n"
        "from batchline.domain.validation import validate_stream\n"
        "with open(sys.argv[1], 'rb') as f: validate_stream(f, 'bench')\n"
        "status = open('/proc/self/status').read()\n"
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip()) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description="validator speed and memory")
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--record", type=Path, help="append the figures as JSON lines here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "requests.jsonl"
        write_file(path, args.lines)
        size_mb = path.stat().st_size / 1e6
        parsing = paired(
            {
                "json": lambda: parse_only(path),
                "orjson": lambda: orjson_only(path),
                "validate": lambda: validate(path),
            },
            rounds=5,
        )
        # Two figures about 10% apart on a shared machine: more rounds.
        estimating = paired(
            {
                "no_tally": lambda: validate_without_tally(path),
                "estimate": lambda: validate_and_estimate(path),
            },
            rounds=9,
        )
        times = {name: parsing.seconds(name) for name in ("json", "orjson", "validate")}
        times |= {name: estimating.seconds(name) for name in ("no_tally", "estimate")}
        small_mb = peak_memory_mb(path)
        big = Path(tmp) / "requests-x3.jsonl"
        write_file(big, 3 * args.lines)
        big_mb = peak_memory_mb(big)
    print(f"file: {args.lines} lines, {size_mb:.0f} MB; medians of interleaved rounds, CPU s")
    print(f"read + json.loads:   {times['json']:.2f} s")
    print(f"read + orjson.loads: {times['orjson']:.2f} s")
    print(f"validator:           {times['validate']:.2f} s")
    print(f"validator, no tally: {times['no_tally']:.2f} s")
    print(f"validate + estimate: {times['estimate']:.2f} s")
    name = "validate"
    figures = [
        Figure(
            name,
            "validator / (read + json.loads)",
            parsing.ratio("validate", over="json"),
            "x",
            RATIO_TARGET,
        ),
        Figure(
            name,
            "validator / (read + orjson.loads)",
            parsing.ratio("validate", over="orjson"),
            "x",
        ),
        Figure(
            name,
            "(validate + estimate) / validation without the estimate's tally",
            estimating.ratio("estimate", over="no_tally"),
            "x",
            ESTIMATE_RATIO_TARGET,
        ),
        Figure(
            name,
            "key index per distinct key at 1,000,000 keys, a file",
            key_bytes(from_file=True),
            "bytes",
            KEY_BYTES_TARGET,
        ),
        Figure(
            name,
            "key index per distinct key at 1,000,000 keys, a pipe",
            key_bytes(from_file=False),
            "bytes",
        ),
        Figure(name, f"peak memory, {args.lines} lines", small_mb, "MB", MEMORY_TARGET_MB),
        Figure(
            name,
            f"peak memory, {3 * args.lines} lines (3x the keys)",
            big_mb,
            "MB",
            MEMORY_TARGET_MB,
        ),
    ]
    return report(figures, args.record)


if __name__ == "__main__":
    sys.exit(main())
