"""A failed night is told once: one alert naming night, step and log, one run-log row.

A DAG night can fail in several tasks at once (a dbt model's task and the stage that waits
for it); they all report here, and the alert's key — the run and which attempt of it — lets
only the first through. A run cleared and failing again is a new attempt: told again.
"""

from __future__ import annotations

from datetime import date

import psycopg
import structlog

from customer_health.alerts.notify import Alert
from customer_health.alerts.outbox import notify
from customer_health.run_log import record_run
from customer_health.settings import Settings

log = structlog.get_logger(__name__)


def night_failed_alert(
    night: date, step: str, run_id: str, error: str, log_url: str | None, attempt: str
) -> Alert:
    return Alert(
        "night_failed",
        f"customer-health night {night} failed at {step}: nothing was published",
        f"night_failed:{run_id}:{attempt}",
        {
            "night": night.isoformat(),
            "step": step,
            "run_id": run_id,
            "error": error[:2000],
            "log_url": log_url,
        },
    )


def report_failed_night(
    settings: Settings,
    *,
    night: date,
    step: str,
    run_id: str,
    error: str,
    log_url: str | None = None,
    attempt: str = "0",
    stages: dict | None = None,
) -> bool:
    """Alert and log the failure unless this attempt of the run was reported already."""
    first = notify(settings, night_failed_alert(night, step, run_id, error, log_url, attempt))
    if first:
        try:
            record_run(settings, run_id, night, "failed", stages or {}, failed_step=step)
        except psycopg.OperationalError as failure:
            log.error("run log unreachable", run_id=run_id, step=step, error=str(failure))
    return first
