"""Import a submodule of a package without running the package's `__init__` first.

Python runs a package's `__init__.py` before any of its submodules. For most packages that is
cheap; `google.cloud.aiplatform_v1`'s imports every one of Vertex AI's 40-odd services and all
their types (some 460 modules, 0.35 s of a function's cold start on the bench machine) when
the functions need one service. A deferred package is entered in `sys.modules` with its path
and spec but an `__init__` not yet run: its submodules import as usual, each on first use, and
the first read of anything else (a name the `__init__` defines, such as
`aiplatform_v1.JobServiceClient`) runs the real `__init__` into the same module object (PEP
562's module `__getattr__`), so code that wants the whole package still gets all of it.
Only for a package whose `__init__` binds no name that is also one of its submodules: until
the `__init__` runs, that name is the submodule (tests/unit/test_deferred_package.py checks
aiplatform_v1 keeps to this).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

__all__ = ["enter_deferred"]

# Reentrant: running a package's __init__ imports its submodules, which reads the package again.
_lock = threading.RLock()
# Package name -> the thread running its __init__.
_running: dict[str, int] = {}


class _DeferredPackage(types.ModuleType):
    """A package module whose `__init__` has not run yet (see the module docstring)."""

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the module does not have yet. A submodule is imported under
        # the import system's own locks alone: holding ours while it waits for one would let
        # an import in another thread that reads the package wait for us in turn.
        submodule = f"{self.__name__}.{name}"
        if not name.startswith("__") and importlib.util.find_spec(submodule) is not None:
            return importlib.import_module(submodule)
        with _lock:  # another thread running the __init__ is waited for
            if type(self) is _DeferredPackage:
                if _running.get(self.__name__) == threading.get_ident():
                    # Read by the __init__ itself before it defined the name: as a module
                    # part way through its import answers.
                    raise AttributeError(
                        f"partially initialized module {self.__name__!r} has no attribute {name!r}"
                    )
                self._run_init()
        return getattr(self, name)

    def _run_init(self) -> None:
        spec = self.__spec__
        assert spec is not None and spec.loader is not None
        _running[self.__name__] = threading.get_ident()
        try:
            spec.loader.exec_module(self)
        except BaseException:
            # As after any failed import: the next import starts again from nothing.
            sys.modules.pop(self.__name__, None)
            parent, _, child = self.__name__.rpartition(".")
            if parent and getattr(sys.modules.get(parent), child, None) is self:
                delattr(sys.modules[parent], child)
            raise
        finally:
            del _running[self.__name__]
        # From here on a plain module: the names __init__ defined are read the usual way.
        self.__class__ = types.ModuleType  # type: ignore[assignment]


def enter_deferred(package: str) -> types.ModuleType:
    """The package's module, entered deferred unless it is imported already."""
    with _lock:
        existing = sys.modules.get(package)
        if existing is not None:
            return existing
        spec = importlib.util.find_spec(package)
        if spec is None or spec.submodule_search_locations is None or spec.loader is None:
            raise ModuleNotFoundError(f"no package named {package!r}", name=package)
        module = importlib.util.module_from_spec(spec)
        module.__class__ = _DeferredPackage
        sys.modules[package] = module
        parent, _, child = package.rpartition(".")
        if parent:
            # What the import system does for every submodule it loads.
            setattr(importlib.import_module(parent), child, module)
        return module
