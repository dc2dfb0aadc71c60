# Identities and the roles they hold on the project. No primitive roles (owner, editor,
# viewer) and no public principals anywhere; project-level grants only where no narrower
# resource exists. Grants on one bucket, topic, dataset, database or function sit in the file
# of that resource (storage.tf, pubsub.tf, bigquery.tf, firestore.tf, functions.tf).

locals {
  role_id_prefix = replace(var.prefix, "-", "_")

  # Every identity this deployment grants roles to, by a label known at plan time (emails of
  # new service accounts are not), so each grant has a stable address.
  principals = merge(
    { for name, account in google_service_account.function : name => "serviceAccount:${account.email}" },
    {
      trigger = "serviceAccount:${google_service_account.trigger.email}"
      build   = "serviceAccount:${google_service_account.build.email}"
    },
    local.service_agents,
  )

  # Custom roles with only the Vertex AI permissions each function's calls need, named as in
  # the Vertex AI permissions reference
  # (https://cloud.google.com/vertex-ai/docs/general/iam-permissions): create on the location
  # (parent), get and cancel on the job, list on the location (finding a file's jobs by label).
  batch_job_roles = {
    batch_job_submitter = {
      title       = "Batchline batch job submitter"
      description = "Create, find and cancel Vertex AI batch prediction jobs (the submit function, and the poll function, which starts the queued ones)."
      permissions = [
        "aiplatform.batchPredictionJobs.cancel",
        "aiplatform.batchPredictionJobs.create",
        "aiplatform.batchPredictionJobs.get",
        "aiplatform.batchPredictionJobs.list",
      ]
    }
    batch_job_reader = {
      title       = "Batchline batch job reader"
      description = "Read Vertex AI batch prediction jobs (the complete function)."
      permissions = [
        "aiplatform.batchPredictionJobs.get",
        "aiplatform.batchPredictionJobs.list",
      ]
    }
  }
  custom_role_names = {
    for key, role in local.batch_job_roles : key => "projects/${var.project_id}/roles/${local.role_id_prefix}_${key}"
  }

  # Project-level roles.
  project_grants = [
    { principal = "submit", role = local.custom_role_names["batch_job_submitter"] },
    # The poll function starts queued attempts (the running-jobs cap) and resumes.
    { principal = "poll", role = local.custom_role_names["batch_job_submitter"] },
    { principal = "complete", role = local.custom_role_names["batch_job_reader"] },
    { principal = "complete", role = "roles/bigquery.jobUser" }, # load jobs into its dataset
    # Eventarc delivers events as the trigger identity.
    { principal = "trigger", role = "roles/eventarc.eventReceiver" },
    # Eventarc creates a Pub/Sub topic per storage trigger at run time, so this one cannot be
    # granted on a single topic.
    { principal = "storage_agent", role = "roles/pubsub.publisher" },
    # The function builds: Cloud Run Builder is the role Google documents for a user-specified
    # build service account (reads the source, writes the image and the build logs):
    # https://cloud.google.com/run/docs/configuring/services/build-service-account
    { principal = "build", role = "roles/run.builder" },
    # The standard roles of the service agents apis.tf creates up front: Google grants them
    # only to agents it creates itself, on the API's first use.
    { principal = "vertex_agent", role = "roles/aiplatform.serviceAgent" },
    { principal = "pubsub_agent", role = "roles/pubsub.serviceAgent" },
  ]
}

# One runtime identity per function.
resource "google_service_account" "function" {
  for_each = local.functions

  account_id   = "${var.prefix}-${each.key}"
  display_name = "Batchline ${each.key} function"
  description  = "Runs the Batchline ${each.key} function; holds only the roles that function needs."

  depends_on = [google_project_service.this]
}

# Eventarc delivers events to the functions as this identity.
resource "google_service_account" "trigger" {
  account_id   = "${var.prefix}-trigger"
  display_name = "Batchline event triggers"
  description  = "Identity of the Eventarc triggers that invoke the Batchline functions."

  depends_on = [google_project_service.this]
}

# Cloud Build builds the function images as this identity (instead of a default service
# account that may hold Editor, or may lack what a build needs).
resource "google_service_account" "build" {
  account_id   = "${var.prefix}-build"
  display_name = "Batchline function builds"
  description  = "Builds the Batchline function images from their source bundles."

  depends_on = [google_project_service.this]
}

resource "google_project_iam_custom_role" "batch_job" {
  for_each = local.batch_job_roles

  role_id     = "${local.role_id_prefix}_${each.key}"
  title       = each.value.title
  description = each.value.description
  permissions = each.value.permissions

  depends_on = [google_project_service.this]
}

resource "google_project_iam_member" "grant" {
  for_each = { for grant in local.project_grants : "${grant.principal} ${grant.role}" => grant }

  project = var.project_id
  role    = each.value.role
  member  = local.principals[each.value.principal]

  depends_on = [google_project_iam_custom_role.batch_job, google_project_service_identity.agents]
}

# Pub/Sub signs the push requests Eventarc sends to the functions with tokens for the trigger
# identity (needed in projects created before April 2021; harmless after).
resource "google_service_account_iam_member" "pubsub_mints_trigger_tokens" {
  service_account_id = google_service_account.trigger.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.principals["pubsub_agent"]

  depends_on = [google_project_service_identity.agents]
}
