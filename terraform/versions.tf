terraform {
  # terraform_data needs 1.4, strcontains 1.5.
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    # Checked offline against the schemas of 6.1.0 (the lowest allowed) and 8.7.0
    # (tests/integration/terraform); a new major is checked before it is allowed in.
    google = {
      source  = "hashicorp/google"
      version = ">= 6.1, < 9.0"
    }
    # Only for google_project_service_identity, which exists in the beta provider alone.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.1, < 9.0"
    }
    # Runs scripts/build_bundles.py at plan time so each bundle's hash is known before apply
    # (checked with 2.3.2 and 2.4.2).
    external = {
      source  = "hashicorp/external"
      version = ">= 2.3.2, < 3.0"
    }
  }
}
