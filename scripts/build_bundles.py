"""Build one deterministic source zip per Cloud Run function, named by its SHA-256.

A gen2 function deploys only what is inside its zip, so each bundle holds:

    main.py            functions/<name>/main.py (and anything else in that folder)
    batchline/...      the shared library, with its schemas/*.json
    requirements.txt   the repository's runtime requirements

The development emulators (localcloud/) and caches (__pycache__, *.pyc) are never included.
Entries are sorted and carry a fixed timestamp and mode, and are stored uncompressed, so the
same tree gives the same bytes (and hash) on every machine and Python version: Terraform puts
the hash in the object name, and a function redeploys only when its code really changed.

    python scripts/build_bundles.py --out terraform/.build
    {"complete": {"path": "...", "sha256": "..."}, "poll": {...}, "submit": {...}}

With `--flat` the output is the flat map of strings that Terraform's `data "external"` needs:
{"complete_path": "...", "complete_sha256": "...", ...}.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# The earliest time a zip entry can carry: any fixed value works, this one is conventional.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
# Regular file, rw-r--r--, in the upper 16 bits where zip keeps Unix attributes.
FILE_MODE = (0o100644 & 0xFFFF) << 16

EXCLUDED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".swp", "~")
EXCLUDED_NAMES = frozenset({".DS_Store"})


class BundleError(Exception):
    """The source tree cannot make a valid bundle; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class SourceTree:
    """Where a repository keeps the pieces of a bundle."""

    root: Path

    @property
    def functions_dir(self) -> Path:
        return self.root / "functions"

    @property
    def library_dir(self) -> Path:
        return self.root / "shared" / "batchline"

    @property
    def requirements(self) -> Path:
        return self.root / "requirements.txt"


@dataclass(frozen=True, slots=True)
class Bundle:
    """One built zip: where it was written and the SHA-256 of its bytes."""

    name: str
    path: str
    sha256: str


def _wanted(path: Path, root: Path) -> bool:
    relative = path.relative_to(root)
    if any(part in EXCLUDED_DIRS for part in relative.parts[:-1]):
        return False
    return relative.name not in EXCLUDED_NAMES and not relative.name.endswith(EXCLUDED_SUFFIXES)


def _files_under(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and _wanted(path, root):
            yield path


def bundle_entries(tree: SourceTree, function: str) -> dict[str, Path]:
    """Archive name -> source file for one function's bundle."""
    function_dir = tree.functions_dir / function
    if not (function_dir / "main.py").is_file():
        raise BundleError(f"function {function!r} has no main.py at {function_dir / 'main.py'}")
    if (function_dir / "requirements.txt").exists():
        raise BundleError(
            f"{function_dir / 'requirements.txt'} would shadow the repository's "
            "requirements.txt: every bundle ships the one at the repository root"
        )
    if not (tree.library_dir / "__init__.py").is_file():
        raise BundleError(f"the batchline package is missing at {tree.library_dir}")
    if not tree.requirements.is_file():
        raise BundleError(f"the runtime requirements are missing at {tree.requirements}")
    entries: dict[str, Path] = {}
    for path in _files_under(function_dir):
        entries[path.relative_to(function_dir).as_posix()] = path
    for path in _files_under(tree.library_dir):
        entries["batchline/" + path.relative_to(tree.library_dir).as_posix()] = path
    entries["requirements.txt"] = tree.requirements
    return entries


def zip_bytes(entries: dict[str, Path]) -> bytes:
    """The zip of `entries`, byte-for-byte reproducible."""
    buffer = io.BytesIO()
    # ZIP_STORED: deflate output depends on the zlib build, which would change the hash
    # between machines; the bundles are small Python sources, size does not matter.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.external_attr = FILE_MODE
            info.create_system = 3  # Unix, whatever the host, so the attributes read the same.
            archive.writestr(info, entries[name].read_bytes())
    return buffer.getvalue()


def discover_functions(tree: SourceTree) -> list[str]:
    """Every folder under functions/ that holds a main.py, sorted."""
    if not tree.functions_dir.is_dir():
        return []
    return sorted(p.parent.name for p in tree.functions_dir.glob("*/main.py") if p.is_file())


def build(tree: SourceTree, function: str, out_dir: str) -> Bundle:
    """Write `<out_dir>/<function>-<sha256>.zip` (removing older builds of it) and describe it."""
    data = zip_bytes(bundle_entries(tree, function))
    digest = hashlib.sha256(data).hexdigest()
    os.makedirs(out_dir, exist_ok=True)
    filename = f"{function}-{digest}.zip"
    target = os.path.join(out_dir, filename)
    if not os.path.isfile(target) or Path(target).read_bytes() != data:
        partial = target + ".partial"
        Path(partial).write_bytes(data)
        os.replace(partial, target)
    for stale in Path(out_dir).glob(f"{function}-*.zip"):
        if stale.name != filename and len(stale.stem) == len(function) + 1 + len(digest):
            stale.unlink()
    return Bundle(name=function, path=target, sha256=digest)


def as_json(bundles: Sequence[Bundle], *, flat: bool) -> str:
    if flat:
        table: dict[str, object] = {}
        for bundle in bundles:
            table[f"{bundle.name}_path"] = bundle.path
            table[f"{bundle.name}_sha256"] = bundle.sha256
    else:
        table = {b.name: {"path": b.path, "sha256": b.sha256} for b in bundles}
    return json.dumps(table, sort_keys=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build one deterministic source zip per Cloud Run function."
    )
    parser.add_argument("--out", required=True, help="folder to write the zips into")
    parser.add_argument(
        "--function",
        action="append",
        dest="functions",
        metavar="NAME",
        help="build only this function (repeatable); default: every functions/*/main.py",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=REPO_ROOT,
        help="repository root holding functions/, shared/batchline/ and requirements.txt "
        "(default: the repository this script is in)",
    )
    parser.add_argument(
        "--flat",
        action="store_true",
        help='print {"<name>_path": ..., "<name>_sha256": ...} for Terraform data "external"',
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tree = SourceTree(args.root.resolve())
    names = sorted(set(args.functions)) if args.functions else discover_functions(tree)
    if not names:
        print(f"no functions to build: no main.py under {tree.functions_dir}", file=sys.stderr)
        return 1
    try:
        bundles = [build(tree, name, args.out) for name in names]
    except BundleError as exc:
        print(f"build_bundles: {exc}", file=sys.stderr)
        return 1
    print(as_json(bundles, flat=args.flat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
