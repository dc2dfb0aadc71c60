# Outputs, in alphabetical order.

output "bigquery_dataset_id" {
  description = "BigQuery dataset holding the predictions and jobs tables."
  value       = google_bigquery_dataset.batchline.dataset_id
}

output "completed_topic_id" {
  description = "Public Pub/Sub topic announcing each finished batch; subscribe to it."
  value       = google_pubsub_topic.completed.id
}

output "dashboard_id" {
  description = "The Cloud Monitoring dashboard (Monitoring > Dashboards), or null without enable_dashboard."
  value       = one(google_monitoring_dashboard.batchline[*].id)
}

output "dead_letter_subscription_id" {
  description = "Pull subscription that keeps dead-lettered events for inspection."
  value       = google_pubsub_subscription.dead_letter.id
}

output "dead_letter_topic_id" {
  description = "Pub/Sub topic undeliverable events are moved to."
  value       = google_pubsub_topic.dead_letter.id
}

output "firestore_database" {
  description = "Firestore database holding the job ledger."
  value       = google_firestore_database.ledger.name
}

output "function_names" {
  description = "Cloud Run function names by role (submit, poll, complete)."
  value       = { for name, function in google_cloudfunctions2_function.function : name => function.name }
}

output "function_service_accounts" {
  description = "Runtime service account email of each function."
  value       = { for name, account in google_service_account.function : name => account.email }
}

output "input_bucket" {
  description = "Bucket to drop JSONL request files into."
  value       = google_storage_bucket.input.name
}

output "job_finished_topic_id" {
  description = "Internal Pub/Sub topic from the poll function to the complete function."
  value       = google_pubsub_topic.job_finished.id
}

output "jobs_table_id" {
  description = "BigQuery table with one row per batch job (project.dataset.table)."
  value       = "${google_bigquery_table.jobs.project}.${google_bigquery_table.jobs.dataset_id}.${google_bigquery_table.jobs.table_id}"
}

output "predictions_table_id" {
  description = "BigQuery table with one row per request (project.dataset.table)."
  value       = "${google_bigquery_table.predictions.project}.${google_bigquery_table.predictions.dataset_id}.${google_bigquery_table.predictions.table_id}"
}

output "subscribe_command" {
  description = "A ready command creating a pull subscription to the batch-completed topic."
  value       = "gcloud pubsub subscriptions create ${var.prefix}-completed-inbox --project=${var.project_id} --topic=${google_pubsub_topic.completed.id}"
}

output "tick_topic_id" {
  description = "Pub/Sub topic the scheduler ticks the poll function through."
  value       = google_pubsub_topic.tick.id
}

output "upload_command" {
  description = "A ready command dropping a request file into the input bucket."
  value       = "gcloud storage cp requests.jsonl gs://${google_storage_bucket.input.name}/"
}

output "work_bucket" {
  description = "Bucket holding staging copies and batch job outputs (expire by lifecycle)."
  value       = google_storage_bucket.work.name
}
