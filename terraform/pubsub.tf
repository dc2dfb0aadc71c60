# Topics:
#   tick         Cloud Scheduler -> poll function
#   job_finished poll function -> complete function (internal)
#   completed    public "a batch finished" notification users subscribe to
#   dead_letter  events that could not be delivered, kept for inspection
#
# How dead-lettering is wired, honestly: each function's trigger is an Eventarc trigger whose
# Pub/Sub subscription Eventarc creates and owns (eventarc-REGION-...-sub-NNN). Neither the
# Cloud Functions nor the Eventarc API lets Terraform set a dead-letter policy on it, and a
# google_pubsub_subscription with a push endpoint is not what gen2 triggers use. So:
#   - events are retried with backoff (retry_policy = RETRY_POLICY_RETRY) for up to 24 hours,
#     the retention Eventarc gives its subscriptions, and the functions drop retried events
#     older than BATCHLINE_MAX_EVENT_AGE_HOURS with a log;
#   - with attach_dead_letter_policies = true, a gcloud step after each deploy attaches the
#     dead-letter topic to the trigger's subscription (Google's documented way to do it);
#   - the dead-letter topic and its inspection subscription exist either way, and the Pub/Sub
#     service agent may publish to the topic (the grants below).

locals {
  topics = {
    tick         = google_pubsub_topic.tick.name
    job_finished = google_pubsub_topic.job_finished.name
    completed    = google_pubsub_topic.completed.name
    dead_letter  = google_pubsub_topic.dead_letter.name
  }

  # Topic-level grants. (batchline.steps: submit announces rejected files and failed
  # submissions, complete the finished batches; poll only hands finished jobs to complete.)
  topic_grants = [
    { topic = "completed", role = "roles/pubsub.publisher", principal = "submit" },
    { topic = "completed", role = "roles/pubsub.publisher", principal = "complete" },
    # The poll sends the notifications a dead sender left unsent.
    { topic = "completed", role = "roles/pubsub.publisher", principal = "poll" },
    { topic = "job_finished", role = "roles/pubsub.publisher", principal = "poll" },
    # Pub/Sub moves undeliverable events to the dead-letter topic as its service agent.
    { topic = "dead_letter", role = "roles/pubsub.publisher", principal = "pubsub_agent" },
  ]
  all_topic_grants = concat(
    local.topic_grants,
    [for member in var.completed_topic_subscribers : { topic = "completed", role = "roles/pubsub.subscriber", principal = member }],
  )
}

resource "google_pubsub_topic" "tick" {
  # checkov:skip=CKV_GCP_83: Ticks carry no data; Google-managed encryption is enough.
  name = "${var.prefix}-poll-tick"

  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic" "job_finished" {
  # checkov:skip=CKV_GCP_83: Messages hold job ids and states only; Google-managed encryption is enough.
  name = "${var.prefix}-job-finished"

  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic" "completed" {
  # checkov:skip=CKV_GCP_83: Messages hold job summaries (counts, table ids), no prompts or responses.
  name = "${var.prefix}-batch-completed"

  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic" "dead_letter" {
  # checkov:skip=CKV_GCP_83: Dead-lettered events are storage and job notifications, no prompts or responses.
  name = "${var.prefix}-dead-letter"

  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic_iam_member" "grant" {
  for_each = { for grant in local.all_topic_grants : "${grant.topic} ${grant.role} ${grant.principal}" => grant }

  topic  = local.topics[each.value.topic]
  role   = each.value.role
  member = lookup(local.principals, each.value.principal, each.value.principal)

  depends_on = [google_project_service_identity.agents]
}

resource "google_pubsub_subscription" "dead_letter" {
  name  = "${var.prefix}-dead-letter-inspection"
  topic = google_pubsub_topic.dead_letter.id

  # Pull subscription nobody acks automatically: messages stay until someone looks at them.
  message_retention_duration = "${var.dead_letter_retention_days * 86400}s"
  ack_deadline_seconds       = 60

  # Never expire for inactivity: an idle dead-letter subscription is the healthy state.
  expiration_policy {
    ttl = ""
  }
}

# Attach the dead-letter topic to each trigger's Eventarc-owned subscription (see the top of
# this file). Re-runs whenever the trigger is recreated or the policy changes.
resource "terraform_data" "dead_letter_policy" {
  for_each = toset(var.attach_dead_letter_policies ? keys(local.functions) : [])

  triggers_replace = [
    google_cloudfunctions2_function.function[each.key].event_trigger[0].trigger,
    google_pubsub_topic.dead_letter.id,
    var.dead_letter_max_delivery_attempts,
  ]

  provisioner "local-exec" {
    interpreter = ["/bin/bash", "-c"]
    command     = <<-EOT
      set -euo pipefail
      subscription="$(gcloud eventarc triggers describe "$${TRIGGER##*/}" \
        --project="$PROJECT" --location="$LOCATION" \
        --format='value(transport.pubsub.subscription)')"
      gcloud pubsub subscriptions update "$subscription" --project="$PROJECT" \
        --dead-letter-topic="$DEAD_LETTER_TOPIC" \
        --max-delivery-attempts="$MAX_ATTEMPTS"
      # Pub/Sub must be able to take messages off the subscription to dead-letter them.
      gcloud pubsub subscriptions add-iam-policy-binding "$subscription" --project="$PROJECT" \
        --member="$PUBSUB_AGENT" --role=roles/pubsub.subscriber
    EOT
    environment = {
      PROJECT           = var.project_id
      LOCATION          = var.region
      TRIGGER           = google_cloudfunctions2_function.function[each.key].event_trigger[0].trigger
      DEAD_LETTER_TOPIC = google_pubsub_topic.dead_letter.id
      MAX_ATTEMPTS      = tostring(var.dead_letter_max_delivery_attempts)
      PUBSUB_AGENT      = local.principals["pubsub_agent"]
    }
  }

  depends_on = [google_pubsub_topic_iam_member.grant]
}
