terraform {
  # terraform_data needs 1.4, strcontains 1.5.
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    # Written against the google provider 6.x-8.x schema; a new major is tested before it is
    # allowed in.
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 9.0"
    }
    # Only for google_project_service_identity, which exists in the beta provider alone.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.0, < 9.0"
    }
    # Runs scripts/build_bundles.py at plan time so each bundle's hash is known before apply.
    external = {
      source  = "hashicorp/external"
      version = ">= 2.3, < 3.0"
    }
  }
}
