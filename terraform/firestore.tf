locals {
  firestore_location = coalesce(var.firestore_location, var.region)
}

# The job ledger: one document per submitted batch job, so a retried upload event never
# creates a second job and the poll function knows what is in flight. A named database
# leaves any existing "(default)" database in the project alone.
resource "google_firestore_database" "ledger" {
  name        = "${var.prefix}-ledger"
  location_id = local.firestore_location
  type        = "FIRESTORE_NATIVE"

  delete_protection_state = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # Destroy really deletes it, once deletion_protection is off (the default ABANDON would leave
  # it behind and make the next apply fail on the existing name).
  deletion_policy = "DELETE"

  depends_on = [google_project_service.this]
}

# Every function reads and writes the ledger, and no other database of the project: the role
# is granted on the project (Firestore has no per-database policy) with the condition
# Firestore documents for one database
# (https://cloud.google.com/firestore/docs/manage-databases#configure_access_with_iam_conditions).
resource "google_project_iam_member" "ledger_user" {
  for_each = local.functions

  project = var.project_id
  role    = "roles/datastore.user"
  member  = local.principals[each.key]

  condition {
    title       = "The ${google_firestore_database.ledger.name} database only"
    description = "Firestore access limited to the Batchline job ledger."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${google_firestore_database.ledger.name}\""
  }
}
