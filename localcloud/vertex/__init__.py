"""Vertex AI batch prediction emulator: Gemini batch jobs offline, for the local cloud and tests.

What the folder holds: `server` (the HTTP routes, on the local cloud's server kit, and the
fault settings on its fault queue), `jobs` (the jobs and their life cycle), `rows` (input
lines parsed, requests echoed), `model` and `schema_values` (the deterministic model),
`filters` (list filters), `gcs` (input and output in Cloud Storage), `config` (settings and
faults), `errors` (Google's error JSON), `logs`, and `__main__` (`python -m`).
What it may import: `localcloud.serving`, google-cloud-aiplatform's message types, protobuf
and google-cloud-storage; never the BigQuery emulator, the bridge, the stack or the CLI.

Start it
    python -m localcloud.vertex --port 9010        (SIGTERM or Ctrl-C stop it cleanly)
    with VertexEmulator(port=0) as emulator: ...   (in-process; emulator.url is the endpoint)
Point the official client at it:
    aiplatform_v1.JobServiceClient(transport="rest", credentials=AnonymousCredentials(),
                                   client_options={"api_endpoint": emulator.url})
It reads inputs from and writes outputs to Cloud Storage through google-cloud-storage, so set
STORAGE_EMULATOR_HOST to a storage emulator (fake-gcs-server, `localcloud.storage`) before
jobs run.

What it covers
- The REST routes of batchPredictionJobs that JobServiceClient(transport="rest") sends, under
  /v1/projects/P/locations/L/: create (POST .../batchPredictionJobs), get, list (GET, with
  `filter` on labels.KEY, state, display_name, model and times, joined by AND/OR, pageSize and
  pageToken), cancel (POST .../ID:cancel) and delete (DELETE; a finished Operation, which
  GET .../operations/ID also returns). Numeric job ids; names use the project number
  (a fixed number derived from the project id), as the service does; either form is accepted.
- Bodies are parsed and written with the library's own message types (json_format), so field
  names and enums cannot drift; unknown fields are refused with 400; enums are numbers when the
  client asks with `$alt=json;enum-encoding=int`, as the REST clients do.
- Errors in Google's JSON form with the matching HTTP code: 404 NOT_FOUND (unknown job),
  400 INVALID_ARGUMENT (instances/predictions format other than jsonl, missing gcs_source or
  gcs_destination, bad labels, bad filter or page token, a model that is not
  publishers/google/models/ID, and "Do not support publisher model ID" for retired or unknown
  models, as the service answers), 400 FAILED_PRECONDITION (cancel of a finished job, delete of
  an unfinished one).
- Jobs run in the background (localcloud.vertex.runner): PENDING, RUNNING, then a terminal
  state; create/start/end/update times, completion_stats, output_info and error are set. Rows
  are answered in input order, evenly over RUNNING; completion_stats follow them and always add
  up to the input's lines (successful + failed + incomplete). A job whose rows fail still ends
  SUCCEEDED. A job that cannot read its input ends FAILED.
- Every terminal state exports the rows completed before it, as the service does ("If the batch
  prediction job is terminated, all completed rows are exported"): SUCCEEDED, FAILED, CANCELLED
  (a cancel while RUNNING keeps the rows done), EXPIRED (a job PENDING past max_pending_seconds,
  72 h by default, expires with nothing done) and PARTIALLY_SUCCEEDED. A job that completed no
  row exports nothing and has no output directory. The end_early_* faults end jobs part-way in
  any of these states.
- Resume ("Resume an incomplete batch inference job"): input lines that are lines of an earlier
  job's output are copied unchanged when their status is empty and they have a response, and
  answered again otherwise (non-empty status, or no response); the output is the merge, each
  input line once, and copied lines count as successful. Wildcards in gcs_source.uris reach
  sharded or several outputs.
- Input: JSONL of {"request": GenerateContentRequest} from gcs_source.uris, wildcards included
  (`*` within a folder, `**` across). camelCase and snake_case keys, `parts` as a single object,
  explicit nulls and enum names in any case are accepted; an unknown field fails that row with
  Google's wording (`Invalid JSON payload received. Unknown name "txt" at
  'contents[0].parts[0]': Cannot find field.`, with a BadRequest detail), a wrong type too.
- Output: <output_uri_prefix>/prediction-model-<UTC timestamp>/predictions.jsonl, one line per
  completed request in a shuffled (fixed per job) order: `status`, `processed_time`, the echoed
  `request` and, on success, `response` (GenerateContentResponse), their keys sorted as in every
  sample of a real line. The echo (request_echo) is "normalized", the documentation sample's
  form (lowerCamelCase, every part carrying every part key seen in the job, null where unset;
  tests/fixtures/docs/prediction_output_line.json), or "as_sent", the line's own JSON with its
  spelling kept. drop_request_labels leaves request.labels out of the echo: all of them, or
  those of a key with more than label_unique_value_limit (1,000) distinct values in the job, as
  "Add labels to API calls" warns may happen without notice.
- Row errors in the service's words (localcloud.vertex.errors cites where each was seen):
  `Bad Request: {"error": ...}` for a refused request, `RESOURCE_EXHAUSTED error occurred:
  {"error": {"code": 429, "message": "Online prediction request quota exceeded for MODEL. ..."}}`
  and `Internal error occurred. Failed to get generateContentResponse: {"error": ...}` for the
  injected row failures (row_failure_code 429 or 500), and the latter with NOT_FOUND "cached
  content metadata" for a request naming a cachedContent (explicit context caching is not
  supported in batch). fileData that cannot be read (a gs:// object that does not exist, or any
  http(s) URL: the emulator is offline) fails its row with NOT_FOUND or INVALID_ARGUMENT.
- A built-in deterministic model (localcloud.vertex.model documents its heuristics): the same
  request always gets the same answer; maxOutputTokens gives MAX_TOKENS; JSON output conforms
  to responseSchema or responseJsonSchema; thoughtsTokenCount, candidateCount, stopSequences,
  includeThoughts; a prompt holding the block marker is blocked (promptFeedback.blockReason
  SAFETY, no candidates). usageMetadata (localcloud.vertex.usage) carries promptTokensDetails and
  candidatesTokensDetails by modality, trafficType ON_DEMAND, and implicit caching: 75% of a
  prompt prefix of at least 1,024 tokens that an earlier request of the job began with is
  cachedContentTokenCount, with cacheTokensDetails.
- Fault injection (constructor `faults=Faults(...)`, environment VERTEX_EMULATOR_<FIELD>, or
  POST /admin/faults with a JSON object of fields; GET /admin/faults shows them,
  DELETE /admin/faults sets the injected-error counters to 0, POST /admin/reset forgets all
  jobs and restores the starting faults; Faults documents each):
    ROW_FAILURE_RATE (0..1, fixed rows per input), ROW_FAILURE_CODE (429 or 500),
    FAULTY_JOBS_LABEL ("key=value": row failures, FAIL_JOBS and END_EARLY_* only for jobs
    with that label, e.g. batchline_attempt=1: first attempts fail, resumes do not), FAIL_JOBS
    (true/false: FAILED after half the rows), FAIL_LABEL (a job with this label set to "true"
    fails the same way; default emulator-fail), END_EARLY_STATE (SUCCEEDED, FAILED, CANCELLED,
    EXPIRED or PARTIALLY_SUCCEEDED), END_EARLY_AFTER_ROWS, END_EARLY_AFTER_FRACTION (default
    0.5), MAX_PENDING_SECONDS (default 259200, 72 h), CREATE_429, CREATE_503, GET_429, GET_503
    (answers to inject, one used per call), CREATE_PROVISIONING (creates refused with 400
    FAILED_PRECONDITION "Service agents are being provisioned", the transient refusal of a
    brand-new project), PENDING_SECONDS, RUNNING_SECONDS, CANCELLING_SECONDS (0 by default),
    BLOCK_MARKER (default "[[emulator-block]]"), REQUEST_ECHO (normalized, as_sent),
    DROP_REQUEST_LABELS (none, all, past_unique_limit), LABEL_UNIQUE_VALUE_LIMIT (1000).
  Models: models.json in this package lists the known ids with the batch API reference page
  they were checked against and the date it was read, and the retired patterns;
  VERTEX_EMULATOR_KNOWN_MODELS and VERTEX_EMULATOR_RETIRED_MODELS (comma-separated shell
  patterns) replace those lists.
- GET /healthz answers {"status": "ok"}; each request is logged as one JSON line.
- Checked against clients we did not write: aiplatform_v1.JobServiceClient over REST and the
  Vertex AI SDK's batch flow (vertexai.batch_prediction.BatchPredictionJob: submit, has_ended,
  refresh, output_location), with vertexai.init(api_endpoint=URL, api_transport="rest",
  credentials=AnonymousCredentials()). That SDK's `has_ended` leaves out EXPIRED and
  PARTIALLY_SUCCEEDED (google-cloud-aiplatform's jobs._JOB_COMPLETE_STATES): poll on `state`.
  And google-genai's `client.batches` (create, get, list) with
  genai.Client(vertexai=True, credentials=Credentials(token="local"),
  http_options=HttpOptions(base_url=URL)): it refuses AnonymousCredentials (it refreshes
  them), a fixed bearer token goes through.

What it does not cover
- BigQuery input or output, other instances formats, non-Gemini models, model parameters,
  dedicated resources, explanations, encryption, service accounts, IAM, quotas beyond the
  injected 429s, partial_failures, update/patch, gRPC, the operations list/cancel/wait routes,
  and authentication (any credentials are accepted). The 24 h run limit is not timed; the
  end_early_* faults stand in for it and for other ends part-way.
- Output files are written once, when the job ends (the service exports continuously, and may
  shard into several files: readers must take every *.jsonl of the directory).
- Requests an interrupted job never started are not in its output (only completed rows are
  exported), so a resume from that output redoes its failed rows only; whether the service's
  output of an interrupted job lists the requests it never ran, as its resume page implies, is
  not documented. Resume from BigQuery output is not covered.
- Which error, if any, EXPIRED and PARTIALLY_SUCCEEDED jobs carry is not documented: here none.
  The row text of an unreadable fileData and of a line that is not JSON is modelled on the
  service's "Bad Request: {...}" form, not seen in a real output.
- Real model quality, safety filtering, grounding, tools and function calling (requests with
  them are accepted and answered with text), file contents (a readable file counts by size),
  RAG and Provisioned Throughput (not supported in batch: requests are answered as any other),
  the real implicit cache's hit rate and per-model minimums (one documented rule here).
- Whether the real service passes extra top-level fields next to "request" through is not
  known; the emulator ignores them and does not echo them.
"""

from localcloud.vertex.config import Faults, ModelCatalog
from localcloud.vertex.server import VertexEmulator

__all__ = ["Faults", "ModelCatalog", "VertexEmulator"]
