"""A deferred package: its submodules import without its __init__, which runs on the first
read of anything else, once; the Vertex AI job service imports without the other services.

Each case runs in a fresh interpreter: what it checks is sys.modules, which a test process
shares with every other test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _run(code: str, *paths: Path) -> dict[str, object]:
    path_setup = f"import sys; sys.path[:0] = {[str(p) for p in (SHARED, *paths)]!r}\n"
    result = subprocess.run(
        [sys.executable, "-c", path_setup + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """`pkg`: an __init__ that counts its runs and defines a name; submodules `light`, `other`."""
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "__init__.py").write_text(
        "import builtins\n"
        "builtins.init_runs = getattr(builtins, 'init_runs', 0) + 1\n"
        "from .light import VALUE\n"
        "DEFINED_BY_INIT = VALUE + 1\n"
    )
    (root / "light.py").write_text("VALUE = 41\n")
    (root / "other.py").write_text("from pkg import light\nOTHER = light.VALUE\n")
    return tmp_path


def test_submodules_import_without_the_init_which_runs_once_on_first_read(
    package: Path,
) -> None:
    report = _run(
        """
        import builtins, json
        from batchline.adapters.deferred_package import enter_deferred
        module = enter_deferred("pkg")
        from pkg.light import VALUE
        from pkg import other
        before = getattr(builtins, "init_runs", 0)
        import pkg
        defined = pkg.DEFINED_BY_INIT
        again = pkg.DEFINED_BY_INIT
        try:
            pkg.missing
            missing = "read"
        except AttributeError as exc:
            missing = str(exc)
        print(json.dumps({
            "same_module": module is pkg, "value": VALUE, "other": other.OTHER,
            "runs_before": before, "runs_after": builtins.init_runs,
            "defined": defined, "again": again, "missing": missing,
        }))
        """,
        package,
    )
    assert report == {
        "same_module": True,
        "value": 41,
        "other": 41,
        "runs_before": 0,
        "runs_after": 1,
        "defined": 42,
        "again": 42,
        "missing": "module 'pkg' has no attribute 'missing'",
    }


def test_from_import_of_a_name_the_init_defines_runs_it(package: Path) -> None:
    report = _run(
        """
        import builtins, json
        from batchline.adapters.deferred_package import enter_deferred
        enter_deferred("pkg")
        from pkg import DEFINED_BY_INIT
        print(json.dumps({"defined": DEFINED_BY_INIT, "runs": builtins.init_runs}))
        """,
        package,
    )
    assert report == {"defined": 42, "runs": 1}


def test_an_imported_package_is_left_as_it_is(package: Path) -> None:
    report = _run(
        """
        import builtins, json, types
        import pkg
        from batchline.adapters.deferred_package import enter_deferred
        print(json.dumps({
            "same": enter_deferred("pkg") is pkg, "plain": type(pkg) is types.ModuleType,
            "runs": builtins.init_runs,
        }))
        """,
        package,
    )
    assert report == {"same": True, "plain": True, "runs": 1}


def test_an_init_that_fails_leaves_no_half_module_behind(package: Path) -> None:
    (package / "pkg" / "__init__.py").write_text("raise RuntimeError('broken init')\n")
    report = _run(
        """
        import json, sys
        from batchline.adapters.deferred_package import enter_deferred
        pkg = enter_deferred("pkg")
        try:
            pkg.anything
            error = ""
        except RuntimeError as exc:
            error = str(exc)
        print(json.dumps({"error": error, "still_entered": "pkg" in sys.modules}))
        """,
        package,
    )
    assert report == {"error": "broken init", "still_entered": False}


def test_a_missing_package_is_refused_by_name() -> None:
    from batchline.adapters.deferred_package import enter_deferred

    with pytest.raises(ModuleNotFoundError, match="no_such_package_here"):
        enter_deferred("no_such_package_here")


def test_the_job_service_imports_without_the_other_vertex_services() -> None:
    report = _run(
        """
        import json, sys
        from batchline.adapters.vertex import job_service_client_class
        client_class = job_service_client_class()
        loaded = sorted(m for m in sys.modules if m.startswith("google.cloud.aiplatform_v1."))
        services = sorted({m.split(".")[4] for m in loaded if m.count(".") >= 4
                           and m.split(".")[3] == "services"})
        count = len(loaded)
        # Code that wants the whole package still gets it, with the same class.
        from google.cloud import aiplatform_v1
        whole = aiplatform_v1.JobServiceClient is client_class
        dataset = aiplatform_v1.DatasetServiceClient.__name__
        print(json.dumps({
            "services": services, "modules": count, "whole": whole, "dataset": dataset,
            "after": len([m for m in sys.modules if m.startswith("google.cloud.aiplatform_v1.")]),
        }))
        """
    )
    assert report["services"] == ["job_service"]
    assert report["whole"] is True
    assert report["dataset"] == "DatasetServiceClient"
    # The package has hundreds of modules; the job service needs about a tenth of them.
    assert isinstance(report["modules"], int) and isinstance(report["after"], int)
    assert report["modules"] * 4 < report["after"]


def _subpackage(tmp_path: Path, name: str, init: str) -> None:
    """`outer.<name>`, with `init` as its __init__."""
    root = tmp_path / "outer" / name
    root.mkdir(parents=True)
    (tmp_path / "outer" / "__init__.py").write_text("")
    (root / "__init__.py").write_text(init)


def test_threads_reading_the_package_while_its_init_runs_wait_for_it(tmp_path: Path) -> None:
    _subpackage(tmp_path, "slow", "import time\ntime.sleep(0.3)\nDEFINED = 42\n")
    report = _run(
        """
        import json, threading
        from batchline.adapters.deferred_package import enter_deferred
        slow = enter_deferred("outer.slow")
        seen = []
        def read():
            from outer.slow import DEFINED
            seen.append(DEFINED)
        threads = [threading.Thread(target=read) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(json.dumps({"seen": seen}))
        """,
        tmp_path,
    )
    assert report == {"seen": [42, 42, 42]}


def test_a_failed_init_of_a_subpackage_leaves_its_parent_without_it(tmp_path: Path) -> None:
    _subpackage(tmp_path, "broken", "raise RuntimeError('broken init')\n")
    report = _run(
        """
        import json, sys
        import outer
        from batchline.adapters.deferred_package import enter_deferred
        enter_deferred("outer.broken")
        try:
            outer.broken.anything
        except RuntimeError:
            pass
        print(json.dumps({"attribute": hasattr(outer, "broken"),
                          "entered": "outer.broken" in sys.modules}))
        """,
        tmp_path,
    )
    assert report == {"attribute": False, "entered": False}


@pytest.mark.parametrize(
    "package", ["google.cloud.aiplatform_v1", "google.cloud.aiplatform_v1.types"]
)
def test_the_deferred_vertex_packages_bind_no_name_of_a_submodule(package: str) -> None:
    """What deferring needs of a package: a name its __init__ binds is no submodule's, which
    reading the package before its __init__ ran would give instead (read without running it)."""
    import ast
    import importlib.util
    import pkgutil

    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin and spec.submodule_search_locations
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    bound = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    } | {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    submodules = {info.name for info in pkgutil.iter_modules(spec.submodule_search_locations)}
    assert len(bound) > 100 and len(submodules) >= 4
    assert bound & submodules == set()
