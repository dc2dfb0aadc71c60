"""The function source bundles: what scripts/build_bundles.py zips is what a function needs.

Each bundle is built the way Terraform builds it, unpacked, and its `main` imported in a fresh
interpreter that sees only the unpacked folder and the installed third-party packages, the
way Cloud Run functions runs it.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import hcl2
import pytest

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build_bundles.py"
LIBRARY_DIR = REPO_ROOT / "shared" / "batchline"
# The repository's own code; a bundled function must import none of it from here.
REPOSITORY_SOURCES = [
    REPO_ROOT / name for name in ("shared", "localcloud", "batchline_cli", "functions", "scripts")
]
# Top-level names a bundle must never carry: development packages and repository folders.
NEVER_BUNDLED = ("localcloud", "batchline_cli", "tests", "terraform", "functions", "bench")
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def _terraform_functions() -> dict[str, str]:
    """Function name -> entry point, as terraform/functions.tf declares them."""
    options = hcl2.SerializationOptions(
        with_comments=False, explicit_blocks=False, strip_string_quotes=True
    )
    with (REPO_ROOT / "terraform" / "functions.tf").open(encoding="utf-8") as handle:
        parsed = hcl2.load(handle, serialization_options=options)
    functions = next(block["functions"] for block in parsed["locals"] if "functions" in block)
    return {name: spec["entry_point"] for name, spec in functions.items()}


FUNCTIONS = _terraform_functions()


def _build(out_dir: Path, *extra: str) -> dict[str, Any]:
    names = [arg for name in sorted(FUNCTIONS) for arg in ("--function", name)]
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--out", str(out_dir), *names, *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, f"build_bundles.py failed:\n{result.stderr}"
    built: dict[str, Any] = json.loads(result.stdout)
    return built


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """name -> {"path", "sha256"} for one build of every function."""
    return _build(tmp_path_factory.mktemp("bundles"))


def _library_files() -> set[str]:
    names = set()
    for path in LIBRARY_DIR.rglob("*"):
        relative = path.relative_to(LIBRARY_DIR)
        if path.is_file() and "__pycache__" not in relative.parts and path.suffix != ".pyc":
            names.add("batchline/" + relative.as_posix())
    return names


def test_every_terraform_function_is_built(bundles: dict[str, dict[str, str]]) -> None:
    assert set(bundles) == set(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_bundle_holds_main_library_and_requirements_only(
    bundles: dict[str, dict[str, str]], name: str
) -> None:
    with zipfile.ZipFile(bundles[name]["path"]) as archive:
        names = archive.namelist()
        assert archive.read("main.py") == (REPO_ROOT / "functions" / name / "main.py").read_bytes()
        assert archive.read("requirements.txt") == (REPO_ROOT / "requirements.txt").read_bytes()
        assert (
            archive.read("batchline/schemas/predictions.json")
            == (LIBRARY_DIR / "schemas" / "predictions.json").read_bytes()
        )
    assert _library_files() <= set(names), "the bundle misses part of the batchline package"
    assert "batchline/schemas/jobs.json" in names
    # The built-in price table the estimate loads with importlib.resources.
    assert (
        archive_bytes(bundles[name]["path"], "batchline/domain/prices.json")
        == (LIBRARY_DIR / "domain" / "prices.json").read_bytes()
    )
    assert not [n for n in names if n.split("/")[0] in NEVER_BUNDLED], "a dev package was bundled"
    assert not [n for n in names if "__pycache__" in n.split("/") or n.endswith(".pyc")]
    assert {n.split("/")[0] for n in names} == {"main.py", "requirements.txt", "batchline"}


def archive_bytes(path: str, member: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(member)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_bundle_is_named_by_the_sha256_of_its_bytes(
    bundles: dict[str, dict[str, str]], name: str
) -> None:
    path = Path(bundles[name]["path"])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert bundles[name]["sha256"] == digest
    assert path.name == f"{name}-{digest}.zip"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_bundle_entries_are_sorted_and_carry_a_fixed_timestamp(
    bundles: dict[str, dict[str, str]], name: str
) -> None:
    with zipfile.ZipFile(bundles[name]["path"]) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    assert {info.date_time for info in infos} == {FIXED_DATE_TIME}


def test_two_builds_of_the_same_tree_are_identical(
    bundles: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    again = _build(tmp_path)
    for name, info in bundles.items():
        rebuilt = again[name]
        assert rebuilt["sha256"] == info["sha256"], f"{name} bundle is not reproducible"
        assert Path(rebuilt["path"]).read_bytes() == Path(info["path"]).read_bytes()


def test_flat_output_is_the_string_map_terraform_external_needs(
    bundles: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    flat = _build(tmp_path, "--flat")
    expected = {f"{name}_{field}" for name in FUNCTIONS for field in ("path", "sha256")}
    assert set(flat) == expected
    assert all(isinstance(value, str) for value in flat.values())
    for name, info in bundles.items():
        assert flat[f"{name}_sha256"] == info["sha256"]
        assert Path(str(flat[f"{name}_path"])).is_file()


def test_rebuild_removes_the_previous_zip_of_a_function(tmp_path: Path) -> None:
    stale = tmp_path / f"poll-{'0' * 64}.zip"
    stale.write_bytes(b"old build")
    _build(tmp_path)
    assert not stale.exists()
    assert sorted(p.name.split("-")[0] for p in tmp_path.glob("*.zip")) == sorted(FUNCTIONS)


def test_unknown_function_fails_with_a_message_naming_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--out", str(tmp_path), "--function", "nosuch"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert "nosuch" in result.stderr
    assert not list(tmp_path.glob("*.zip"))


# Runs inside the unpacked bundle: imports main and reports where everything came from.
_PROBE = """
import importlib.util, json, sys
import main
entry = getattr(main, sys.argv[1], None)
import batchline
print(json.dumps({
    "callable": callable(entry),
    "main": main.__file__,
    "batchline": batchline.__file__,
    "dev_packages_importable": [
        name for name in ("localcloud", "batchline_cli")
        if importlib.util.find_spec(name) is not None
    ],
    "module_files": sorted(
        {getattr(m, "__file__", None) or "" for m in list(sys.modules.values())} - {""}
    ),
}))
"""


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_unpacked_bundle_imports_its_entry_point_without_the_repository(
    bundles: dict[str, dict[str, str]], name: str, tmp_path: Path
) -> None:
    unpacked = tmp_path / "workspace"
    with zipfile.ZipFile(bundles[name]["path"]) as archive:
        archive.extractall(unpacked)
    site_packages = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    # -S: no site hooks, so the editable install of this repository (a .pth finder) is not
    # loaded; the bundle and the third-party packages are all the interpreter can see.
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(unpacked), *sorted(site_packages)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
    }
    result = subprocess.run(
        [sys.executable, "-S", "-c", _PROBE, FUNCTIONS[name]],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"importing {name}/main.py from its bundle failed:\n{result.stderr}"
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["callable"], f"{name}: main.{FUNCTIONS[name]} is missing or not callable"
    assert Path(report["main"]).resolve().is_relative_to(unpacked.resolve())
    assert Path(report["batchline"]).resolve().is_relative_to(unpacked.resolve())
    assert report["dev_packages_importable"] == []
    from_repository = [
        f
        for f in report["module_files"]
        if any(Path(f).resolve().is_relative_to(source) for source in REPOSITORY_SOURCES)
    ]
    assert not from_repository, f"{name} imported files outside its bundle: {from_repository}"
    allowed = _requirement_files()
    # The base interpreter's library (a virtualenv's platstdlib would hold its site-packages).
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}
    stdlib = [
        Path(sysconfig.get_paths(vars=base)[key]).resolve() for key in ("stdlib", "platstdlib")
    ]
    strays = sorted(
        f
        for f in report["module_files"]
        if not Path(f).resolve().is_relative_to(unpacked.resolve())
        and not any(Path(f).resolve().is_relative_to(lib) for lib in stdlib)
        and Path(f).resolve() not in allowed
    )
    assert not strays, (
        f"importing {name}/main.py loads modules that neither the bundle nor its "
        f"requirements.txt provide (a missing requirement?): {strays[:10]}"
    )


def _requirements() -> list[Any]:
    from packaging.requirements import Requirement

    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]


def _requirement_closure() -> list[importlib.metadata.Distribution]:
    """The distributions requirements.txt installs: its own and all they depend on."""
    from packaging.requirements import Requirement

    pending = [(requirement, "") for requirement in _requirements()]
    seen: dict[str, importlib.metadata.Distribution] = {}
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        key = requirement.name.lower().replace("_", "-")
        if key in seen:
            continue
        dist = importlib.metadata.distribution(requirement.name)
        seen[key] = dist
        for text in dist.requires or ():
            for wanted_extra in ("", *requirement.extras):
                pending.append((Requirement(text), wanted_extra))
    return list(seen.values())


def _requirement_files() -> set[Path]:
    files: set[Path] = set()
    for dist in _requirement_closure():
        for file in dist.files or ():
            files.add(Path(str(dist.locate_file(file))).resolve())
    return files


def _provided_modules(dist: importlib.metadata.Distribution) -> set[str]:
    """Dotted names of the modules and regular packages a distribution installs."""
    modules = set()
    for file in dist.files or ():
        parts = Path(str(file)).parts
        if not parts or parts[-1].endswith(".dist-info") or not str(file).endswith(".py"):
            continue
        if parts[-1] == "__init__.py":
            modules.add(".".join(parts[:-1]))
        else:
            modules.add(".".join([*parts[:-1], parts[-1][:-3]]))
    return modules


def _imported_names(sources: list[Path]) -> set[str]:
    """Every module name an import statement in `sources` may load (function bodies too)."""
    names: set[str] = set()
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    expanded = set()
    for name in names:
        parts = name.split(".")
        expanded.update(".".join(parts[: end + 1]) for end in range(len(parts)))
    return expanded


def test_every_runtime_requirement_is_imported_by_deployed_code() -> None:
    deployed = sorted(LIBRARY_DIR.rglob("*.py")) + sorted(
        (REPO_ROOT / "functions").glob("*/main.py")
    )
    imported = _imported_names(deployed)
    unused = [
        str(requirement)
        for requirement in _requirements()
        if not _provided_modules(importlib.metadata.distribution(requirement.name)) & imported
    ]
    assert not unused, f"requirements.txt lists packages no deployed code imports: {unused}"
