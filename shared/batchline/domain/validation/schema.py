"""Check a decoded request against the GenerateContentRequest schema, as Google parses JSON.

The field names, types and enum values come from `batchline.domain.validation.request_schema_data`, generated
from the installed aiplatform_v1 types. The parsing rules follow proto3 JSON (the rules of
`google.protobuf.json_format`, which tests use as the reference): lowerCamelCase and
snake_case names both accepted, unknown names rejected, `null` meaning "unset", int64 given
as a number or a decimal string, bytes as base64, enums by name or number.

The walk is compiled once into closures per field so that checking a line costs about what
parsing it does; a JSON path is only rendered when an error is found.
"""

from __future__ import annotations

import binascii
import difflib
import math
import re
from collections.abc import Callable
from typing import Any

from batchline.domain.validation import request_schema_data as data

# A path is built as a chain of (parent, key-or-index) pairs and rendered only on error.
Path = tuple[Any, str | int] | str
Errors = list[tuple[Path, str]]
Checker = Callable[[Any, Path, Errors, int], None]
Rule = Callable[[Any, Path, Errors], None]

MAX_DEPTH = 64
_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
_FLOAT32_MAX = 3.4028234663852886e38
_FLOAT_WORDS = {"NaN", "Infinity", "-Infinity"}
_DURATION = re.compile(r"-?\d+(\.\d{1,9})?s")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def render_path(path: Path) -> str:
    """`request.contents[0].parts[1].fileData` from a path chain."""
    segments: list[str | int] = []
    while isinstance(path, tuple):
        path, segment = path
        segments.append(segment)
    text = [path]
    for segment in reversed(segments):
        text.append(f"[{segment}]" if isinstance(segment, int) else f".{segment}")
    return "".join(text)


def describe(value: Any) -> str:
    """A JSON-flavoured name for what the user wrote, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return "a list"
    return "an object"


def number(value: Any) -> float | None:
    """A JSON number or numeric string as float (for range rules), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


# -- scalar checkers --------------------------------------------------------------------


def _check_string(value: Any, path: Path, errors: Errors, depth: int) -> None:
    if type(value) is not str:
        errors.append((path, f"expected a string, got {describe(value)}"))
    elif not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            errors.append((path, "the string holds an unpaired surrogate (\\ud800-\\udfff)"))


def _check_bool(value: Any, path: Path, errors: Errors, depth: int) -> None:
    if type(value) is not bool:
        errors.append((path, f"expected true or false, got {describe(value)}"))


def _check_bytes(value: Any, path: Path, errors: Errors, depth: int) -> None:
    if type(value) is not str:
        errors.append((path, f"expected base64 data in a string, got {describe(value)}"))
        return
    text = value.translate(_URLSAFE_TO_STANDARD) if ("-" in value or "_" in value) else value
    if len(text) % 4:
        text += "=" * (4 - len(text) % 4)
    try:
        binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        errors.append((path, "expected base64 data, the string is not valid base64"))


def _integer_checker(kind: str) -> Checker:
    low, high = _INT_RANGES[kind]

    def check(value: Any, path: Path, errors: Errors, depth: int) -> None:
        if type(value) is int:
            parsed: int | None = value
        elif type(value) is float:
            parsed = int(value) if value.is_integer() else None
        elif type(value) is str and " " not in value:
            try:
                parsed = int(value)
            except ValueError:
                as_float = number(value)
                ok = as_float is not None and math.isfinite(as_float) and as_float.is_integer()
                parsed = int(as_float) if ok and as_float is not None else None
        else:
            parsed = None
        if parsed is None:
            errors.append((path, f"expected an integer ({kind}), got {describe(value)}"))
        elif not low <= parsed <= high:
            errors.append((path, f"{parsed} is out of range for {kind}"))

    return check


def _float_checker(kind: str) -> Checker:
    def check(value: Any, path: Path, errors: Errors, depth: int) -> None:
        if type(value) is int:
            return
        if type(value) is float:
            if kind == "float" and abs(value) > _FLOAT32_MAX:
                errors.append((path, f"{value!r} is out of range for a float"))
            return
        if type(value) is str and (value in _FLOAT_WORDS or _finite_numeric(value)):
            return
        errors.append((path, f"expected a number, got {describe(value)}"))

    return check


def _finite_numeric(text: str) -> bool:
    if "_" in text or text != text.strip():
        return False
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _enum_checker(enum_name: str) -> Checker:
    values = data.ENUMS[enum_name]
    names = {name for name, _ in values}
    numbers = {num for _, num in values}
    short = enum_name.rsplit(".", 1)[-1]
    listed = ", ".join(name for name, _ in values)

    def check(value: Any, path: Path, errors: Errors, depth: int) -> None:
        if type(value) is str:
            if value not in names:
                errors.append((path, f"{value!r} is not a {short}: expected one of {listed}"))
        elif type(value) is int or (type(value) is float and value.is_integer()):
            # An enum's number, as for integer fields an integral float counts.
            if value not in numbers:
                errors.append((path, f"{value} is not a {short} number"))
        else:
            errors.append((path, f"expected a {short} name, got {describe(value)}"))

    return check


def _pattern_checker(pattern: re.Pattern[str], what: str) -> Checker:
    def check(value: Any, path: Path, errors: Errors, depth: int) -> None:
        if type(value) is not str or not pattern.fullmatch(value):
            errors.append((path, f"expected {what}, got {describe(value)}"))

    return check


def _check_any_json(value: Any, path: Path, errors: Errors, depth: int) -> None:
    """google.protobuf.Value: any JSON value at all."""


def _check_object(value: Any, path: Path, errors: Errors, depth: int) -> None:
    if type(value) is not dict:
        errors.append((path, f"expected an object, got {describe(value)}"))


def _check_list(value: Any, path: Path, errors: Errors, depth: int) -> None:
    if type(value) is not list:
        errors.append((path, f"expected a list, got {describe(value)}"))


_SCALARS: dict[str, Checker] = {
    "string": _check_string,
    "bool": _check_bool,
    "bytes": _check_bytes,
    "double": _float_checker("double"),
    "float": _float_checker("float"),
    "struct": _check_object,
    "value": _check_any_json,
    "list_value": _check_list,
    "duration": _pattern_checker(_DURATION, 'a duration such as "3.5s"'),
    "timestamp": _pattern_checker(_TIMESTAMP, "an RFC 3339 timestamp"),
    "field_mask": _check_string,
    **{kind: _integer_checker(kind) for kind in _INT_RANGES},
}


# -- messages ---------------------------------------------------------------------------


class _NoShortcut:
    """A type no JSON value has: fields whose values always need their checker."""


class FieldSpec:
    __slots__ = (
        "alias_of",
        "check",
        "items",
        "json_name",
        "kind",
        "non_empty",
        "oneof",
        "proto_name",
        "rule",
        "simple",
        "special",
    )

    def __init__(self, proto_name: str, json_name: str, kind: str, oneof: str) -> None:
        self.proto_name = proto_name
        self.json_name = json_name
        self.kind = kind
        self.oneof = oneof
        # On the snake_case spelling: the camelCase one, to refuse the field given twice.
        self.alias_of: str | None = None
        # The Python type that is valid as it is (plain string and bool fields): the common
        # case is then checked inline, without a call.
        self.simple: type[Any] = _NoShortcut
        self.check: Checker = _check_any_json
        self.rule: Rule | None = None
        # For a list of messages: the element's checker, walked inline (no wrapper call),
        # and the message for an empty list where the service wants one element at least.
        self.items: Checker | None = None
        self.non_empty = ""
        # Whether the field needs the rarer steps: alias or oneof.
        self.special = False

    def finish(self) -> None:
        self.special = bool(self.alias_of or self.oneof)

    def alias(self) -> FieldSpec:
        twin = FieldSpec(self.proto_name, self.json_name, self.kind, self.oneof)
        twin.alias_of = self.json_name
        twin.simple, twin.check, twin.rule = self.simple, self.check, self.rule
        twin.items, twin.non_empty = self.items, self.non_empty
        twin.finish()
        return twin


class MessageSpec:
    __slots__ = ("fields", "full_name", "names", "required_oneofs", "rule", "short")

    def __init__(self, full_name: str) -> None:
        self.full_name = full_name
        self.short = full_name.rsplit(".", 1)[-1]
        self.fields: dict[str, FieldSpec] = {}
        self.names: list[str] = []
        self.rule: Rule | None = None
        # Oneofs that must be set, each with the message saying so (the walk tracks
        # oneofs anyway, so this costs nothing on a valid object).
        self.required_oneofs: dict[str, str] = {}

    def get(self, obj: dict[str, Any], json_name: str) -> Any:
        """A field's value under either spelling."""
        field = self.fields[json_name]
        value = obj.get(field.json_name)
        return obj.get(field.proto_name) if value is None else value

    def check(self, obj: Any, path: Path, errors: Errors, depth: int) -> None:
        if type(obj) is not dict:
            errors.append((path, f"expected an object ({self.short}), got {describe(obj)}"))
            return
        if depth > MAX_DEPTH:
            errors.append((path, f"nested more than {MAX_DEPTH} levels deep"))
            return
        fields = self.fields
        oneofs: dict[str, str] | None = None
        for key, value in obj.items():
            field = fields.get(key)
            if field is None:
                errors.append(((path, key), self._unknown(key)))
                continue
            if value is None:  # proto3 JSON: null leaves the field unset
                continue
            if field.special:
                if field.alias_of is not None and field.alias_of in obj:
                    errors.append(((path, key), f'given twice, as "{field.alias_of}" and "{key}"'))
                    continue
                if field.oneof:
                    oneofs = {} if oneofs is None else oneofs
                    earlier = oneofs.get(field.oneof)
                    if earlier is not None:
                        errors.append(
                            (
                                (path, key),
                                f'only one of the "{field.oneof}" fields may be set, '
                                f'found "{earlier}" and "{key}"',
                            )
                        )
                        continue
                    oneofs[field.oneof] = key
            simple = field.simple
            if type(value) is simple and (simple is not str or value.isascii()):
                pass  # a plain string or bool: valid as it is (non-ASCII: surrogate test)
            elif (items := field.items) is not None and type(value) is list:
                child = (path, key)
                if not value and field.non_empty:
                    errors.append((child, field.non_empty))
                for index, item in enumerate(value):
                    if item is None:
                        errors.append(((child, index), "null is not allowed as a list element"))
                    else:
                        items(item, (child, index), errors, depth + 1)
            else:
                field.check(value, (path, key), errors, depth + 1)
            if field.rule is not None:
                field.rule(value, (path, key), errors)
        if self.required_oneofs:
            for oneof, message in self.required_oneofs.items():
                if oneofs is None or oneof not in oneofs:
                    errors.append((path, message))
        if self.rule is not None:
            self.rule(obj, path, errors)

    def _unknown(self, key: str) -> str:
        close = difflib.get_close_matches(key, self.names, n=1, cutoff=0.75)
        hint = f'; did you mean "{close[0]}"?' if close else ""
        return f"unknown field in {self.short}{hint}"


def _repeated(element: Checker, singleton_ok: bool) -> Checker:
    def check(value: Any, path: Path, errors: Errors, depth: int) -> None:
        if type(value) is not list:
            if singleton_ok and type(value) is dict:
                element(value, path, errors, depth)
                return
            errors.append((path, f"expected a list, got {describe(value)}"))
            return
        for index, item in enumerate(value):
            if item is None:
                errors.append(((path, index), "null is not allowed as a list element"))
            else:
                element(item, (path, index), errors, depth)

    return check


def _map(key_kind: str, value_check: Checker) -> Checker:
    key_check = None if key_kind == "string" else _SCALARS[key_kind]

    def check(value: Any, path: Path, errors: Errors, depth: int) -> None:
        if type(value) is not dict:
            errors.append((path, f"expected an object (a map), got {describe(value)}"))
            return
        for key, item in value.items():
            if key_check is not None:
                key_check(key, (path, key), errors, depth)
            if item is None:
                errors.append(((path, key), "null is not allowed as a map value"))
            else:
                value_check(item, (path, key), errors, depth)

    return check


class Schema:
    """The compiled request schema: one MessageSpec per message type."""

    def __init__(
        self,
        message_rules: dict[str, Rule],
        field_rules: dict[tuple[str, str], Rule],
        singleton_lists: set[tuple[str, str]],
        required_oneofs: dict[str, dict[str, str]] | None = None,
        non_empty_lists: dict[tuple[str, str], str] | None = None,
    ) -> None:
        shortcuts: dict[str, type[Any]] = {"bool": bool, "string": str}
        self.messages = {name: MessageSpec(name) for name in data.MESSAGES}
        for name, oneofs in (required_oneofs or {}).items():
            self.messages[name].required_oneofs = dict(oneofs)
        for name, fields in data.MESSAGES.items():
            spec = self.messages[name]
            spec.rule = message_rules.get(name)
            for proto_name, json_name, kind, repeated, type_name, oneof in fields:
                field = FieldSpec(proto_name, json_name, kind, oneof)
                checker = self._element_checker(kind, type_name)
                if repeated:
                    if kind == "message":
                        field.items = checker
                        field.non_empty = (non_empty_lists or {}).get((name, proto_name), "")
                    checker = _repeated(checker, (name, proto_name) in singleton_lists)
                else:
                    field.simple = shortcuts.get(kind, _NoShortcut)
                field.check = checker
                field.rule = field_rules.get((name, proto_name))
                field.finish()
                spec.fields[json_name] = field
                spec.names.append(json_name)
                if proto_name != json_name:
                    spec.fields[proto_name] = field.alias()
        self.root = self.messages[data.ROOT]

    def _element_checker(self, kind: str, type_name: str) -> Checker:
        if kind == "message":
            return self.messages[type_name].check
        if kind == "enum":
            return _enum_checker(type_name)
        if kind == "map":
            entry = {f[0]: f for f in data.MESSAGES[type_name]}
            _, _, value_kind, _, value_type, _ = entry["value"]
            return _map(entry["key"][2], self._element_checker(value_kind, value_type))
        return _SCALARS[kind]
