"""Every SQL example in README.md runs, as written, against the tables and the view that
Terraform and the local cloud create from shared/batchline/schemas (only `batchline.` is
replaced by the test's dataset), and the structured-answers example finds its answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.cloud import bigquery

from batchline.schemas import PREDICTIONS_LATEST_VIEW, TABLES, table_spec, view_query

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[3] / "README.md"
SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.DOTALL)
TABLE_NAME = re.compile(r"\bbatchline\.(predictions_latest|predictions|jobs)\b")


def readme_queries() -> list[str]:
    return SQL_BLOCK.findall(README.read_text(encoding="utf-8"))


def make_tables(client: bigquery.Client, dataset: str) -> None:
    project, dataset_id = dataset.split(".")
    for name in TABLES:
        fields = [bigquery.SchemaField.from_api_repr(dict(c)) for c in table_spec(name)["schema"]]
        client.create_table(bigquery.Table(f"{dataset}.{name}", schema=fields))
    view = bigquery.Table(f"{dataset}.{PREDICTIONS_LATEST_VIEW}")
    view.view_query = view_query(project, dataset_id)
    client.create_table(view)


def test_the_readme_has_sql_examples() -> None:
    assert len(readme_queries()) >= 2


@pytest.mark.parametrize("number", range(len(readme_queries())))
def test_each_readme_query_runs(client: bigquery.Client, dataset: str, number: int) -> None:
    make_tables(client, dataset)
    rows = [
        {
            "job_id": "1",
            "attempt": attempt,
            "source_uri": "gs://my-input/reviews.jsonl#7",
            "input_line": line,
            "key": f"k{line}",
            "status": status,
            "response_text": '{"sentiment": "positive", "stars": 5}',
            "response_json": {"sentiment": "positive", "stars": 5}
            if status == "SUCCEEDED"
            else None,
            "processed_time": "2026-12-01T10:00:00Z",
        }
        for line, attempt, status in [(1, 1, "SUCCEEDED"), (2, 1, "FAILED"), (2, 2, "SUCCEEDED")]
    ]
    config = bigquery.LoadJobConfig(source_format="NEWLINE_DELIMITED_JSON")
    client.load_table_from_json(rows, f"{dataset}.predictions", job_config=config).result()
    sql = TABLE_NAME.sub(lambda m: f"`{dataset}.{m.group(1)}`", readme_queries()[number])

    result = [dict(row) for row in client.query(sql).result()]

    assert result, f"README query {number + 1} found no rows:\n{sql}"
    if "JSON_VALUE" in sql:
        answers = sorted((r["key"], r["sentiment"], r["stars"]) for r in result)
        assert answers == [("k1", "positive", 5), ("k2", "positive", 5)]
    else:  # the view's one row per line: line 2 by its resume
        assert sorted(r["key"] for r in result) == ["k1", "k2"]
