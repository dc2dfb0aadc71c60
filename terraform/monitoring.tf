# Optional alerting (enable_alerts = true): failed batch jobs, from the functions' JSON logs,
# and events that reached the dead-letter inspection subscription.

resource "google_logging_metric" "failed_jobs" {
  count = var.enable_alerts ? 1 : 0

  name        = "${var.prefix}-failed-jobs"
  description = "Batch jobs the Batchline functions logged as failed (jsonPayload.event = job.failed)."
  filter      = local.failed_job_log_filter

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
  }
}

resource "google_monitoring_alert_policy" "failed_jobs" {
  count = var.enable_alerts ? 1 : 0

  display_name          = "${var.prefix}: batch job failed"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = "The functions logged a failed batch job"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.failed_jobs[0].name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A Batchline batch job failed. The functions' logs (jsonPayload.event=\"job.failed\") name the job and the source file; the jobs table in BigQuery has its final state."
  }

  alert_strategy {
    auto_close = "86400s"
  }

  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "dead_letters" {
  count = var.enable_alerts ? 1 : 0

  display_name          = "${var.prefix}: events dead-lettered"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = "Messages waiting on ${google_pubsub_subscription.dead_letter.name}"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.dead_letter.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "An event could not be delivered to a Batchline function and was dead-lettered. Pull it from the dead-letter inspection subscription to see which file or job it was about."
  }

  alert_strategy {
    auto_close = "86400s"
  }

  depends_on = [google_project_service.this]
}
