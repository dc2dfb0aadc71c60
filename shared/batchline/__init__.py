"""Batchline: Gemini batch prediction on Google Cloud, from a JSONL drop to BigQuery rows."""

__version__ = "0.1.0"
