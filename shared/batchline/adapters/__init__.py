"""Adapters: one per Google Cloud service, each around a client library client it is given.

- `storage`: Cloud Storage streams (google-cloud-storage);
- `vertex`: Vertex AI batch prediction jobs (aiplatform_v1 JobServiceClient), errors
  classified as transient or permanent;
- `bigquery`: exactly-once load jobs into the tables (google-cloud-bigquery);
- `pubsub`: publishing with the server's acknowledgement (google-cloud-pubsub);
- `ledger/`: the job ledger in Firestore (google-cloud-firestore).

Adapters import the domain and the client libraries; never the steps or the runtime (no
settings: what they need is passed to them).
"""
