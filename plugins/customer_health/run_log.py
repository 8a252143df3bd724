"""What each run did, for people and dashboards: ``ops.run_log`` and ``customer-health status``."""

from __future__ import annotations

import json
from datetime import date

import structlog

from customer_health.settings import Settings
from customer_health.warehouse.connection import connect

log = structlog.get_logger(__name__)


def record_run(
    settings: Settings,
    run_id: str,
    logical_date: date | None,
    status: str,
    stages: dict,
    failed_step: str | None = None,
) -> None:
    """One row per finished run: per-stage summaries (rows, gates, seconds) or the failing step."""
    with connect(settings, autocommit=True) as conn:
        conn.execute(
            "insert into ops.run_log (run_id, logical_date, status, failed_step, stages)"
            " values (%s, %s, %s, %s, %s)",
            [run_id, logical_date, status, failed_step, json.dumps(stages, default=str)],
        )
    log.info("run recorded", run_id=run_id, status=status, failed_step=failed_step)


def recent_runs(settings: Settings, limit: int = 10) -> list[dict]:
    with connect(settings) as conn:
        rows = conn.execute(
            "select run_id, logical_date, status, failed_step, stages, recorded_at"
            " from ops.run_log order by run_log_id desc limit %s",
            [limit],
        ).fetchall()
    return [
        {
            "run_id": r[0],
            "logical_date": r[1],
            "status": r[2],
            "failed_step": r[3],
            "stages": r[4],
            "recorded_at": r[5],
        }
        for r in rows
    ]
