# Optional alerting (enable_alerts = true): files that failed and jobs that stalled, straight
# from the functions' log lines, and events waiting in the dead-letter subscription.
#
# The two log alerts match log entries (condition_matched_log), so they need no log-based
# metric: an alert on a metric created in the same apply fails with "404 Cannot find
# metric(s) ... could take up to 10 minutes" (hashicorp/terraform-provider-google#11102).
# Each matching line opens an incident that names its file (label_extractors); Monitoring
# requires a notification rate limit on such policies
# (https://cloud.google.com/monitoring/alerts/log-based-alerts).

locals {
  log_alerts = {
    failed_files = {
      display_name = "${var.prefix}: file failed"
      condition    = "A file's notification reported job.failed"
      filter       = "jsonPayload.event=\"file.notified\" AND jsonPayload.notification=\"job.failed\""
      labels       = { source_uri = "source_uri" }
      content      = "A file's batch failed (a job ended other than SUCCEEDED, its rows could not be loaded, or the file could not be submitted). The log line (jsonPayload.event=\"file.notified\") names the file; its job.failed notification and the jobs table in BigQuery say which job and why."
    }
    stalled_jobs = {
      display_name = "${var.prefix}: job stalled"
      condition    = "A batch job waited too long without running"
      filter       = "jsonPayload.event=\"job.stalled\""
      labels       = { source_uri = "source_uri", job = "job" }
      content      = "A Vertex AI batch job has waited longer than expected without running (jsonPayload.event=\"job.stalled\" names the job and the file; waited_seconds says how long). Check the Vertex AI batch prediction quota of the region; the poll function cancels it after max_job_age_hours."
    }
  }
}

resource "google_monitoring_alert_policy" "log" {
  for_each = { for name, alert in local.log_alerts : name => alert if var.enable_alerts }

  display_name          = each.value.display_name
  combiner              = "OR"
  notification_channels = var.alert_notification_channels

  conditions {
    display_name = each.value.condition
    condition_matched_log {
      filter           = "${local.function_logs_filter} AND ${each.value.filter}"
      label_extractors = { for label, field in each.value.labels : label => "EXTRACT(jsonPayload.${field})" }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = each.value.content
  }

  alert_strategy {
    # At most one notification per five minutes for a burst of matching lines.
    notification_rate_limit {
      period = "300s"
    }
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
