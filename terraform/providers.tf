provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = local.labels
}

provider "google-beta" {
  project        = var.project_id
  region         = var.region
  default_labels = local.labels
}

locals {
  # On every resource that takes labels.
  labels = merge({ app = "batchline" }, var.labels)
}
