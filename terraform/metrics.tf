# Log-based metrics for the dashboard, from the functions' JSON logs. Each function logs one
# line per event (batchline.domain.log_events.LOG_EVENTS, a tested contract): Cloud Logging
# reads each line as jsonPayload, so `event` is jsonPayload.event and each field
# jsonPayload.<field>. A counter counts an event's lines; a distribution keeps the values of
# one numeric field (its count, mean and exact sum: the dashboard sums them with PromQL).

locals {
  # The functions' log lines.
  function_logs_filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=(${join(" OR ", [for name in sort(keys(local.functions)) : "\"${var.prefix}-${name}\""])})",
  ])

  # Metric name prefix: underscores, so the PromQL names are the metric names.
  metric_prefix = replace(var.prefix, "-", "_")

  # name -> the event counted, the numeric field a distribution keeps (null for a counter),
  # labels (label -> field), and for distributions the exponential bucket layout.
  log_metrics = merge(local.event_metrics, local.row_metrics)

  # Rows of each status a loaded job added (rows.loaded): one distribution per count field.
  row_metrics = {
    for status in ["succeeded", "failed", "blocked", "missing"] : "rows_${status}" => {
      description = "Rows of status ${status} per loaded job (rows.loaded: rows_${status})."
      event       = "rows.loaded"
      value_field = "rows_${status}"
      unit        = "1"
      labels      = { model = "model" }
      buckets     = { scale = 1, growth_factor = 2, count = 20 }
    }
  }

  event_metrics = {
    files_received = {
      description = "Uploads the submit function took on (file.received)."
      event       = "file.received"
      value_field = null
      unit        = "1"
      labels      = {}
      buckets     = null
    }
    files_notified = {
      description = "Files whose one notification was published, by outcome (file.notified)."
      event       = "file.notified"
      value_field = null
      unit        = "1"
      labels      = { notification = "notification" }
      buckets     = null
    }
    jobs_created = {
      description = "Vertex AI batch jobs created, by model (job.created)."
      event       = "job.created"
      value_field = null
      unit        = "1"
      labels      = { model = "model" }
      buckets     = null
    }
    jobs_ended = {
      description = "Vertex AI batch jobs that reached a final state, by state (job.ended)."
      event       = "job.ended"
      value_field = null
      unit        = "1"
      labels      = { vertex_state = "vertex_state" }
      buckets     = null
    }
    estimated_cost_usd = {
      description = "Estimated cost in USD at the batch price, per loaded job (rows.loaded)."
      event       = "rows.loaded"
      value_field = "estimated_cost_usd"
      unit        = "USD"
      labels      = { model = "model" }
      buckets     = { scale = 0.0001, growth_factor = 2, count = 32 }
    }
    jobs_in_flight = {
      description = "Batch jobs still running at the end of each poll tick (poll.tick)."
      event       = "poll.tick"
      value_field = "jobs_in_flight"
      unit        = "1"
      labels      = {}
      buckets     = { scale = 1, growth_factor = 2, count = 16 }
    }
    oldest_in_flight_seconds = {
      description = "How long the oldest job in flight has waited, at each poll tick (poll.tick)."
      event       = "poll.tick"
      value_field = "oldest_in_flight_seconds"
      unit        = "s"
      labels      = {}
      buckets     = { scale = 60, growth_factor = 2, count = 16 }
    }
  }
}

resource "google_logging_metric" "event" {
  for_each = { for name, metric in local.log_metrics : name => metric if var.enable_dashboard }

  name        = "${local.metric_prefix}_${each.key}"
  description = each.value.description
  filter      = "${local.function_logs_filter} AND jsonPayload.event=\"${each.value.event}\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = each.value.value_field == null ? "INT64" : "DISTRIBUTION"
    unit        = each.value.unit

    dynamic "labels" {
      for_each = each.value.labels
      content {
        key         = labels.key
        value_type  = "STRING"
        description = "jsonPayload.${labels.value} of the log line."
      }
    }
  }

  value_extractor  = each.value.value_field == null ? null : "EXTRACT(jsonPayload.${each.value.value_field})"
  label_extractors = { for label, field in each.value.labels : label => "EXTRACT(jsonPayload.${field})" }

  dynamic "bucket_options" {
    for_each = each.value.value_field == null ? [] : [each.value.buckets]
    content {
      exponential_buckets {
        num_finite_buckets = bucket_options.value.count
        growth_factor      = bucket_options.value.growth_factor
        scale              = bucket_options.value.scale
      }
    }
  }

  depends_on = [google_project_service.this]
}
