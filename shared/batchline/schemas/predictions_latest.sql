-- predictions_latest: one row per input line of each uploaded file (source_uri, input_line).
-- The row of the latest attempt at the line, except that a line that succeeded keeps its
-- answer: a resume only re-asks failed and unanswered lines, so an earlier success is never
-- replaced. Rows that matched no input line (input_line NULL) stay in `predictions` only.
-- Read by Terraform (google_bigquery_table.predictions_latest) and the local cloud alike;
-- ${project} and ${dataset} are filled in by each.
SELECT *
FROM `${project}.${dataset}.predictions`
WHERE input_line IS NOT NULL
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY source_uri, input_line
  ORDER BY IF(status = 'SUCCEEDED', 1, 0) DESC, attempt DESC, processed_time DESC
) = 1
