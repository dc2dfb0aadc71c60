"""Where a rejected file's validation report goes, beside the file in the input bucket.

`<reports prefix><object name>.<generation>.report.txt` (and `.report.json`): named by
generation, so that a later upload of the same name keeps its own report. When that name is
not one Cloud Storage takes (over 1,024 bytes of UTF-8 for the longest object names, or a name
with a line break, which Cloud Storage refuses), the report is named by the SHA-256 of the
source URI instead; the notification and the ledger carry its URI either way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from batchline.domain.events import MAX_OBJECT_NAME_BYTES
from batchline.domain.states import SourceRef

__all__ = ["ReportNames", "report_names"]

TEXT_SUFFIX = ".report.txt"
JSON_SUFFIX = ".report.json"


@dataclass(frozen=True, slots=True)
class ReportNames:
    text: str
    json: str


def report_names(prefix: str, source: SourceRef) -> ReportNames:
    """The object names of the text and JSON reports of `source`."""
    base = f"{prefix}{source.name}.{source.generation}"
    longest = base + max(TEXT_SUFFIX, JSON_SUFFIX, key=len)
    if len(longest.encode("utf-8")) > MAX_OBJECT_NAME_BYTES or any(
        character in source.name for character in "\r\n"
    ):
        base = f"{prefix}{hashlib.sha256(source.uri.encode('utf-8')).hexdigest()}"
    return ReportNames(base + TEXT_SUFFIX, base + JSON_SUFFIX)
