"""Airflow assets of the pipeline, declared once for the DAGs that emit and consume them."""

from __future__ import annotations

from airflow.sdk import Asset

# Updated each time a night's tables are swapped into the published schema.
PUBLISHED = Asset(name="analytics.customer_health", uri="customer-health://analytics")
