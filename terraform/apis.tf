locals {
  # APIs the pipeline uses.
  services = toset([
    "aiplatform.googleapis.com",
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
  ])

  project_number = data.google_project.this.number

  # Google's own identities in the project. Service agents have fixed addresses; the grants
  # wait for google_project_service_identity.agents, which makes sure they exist.
  service_agents = {
    vertex_agent = "serviceAccount:service-${local.project_number}@gcp-sa-aiplatform.iam.gserviceaccount.com"
    pubsub_agent = "serviceAccount:service-${local.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
    # Cloud Storage publishes object events to Pub/Sub as its service agent.
    storage_agent = "serviceAccount:${data.google_storage_project_service_account.this.email_address}"
  }
}

resource "google_project_service" "this" {
  for_each = local.services

  project = var.project_id
  service = each.value
  # Other workloads in the project may use these APIs too: never switch them off on destroy.
  disable_on_destroy = false
}

data "google_project" "this" {
  project_id = var.project_id

  depends_on = [google_project_service.this]
}

# Service agents this deployment grants roles to (Vertex AI reads and writes the batch files,
# Pub/Sub dead-letters events). A service agent may only appear on first use of its API, and
# a grant to one that does not exist yet fails: this creates them up front. The grants name
# them by their fixed addresses (local.service_agents) and wait for this resource.
resource "google_project_service_identity" "agents" {
  provider = google-beta
  for_each = toset(["aiplatform.googleapis.com", "pubsub.googleapis.com"])

  project = var.project_id
  service = each.value

  depends_on = [google_project_service.this]
}

data "google_storage_project_service_account" "this" {
  project = var.project_id

  depends_on = [google_project_service.this]
}
