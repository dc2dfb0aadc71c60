"""Google's ZetaSQL analyzer in this process: the `zetasql` package's WebAssembly build on wasmtime.

Compiling the 30 MB module takes some 15 s (more on a loaded machine), so it is done once per
process, in a background thread started with the emulator (`ZetaSqlRuntime.shared(...)
.start()`), and the compiled code is kept on disk: `Module.serialize()` into the cache folder,
read back with `Module.deserialize_file` (a memory map, milliseconds). The file's name carries
the zetasql and wasmtime versions and the machine, and a file that wasmtime refuses (another
build) is compiled again and replaced. The zetasql package compiles in its own `WasmClient`
without a cache, so the client is built here the same way with the cached module, and handed to
the package's `ZetaSqlLocalService`. One wasm instance is not safe to share between threads:
`call` serializes the calls.

Default cache folder: `$XDG_CACHE_HOME/batchline` or `~/.cache/batchline`; the local stack
passes its own state folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import threading
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from google.protobuf.message import Message

ResponseT = TypeVar("ResponseT", bound=Message)


class AnalyzerError(Exception):
    """An error the analyzer reports for a statement: ZetaSQL's "Code: N, Message: ..."."""

    def __init__(self, raw: str) -> None:
        super().__init__(raw)
        self.raw = raw


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "batchline"


def compiled_module_path(cache_dir: Path) -> Path:
    """Where the compiled module lives: one file per zetasql, wasmtime and machine."""
    versions = f"zetasql-{metadata.version('zetasql')}-wasmtime-{metadata.version('wasmtime')}"
    return cache_dir / f"{versions}-{platform.machine()}.cwasm"


def _load_service(module_path: Path) -> Any:
    """The package's local service on a client whose module comes from the cache.

    Imported here, in the loading thread: the zetasql package's Python side alone takes most
    of a second to import, which the emulator's start does not wait for.
    """
    from wasmtime import Config, Engine, Linker, Module, Store, WasiConfig, WasmtimeError
    from zetasql.core.local_service import ZetaSqlLocalService
    from zetasql.core.wasm_client import WasmClient, get_tzinfo_dir
    from zetasql.wasi import get_wasm_path

    def load_module(engine: Any) -> Any:
        if module_path.exists():
            with contextlib.suppress(WasmtimeError):
                return Module.deserialize_file(engine, str(module_path))
        module = Module.from_file(engine, str(get_wasm_path()))
        with contextlib.suppress(OSError):  # a read-only cache only costs the next start
            module_path.parent.mkdir(parents=True, exist_ok=True)
            partial = module_path.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(module.serialize())
            partial.replace(module_path)
        return module

    class CachedWasmClient(WasmClient):  # type: ignore[misc]
        """The package's client with the cached module; memory copied with ctypes (the
        package copies byte by byte in Python, milliseconds per resolved tree)."""

        def __init__(self) -> None:
            wasi = WasiConfig()
            wasi.inherit_stderr()
            zoneinfo = get_tzinfo_dir()
            if zoneinfo:
                wasi.preopen_dir(zoneinfo, "/usr/share/zoneinfo")
            config = Config()
            with contextlib.suppress(AttributeError):
                config.shared_memory = True
            engine = Engine(config)
            self.store = Store(engine)
            self.store.set_wasi(wasi)
            self.module = load_module(engine)
            linker = Linker(engine)
            linker.define_wasi()
            self.instance = linker.instantiate(self.store, self.module)
            exports: Any = self.instance.exports(self.store)
            self.exports = exports
            if "_initialize" in exports:
                exports["_initialize"](self.store)
            self.memory: Any = exports["memory"]

        def _base(self) -> int:
            return ctypes.addressof(self.memory.data_ptr().contents)

        def write_bytes(self, ptr: int, data: bytes) -> None:
            ctypes.memmove(self._base() + ptr, data, len(data))

        def read_bytes(self, ptr: int, size: int) -> bytes:
            return ctypes.string_at(self._base() + ptr, size)

    service = ZetaSqlLocalService.__new__(ZetaSqlLocalService)
    service.wasm_client = CachedWasmClient()
    return service


class ZetaSqlRuntime:
    """The analyzer service of this process, compiled in the background on `start()`."""

    _shared: ClassVar[ZetaSqlRuntime | None] = None
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, cache_dir: Path) -> None:
        self.module_path = compiled_module_path(cache_dir)
        self._service: Any = None
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._call_lock = threading.Lock()

    @classmethod
    def shared(cls, cache_dir: Path | None = None) -> ZetaSqlRuntime:
        """The one runtime of the process (the first caller's cache folder is used)."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls(cache_dir or default_cache_dir())
            return cls._shared

    def start(self) -> None:
        """Load or compile the module in a background thread (once)."""
        with self._start_lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._load, name="zetasql-compile", daemon=True)
            self._thread.start()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def _load(self) -> None:
        try:
            self._service = _load_service(self.module_path)
        except BaseException as exc:  # the waiting callers re-raise it
            self._error = exc
        finally:
            self._ready.set()

    def call(self, method: str, request: Message, response_type: type[ResponseT]) -> ResponseT:
        """One call of the local service (`ZetaSqlLocalService_<method>`), waiting for the
        compile if it is still under way; raises AnalyzerError for an error in the SQL."""
        self.start()
        self._ready.wait()
        if self._service is None:
            raise RuntimeError(f"the ZetaSQL analyzer could not be loaded: {self._error!r}")
        from zetasql.core.exceptions import ServerError  # loaded with the service

        client: Any = self._service.wasm_client
        try:
            with self._call_lock:
                response: ResponseT = client.call_grpc_func(
                    f"ZetaSqlLocalService_{method}", request, response_type
                )
        except ServerError as exc:
            raise AnalyzerError(str(exc.raw_error)) from exc
        return response
