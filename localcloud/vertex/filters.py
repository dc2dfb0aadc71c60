"""The `filter` of ListBatchPredictionJobs: the part of AIP-160 the service documents for it.

Supported: comparisons joined with AND and OR (OR binds tighter, as in AIP-160) and NOT on one
comparison. Fields: `state`, `display_name`, `model`, `labels.KEY`, `labels` (with `:` to test
that a key is there), `create_time`, `start_time`, `end_time`, `update_time`. Operators: `=`,
`!=`, `:` (has), and `<`, `<=`, `>`, `>=` for times (RFC 3339 values). Values may be quoted.
No parentheses.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from google.cloud import aiplatform_v1

from localcloud.vertex.errors import ApiError, invalid_argument

Predicate = Callable[[aiplatform_v1.BatchPredictionJob], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op><=|>=|!=|=|<|>|:)
      | (?P<word>[^\s"=!<>:]+)
    )""",
    re.VERBOSE,
)
_TIME_FIELDS = {
    "create_time": "create_time",
    "createTime": "create_time",
    "start_time": "start_time",
    "startTime": "start_time",
    "end_time": "end_time",
    "endTime": "end_time",
    "update_time": "update_time",
    "updateTime": "update_time",
}
_STRING_FIELDS = {"display_name": "display_name", "displayName": "display_name", "model": "model"}


@dataclass(frozen=True)
class _Token:
    kind: str  # "string", "op" or "word"
    text: str


def parse_filter(text: str) -> Predicate:
    """A predicate over jobs for `text`; INVALID_ARGUMENT when the filter cannot be understood."""
    tokens = _tokenize(text)
    if not tokens:
        return lambda job: True
    conjuncts: list[list[list[_Token]]] = [[[]]]
    for token in tokens:
        if token.kind == "word" and token.text == "AND":
            conjuncts.append([[]])
        elif token.kind == "word" and token.text == "OR":
            conjuncts[-1].append([])
        else:
            conjuncts[-1][-1].append(token)
    clauses = [[_comparison(terms, text) for terms in disjuncts] for disjuncts in conjuncts]
    return lambda job: all(any(test(job) for test in clause) for clause in clauses)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _bad(text, f"unexpected character at {position}")
        kind = match.lastgroup or "word"
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append(_Token(kind, value))
        position = match.end()
    return tokens


def _comparison(terms: list[_Token], text: str) -> Predicate:
    negate = False
    if terms and terms[0].kind == "word" and terms[0].text == "NOT":
        negate, terms = True, terms[1:]
    elif terms and terms[0].kind == "word" and terms[0].text.startswith("-"):
        negate, terms = True, [_Token("word", terms[0].text[1:]), *terms[1:]]
    if len(terms) != 3 or terms[0].kind != "word" or terms[1].kind != "op":
        raise _bad(text, "each condition must be FIELD OPERATOR VALUE")
    field, op, value = terms[0].text, terms[1].text, terms[2].text
    test = _field_test(field, op, value, text)
    return (lambda job: not test(job)) if negate else test


def _field_test(field: str, op: str, value: str, text: str) -> Predicate:
    if field == "state":
        names = aiplatform_v1.JobState.__members__
        if value not in names or op not in ("=", "!=", ":"):
            raise _bad(text, f"state takes = or != and a JOB_STATE_ name, not {op} {value}")
        wanted = names[value]
        return _equality(op, lambda job: job.state == wanted)
    if field in _STRING_FIELDS:
        attribute = _STRING_FIELDS[field]
        if op not in ("=", "!=", ":"):
            raise _bad(text, f"{field} takes =, != or :")
        if op == ":" and value == "*":
            return lambda job: bool(getattr(job, attribute))
        return _equality(op, lambda job: getattr(job, attribute) == value)
    if field == "labels":
        if op != ":":
            raise _bad(text, "labels takes : KEY (does the job have that label)")
        return lambda job: value in job.labels
    if field.startswith("labels."):
        key = field[len("labels.") :]
        if op == ":" and value == "*":
            return lambda job: key in job.labels
        if op not in ("=", "!=", ":"):
            raise _bad(text, f"{field} takes =, != or :")
        return _equality(op, lambda job: job.labels.get(key) == value)
    if field in _TIME_FIELDS:
        return _time_test(_TIME_FIELDS[field], op, value, text)
    raise _bad(text, f"unsupported field {field}")


def _equality(op: str, matches: Predicate) -> Predicate:
    if op == "!=":
        return lambda job: not matches(job)
    return matches


def _time_test(attribute: str, op: str, value: str, text: str) -> Predicate:
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(text, f"{value} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    compare: dict[str, Callable[[dt.datetime, dt.datetime], bool]] = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    if op not in compare:
        raise _bad(text, f"times take =, !=, <, <=, > or >=, not {op}")
    check = compare[op]

    def test(job: aiplatform_v1.BatchPredictionJob) -> bool:
        if not aiplatform_v1.BatchPredictionJob.pb(job).HasField(attribute):
            return False
        return check(getattr(job, attribute), moment)

    return test


def _bad(text: str, reason: str) -> ApiError:
    return invalid_argument(f'Invalid filter "{text}": {reason}.')
