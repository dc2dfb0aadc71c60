"""The pipeline's steps, each combining adapters and domain logic into one unit of work:

- `submit`: an uploaded requests file becomes Vertex AI batch jobs (or a rejection);
- `poll`: a scheduler tick checks the jobs in flight and announces the ended ones;
- `complete`: a finished job's output becomes BigQuery rows;
- `announce`: a file's one notification, once its outcome is final.

Steps import adapters and the domain, never the runtime: each declares the settings it reads
as a Protocol that the runtime's Settings satisfies.
"""
