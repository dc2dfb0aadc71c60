"""Validator speed and memory, measured against plain parsing in the same run.

Generates a realistic 200,000-line requests file (text prompts of product-description
length, multimodal parts by URI and inline, generationConfig, system instructions, safety
settings, keys), then prints:
- the validator's time divided by the time to read the file and `json.loads` every line;
- the validator's peak resident memory for that file and for a file three times larger,
  with three times as many distinct keys: lines are streamed, but the check that keys are
  unique keeps each key (about 70 bytes per distinct key).
Targets: ratio at most 2.0; peak memory under 150 MB and flat in the file size.
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
import time
from pathlib import Path

from measure import best_interleaved, parse_only

RATIO_TARGET = 2.0
MEMORY_TARGET_MB = 150.0
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


def validate(path: Path) -> float:
    from batchline.domain.validation import validate_stream

    start = time.perf_counter()
    with path.open("rb") as stream:
        report = validate_stream(stream, path.name)
    elapsed = time.perf_counter() - start
    if not report.valid:
        raise SystemExit(f"benchmark file unexpectedly invalid: {report.errors[:3]}")
    return elapsed


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "requests.jsonl"
        write_file(path, args.lines)
        size_mb = path.stat().st_size / 1e6
        parse_s, validate_s = best_interleaved(lambda: parse_only(path), lambda: validate(path))
        ratio = validate_s / parse_s
        small_mb = peak_memory_mb(path)
        big = Path(tmp) / "requests-x3.jsonl"
        write_file(big, 3 * args.lines)
        big_mb = peak_memory_mb(big)
    print(f"file: {args.lines} lines, {size_mb:.0f} MB")
    print(f"parse only (read + json.loads): {parse_s:.2f} s")
    print(f"validator:                      {validate_s:.2f} s")
    print(f"ratio: {ratio:.2f}x (target <= {RATIO_TARGET}x)")
    print(
        f"peak memory: {small_mb:.0f} MB for 1x, {big_mb:.0f} MB for 3x (target < {MEMORY_TARGET_MB:.0f} MB)"
    )
    ok = ratio <= RATIO_TARGET and max(small_mb, big_mb) < MEMORY_TARGET_MB
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
