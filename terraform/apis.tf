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
# them by their fixed addresses (locals.tf) and wait for this resource.
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
