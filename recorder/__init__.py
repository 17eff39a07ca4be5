"""mimamori recorder: PyAV ingest, segments, retention, audited export. Imports nothing of ours."""
