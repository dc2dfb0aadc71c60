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
STORAGE_EMULATOR_HOST to a storage emulator (gcp-storage-emulator) before jobs run.

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
- Jobs run in the background: PENDING, RUNNING, then SUCCEEDED, FAILED or CANCELLED (through
  CANCELLING); create/start/end/update times, completion_stats, output_info and error are set.
  A job whose rows fail still ends SUCCEEDED. A job that cannot read its input ends FAILED.
- Input: JSONL of {"request": GenerateContentRequest} from gcs_source.uris, wildcards included
  (`*` within a folder, `**` across). camelCase and snake_case keys, `parts` as a single object
  and enum names in any case are accepted; unknown fields and wrong types fail that row.
- Output: <output_uri_prefix>/prediction-model-<UTC timestamp>/predictions.jsonl, one line per
  request in a shuffled (fixed per job) order: `status` ("" or e.g. `Bad Request: {"error":
  ...}`), `processed_time`, the echoed `request` (lowerCamelCase, every part carrying every part
  key seen in the job, null where unset) and, on success, `response` (GenerateContentResponse).
  A line that is not JSON, not a valid request, or names a fileData that cannot be read (a gs://
  object that does not exist, or any http(s) URL: the emulator is offline) gets an error status.
- A built-in deterministic model (localcloud.vertex.model documents its token heuristics):
  the same request always gets the same answer; maxOutputTokens gives MAX_TOKENS; JSON output
  conforms to responseSchema or responseJsonSchema; thoughtsTokenCount, candidateCount,
  stopSequences, includeThoughts; a prompt holding the block marker is blocked
  (promptFeedback.blockReason SAFETY, no candidates).
- Fault injection (constructor `faults=Faults(...)`, environment VERTEX_EMULATOR_<FIELD>, or
  POST /admin/faults with a JSON object of fields; GET /admin/faults shows them,
  DELETE /admin/faults sets the injected-error counters to 0, POST /admin/reset forgets all
  jobs and restores the starting faults):
    ROW_FAILURE_RATE (0..1, fixed rows per input), FAIL_JOBS (true/false), FAIL_LABEL (a job
    with this label set to "true" fails; default emulator-fail), CREATE_429, CREATE_503,
    GET_429, GET_503 (answers to inject, one used per call), CREATE_PROVISIONING (creates
    refused with 400 FAILED_PRECONDITION "Service agents are being provisioned", the transient
    refusal of a brand-new project), PENDING_SECONDS, RUNNING_SECONDS,
    CANCELLING_SECONDS (0 by default), BLOCK_MARKER (default "[[emulator-block]]").
  A failed job exports its first half of rows and counts the rest as incomplete.
  Models: VERTEX_EMULATOR_KNOWN_MODELS and VERTEX_EMULATOR_RETIRED_MODELS (comma-separated
  shell patterns; defaults gemini-3.5-flash, gemini-3.5-flash-lite, gemini-3.1-flash-lite known;
  gemini-1.0*, 1.5*, 2.0*, 2.5-pro*, 2.5-flash, 2.5-flash-lite* retired).
- GET /healthz answers {"status": "ok"}; each request is logged as one JSON line.

What it does not cover
- BigQuery input or output, other instances formats, non-Gemini models, model parameters,
  dedicated resources, explanations, encryption, service accounts, IAM, quotas beyond the
  injected 429s, the 72 h queue (JOB_STATE_EXPIRED), PARTIALLY_SUCCEEDED, partial_failures,
  update/patch, gRPC, the operations list/cancel/wait routes, and authentication (any
  credentials are accepted).
- Real model quality, safety filtering, grounding, tools and function calling (requests with
  them are accepted and answered with text), file contents (a readable file counts by size).
- Whether the real service passes extra top-level fields next to "request" through is not
  known; the emulator ignores them and does not echo them.
- Error texts are modelled on the service's but are not guaranteed to match it word for word.
"""

from localcloud.vertex.config import Faults, ModelCatalog
from localcloud.vertex.server import VertexEmulator

__all__ = ["Faults", "ModelCatalog", "VertexEmulator"]
