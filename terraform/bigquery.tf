# Results. Both table schemas are the files the Python code reads
# (shared/batchline/schemas/*.json), and partitioning and clustering match
# batchline.schemas.table_spec(): one source of truth for the tables.

locals {
  # Dataset ids take no hyphens.
  dataset_id = replace(var.prefix, "-", "_")
}

resource "google_bigquery_dataset" "batchline" {
  # checkov:skip=CKV_GCP_81: Google-managed encryption; add default_encryption_configuration with a Cloud KMS key if your data requires CMEK.
  dataset_id  = local.dataset_id
  location    = var.bigquery_location
  description = "Batchline: one row per batch prediction request (predictions) and per batch job (jobs)."

  delete_contents_on_destroy = !var.deletion_protection

  depends_on = [google_project_service.this]
}

resource "google_bigquery_table" "predictions" {
  # checkov:skip=CKV_GCP_80: Google-managed encryption; set encryption_configuration with a Cloud KMS key if your data requires CMEK.
  dataset_id  = google_bigquery_dataset.batchline.dataset_id
  table_id    = "predictions"
  description = "One row per request line of every batch job: status, response text, token counts."
  schema      = file("${path.module}/../shared/batchline/schemas/predictions.json")

  time_partitioning {
    type  = "DAY"
    field = "processed_time"
  }
  clustering = ["job_id"]

  deletion_protection = var.deletion_protection
}

resource "google_bigquery_table" "jobs" {
  # checkov:skip=CKV_GCP_80: Google-managed encryption; set encryption_configuration with a Cloud KMS key if your data requires CMEK.
  dataset_id  = google_bigquery_dataset.batchline.dataset_id
  table_id    = "jobs"
  description = "One row per batch job: source file, model, final state, counts and cost."
  schema      = file("${path.module}/../shared/batchline/schemas/jobs.json")

  # A source file's jobs (its parts) sit together.
  time_partitioning {
    type  = "DAY"
    field = "create_time"
  }
  clustering = ["source_uri"]

  deletion_protection = var.deletion_protection
}

# The complete function writes rows into the dataset's tables, and nowhere else.
resource "google_bigquery_dataset_iam_member" "complete_writes_rows" {
  dataset_id = google_bigquery_dataset.batchline.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = local.principals["complete"]
}

# One row per input line: the latest attempt's answer, or the one that succeeded. The same
# SQL file the local cloud creates the view from (shared/batchline/schemas/).
resource "google_bigquery_table" "predictions_latest" {
  # checkov:skip=CKV_GCP_80: A view stores no data of its own: nothing to encrypt.
  # checkov:skip=CKV_GCP_121: A view holds no data of its own; the predictions table it reads is protected.
  dataset_id  = google_bigquery_dataset.batchline.dataset_id
  table_id    = "predictions_latest"
  description = "One row per input line of each uploaded file: the latest attempt's row, or the row that succeeded (resumes re-ask failed and unanswered lines only)."

  view {
    query = templatefile("${path.module}/../shared/batchline/schemas/predictions_latest.sql", {
      project = var.project_id
      dataset = google_bigquery_dataset.batchline.dataset_id
    })
    use_legacy_sql = false
  }

  deletion_protection = var.deletion_protection

  depends_on = [google_bigquery_table.predictions]
}
