# Inputs, in alphabetical order. Only project_id is required.

variable "alert_notification_channels" {
  type        = list(string)
  description = "Monitoring notification channel ids (projects/P/notificationChannels/N) the alert policies notify. Used only when enable_alerts is true."
  default     = []

  validation {
    condition     = alltrue([for channel in var.alert_notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", channel))])
    error_message = "Each alert_notification_channels entry must look like projects/PROJECT/notificationChannels/ID."
  }
}

variable "attach_dead_letter_policies" {
  type        = bool
  description = "Run gcloud after each function deploy to attach the dead-letter topic to the Pub/Sub subscription Eventarc created for its trigger (Terraform cannot configure those subscriptions). Needs an authenticated gcloud where terraform runs."
  default     = false
}

variable "bigquery_location" {
  type        = string
  description = "Location of the BigQuery dataset, a multi-region (US, EU) or a region."
  default     = "US"

  validation {
    condition     = can(regex("^[A-Za-z]+(-[a-z]+[0-9]+)?$", var.bigquery_location))
    error_message = "bigquery_location must be a multi-region like US or EU, or a region like europe-west1."
  }
}

variable "completed_topic_subscribers" {
  type        = list(string)
  description = "Principals (user:, group:, serviceAccount:, domain:) allowed to attach subscriptions to the public batch-completed topic."
  default     = []

  validation {
    condition     = alltrue([for member in var.completed_topic_subscribers : can(regex("^(user|group|serviceAccount|domain):[^\\s:]+$", member))])
    error_message = "completed_topic_subscribers entries must be user:, group:, serviceAccount: or domain: principals; public principals (allUsers, allAuthenticatedUsers) are refused."
  }
}

variable "daily_budget_usd" {
  type        = number
  description = "Estimated USD (high end of the estimate) of the files submitted per UTC day; a file that would cross it is held until `batchline release`. null: no daily budget."
  default     = null

  validation {
    condition     = var.daily_budget_usd == null || try(var.daily_budget_usd > 0, false)
    error_message = "daily_budget_usd must be a positive number of USD, or null for no daily budget."
  }
}

variable "dead_letter_max_delivery_attempts" {
  type        = number
  description = "Delivery attempts before Pub/Sub moves an event to the dead-letter topic (5 to 100). Used only when attach_dead_letter_policies is true."
  default     = 20

  validation {
    condition     = var.dead_letter_max_delivery_attempts >= 5 && var.dead_letter_max_delivery_attempts <= 100 && floor(var.dead_letter_max_delivery_attempts) == var.dead_letter_max_delivery_attempts
    error_message = "dead_letter_max_delivery_attempts must be a whole number from 5 to 100 (the Pub/Sub limits)."
  }
}

variable "dead_letter_retention_days" {
  type        = number
  description = "Days the dead-letter inspection subscription keeps undelivered events (1 to 31, the Pub/Sub maximum)."
  default     = 31

  validation {
    condition     = var.dead_letter_retention_days >= 1 && var.dead_letter_retention_days <= 31 && floor(var.dead_letter_retention_days) == var.dead_letter_retention_days
    error_message = "dead_letter_retention_days must be a whole number from 1 to 31."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Protect stateful resources (buckets with data, the Firestore ledger, the BigQuery tables) from terraform destroy. Set to false and apply before tearing down."
  default     = true
}

variable "enable_alerts" {
  type        = bool
  description = "Create alert policies for failed files and stalled batch jobs (on the functions' log lines) and for dead-lettered events."
  default     = false
}

variable "enable_dashboard" {
  type        = bool
  description = "Create the Cloud Monitoring dashboard and the log-based metrics it charts (files, jobs, rows, estimated cost, dead letters, oldest job in flight)."
  default     = true
}

variable "firestore_location" {
  type        = string
  description = "Location of the Firestore ledger database (a region like us-central1 or a multi-region like nam5). Defaults to region."
  default     = null

  validation {
    condition     = var.firestore_location == null || can(regex("^[a-z]+[a-z0-9-]*[0-9]$", var.firestore_location))
    error_message = "firestore_location must be a Firestore location such as us-central1, nam5 or eur3."
  }
}

variable "input_uploaders" {
  type        = list(string)
  description = "Principals (user:, group:, serviceAccount:, domain:) allowed to drop files into the input bucket (roles/storage.objectCreator on it)."
  default     = []

  validation {
    condition     = alltrue([for member in var.input_uploaders : can(regex("^(user|group|serviceAccount|domain):[^\\s:]+$", member))])
    error_message = "input_uploaders entries must be user:, group:, serviceAccount: or domain: principals; public principals (allUsers, allAuthenticatedUsers) are refused."
  }
}

variable "labels" {
  type        = map(string)
  description = "Extra labels put on every resource that takes labels (merged over app = batchline)."
  default     = {}

  validation {
    condition     = alltrue([for key, value in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", key)) && can(regex("^[a-z0-9_-]{0,63}$", value))])
    error_message = "Label keys must start with a lowercase letter; keys and values may hold lowercase letters, digits, _ and - (at most 63 characters)."
  }
}

variable "ledger_collection" {
  type        = string
  description = "Firestore collection that holds one document per submitted batch job."
  default     = "batchline-jobs"

  validation {
    condition     = length(var.ledger_collection) <= 1500 && can(regex("^[^/.][^/]*$", var.ledger_collection))
    error_message = "ledger_collection must be a Firestore collection id: no slash, not starting with a dot, at most 1500 characters."
  }
}

variable "load_lease_seconds" {
  type        = number
  description = "Seconds a complete attempt's claim on loading a job's rows holds; another attempt takes over after it (the first one died). Longer than the complete function's timeout (540 s)."
  default     = 900

  validation {
    condition     = var.load_lease_seconds > 540
    error_message = "load_lease_seconds must be longer than the complete function's 540 s timeout, or two attempts could load at once."
  }
}

variable "max_attempts" {
  type        = number
  description = "Attempts at each part's lines: the first job, plus resumes of the lines that failed for a reason that may pass (429, 5xx) or were never answered. 1 turns resume off."
  default     = 3

  validation {
    condition     = var.max_attempts >= 1 && var.max_attempts <= 10 && floor(var.max_attempts) == var.max_attempts
    error_message = "max_attempts must be a whole number from 1 to 10."
  }
}

variable "max_bytes_per_job" {
  type        = number
  description = "Most bytes of staged requests in one Vertex AI batch job; a larger file is split. The service allows 1 GB."
  default     = 1000000000

  validation {
    condition     = var.max_bytes_per_job >= 1 && var.max_bytes_per_job <= 1000000000 && floor(var.max_bytes_per_job) == var.max_bytes_per_job
    error_message = "max_bytes_per_job must be a whole number from 1 to 1000000000 (the service's limit)."
  }
}

variable "max_event_age_hours" {
  type        = number
  description = "Retried events older than this are dropped with a log instead of being processed (Eventarc keeps undelivered events 24 hours)."
  default     = 24

  validation {
    condition     = var.max_event_age_hours > 0 && var.max_event_age_hours <= 24
    error_message = "max_event_age_hours must be more than 0 and at most 24 (events are not redelivered after 24 hours)."
  }
}

variable "max_file_cost_usd" {
  type        = number
  description = "A file whose estimated cost (high end of the range) is over this many USD is held until `batchline release`. null: no limit."
  default     = null

  validation {
    condition     = var.max_file_cost_usd == null || try(var.max_file_cost_usd > 0, false)
    error_message = "max_file_cost_usd must be a positive number of USD, or null for no limit."
  }
}

variable "max_instance_count" {
  type        = number
  description = "Most instances the submit and complete functions scale out to. The poll function always runs at most one instance."
  default     = 10

  validation {
    condition     = var.max_instance_count >= 1 && var.max_instance_count <= 100 && floor(var.max_instance_count) == var.max_instance_count
    error_message = "max_instance_count must be a whole number from 1 to 100."
  }
}

variable "max_job_age_hours" {
  type        = number
  description = "Batch jobs still unfinished after this many hours are cancelled by the poll function."
  default     = 72

  validation {
    condition     = var.max_job_age_hours > 0
    error_message = "max_job_age_hours must be a positive number."
  }
}

variable "max_requests_per_job" {
  type        = number
  description = "Most requests in one Vertex AI batch job; a file with more is split. The service allows 200,000."
  default     = 200000

  validation {
    condition     = var.max_requests_per_job >= 1 && var.max_requests_per_job <= 200000 && floor(var.max_requests_per_job) == var.max_requests_per_job
    error_message = "max_requests_per_job must be a whole number from 1 to 200000 (the service's limit)."
  }
}

variable "max_running_jobs" {
  type        = number
  description = "Vertex AI batch jobs in flight at once for this deployment (being created, pending or running); parts beyond it wait queued in the ledger and start as jobs end."
  default     = 20

  validation {
    condition     = var.max_running_jobs >= 1 && floor(var.max_running_jobs) == var.max_running_jobs
    error_message = "max_running_jobs must be a whole number, at least 1."
  }
}

variable "max_unreadable_hours" {
  type        = number
  description = "Hours a batch job may stay unreadable (Vertex AI answering errors for it) before the poll function gives up on it, loads the rows it exported and reports it failed."
  default     = 24

  validation {
    condition     = var.max_unreadable_hours > 0
    error_message = "max_unreadable_hours must be a positive number."
  }
}

variable "model" {
  type        = string
  description = "Default Gemini model id for batch jobs, without the publishers/google/models/ prefix. Check the current model list before deploying: models retire."
  default     = "gemini-3.5-flash"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.@_-]*$", var.model))
    error_message = "model must be a bare model id such as gemini-3.5-flash."
  }
}

variable "noncurrent_version_retention_days" {
  type        = number
  description = "Days an overwritten or deleted object version stays in the (versioned) input bucket before it is removed."
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1 && floor(var.noncurrent_version_retention_days) == var.noncurrent_version_retention_days
    error_message = "noncurrent_version_retention_days must be a whole number of days, at least 1."
  }
}

variable "notify_lease_seconds" {
  type        = number
  description = "Seconds a claim on sending a file's notification holds; after it lapses unconfirmed, the next event or poll tick sends it. Longer than a publish may take (60 s)."
  default     = 120

  validation {
    condition     = var.notify_lease_seconds > 60
    error_message = "notify_lease_seconds must be longer than the 60 s a publish may take."
  }
}

variable "output_retention_days" {
  type        = number
  description = "Days batch job outputs (and anything else) stay in the working bucket; the rows are in BigQuery by then."
  default     = 30

  validation {
    condition     = var.output_retention_days >= 1 && floor(var.output_retention_days) == var.output_retention_days
    error_message = "output_retention_days must be a whole number of days, at least 1."
  }
}

variable "pending_alert_hours" {
  type        = number
  description = "A job still queued or pending this many hours after its file arrived logs one job.stalled event (and alerts, with enable_alerts)."
  default     = 12

  validation {
    condition     = var.pending_alert_hours > 0
    error_message = "pending_alert_hours must be a positive number."
  }
}

variable "poll_budget_seconds" {
  type        = number
  description = "Seconds one poll run may spend before it stops and leaves the rest to the next tick. Must stay below the poll function timeout (300 s)."
  default     = 240

  validation {
    condition     = var.poll_budget_seconds > 0 && var.poll_budget_seconds <= 270
    error_message = "poll_budget_seconds must be more than 0 and at most 270, leaving room under the 300 s poll function timeout."
  }
}

variable "poll_schedule" {
  type        = string
  description = "Cron schedule (UTC) of the Cloud Scheduler tick that makes the poll function check jobs in flight."
  default     = "*/5 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.poll_schedule))) == 5
    error_message = "poll_schedule must be a five-field cron expression such as */5 * * * *."
  }
}

variable "prefix" {
  type        = string
  description = "Prefix of every resource name (3 to 20 lowercase letters, digits or hyphens). Bucket names also carry the project id."
  default     = "batchline"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.prefix)) && !strcontains(var.prefix, "goog")
    error_message = "prefix must be 3 to 20 characters: lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen; it may not contain \"goog\" (bucket and topic names refuse it)."
  }
}

variable "prices" {
  # The fields of shared/batchline/domain/prices.json; the optional ones left out are sent as
  # null: cached input then costs 10% of input, and no threshold means one rate at any size.
  type = map(object({
    input_per_million                     = number
    output_per_million                    = number
    cached_input_per_million              = optional(number)
    long_context_threshold                = optional(number)
    long_context_input_per_million        = optional(number)
    long_context_output_per_million       = optional(number)
    long_context_cached_input_per_million = optional(number)
  }))
  description = "Online USD prices per million tokens by model id, overriding the built-in defaults in cost estimates (batch is billed at 50%; cached input at its own rate; a request over long_context_threshold prompt tokens at the long_context_* rates)."
  default     = {}

  validation {
    condition = alltrue(flatten([for model, price in var.prices : [
      for value in [price.input_per_million, price.output_per_million, price.cached_input_per_million, price.long_context_threshold, price.long_context_input_per_million, price.long_context_output_per_million, price.long_context_cached_input_per_million] :
      value == null ? true : value >= 0
    ]]))
    error_message = "prices must not be negative."
  }
}

variable "project_id" {
  type        = string
  description = "Google Cloud project id to deploy into."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project id (6 to 30 lowercase letters, digits and hyphens, starting with a letter), not a project name or number."
  }
}

variable "python_executable" {
  type        = string
  description = "Python 3 interpreter Terraform runs scripts/build_bundles.py with (standard library only)."
  default     = "python3"

  validation {
    condition     = length(trimspace(var.python_executable)) > 0
    error_message = "python_executable must name a Python 3 interpreter."
  }
}

variable "region" {
  type        = string
  description = "Region of the functions, buckets, scheduler job and Eventarc triggers."
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1."
  }
}

variable "reports_prefix" {
  type        = string
  description = "Object prefix in the input bucket where the submit function writes its reports; it ignores uploads under it."
  default     = "batchline-reports/"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._/-]*/$", var.reports_prefix))
    error_message = "reports_prefix must be a folder-like prefix of letters, digits, ., _, - and /, not starting with a slash and ending with one, such as batchline-reports/."
  }
}

variable "row_labels" {
  type        = bool
  description = "Tag each staged request with its input line in a label (batchline_line), the surest join of answers to lines. Off: answers are matched to lines on their requests alone, and no per-line label reaches the billing export (Google warns a label key with over 1,000 values may be dropped)."
  default     = true
}

variable "runtime" {
  type        = string
  description = "Cloud Run functions Python runtime."
  default     = "python311"

  validation {
    condition     = can(regex("^python3(11|12|13)$", var.runtime))
    error_message = "runtime must be python311, python312 or python313."
  }
}

variable "staging_retention_days" {
  type        = number
  description = "Days the staging copies of submitted files (and the row files loaded into BigQuery) stay in the working bucket. A job can queue 72 hours and then run 24, so at least 4."
  default     = 7

  validation {
    condition     = var.staging_retention_days >= 4 && floor(var.staging_retention_days) == var.staging_retention_days
    error_message = "staging_retention_days must be a whole number of days, at least 4: a batch job reads its staged input until it finishes."
  }
}

variable "start_backoff_seconds" {
  type        = number
  description = "Seconds a part waits after Vertex AI refused to create its job for now (429, capacity); the wait doubles with each refusal, to 30 minutes."
  default     = 60

  validation {
    condition     = var.start_backoff_seconds > 0 && var.start_backoff_seconds <= 1800
    error_message = "start_backoff_seconds must be more than 0 and at most 1800."
  }
}

variable "start_lease_seconds" {
  type        = number
  description = "Seconds a claim on creating a queued part's job holds; another attempt takes over after it (the first one died), finding the job by its labels if it was made."
  default     = 300

  validation {
    condition     = var.start_lease_seconds >= 60
    error_message = "start_lease_seconds must be at least 60: a job creation may take that long."
  }
}

variable "submit_lease_seconds" {
  type        = number
  description = "Seconds a submit attempt's claim on an upload holds; another attempt takes over after it (the first one died). Longer than the submit function's timeout (540 s)."
  default     = 600

  validation {
    condition     = var.submit_lease_seconds > 540
    error_message = "submit_lease_seconds must be longer than the submit function's 540 s timeout, or two attempts could submit at once."
  }
}

variable "vertex_region" {
  type        = string
  description = "Vertex AI region batch jobs run in. Defaults to region."
  default     = null

  validation {
    condition     = var.vertex_region == null || can(regex("^(global|[a-z]+-[a-z]+[0-9]+)$", var.vertex_region))
    error_message = "vertex_region must be a Vertex AI region such as us-central1, or global."
  }
}
