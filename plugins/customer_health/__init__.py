"""Customer-health pipeline: ingest, quality gates, dbt transforms and atomic publishing."""
