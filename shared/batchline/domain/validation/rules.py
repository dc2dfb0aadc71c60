"""The rules Vertex AI enforces on a request beyond its schema.

Each rule is attached to a message type or to one field of a message type, and runs after
the schema check of that value. Rules read values under either spelling (camel or snake).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from batchline.domain.staging import TAG_LABEL
from batchline.domain.validation import request_schema_data as data
from batchline.domain.validation.schema import Errors, Path, Rule, Schema, describe, number

V1 = "google.cloud.aiplatform.v1."
ROLES = ("user", "model")
# The pipeline tags each staged request with this label to join its output row back to the
# input line: a user's own label of that name would be overwritten, so it is refused, and
# the tag takes one of the service's 64 label slots.
LINE_LABEL = TAG_LABEL
MAX_LABELS = 64 - 1
MAX_LABEL_LENGTH = 63
# The kinds of data a Part may carry: the fields of its "data" oneof in the schema.
PART_DATA_FIELDS = tuple(field[1] for field in data.MESSAGES[V1 + "Part"] if field[5] == "data")
FILE_URI_SCHEMES = ("gs://", "http://", "https://")


def _present(obj: dict[str, Any], *names: str) -> Any:
    for name in names:
        value = obj.get(name)
        if value is not None:
            return value
    return None


def _request_rule(obj: dict[str, Any], path: Path, errors: Errors) -> None:
    if obj.get("contents") is None:
        errors.append(((path, "contents"), "missing: a request needs a list of contents"))
    if obj.get("model") is not None:
        errors.append(
            (
                (path, "model"),
                "a request may not name a model: the model is chosen per job "
                "(Batchline's setting, or the file's `model` metadata)",
            )
        )
    for name in ("cachedContent", "cached_content"):
        if obj.get(name):  # "" is proto3's unset
            errors.append(
                (
                    (path, name),
                    "explicit context caching is not supported in batch prediction; implicit "
                    "caching applies by itself to repeated prompt prefixes",
                )
            )


def _contents_rule(value: Any, path: Path, errors: Errors) -> None:
    if type(value) is not list:
        return  # the schema check reported it
    for index, content in enumerate(value):
        if type(content) is not dict:
            continue
        role = content.get("role")
        if role is not None and role not in ROLES:
            errors.append(
                (((path, index), "role"), f'expected "user" or "model", got {describe(role)}')
            )


def _text_rule(value: Any, path: Path, errors: Errors) -> None:
    if value == "":
        errors.append((path, "empty text: the service refuses a part with empty text"))


def _file_data_rule(obj: dict[str, Any], path: Path, errors: Errors) -> None:
    if not _present(obj, "mimeType", "mime_type"):
        errors.append(((path, "mimeType"), "missing: fileData needs a mimeType"))
    uri = _present(obj, "fileUri", "file_uri")
    if not uri:
        errors.append(((path, "fileUri"), "missing: fileData needs a fileUri"))
    elif type(uri) is str and not uri.startswith(FILE_URI_SCHEMES):
        errors.append(
            ((path, "fileUri"), f"expected a gs://, http:// or https:// URI, got {describe(uri)}")
        )
    elif type(uri) is str and uri.startswith("gs://") and "/" not in uri[5:].strip("/"):
        errors.append(((path, "fileUri"), "expected gs://BUCKET/OBJECT, the object is missing"))


def _blob_rule(obj: dict[str, Any], path: Path, errors: Errors) -> None:
    if not _present(obj, "mimeType", "mime_type"):
        errors.append(((path, "mimeType"), "missing: inlineData needs a mimeType"))
    if _present(obj, "data") is None:
        errors.append(((path, "data"), "missing: inlineData needs base64 data"))


@dataclass(frozen=True)
class Bounds:
    """A service range rule on a number: what it must be (`gt`/`ge` below, `le` above).

    The precise path checks it as a rule; the fast path's types carry it as a constraint.
    """

    message: str
    gt: float | None = None
    ge: float | None = None
    le: float | None = None

    def holds(self, value: float) -> bool:
        return (
            (self.gt is None or value > self.gt)
            and (self.ge is None or value >= self.ge)
            and (self.le is None or value <= self.le)
        )


def _bounded(bounds: Bounds) -> Rule:
    def rule(value: Any, path: Path, errors: Errors) -> None:
        # Integers are compared exactly (a huge one has no float); strings parsed as numbers.
        parsed = value if type(value) in (int, float) else number(value)
        if parsed is not None and not bounds.holds(parsed):
            errors.append((path, f"{bounds.message}, got {value!r}"))

    return rule


POSITIVE = Bounds("must be a positive number", gt=0)
FIELD_BOUNDS: dict[tuple[str, str], Bounds] = {
    (V1 + "GenerationConfig", "max_output_tokens"): POSITIVE,
    (V1 + "GenerationConfig", "candidate_count"): POSITIVE,
    (V1 + "GenerationConfig", "top_k"): POSITIVE,
    (V1 + "GenerationConfig", "temperature"): Bounds("must be between 0 and 2", ge=0, le=2),
    (V1 + "GenerationConfig", "top_p"): Bounds("must be greater than 0 and at most 1", gt=0, le=1),
}


def _label_text_ok(text: str, *, key: bool) -> bool:
    if len(text) > MAX_LABEL_LENGTH or (key and not text):
        return False
    if key and not text[0].islower():
        return False
    return all(c.islower() or c.isdigit() or c in "_-" for c in text)


def _labels_rule(value: Any, path: Path, errors: Errors) -> None:
    if type(value) is not dict:
        return
    if len(value) > MAX_LABELS:
        errors.append((path, f"at most {MAX_LABELS} labels, got {len(value)}"))
    for key, label in value.items():
        if key == LINE_LABEL:
            errors.append(((path, key), "this label is reserved by Batchline"))
        elif not _label_text_ok(key, key=True):
            errors.append(
                (
                    (path, key),
                    "a label key is 1-63 lowercase letters, digits, _ or -, starting with a letter",
                )
            )
        if type(label) is str and not _label_text_ok(label, key=False):
            errors.append(
                ((path, key), "a label value is at most 63 lowercase letters, digits, _ or -")
            )


# -- The same rules as the fast path's types say them --------------------------------------
# scripts/generate_request_types.py makes msgspec types of the schema with these as
# constraints. A form may be narrower than its rule (ASCII-only labels), never wider: a line
# outside it takes the precise path, which decides and words the report.
NON_EMPTY_STRINGS = {(V1 + "Part", "text")}  # _text_rule
# _contents_rule: (message, field, field of its elements) -> the values allowed.
STRING_CHOICES = {(V1 + "GenerateContentRequest", "contents", "role"): ROLES}
# _file_data_rule: a gs:// URI that names an object, or an http(s):// one.
STRING_PATTERNS = {(V1 + "FileData", "file_uri"): r"(?s)\A(?:gs://.*[^/]/.*[^/]|https?://)"}
# _file_data_rule, _blob_rule: set (neither null nor empty) under one of its spellings.
REQUIRED_VALUES = {
    V1 + "FileData": ("mime_type", "file_uri"),
    V1 + "Blob": ("mime_type", "data"),
}
# _request_rule
REQUIRED_FIELDS = {(V1 + "GenerateContentRequest", "contents")}
ABSENT_FIELDS = {
    (V1 + "GenerateContentRequest", "model"),  # _request_rule
    (V1 + "GenerateContentRequest", "cached_content"),  # _request_rule: not in batch
}
# _labels_rule, in ASCII letters only.
LABEL_MAPS = {(V1 + "GenerateContentRequest", "labels")}
LABEL_KEY_PATTERN = rf"\A(?!{LINE_LABEL}\Z)[a-z][a-z0-9_-]{{0,{MAX_LABEL_LENGTH - 1}}}\Z"
LABEL_VALUE_PATTERN = rf"\A[a-z0-9_-]{{0,{MAX_LABEL_LENGTH}}}\Z"


MESSAGE_RULES: dict[str, Rule] = {
    V1 + "GenerateContentRequest": _request_rule,
    V1 + "FileData": _file_data_rule,
    V1 + "Blob": _blob_rule,
}
FIELD_RULES: dict[tuple[str, str], Rule] = {
    (V1 + "GenerateContentRequest", "contents"): _contents_rule,
    (V1 + "GenerateContentRequest", "labels"): _labels_rule,
    (V1 + "Part", "text"): _text_rule,
    **{field: _bounded(bounds) for field, bounds in FIELD_BOUNDS.items()},
}
# The documentation's own sample gives `parts` as one object; the service accepts it.
SINGLETON_LISTS = {(V1 + "Content", "parts")}


# Lists the service refuses empty (a single `parts` object is checked as the element).
NON_EMPTY_LISTS = {
    (V1 + "GenerateContentRequest", "contents"): "must hold at least one content",
    (V1 + "Content", "parts"): "must hold at least one part",
}
# A Part carries exactly one kind of data: at most one is the schema's oneof, at least one
# is the service's rule.
REQUIRED_ONEOFS = {
    V1 + "Part": {"data": "a part must carry one kind of data: " + ", ".join(PART_DATA_FIELDS)}
}


def build_schema() -> Schema:
    return Schema(MESSAGE_RULES, FIELD_RULES, SINGLETON_LISTS, REQUIRED_ONEOFS, NON_EMPTY_LISTS)
