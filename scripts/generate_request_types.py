"""Generate shared/batchline/domain/validation/request_types.py: the validator's fast path.

From the frozen schema (request_schema_data.py) and the service rules' fast forms
(rules.py), this writes msgspec types of a requests line: every field under both of its
spellings (lowerCamelCase and snake_case), `parts` as a list or one object, int64 as a
number or a decimal string, enums by name or number, bytes as base64, and the rules as
constraints (ranges, patterns, non-empty lists) or as a `__post_init__` check (a field given
under both spellings, oneofs, fields that must be set). Decoding a line into `Line` succeeds
only when the line is valid; the validator sends every line that fails to the precise path,
which decides and words the report, so the types may be narrower than the schema, never
wider.

tests/unit/test_request_types_generated.py fails when the committed module is stale: run
`python scripts/generate_request_types.py` after regenerating the schema or changing a rule.
"""

from __future__ import annotations

import argparse
import keyword
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "shared"))

from batchline.domain.validation import request_schema_data as data  # noqa: E402
from batchline.domain.validation import rules  # noqa: E402
from batchline.domain.validation import schema as precise  # noqa: E402

# gc=False: a decoded line is a tree, never a cycle, so its structs need not be tracked by the
# garbage collector, whose passes over the young objects are a share of decoding a line
# (https://jcristharif.com/msgspec/structs.html, "Disabling Garbage Collection").
STRUCT_OPTIONS = "forbid_unknown_fields=True, kw_only=True, gc=False"
# The estimate's tally, counted while decoding into the module's TEXT_CHARS, MEDIA_TYPES and
# OUTPUT_BOUND (batchline.domain.validation.fast): a part adds its text's characters, or its
# media's MIME type, once its checks passed; a generation config its maxOutputTokens.
PART = "google.cloud.aiplatform.v1.Part"
# lowerCamelCase (the common case): the checks' own text branch counts, with no second test.
CAMEL_PART_CHECKS = (
    "if self.text:",
    "    if ",
    '        raise Refused("data")',
    "elif ",
    '    raise Refused("data")',
)
CAMEL_TEXT_COUNT = "    TEXT_CHARS[0] += len(self.text)"
CAMEL_MEDIA_COUNT = (
    "else:",
    "    media = self.inlineData or self.fileData",
    "    if media:",
    "        MEDIA_TYPES.append(media.mimeType)",
)
GENERATION_CONFIG = "google.cloud.aiplatform.v1.GenerationConfig"
BOUND_COUNTS = {
    True: ("if self.maxOutputTokens:", "    OUTPUT_BOUND[0] = self.maxOutputTokens"),
    False: (
        "if bound := self.maxOutputTokens or self.max_output_tokens:",
        "    OUTPUT_BOUND[0] = bound",
    ),
}
PART_COUNTS = (  # either spelling (rare): after the checks
    "if self.text:",
    "    TEXT_CHARS[0] += len(self.text)",
    "else:",
    "    media = self.inlineData or self.inline_data or self.fileData or self.file_data",
    "    if media:",
    "        MEDIA_TYPES.append(media.mimeType or media.mime_type)",
)
OUTPUT = REPO / "shared" / "batchline" / "domain" / "validation" / "request_types.py"
PACKAGES = ("google.cloud.aiplatform.v1.", "google.protobuf.", "google.type.")
FLOAT32_MAX = 3.4028234663852886e38
# Any JSON (google.protobuf.Value) with more brackets than this takes the precise path, so
# that no line the fast path accepts comes near the parsers' recursion limits.
JSON_BRACKETS = 500
# What a raw JSON value must start with, by kind (a Struct is an object, a ListValue a list).
RAW_STARTS = {"struct": "{", "list_value": "[", "value": ""}

# Scalar kinds as msgspec types (aliases defined at the top of the generated module).
SCALAR_TYPES = {
    "string": "str",
    "bool": "bool",
    "bytes": "bytes",
    "double": "float",
    "float": "Float32",
    "int32": "Int32",
    "uint32": "UInt32",
    "int64": "Int64",
    "uint64": "UInt64",
    # Any JSON is kept raw (no objects built); `_json` checks what the skip does not.
    "struct": "Raw",
    "value": "Raw",
    "list_value": "Raw",
    "duration": "Duration",
    "timestamp": "Timestamp",
    "field_mask": "str",
}


def _int_aliases() -> list[str]:
    lines = []
    for kind, alias, digits in (
        ("int32", "Int32", 9),
        ("uint32", "UInt32", 9),
        ("int64", "Int64", 18),
        ("uint64", "UInt64", 19),
    ):
        low, high = precise._INT_RANGES[kind]
        number = f"Annotated[int, Meta(ge={low}, le={high})]"
        if digits:
            # The decimal string form: few enough digits to be within range whatever they are.
            sign = "-?" if low < 0 else ""
            pattern = rf"\A{sign}[0-9]{{1,{digits}}}\Z"
            number += f" | Annotated[str, Meta(pattern={pattern!r})]"
        lines.append(f"{alias} = {number}")
    return lines


def _pattern(regex: re.Pattern[str]) -> str:
    """A fullmatch pattern as a search pattern (msgspec searches), in ASCII digits."""
    return r"\A(?:" + regex.pattern.replace(r"\d", "[0-9]") + r")\Z"


def class_name(full_name: str) -> str:
    for package in PACKAGES:
        if full_name.startswith(package):
            return full_name[len(package) :].replace(".", "")
    raise ValueError(f"no package prefix on {full_name}")


def enum_alias(full_name: str) -> str:
    return "Enum" + class_name(full_name)


def attribute(name: str) -> str:
    return name + "_" if keyword.iskeyword(name) else name


class Generator:
    """One family of types: both spellings of every field, or lowerCamelCase alone (most
    lines are spelled so; fewer fields and no twin checks make them quicker to decode)."""

    def __init__(self, *, camel_only: bool, counts: bool = False) -> None:
        self.camel_only = camel_only
        self.counts = counts
        self.prefix = "Camel" if camel_only else ""
        self.maps = {
            type_name
            for fields in data.MESSAGES.values()
            for _, _, kind, _, type_name, _ in fields
            if kind == "map"
        }
        self.enums_used: set[str] = set()
        self.cyclic, acyclic_depth = self._find_cycles()
        # Messages a recursive one may hold, so that no message nests past MAX_DEPTH.
        self.nested_messages = precise.MAX_DEPTH - acyclic_depth - 2
        assert data.ROOT not in self.cyclic and self.nested_messages > 8
        # Subclasses of a message with one field narrowed: (container, field) -> name.
        self.narrowed: dict[tuple[str, str], tuple[str, str, str, tuple[str, ...]]] = {}
        for (container, field_name, inner), choices in rules.STRING_CHOICES.items():
            element = self._field(container, field_name)[4]
            name = self.prefix + class_name(container) + _camel(field_name)
            self.narrowed[(container, field_name)] = (name, element, inner, tuple(choices))

    def _field(self, message: str, proto_name: str) -> tuple[str, str, str, bool, str, str]:
        for field in data.MESSAGES[message]:
            if field[0] == proto_name:
                return field
        raise KeyError(f"{message} has no field {proto_name}")

    def element_type(self, kind: str, type_name: str) -> str:
        if kind == "message":
            return self.prefix + class_name(type_name)
        if kind == "enum":
            self.enums_used.add(type_name)
            return enum_alias(type_name)
        if kind == "map":
            entry = {field[0]: field for field in data.MESSAGES[type_name]}
            if entry["key"][2] != "string":
                raise ValueError(f"{type_name}: map keys of kind {entry['key'][2]}")
            _, _, value_kind, _, value_type, _ = entry["value"]
            return f"dict[str, {self.element_type(value_kind, value_type)}]"
        return SCALAR_TYPES[kind]

    def field_type(self, message: str, field: tuple[str, str, str, bool, str, str]) -> str:
        proto_name, _, kind, repeated, type_name, _ = field
        key = (message, proto_name)
        element = self.element_type(kind, type_name)
        if key in self.narrowed:
            element = self.narrowed[key][0]
        if key in rules.LABEL_MAPS:
            label_key = f"Annotated[str, Meta(pattern={rules.LABEL_KEY_PATTERN!r})]"
            label_value = f"Annotated[str, Meta(pattern={rules.LABEL_VALUE_PATTERN!r})]"
            return (
                f"Annotated[dict[{label_key}, {label_value}], Meta(max_length={rules.MAX_LABELS})]"
            )
        if key in rules.NON_EMPTY_STRINGS:
            element = "Annotated[str, Meta(min_length=1)]"
        if key in rules.STRING_PATTERNS:
            element = f"Annotated[str, Meta(pattern={rules.STRING_PATTERNS[key]!r})]"
        if key in rules.FIELD_BOUNDS:
            bounds = rules.FIELD_BOUNDS[key]
            limits = [f"{name}={value!r}" for name, value in _bound_items(bounds)]
            if kind in ("float", "double"):
                base = "float"
                if kind == "float":  # the float32 range still applies
                    limits += [f"ge={-FLOAT32_MAX!r}"] * (bounds.ge is None and bounds.gt is None)
                    limits += [f"le={FLOAT32_MAX!r}"] * (bounds.le is None)
            else:
                low, high = precise._INT_RANGES[kind]
                base = "int"
                limits += [f"ge={low}"] * (bounds.ge is None and bounds.gt is None)
                limits += [f"le={high}"] * (bounds.le is None)
            element = f"Annotated[{base}, Meta({', '.join(limits)})]"
        if not repeated:
            return element
        listed = f"list[{element}]"
        if key in rules.NON_EMPTY_LISTS:
            listed = f"Annotated[{listed}, Meta(min_length=1)]"
        if key in rules.SINGLETON_LISTS:
            listed += f" | {element}"
        return listed

    def struct(self, message: str, name: str, base: str = "Struct") -> list[str]:
        fields = data.MESSAGES[message]
        options = f", {STRUCT_OPTIONS}" if base == "Struct" else ""  # a subclass inherits them
        lines = [f"class {name}({base}{options}):"]
        if not fields:
            lines.append("    pass")
        for field in fields:
            proto_name, json_name, *_ = field
            key = (message, proto_name)
            annotation = self.field_type(message, field)
            spellings = list(dict.fromkeys((json_name, proto_name)))
            if self.camel_only:
                spellings = spellings[:1]
            for spelling in spellings:
                if key in rules.ABSENT_FIELDS:
                    kind = "None | UnsetType = UNSET"
                elif key in rules.REQUIRED_FIELDS and (len(spellings) == 1 or self.camel_only):
                    kind = annotation
                elif key in rules.REQUIRED_FIELDS:  # __post_init__ checks one spelling is set
                    kind = f"{annotation} | UnsetType = UNSET"
                else:
                    # msgspec takes Raw in no union with None: a raw null stays Raw.
                    nullable = "" if annotation == "Raw" else " | None"
                    kind = f"{annotation}{nullable} | UnsetType = UNSET"
                if attribute(spelling) != spelling:
                    kind = kind.replace("= UNSET", f'= field(default=UNSET, name="{spelling}")')
                lines.append(f"    {attribute(spelling)}: {kind}")
        checks = self.checks(message)
        if self.counts and message == PART:
            checks = self.counted_part(checks)
        if self.counts and message == GENERATION_CONFIG:
            checks = [*checks, *BOUND_COUNTS[self.camel_only]]
        if checks:
            lines += ["", "    def __post_init__(self) -> None:"]
            lines += [f"        {line}" for line in checks]
        return lines

    def counted_part(self, checks: list[str]) -> list[str]:
        """A part's checks with the estimate's counting."""
        if not self.camel_only:
            return [*checks, *PART_COUNTS]
        shape = len(checks) == len(CAMEL_PART_CHECKS) and all(
            line.startswith(start) for line, start in zip(checks, CAMEL_PART_CHECKS, strict=True)
        )
        if not shape:
            raise SystemExit(f"the checks of {PART} changed shape: update CAMEL_PART_CHECKS")
        return [*checks[:3], CAMEL_TEXT_COUNT, *checks[3:], *CAMEL_MEDIA_COUNT]

    def checks(self, message: str) -> list[str]:
        """The statements of `__post_init__`: each raises Refused on a line to send on.

        Lines mostly spell every field one way; when no snake_case twin is present, the
        checks read the lowerCamelCase fields only (the common case costs a few loads).
        """
        fields = data.MESSAGES[message]
        if self.camel_only:
            return self.camel_checks(message)
        snakes = [attribute(proto) for proto, json, *_ in fields if proto != json]
        general = self.general_checks(message)
        if not snakes:
            return general
        camel = self.camel_checks(message) or ["pass"]
        return [
            "if " + " is ".join(f"self.{name}" for name in snakes) + " is UNSET:",
            *(f"    {line}" for line in camel),
            "else:",
            *(f"    {line}" for line in general),
        ]

    def _oneofs(self, message: str) -> dict[str, list[tuple[str, str, str]]]:
        """oneof -> its fields as (snake attribute, camel attribute, proto name)."""
        oneofs: dict[str, list[tuple[str, str, str]]] = {}
        for proto, json_name, _, _, _, oneof in data.MESSAGES[message]:
            if oneof:
                oneofs.setdefault(oneof, []).append((attribute(proto), attribute(json_name), proto))
        return oneofs

    def _always_true(self, message: str, proto_name: str) -> bool:
        """Whether the field's value, once set and not null, is never falsy."""
        kind = self._field(message, proto_name)[2]
        return kind == "message" or (message, proto_name) in rules.NON_EMPTY_STRINGS

    def camel_checks(self, message: str) -> list[str]:
        fields = data.MESSAGES[message]
        lines: list[str] = []
        for container, proto_name in sorted(rules.REQUIRED_FIELDS):
            names = _spellings(fields, proto_name) if container == message else []
            if len(names) == 2 and not self.camel_only:
                lines += [f"if self.{names[1]} is UNSET:", f'    raise Refused("{proto_name}")']
        required_oneofs = rules.REQUIRED_ONEOFS.get(message, {})
        for oneof, members in self._oneofs(message).items():
            required = oneof in required_oneofs
            if len(members) < 2 and not required:
                continue
            if all(self._always_true(message, proto) for _, _, proto in members):
                terms = [f"(1 if self.{camel} else 0)" for _, camel, _ in members]
                if required:  # the first kind (a part's text) is the common one
                    first, others = members[0][1], [camel for _, camel, _ in members[1:]]
                    lines += [
                        f"if self.{first}:",
                        f"    if {' or '.join(f'self.{name}' for name in others)}:",
                        f'        raise Refused("{oneof}")',
                        f"elif ({' + '.join(terms[1:])}) != 1:",
                        f'    raise Refused("{oneof}")',
                    ]
                    continue
            else:
                terms = [
                    f"(self.{camel} is not None and self.{camel} is not UNSET)"
                    for _, camel, _ in members
                ]
            wrong = "!= 1" if required else "> 1"
            lines += [f"if ({' + '.join(terms)}) {wrong}:", f'    raise Refused("{oneof}")']
        for proto_name in rules.REQUIRED_VALUES.get(message, ()):
            camel = _spellings(fields, proto_name)[-1]
            lines += [f"if not self.{camel}:", f'    raise Refused("{proto_name}")']
        lines += self.depth_checks(message, camel_only=True)
        lines += self.raw_checks(message, camel_only=True)
        return lines

    def general_checks(self, message: str) -> list[str]:
        fields = data.MESSAGES[message]
        twins = [(attribute(proto), attribute(json)) for proto, json, *_ in fields if proto != json]
        lines: list[str] = []
        if twins:
            # Both spellings present (even as null) is an error or a case for the precise path.
            present = [
                f"(self.{snake} is not UNSET and self.{camel} is not UNSET)"
                for snake, camel in twins
            ]
            lines += [f"if {' or '.join(present)}:", '    raise Refused("both spellings")']
        for container, proto_name in sorted(rules.REQUIRED_FIELDS):
            names = _spellings(fields, proto_name) if container == message else []
            if len(names) == 2:
                lines += [
                    f"if self.{names[0]} is UNSET and self.{names[1]} is UNSET:",
                    f'    raise Refused("{proto_name}")',
                ]
        required_oneofs = rules.REQUIRED_ONEOFS.get(message, {})
        for oneof, members in self._oneofs(message).items():
            names = [name for snake, camel, _ in members for name in dict.fromkeys((snake, camel))]
            required = oneof in required_oneofs
            if len(names) < 2 and not required:
                continue
            count = " + ".join(f"(self.{n} is not None and self.{n} is not UNSET)" for n in names)
            wrong = "!= 1" if required else "> 1"
            lines += [f"if ({count}) {wrong}:", f'    raise Refused("{oneof}")']
        for proto_name in rules.REQUIRED_VALUES.get(message, ()):
            either = " or ".join(f"self.{name}" for name in _spellings(fields, proto_name))
            lines += [f"if not ({either}):", f'    raise Refused("{proto_name}")']
        lines += self.depth_checks(message, camel_only=False)
        lines += self.raw_checks(message, camel_only=False)
        return lines

    def raw_checks(self, message: str, *, camel_only: bool) -> list[str]:
        lines = []
        for proto, json_name, kind, repeated, _, _ in data.MESSAGES[message]:
            if kind not in RAW_STARTS:
                continue
            if repeated:
                raise ValueError(f"{message}.{proto}: a repeated {kind}")
            fields = data.MESSAGES[message]
            names = [attribute(json_name)] if camel_only else _spellings(fields, proto)
            start = RAW_STARTS[kind].encode()
            for name in names:
                lines += [
                    f"if self.{name} is not UNSET and not _json(self.{name}, {start!r}):",
                    f'    raise Refused("{proto}")',
                ]
        return lines

    def depth_checks(self, message: str, *, camel_only: bool) -> list[str]:
        """Fields entering a recursive message (Schema): its nesting is counted here."""
        if message in self.cyclic:
            return []
        lines = []
        for proto, json_name, kind, _, type_name, _ in data.MESSAGES[message]:
            target = self._message_of(kind, type_name)
            if target not in self.cyclic:
                continue
            names = (
                [attribute(json_name)] if camel_only else _spellings(data.MESSAGES[message], proto)
            )
            for name in names:
                lines += [
                    f"if self.{name} and _deeper_than(self.{name}, NESTED_MESSAGES):",
                    f'    raise Refused("{proto} nested too deeply")',
                ]
        return lines

    def _message_of(self, kind: str, type_name: str) -> str:
        if kind == "message":
            return type_name
        if kind == "map":
            value = {field[0]: field for field in data.MESSAGES[type_name]}["value"]
            return self._message_of(value[2], value[4])
        return ""

    def _children(self, message: str) -> set[str]:
        return {
            target
            for _, _, kind, _, type_name, _ in data.MESSAGES[message]
            if (target := self._message_of(kind, type_name))
        }

    def _find_cycles(self) -> tuple[set[str], int]:
        """The messages on a cycle (Schema holds Schemas), and the deepest a message sits
        on a path without one (so the depth left for the recursive ones is known)."""
        cyclic = set()
        for message in data.MESSAGES:
            seen, stack = set(), list(self._children(message))
            while stack:
                current = stack.pop()
                if current == message:
                    cyclic.add(message)
                    break
                if current not in seen:
                    seen.add(current)
                    stack.extend(self._children(current))
        depth: dict[str, int] = {}

        def deepest(message: str) -> int:
            if message not in depth:
                below = [deepest(c) for c in self._children(message) if c not in cyclic]
                depth[message] = 1 + max(below, default=0)
            return depth[message]

        return cyclic, deepest(data.ROOT)

    def render_body(self) -> list[str]:
        body: list[str] = []
        for message in data.MESSAGES:
            if message in self.maps:
                continue
            body += ["", "", *self.struct(message, self.prefix + class_name(message))]
        for name, element, inner, choices in self.narrowed.values():
            field = self._field(element, inner)
            literal = f"Literal[{', '.join(repr(choice) for choice in choices)}]"
            spellings = list(dict.fromkeys((field[1], field[0])))
            if self.camel_only:
                spellings = spellings[:1]
            body += ["", "", f"class {name}({self.prefix}{class_name(element)}):"]
            body += [f"    {attribute(s)}: {literal} | None | UnsetType = UNSET" for s in spellings]
        root = self.prefix + class_name(data.ROOT)
        what = "every field in lowerCamelCase" if self.camel_only else "either spelling"
        body += [
            "",
            "",
            f"class {self.prefix}Line(Struct, {STRUCT_OPTIONS}):",
            f'    """One line of a requests file, {what}: {{"request": ..., "key": ...}}."""',
            "",
            f"    request: {root}",
            "    key: Annotated[str, Meta(min_length=1)] | UnsetType = UNSET",
        ]
        return body

    def render(self, body: list[str]) -> str:
        enums = []
        for enum in sorted(self.enums_used):
            names = ", ".join(repr(name) for name, _ in data.ENUMS[enum])
            numbers = ", ".join(str(number) for _, number in data.ENUMS[enum])
            enums.append(f"{enum_alias(enum)} = Literal[{names}] | Literal[{numbers}]")
        header = [
            '"""GENERATED by scripts/generate_request_types.py: do not edit by hand.',
            "",
            f"The requests line of google-cloud-aiplatform {data.AIPLATFORM_VERSION} as msgspec types, with",
            "the service rules of batchline.domain.validation.rules as constraints: decoding a line",
            "into `Line` succeeds only for a valid line (the validator's fast path).",
            '"""',
            "",
            "# mypy: disable-error-code=comparison-overlap",
            "# (a chained `a is b is UNSET` narrows the types of the later branches)",
            "",
            "from __future__ import annotations",
            "",
            "from typing import Annotated, Final, Literal",
            "",
            "from msgspec import UNSET, Meta, Raw, Struct, UnsetType, field",
            "",
            f"AIPLATFORM_VERSION: Final = {data.AIPLATFORM_VERSION!r}",
            "",
            "# The estimate's tally of the line being decoded: its text characters and the MIME type",
            "# of each media part, added by Part.__post_init__, and its maxOutputTokens, set by",
            "# GenerationConfig's (none of it with counts=False). Each copy of this module counts",
            "# into its own (batchline.domain.validation.fast).",
            "TEXT_CHARS: Final = [0]",
            "MEDIA_TYPES: Final[list[object]] = []",
            "OUTPUT_BOUND: Final = [0]",
            "",
            "",
            "class Refused(ValueError):",
            '    """A line the types read but a rule refuses (msgspec reports a ValidationError)."""',
            "",
            "",
            *_int_aliases(),
            f"Float32 = Annotated[float, Meta(ge={-FLOAT32_MAX!r}, le={FLOAT32_MAX!r})]",
            f"Duration = Annotated[str, Meta(pattern={_pattern(precise._DURATION)!r})]",
            f"Timestamp = Annotated[str, Meta(pattern={_pattern(precise._TIMESTAMP)!r})]",
            *enums,
            f"NESTED_MESSAGES: Final = {self.nested_messages}",
            f"JSON_BRACKETS: Final = {JSON_BRACKETS}",
            "",
            "",
            "def _json(value: Raw, start: bytes) -> bool:",
            '    """Whether a raw JSON value is one json.loads reads too: msgspec\'s skip checks its',
            '    syntax, not its UTF-8 (nor its nesting: the brackets are few enough)."""',
            "    data = bytes(value)",
            '    if not data.startswith(start) or data.count(b"[") + data.count(b"{") > JSON_BRACKETS:',
            "        return False",
            "    if data.isascii():",
            "        return True",
            "    try:",
            "        data.decode()",
            "    except UnicodeDecodeError:",
            "        return False",
            "    return True",
            "",
            "",
            "def _deeper_than(value: object, levels: int) -> bool:",
            '    """Whether messages nest more than `levels` deep in a message, list or map."""',
            "    if isinstance(value, Struct):",
            "        return levels <= 0 or any(",
            "            _deeper_than(getattr(value, name), levels - 1) for name in value.__struct_fields__",
            "        )",
            "    if isinstance(value, list):",
            "        return any(_deeper_than(item, levels) for item in value)",
            "    if isinstance(value, dict):",
            "        return any(_deeper_than(item, levels) for item in value.values())",
            "    return False",
        ]
        text = "\n".join(header + body) + "\n"
        if "field(" not in text.split("UnsetType, field", 1)[1]:
            text = text.replace("UnsetType, field\n", "UnsetType\n")
        return text


def _camel(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


def _bound_items(bounds: rules.Bounds) -> list[tuple[str, float]]:
    return [
        (name, value)
        for name, value in (("gt", bounds.gt), ("ge", bounds.ge), ("le", bounds.le))
        if value is not None
    ]


def _spellings(fields: tuple[tuple[str, str, str, bool, str, str], ...], proto: str) -> list[str]:
    for name, json_name, *_ in fields:
        if name == proto:
            return list(dict.fromkeys((attribute(name), attribute(json_name))))
    raise KeyError(proto)


def render(counts: bool = True) -> str:
    """The module's text; `counts=False` leaves out the estimate's counting (for the
    benchmark's validation without the tally)."""
    camel = Generator(camel_only=True, counts=counts)
    both = Generator(camel_only=False, counts=counts)
    body = camel.render_body() + both.render_body()
    both.enums_used |= camel.enums_used
    return both.render(body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    args.output.write_text(render(), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
