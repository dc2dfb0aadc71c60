# Source bundles. scripts/build_bundles.py zips each function's main.py with the batchline
# package and requirements.txt, deterministically, and reports each zip's path and SHA-256.
# Running it as a data source (at plan time) makes the hash known before apply, so the object
# name changes, and the function redeploys, exactly when the code changes.
data "external" "bundles" {
  program = concat(
    [var.python_executable, "${path.module}/../scripts/build_bundles.py", "--out", "${path.module}/.build", "--flat"],
    flatten([for name in sort(keys(local.functions)) : ["--function", name]]),
  )
}

resource "google_storage_bucket_object" "bundle" {
  for_each = local.functions

  bucket       = google_storage_bucket.sources.name
  name         = "functions/${each.key}/${data.external.bundles.result["${each.key}_sha256"]}.zip"
  source       = data.external.bundles.result["${each.key}_path"]
  content_type = "application/zip"
}
