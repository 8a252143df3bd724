"""Every setting the pipeline reads, in one place, from the environment.

Defaults make a fresh clone work with no configuration: an embedded PostgreSQL under the
project folder, landing files under ``data/landing``. Production sets ``WAREHOUSE_URL``
and ``LANDING_PATH`` instead. The README documents each variable.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from customer_health.errors import SettingsError

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


# How the nightly DAG runs dbt: one `build` task, or a task per model (see cosmos_group).
EXECUTION_MODES = ("single", "cosmos_local", "cosmos_watcher")
# How many days a source may lag the newest landing file before the raw gate fails.
RAW_FRESHNESS_DAYS = 3
# Landing entries that are never data: job markers, hidden files, uploads still in progress.
LANDING_IGNORE = "_SUCCESS,.*,*.tmp,*.part,*.filepart,*.crdownload"
# A plain lower-case identifier: dbt's catalog queries and the swap's names need no quoting.
PLAIN_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
# PostgreSQL truncates longer names; these suffixes are added to the two schema settings.
MAX_IDENTIFIER = 63
BUILD_SCHEMA_SUFFIX = len("_20261126_0123abcd")
BACKUP_SCHEMA_SUFFIX = len("_backup_20261126020000123456")


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def _number(name: str, default: str, kind: type, low: float, high: float | None = None):
    """A numeric variable within its range; a SettingsError naming it otherwise."""
    text = os.environ.get(name, default)
    try:
        value = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise SettingsError(f"{name}={text!r} is not {what}") from None
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise SettingsError(f"{name}={text!r} is out of range: it must be {bounds}")
    return value


def _identifier(name: str, default: str, suffix: int) -> str:
    """A schema name (or prefix) that stays a plain identifier with what the pipeline adds."""
    value = os.environ.get(name, default)
    if not PLAIN_IDENTIFIER.fullmatch(value):
        raise SettingsError(
            f"{name}={value!r} is not a plain lower-case identifier "
            "(letters a-z, digits and _, not starting with a digit)"
        )
    if len(value) + suffix > MAX_IDENTIFIER:
        raise SettingsError(
            f"{name}={value!r} is too long: at most {MAX_IDENTIFIER - suffix} characters"
        )
    return value


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        raise SettingsError(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return value


def _duration(name: str, default: str) -> str:
    """A PostgreSQL lock_timeout: a number with an optional unit."""
    value = os.environ.get(name, default).strip()
    if not re.fullmatch(r"\d+(ms|s|min|h)?", value):
        raise SettingsError(f"{name}={value!r} is not a duration such as 30s, 500ms or 2min")
    return value


def _timezone(name: str, default: str) -> str:
    value = os.environ.get(name, default)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{name}={value!r} is not a time zone such as Europe/Berlin") from None
    return value


@dataclass(frozen=True)
class Settings:
    home: Path
    warehouse_url: str | None
    embedded_dir: Path
    embedded_port: int
    database: str
    landing_path: str
    publish_schema: str
    personal_schema: str
    build_schema_prefix: str
    backups_to_keep: int
    quarantine_threshold: float
    quarantine_tolerated_rows: int
    ingest_connections: int
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
    raw_freshness_days: int
    landing_ignore: tuple[str, ...]

    @property
    def dbt_project_dir(self) -> Path:
        return self.home / "dbt_project"

    @property
    def gx_dir(self) -> Path:
        return self.home / "expectations"


def _schedule(value: str) -> str | None:
    return None if value.strip().lower() in ("", "none") else value


def load_settings() -> Settings:
    """Read and check every variable now, so a typo fails with its name, not a traceback later."""
    home = _env_path("CUSTOMER_HEALTH_HOME", PROJECT_HOME)
    return Settings(
        home=home,
        warehouse_url=os.environ.get("WAREHOUSE_URL") or None,
        embedded_dir=_env_path("EMBEDDED_WAREHOUSE_DIR", home / ".warehouse"),
        embedded_port=_number("EMBEDDED_WAREHOUSE_PORT", "54329", int, 1, 65535),
        database=os.environ.get("WAREHOUSE_DATABASE", "customer_health"),
        landing_path=os.environ.get("LANDING_PATH", str(home / "data" / "landing")),
        publish_schema=_identifier("PUBLISH_SCHEMA", "analytics", BACKUP_SCHEMA_SUFFIX),
        personal_schema=_identifier("PERSONAL_SCHEMA", "cs_personal", 0),
        build_schema_prefix=_identifier(
            "BUILD_SCHEMA_PREFIX", "analytics_build", BUILD_SCHEMA_SUFFIX
        ),
        backups_to_keep=_number("PUBLISH_BACKUPS_TO_KEEP", "3", int, 0),
        quarantine_threshold=_number("QUARANTINE_THRESHOLD", "0.01", float, 0, 1),
        quarantine_tolerated_rows=_number("QUARANTINE_TOLERATED_ROWS", "10", int, 0),
        ingest_connections=_number("INGEST_CONNECTIONS", "2", int, 1),
        bi_reader_password=os.environ.get("BI_READER_PASSWORD") or None,
        lock_timeout=_duration("PUBLISH_LOCK_TIMEOUT", "30s"),
        # "none": runs only when triggered (by a person, the REST API or another system).
        schedule=_schedule(os.environ.get("NIGHTLY_SCHEDULE", "0 2 * * *")),
        timezone=_timezone("NIGHTLY_TIMEZONE", "UTC"),
        catchup=_choice("NIGHTLY_CATCHUP", "false", ("true", "false")) == "true",
        reports_dir=_env_path("REPORTS_DIR", home / "data" / "reports"),
        alert_webhook_url=os.environ.get("ALERT_WEBHOOK_URL") or None,
        alert_email_to=os.environ.get("ALERT_EMAIL_TO") or None,
        alert_smtp_conn_id=os.environ.get("ALERT_SMTP_CONN_ID", "smtp_default"),
        dbt_execution_mode=_choice("DBT_EXECUTION_MODE", "cosmos_watcher", EXECUTION_MODES),
        night_lock_wait_seconds=_number("NIGHT_LOCK_WAIT_SECONDS", "3600", float, 0),
        night_lock_ttl_seconds=_number("NIGHT_LOCK_TTL_SECONDS", "1800", float, 1),
        # First wait before a task retries after a transient failure (a lost worker, a lost
        # connection); doubles on each further try.
        retry_delay_seconds=_number("TASK_RETRY_DELAY_SECONDS", "120", float, 0),
        raw_freshness_days=_number("RAW_FRESHNESS_DAYS", str(RAW_FRESHNESS_DAYS), int, 0),
        landing_ignore=tuple(
            pattern.strip()
            for pattern in os.environ.get("LANDING_IGNORE", LANDING_IGNORE).split(",")
            if pattern.strip()
        ),
    )
