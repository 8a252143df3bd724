"""Every setting the pipeline reads, in one place, from the environment.

Defaults make a fresh clone work with no configuration: an embedded PostgreSQL under the
project folder, landing files under ``data/landing``. Production sets ``WAREHOUSE_URL``
and ``LANDING_PATH`` instead. The README documents each variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_HOME = Path(__file__).resolve().parents[2]

# Telemetry the bundled tools (Airflow, dbt, GX, Cosmos, Scarf) would send to outside hosts.
TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "true",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
}


def disable_telemetry() -> None:
    """Switch off bundled usage telemetry unless the operator set the variable explicitly."""
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Settings:
    home: Path
    warehouse_url: str | None
    embedded_dir: Path
    embedded_port: int
    database: str
    landing_path: str
    publish_schema: str
    build_schema_prefix: str
    backups_to_keep: int
    quarantine_threshold: float
    quarantine_tolerated_rows: int
    bi_reader_password: str | None
    lock_timeout: str
    schedule: str | None
    timezone: str
    catchup: bool
    reports_dir: Path
    alert_webhook_url: str | None
    alert_email_to: str | None
    dbt_execution_mode: str
    alert_smtp_conn_id: str
    night_lock_wait_seconds: float
    night_lock_ttl_seconds: float
    retry_delay_seconds: float

    @property
    def dbt_project_dir(self) -> Path:
        return self.home / "dbt_project"

    @property
    def gx_dir(self) -> Path:
        return self.home / "expectations"


def _schedule(value: str) -> str | None:
    return None if value.strip().lower() in ("", "none") else value


def load_settings() -> Settings:
    home = _env_path("CUSTOMER_HEALTH_HOME", PROJECT_HOME)
    return Settings(
        home=home,
        warehouse_url=os.environ.get("WAREHOUSE_URL") or None,
        embedded_dir=_env_path("EMBEDDED_WAREHOUSE_DIR", home / ".warehouse"),
        embedded_port=int(os.environ.get("EMBEDDED_WAREHOUSE_PORT", "54329")),
        database=os.environ.get("WAREHOUSE_DATABASE", "customer_health"),
        landing_path=os.environ.get("LANDING_PATH", str(home / "data" / "landing")),
        publish_schema=os.environ.get("PUBLISH_SCHEMA", "analytics"),
        build_schema_prefix=os.environ.get("BUILD_SCHEMA_PREFIX", "analytics_build"),
        backups_to_keep=int(os.environ.get("PUBLISH_BACKUPS_TO_KEEP", "3")),
        quarantine_threshold=float(os.environ.get("QUARANTINE_THRESHOLD", "0.01")),
        quarantine_tolerated_rows=int(os.environ.get("QUARANTINE_TOLERATED_ROWS", "10")),
        bi_reader_password=os.environ.get("BI_READER_PASSWORD") or None,
        lock_timeout=os.environ.get("PUBLISH_LOCK_TIMEOUT", "30s"),
        # "none": runs only when triggered (by a person, the REST API or another system).
        schedule=_schedule(os.environ.get("NIGHTLY_SCHEDULE", "0 2 * * *")),
        timezone=os.environ.get("NIGHTLY_TIMEZONE", "UTC"),
        catchup=os.environ.get("NIGHTLY_CATCHUP", "false").lower() == "true",
        reports_dir=_env_path("REPORTS_DIR", home / "data" / "reports"),
        alert_webhook_url=os.environ.get("ALERT_WEBHOOK_URL") or None,
        alert_email_to=os.environ.get("ALERT_EMAIL_TO") or None,
        alert_smtp_conn_id=os.environ.get("ALERT_SMTP_CONN_ID", "smtp_default"),
        dbt_execution_mode=os.environ.get("DBT_EXECUTION_MODE", "cosmos_watcher"),
        night_lock_wait_seconds=float(os.environ.get("NIGHT_LOCK_WAIT_SECONDS", "3600")),
        night_lock_ttl_seconds=float(os.environ.get("NIGHT_LOCK_TTL_SECONDS", "1800")),
        # First wait before a task retries after a transient failure (a lost worker, a lost
        # connection); doubles on each further try.
        retry_delay_seconds=float(os.environ.get("TASK_RETRY_DELAY_SECONDS", "120")),
    )
