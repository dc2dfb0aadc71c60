# The poll function's clock: a tick on the topic every var.poll_schedule. Cloud Scheduler
# publishes as its own service agent, which may publish to topics in the project.
resource "google_cloud_scheduler_job" "poll_tick" {
  name        = "${var.prefix}-poll-tick"
  description = "Makes the Batchline poll function check the batch jobs in flight."
  region      = var.region
  schedule    = var.poll_schedule
  time_zone   = "Etc/UTC"

  pubsub_target {
    topic_name = google_pubsub_topic.tick.id
    data       = base64encode(jsonencode({ reason = "scheduled poll" }))
  }

  depends_on = [google_project_service.this]
}
