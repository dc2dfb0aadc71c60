"""Refresh the provider schemas the offline `terraform validate` and `plan` check serves.

The google provider cannot be downloaded here, so `make test` runs the real `terraform` against
a stand-in provider (tests/integration/terraform/) that serves each provider's real schema.
The schemas come from the providers' generated CDK bindings, which the package registries
carry: every generated JavaScript file states, per attribute, the provider schema's
`computed`, `optional` and `required` flags in a comment, and its HCL synthesis gives each
attribute's kind (simple, list, set, map), element type and whether it is a nested block.

This script downloads the packages (`pip download`, `npm pack`), reads only the resource and
data source types the module uses (from terraform/*.tf), and writes one trimmed schema per
provider version into tests/fixtures/terraform_providers/, in the block format of
`terraform providers schema -json` (descriptions left out). `make test` never runs it; run it
when the module starts using a new resource type or when the verified versions move:

    .venv/bin/python scripts/refresh_provider_schemas.py

A binding shape it does not recognise stops it with an error naming the file and attribute.
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parent.parent
MODULE_DIR = REPO_ROOT / "terraform"
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures" / "terraform_providers"


@dataclass(frozen=True, slots=True)
class Binding:
    """One provider version and the registry package whose bindings were generated from it."""

    provider: str  # local name in versions.tf: google, google-beta, external
    version: str  # the provider version the bindings state they were generated from
    registry: str  # "pypi" or "npm"
    package: str  # name==version (PyPI) or name@version (npm)

    @property
    def fixture(self) -> Path:
        return FIXTURES_DIR / f"{self.provider}-{self.version}.json"


# The lowest and highest provider versions versions.tf allows, each from its bindings:
# PyPI cdktn-provider-* (CDK Terrain) for the current lines, npm @cdktf/provider-* (the CDK for
# Terraform packages, since deprecated) for the older ones.
BINDINGS: tuple[Binding, ...] = (
    Binding("google", "6.1.0", "npm", "@cdktf/provider-google@14.0.0"),
    Binding("google", "8.7.0", "pypi", "cdktn-provider-google==21.1.0"),
    Binding("google-beta", "6.1.0", "npm", "@cdktf/provider-google-beta@14.0.0"),
    Binding("google-beta", "8.7.0", "pypi", "cdktn-provider-google-beta==21.1.0"),
    Binding("external", "2.3.2", "npm", "@cdktf/provider-external@10.0.0"),
    Binding("external", "2.4.2", "pypi", "cdktn-provider-external==14.0.2"),
)

# Resource types Terraform itself implements: no provider schema needed.
BUILTIN_TYPES = frozenset({"terraform_data"})


_HCL_OPTIONS = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)


class BindingError(Exception):
    """The generated code has a shape this script does not know; the message says where."""


# ---------------------------------------------------------------------------------------------
# Which types the module uses


def module_types(module_dir: Path = MODULE_DIR) -> dict[str, dict[str, set[str]]]:
    """{provider: {"resource": {types}, "data": {types}}} for every block in the module."""
    used: dict[str, dict[str, set[str]]] = {}
    for path in sorted(module_dir.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            parsed = hcl2.load(handle, serialization_options=_HCL_OPTIONS)
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for type_name, named in block.items():
                    if type_name in BUILTIN_TYPES:
                        continue
                    for body in named.values():
                        provider = _provider_of(type_name, body.get("provider"))
                        used.setdefault(provider, {"resource": set(), "data": set()})
                        used[provider][kind].add(type_name)
    return used


def _provider_of(type_name: str, provider_argument: Any) -> str:
    if isinstance(provider_argument, str):
        return provider_argument.strip("${}").split(".")[0]
    return type_name.split("_")[0]


# ---------------------------------------------------------------------------------------------
# Reading the generated JavaScript

_CLASS = re.compile(r"^export class (\w+) extends (?:cdktf|cdktn)\.(\w+) \{$", re.MULTILINE)
_TOP_LEVEL = re.compile(r"^(?:export )?(?:class|function|interface) ", re.MULTILINE)
_SOURCE_MAP = re.compile(r"sourceMappingURL=data:application/json;base64,(\S+)")
_FLAGS = re.compile(
    r"// (\w+) - computed: (true|false), optional: (true|false), required: (true|false)\n"
)
_HCL_ENTRY = re.compile(
    r"(\w+): \{\s*value: [^\n]*\n\s*isBlock: (true|false),\s*type: \"(\w+)\",\s*"
    r"storageClassType: \"(\w+)\","
)
_PRIMITIVES = {"string": "string", "number": "number", "boolean": "bool"}
# Getters of computed-only attributes, which the HCL synthesis leaves out.
_GETTERS = (
    (re.compile(r"cdkt[fn]\.Fn\.tolist\(this\.getListAttribute\('(\w+)'\)\)"), ["set", "string"]),
    (re.compile(r"this\.getListAttribute\('(\w+)'\)"), ["list", "string"]),
    (re.compile(r"this\.getNumberListAttribute\('(\w+)'\)"), ["list", "number"]),
    (re.compile(r"this\.getStringMapAttribute\('(\w+)'\)"), ["map", "string"]),
    (re.compile(r"this\.getNumberMapAttribute\('(\w+)'\)"), ["map", "number"]),
    (re.compile(r"this\.getBooleanMapAttribute\('(\w+)'\)"), ["map", "bool"]),
    (re.compile(r"this\.getStringAttribute\('(\w+)'\)"), "string"),
    (re.compile(r"this\.getNumberAttribute\('(\w+)'\)"), "number"),
    (re.compile(r"this\.getBooleanAttribute\('(\w+)'\)"), "bool"),
)
_MAP_CLASSES = {"StringMap": "string", "NumberMap": "number", "BooleanMap": "bool"}


@dataclass(frozen=True, slots=True)
class Flags:
    computed: bool
    optional: bool
    required: bool
    segment: str  # the code after the comment, up to the next attribute's comment


class GeneratedFile:
    """One lib/<type>/index.js: its classes, their attribute flags and HCL entries."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        starts = [match.start() for match in _TOP_LEVEL.finditer(source)] + [len(source)]
        self.classes: dict[str, tuple[str, str]] = {}  # name -> (base, body)
        self.functions: dict[str, str] = {}
        for start, end in itertools.pairwise(starts):
            chunk = source[start:end]
            match = _CLASS.match(chunk)
            if match:
                self.classes[match.group(1)] = (match.group(2), chunk)
            function = re.match(r"export function (\w+)\(", chunk)
            if function:
                self.functions[function.group(1)] = chunk

    def fail(self, message: str) -> BindingError:
        return BindingError(f"{self.name}: {message}")

    def flags(self, body: str) -> dict[str, Flags]:
        matches = list(_FLAGS.finditer(body))
        found: dict[str, Flags] = {}
        ends = [following.start() for following in matches[1:]] + [len(body)] if matches else []
        for match, end in zip(matches, ends, strict=True):
            found[match.group(1)] = Flags(
                computed=match.group(2) == "true",
                optional=match.group(3) == "true",
                required=match.group(4) == "true",
                segment=body[match.end() : end],
            )
        return found

    def hcl_entries(self, code: str) -> dict[str, tuple[bool, str, str]]:
        """name -> (is_block, kind, storage class) from one HCL synthesis."""
        return {
            match.group(1): (match.group(2) == "true", match.group(3), match.group(4))
            for match in _HCL_ENTRY.finditer(code)
        }

    def top_class(self) -> tuple[str, str, str]:
        """(type name, class kind, class body) of the file's resource or data source."""
        for _, (base, body) in self.classes.items():
            if base in {"TerraformResource", "TerraformDataSource", "TerraformProvider"}:
                type_match = re.search(r"tfResourceType = \"(\w+)\"", self.source)
                return (type_match.group(1) if type_match else "", base, body)
        raise self.fail("no resource, data source or provider class")

    def block(self, body: str, hcl_code: str) -> dict[str, Any]:
        """The schema block of one class body (the resource, or a nested object's class)."""
        attributes: dict[str, Any] = {}
        block_types: dict[str, Any] = {}
        entries = self.hcl_entries(hcl_code)
        for name, flags in self.flags(body).items():
            entry = entries.get(name)
            nested = re.search(rf"new (\w+)\(this, \"{name}\"(?:, (true|false))?\)", flags.segment)
            if entry is not None and entry[0]:
                # max_items = 1 blocks get an OutputReference, others a List.
                single = bool(nested and nested.group(1).endswith("OutputReference"))
                block_types[name] = self._nested_block(name, flags, entry, single)
                continue
            if nested and not nested.group(1).startswith(("cdktf.", "cdktn.")):
                cty = self._nested_object_type(nested.group(1), nested.group(2))
            elif entry is not None:
                cty = self._storage_type(name, entry)
            else:
                cty = self._getter_type(name, flags.segment)
            attributes[name] = _attribute(cty, flags)
        result: dict[str, Any] = {"attributes": attributes}
        if block_types:
            result["block_types"] = block_types
        return result

    def _nested_block(
        self, name: str, flags: Flags, entry: tuple[bool, str, str], single: bool
    ) -> dict[str, Any]:
        _, kind, storage = entry
        element = storage.removesuffix("List")
        if kind == "struct":  # a single block, such as timeouts
            return {"nesting_mode": "single", "block": self._object_block(element)}
        if kind not in {"list", "set"}:
            raise self.fail(f"block {name}: nesting {kind!r}")
        spec: dict[str, Any] = {"nesting_mode": kind, "block": self._object_block(element)}
        if flags.required:
            spec["min_items"] = 1
        if single:
            spec["max_items"] = 1
        return spec

    def _object_block(self, struct: str) -> dict[str, Any]:
        class_name = f"{struct}OutputReference"
        function = self.functions.get(struct[0].lower() + struct[1:] + "ToHclTerraform", "")
        if class_name in self.classes:
            return self.block(self.classes[class_name][1], function)
        if not function:
            raise self.fail(f"no class {class_name}")
        # The provider's own nested blocks are plain structs in the bindings, without flags:
        # every argument of a provider block is optional.
        attributes: dict[str, Any] = {}
        block_types: dict[str, Any] = {}
        for name, entry in self.hcl_entries(function).items():
            if entry[0]:
                block_types[name] = self._nested_block(name, _OPTIONAL, entry, single=False)
            else:
                attributes[name] = _attribute(self._storage_type(name, entry), _OPTIONAL)
        return {"attributes": attributes, **({"block_types": block_types} if block_types else {})}

    def _nested_object_type(self, class_name: str, wraps_set: str | None) -> Any:
        element = class_name.removesuffix("List").removesuffix("OutputReference")
        block = self._object_block(element)
        if block.get("block_types"):
            raise self.fail(f"{class_name}: blocks inside a nested attribute")
        object_type = ["object", {key: value["type"] for key, value in block["attributes"].items()}]
        if class_name.endswith("OutputReference"):
            return ["list", object_type]
        return ["set" if wraps_set == "true" else "list", object_type]

    def _storage_type(self, name: str, entry: tuple[bool, str, str]) -> Any:
        _, kind, storage = entry
        for suffix, collection in (("List", ("list", "set")), ("Map", ("map",))):
            if storage.endswith(suffix) and storage[: -len(suffix)] in _PRIMITIVES:
                if kind not in collection:
                    raise self.fail(f"{name}: {storage} as {kind}")
                return [kind, _PRIMITIVES[storage[: -len(suffix)]]]
        if storage in _PRIMITIVES and kind == "simple":
            return _PRIMITIVES[storage]
        raise self.fail(f"{name}: storage class {storage} ({kind})")

    def _getter_type(self, name: str, segment: str) -> Any:
        for pattern, cty in _GETTERS:
            match = pattern.search(segment)
            if match and match.group(1) == name:
                return cty
        map_class = re.search(rf"new cdkt[fn]\.(\w+)\(this, \"{name}\"\)", segment)
        if map_class and map_class.group(1) in _MAP_CLASSES:
            return ["map", _MAP_CLASSES[map_class.group(1)]]
        raise self.fail(f"{name}: no type found")


_OPTIONAL = Flags(computed=False, optional=True, required=False, segment="")


def _attribute(cty: Any, flags: Flags) -> dict[str, Any]:
    attribute: dict[str, Any] = {"type": cty}
    for key in ("required", "optional", "computed"):
        if getattr(flags, key):
            attribute[key] = True
    return attribute


def schema_of(generated: GeneratedFile) -> tuple[str, str, dict[str, Any]]:
    """(type name, kind, {"version": 0, "block": ...}) of one generated file."""
    type_name, base, body = generated.top_class()
    _, found, synthesis = body.partition("synthesizeHclAttributes()")
    if not found:
        raise generated.fail("no synthesizeHclAttributes (bindings older than CDKTF 0.20)")
    return type_name, base, {"version": 0, "block": generated.block(body, synthesis)}


# ---------------------------------------------------------------------------------------------
# Packages


def _download(binding: Binding, workdir: Path) -> tarfile.TarFile:
    """The npm-style tarball of the bindings (inside the wheel, for PyPI)."""
    if binding.registry == "npm":
        subprocess.run(["npm", "pack", "--silent", binding.package], cwd=workdir, check=True)
        (tarball,) = workdir.glob("*.tgz")
        return tarfile.open(tarball)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "-d",
            str(workdir),
            binding.package,
        ],
        check=True,
    )
    (wheel,) = workdir.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (inner,) = [n for n in archive.namelist() if n.endswith(".jsii.tgz")]
        return tarfile.open(fileobj=io.BytesIO(archive.read(inner)))


def _read(archive: tarfile.TarFile, member: str) -> str:
    extracted = archive.extractfile(f"package/{member}")
    if extracted is None:
        raise BindingError(f"{member} is not a file")
    return extracted.read().decode("utf-8")


def _typescript(archive: tarfile.TarFile, member: str) -> str:
    """The TypeScript source of a compiled file, from its inline source map: the compiler drops
    the comments of declarations it removes, so the flags of every attribute are only there."""
    match = _SOURCE_MAP.search(_read(archive, member))
    if match is None:
        raise BindingError(f"{member} has no inline source map")
    source_map = json.loads(base64.b64decode(match.group(1)))
    (source,) = source_map["sourcesContent"]
    return str(source)


def _module_dir(type_name: str, kind: str, provider: str) -> str:
    """lib/<dir> of a type: google_pubsub_topic -> pubsub-topic, data google_project ->
    data-google-project; the file's tfResourceType is checked against the type afterwards."""
    if kind == "data":
        return "data-" + type_name.replace("_", "-")
    # The google-beta bindings keep the google_ prefix of its types.
    stem = type_name if provider == "google-beta" else type_name.split("_", 1)[1]
    return stem.replace("_", "-")


def bound_version(archive: tarfile.TarFile) -> str:
    package = json.loads(_read(archive, "package.json"))
    for key in ("cdktn", "cdktf"):
        if key in package:
            return str(package[key]["provider"]["version"])
    raise BindingError("package.json names no provider version")


def trimmed_schema(binding: Binding, archive: tarfile.TarFile, used: Mapping[str, set[str]]):
    version = bound_version(archive)
    if version != binding.version:
        raise BindingError(f"{binding.package} is provider {version}, not {binding.version}")
    schemas: dict[str, dict[str, Any]] = {"resource": {}, "data": {}}
    for kind in ("resource", "data"):
        for type_name in sorted(used[kind]):
            member = f"lib/{_module_dir(type_name, kind, binding.provider)}/index.js"
            generated = GeneratedFile(member, _typescript(archive, member))
            found, _, schema = schema_of(generated)
            if found != type_name:
                raise generated.fail(f"holds {found}, not {type_name}")
            schemas[kind][type_name] = schema
    provider_file = GeneratedFile(
        "lib/provider/index.js", _typescript(archive, "lib/provider/index.js")
    )
    _, _, provider_schema = schema_of(provider_file)
    return {
        "provider": f"registry.terraform.io/hashicorp/{binding.provider}",
        "version": binding.version,
        "source": f"{binding.registry} {binding.package}",
        "provider_schema": provider_schema,
        "resource_schemas": schemas["resource"],
        "data_source_schemas": schemas["data"],
    }


def refresh(bindings: Iterable[Binding]) -> Iterator[Path]:
    used = module_types()
    for binding in bindings:
        with tempfile.TemporaryDirectory() as workdir, _download(binding, Path(workdir)) as tar:
            fixture = trimmed_schema(
                binding, tar, used.get(binding.provider, {"resource": set(), "data": set()})
            )
        binding.fixture.parent.mkdir(parents=True, exist_ok=True)
        binding.fixture.write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n")
        yield binding.fixture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", action="append", help="only these providers (local names)")
    args = parser.parse_args(argv)
    chosen = [b for b in BINDINGS if not args.provider or b.provider in args.provider]
    try:
        for path in refresh(chosen):
            print(f"wrote {path.relative_to(REPO_ROOT)} ({path.stat().st_size} bytes)")
    except (BindingError, subprocess.CalledProcessError) as error:
        print(f"refresh_provider_schemas: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
