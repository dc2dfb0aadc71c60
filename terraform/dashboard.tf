# The Cloud Monitoring dashboard (enable_dashboard, on by default): the pipeline at a glance,
# from the log-based metrics in metrics.tf and Pub/Sub's own metric for the dead letters.
# Charts query with PromQL: a log-based metric logging.googleapis.com/user/NAME is
# logging_googleapis_com:user_NAME, and a distribution's exact sum and count are NAME_sum and
# NAME_count (https://cloud.google.com/monitoring/promql/promql-mapping).

locals {
  promql_metric = {
    for key, metric in google_logging_metric.event : key => "logging_googleapis_com:user_${metric.name}"
  }
  on_functions = "{monitored_resource=\"cloud_run_revision\"}"

  # Each chart: its title, unit, how its series are drawn, and one PromQL query per series.
  dashboard_charts = var.enable_dashboard ? [
    {
      title = "Files received and notified, per hour (by outcome)"
      unit  = "1"
      plot  = "STACKED_BAR"
      queries = [
        "label_replace(sum(increase(${local.promql_metric["files_received"]}${local.on_functions}[1h])), \"notification\", \"received\", \"\", \"\")",
        "sum by (notification) (increase(${local.promql_metric["files_notified"]}${local.on_functions}[1h]))",
      ]
    },
    {
      title = "Batch jobs created and ended, per hour (by state)"
      unit  = "1"
      plot  = "STACKED_BAR"
      queries = [
        "label_replace(sum(increase(${local.promql_metric["jobs_created"]}${local.on_functions}[1h])), \"vertex_state\", \"created\", \"\", \"\")",
        "sum by (vertex_state) (increase(${local.promql_metric["jobs_ended"]}${local.on_functions}[1h]))",
      ]
    },
    {
      title = "Batch jobs in flight (poll ticks, 15-minute mean)"
      unit  = "1"
      plot  = "LINE"
      queries = [
        "sum(increase(${local.promql_metric["jobs_in_flight"]}_sum${local.on_functions}[15m])) / sum(increase(${local.promql_metric["jobs_in_flight"]}_count${local.on_functions}[15m]))",
      ]
    },
    {
      title = "Oldest job in flight, hours (poll ticks, 15-minute mean)"
      unit  = "h"
      plot  = "LINE"
      queries = [
        "sum(increase(${local.promql_metric["oldest_in_flight_seconds"]}_sum${local.on_functions}[15m])) / sum(increase(${local.promql_metric["oldest_in_flight_seconds"]}_count${local.on_functions}[15m])) / 3600",
      ]
    },
    {
      title = "Rows loaded per hour, by status"
      unit  = "1"
      plot  = "STACKED_BAR"
      queries = [
        for status in ["succeeded", "failed", "blocked", "missing"] :
        "label_replace(sum(increase(${local.promql_metric["rows_${status}"]}_sum${local.on_functions}[1h])), \"status\", \"${status}\", \"\", \"\")"
      ]
    },
    {
      title = "Estimated cost, USD per day (batch price, by model)"
      unit  = "USD"
      plot  = "STACKED_BAR"
      queries = [
        "sum by (model) (increase(${local.promql_metric["estimated_cost_usd"]}_sum${local.on_functions}[1d]))",
      ]
    },
    {
      title = "Dead-lettered messages waiting"
      unit  = "1"
      plot  = "LINE"
      queries = [
        "max(pubsub_googleapis_com:subscription_num_undelivered_messages{monitored_resource=\"pubsub_subscription\",subscription_id=\"${google_pubsub_subscription.dead_letter.name}\"})",
      ]
    },
  ] : []
}

resource "google_monitoring_dashboard" "batchline" {
  count = var.enable_dashboard ? 1 : 0

  dashboard_json = jsonencode({
    displayName = "Batchline (${var.prefix})"
    mosaicLayout = {
      columns = 48
      tiles = [
        for index, chart in local.dashboard_charts : {
          xPos   = (index % 2) * 24
          yPos   = floor(index / 2) * 16
          width  = 24
          height = 16
          widget = {
            title = chart.title
            xyChart = {
              dataSets = [
                for query in chart.queries : {
                  plotType        = chart.plot
                  targetAxis      = "Y1"
                  timeSeriesQuery = { prometheusQuery = query, unitOverride = chart.unit }
                }
              ]
              yAxis = { scale = "LINEAR" }
            }
          }
        }
      ]
    }
  })

  depends_on = [google_project_service.this]
}
