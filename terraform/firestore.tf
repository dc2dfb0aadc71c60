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
