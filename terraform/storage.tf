# Three buckets, so nothing the pipeline writes lands where the submit trigger listens:
#   input   users drop JSONL files here (the submit trigger watches it); reports go under
#           var.reports_prefix, which the submit function skips.
#   work    staging copies of submitted files and the batch jobs' outputs; transient.
#   sources the function source bundles.

resource "google_storage_bucket" "input" {
  # checkov:skip=CKV_GCP_62: Data Access audit logs record object access; a second bucket of usage logs adds cost and no signal.
  name                        = local.input_bucket_name
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Users' files live here: refuse to delete a non-empty bucket unless protection is off.
  force_destroy = !var.deletion_protection

  # Keeps the earlier generation when a file is overwritten; each generation is its own batch.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_storage_bucket" "work" {
  # checkov:skip=CKV_GCP_62: Data Access audit logs record object access; a second bucket of usage logs adds cost and no signal.
  # checkov:skip=CKV_GCP_78: Everything here is derived (staging copies, job outputs) and expires by lifecycle; versions would only keep deleted copies around.
  name                        = local.work_bucket_name
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection

  versioning {
    enabled = false
  }

  # A job reads its staged input until it finishes (queued up to 72 h, then running up to 24 h).
  lifecycle_rule {
    condition {
      age            = var.staging_retention_days
      matches_prefix = [local.staging_prefix]
    }
    action {
      type = "Delete"
    }
  }

  # Row files are only needed until their BigQuery load job has run.
  lifecycle_rule {
    condition {
      age            = var.staging_retention_days
      matches_prefix = [local.loads_prefix]
    }
    action {
      type = "Delete"
    }
  }

  # By then the complete function has loaded the rows into BigQuery.
  lifecycle_rule {
    condition {
      age            = var.output_retention_days
      matches_prefix = [local.outputs_prefix]
    }
    action {
      type = "Delete"
    }
  }

  # Anything else in this bucket is transient too: never keep it longer than the longest rule.
  lifecycle_rule {
    condition {
      age = max(var.staging_retention_days, var.output_retention_days)
    }
    action {
      type = "Delete"
    }
  }

  lifecycle {
    precondition {
      condition     = var.staging_retention_days * 24 > var.max_job_age_hours
      error_message = "staging_retention_days must outlast max_job_age_hours: a job still running would lose its staged input."
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_storage_bucket" "sources" {
  # checkov:skip=CKV_GCP_62: Only Terraform and Cloud Build read this bucket; audit logs cover it.
  # checkov:skip=CKV_GCP_78: Bundles are rebuilt from the repository and named by content hash; versions add nothing.
  name                        = local.sources_bucket_name
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Only build artifacts, reproducible from the repository.
  force_destroy = true

  versioning {
    enabled = false
  }

  depends_on = [google_project_service.this]
}
