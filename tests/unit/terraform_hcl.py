"""Reading the Terraform root module's HCL, for the structural tests (python-hcl2)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parents[2]
TF_DIR = REPO_ROOT / "terraform"


@cache
def _parsed(filename: str) -> dict[str, Any]:
    options = hcl2.SerializationOptions(
        with_comments=False, explicit_blocks=False, strip_string_quotes=True
    )
    with (TF_DIR / filename).open(encoding="utf-8") as handle:
        parsed: dict[str, Any] = hcl2.load(handle, serialization_options=options)
    return parsed


def _tf_files() -> list[str]:
    return sorted(path.name for path in TF_DIR.glob("*.tf"))


def _blocks(kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of every `resource` or `data` block in the module."""
    for filename in _tf_files():
        for block in _parsed(filename).get(kind, []):
            for type_name, named in block.items():
                for name, body in named.items():
                    yield type_name, name, body


def _resource(type_name: str, name: str) -> dict[str, Any]:
    for found_type, found_name, body in _blocks("resource"):
        if (found_type, found_name) == (type_name, name):
            return body
    raise AssertionError(f"resource {type_name}.{name} is not declared")


def _locals() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for filename in _tf_files():
        for block in _parsed(filename).get("locals", []):
            merged.update(block)
    return merged


def _named_blocks(filename: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, body) of every `variable` or `output` in `filename`, in file order."""
    return [
        (name, body) for block in _parsed(filename).get(kind, []) for name, body in block.items()
    ]


def _variables() -> dict[str, dict[str, Any]]:
    return dict(_named_blocks("variables.tf", "variable"))


def _strings(value: Any) -> Iterator[str]:
    """Every string anywhere inside a parsed value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _values_of(value: Any, keys: set[str]) -> Iterator[Any]:
    """Every value stored under one of `keys`, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in keys:
                yield item
            yield from _values_of(item, keys)
    elif isinstance(value, list):
        for item in value:
            yield from _values_of(item, keys)


def _single(block: dict[str, Any], name: str) -> dict[str, Any]:
    """A nested block that appears once (hcl2 gives blocks as lists)."""
    items = block[name]
    assert isinstance(items, list) and len(items) == 1, f"expected one {name} block"
    item: dict[str, Any] = items[0]
    return item


def _validation_pattern(variable: str) -> re.Pattern[str]:
    """The regex a variable's validation applies to its value, compiled for Python."""
    for validation in _variables()[variable].get("validation", []):
        match = re.search(r'regex\("((?:[^"\\]|\\.)*)"', validation["condition"])
        if match:
            # HCL string escapes -> the regex text Terraform hands to RE2.
            pattern = match.group(1).replace('\\"', '"').replace("\\\\", "\\")
            return re.compile(pattern)
    raise AssertionError(f"variable {variable} has no regex validation")


FUNCTIONS: dict[str, dict[str, Any]] = _locals()["functions"]
