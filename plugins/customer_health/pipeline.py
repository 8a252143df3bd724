"""One night of the pipeline as plain functions: the DAG's tasks and the CLI call the same code.

ingest → build (dbt) → validate (GX) → publish (atomic swap) → summarize. Each step takes
the settings and the logical date and returns a small JSON-able summary (what Airflow
passes between tasks through XCom).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import structlog
from psycopg import sql
from tqdm import tqdm

from customer_health.errors import IngestError
from customer_health.ingest.landing import discover
from customer_health.ingest.loader import load_file
from customer_health.publish.swap import publish
from customer_health.quality.gates import enforce, run_gate
from customer_health.settings import Settings
from customer_health.transform.dbt import run_dbt
from customer_health.warehouse.bootstrap import ensure_warehouse_objects
from customer_health.warehouse.connection import connect, warehouse_url

log = structlog.get_logger(__name__)

MARTS_CHECKPOINT = "marts_gate"


def new_run_id(logical_date: date) -> str:
    return f"manual__{logical_date.isoformat()}__{datetime.now(UTC):%Y%m%dT%H%M%S%f}"


def ingest(settings: Settings, logical_date: date, run_id: str) -> dict:
    """Load every landing file up to the logical date that the ledger has not seen as-is.

    Files already loaded with the same checksum are skipped, so the first night loads the
    history, later nights load the new day plus any late or corrected files. A file that
    cannot be loaded does not stop the others; the step fails at the end, naming them all.
    """
    started = datetime.now(UTC)
    files = discover(settings.landing_path, logical_date)
    totals = {
        "started_at": started.isoformat(),
        "files": len(files),
        "loaded": 0,
        "skipped": 0,
        "replaced": 0,
        "rows_loaded": 0,
        "rows_quarantined": 0,
        "late_files": 0,
    }
    errors: list[str] = []
    with connect(settings, autocommit=True) as conn:
        ensure_warehouse_objects(
            conn, settings.bi_reader_password or _embedded_bi_password(settings)
        )
        for landing in tqdm(files, desc="ingesting landing files", unit="file", leave=False):
            try:
                result = load_file(
                    conn,
                    landing,
                    run_id,
                    settings.quarantine_threshold,
                    settings.quarantine_tolerated_rows,
                )
            except IngestError as error:
                errors.append(str(error))
                continue
            totals[result.status] += 1
            totals["replaced"] += int(result.replaced)
            totals["rows_loaded"] += result.rows_loaded
            totals["rows_quarantined"] += result.rows_quarantined
            if result.status == "loaded" and landing.logical_date < logical_date:
                totals["late_files"] += 1
    log.info("ingested", **totals)
    if errors:
        raise IngestError(
            f"{len(errors)} landing file(s) could not be loaded:\n  " + "\n  ".join(errors)
        )
    return totals


def _embedded_bi_password(settings: Settings) -> str | None:
    """The embedded warehouse keeps a generated BI password next to its data folder."""
    if settings.warehouse_url:
        return None
    path = settings.embedded_dir / "bi_reader.password"
    if not path.exists():
        import secrets

        path.write_text(secrets.token_urlsafe(18) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def build(settings: Settings, logical_date: date) -> dict:
    """Rebuild the marts from scratch in the build schema (left-overs of a failed run go)."""
    url = warehouse_url(settings)
    with connect(settings, autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop schema if exists {} cascade").format(
                sql.Identifier(settings.build_schema)
            )
        )
    # dbt unit tests check logic, not data: `make test` runs them, the night does not.
    results = run_dbt(settings, url, ["build", "--exclude", "test_type:unit"], logical_date)
    summary = {"nodes": len(results), "build_schema": settings.build_schema}
    for result in results:
        summary[result.status] = summary.get(result.status, 0) + 1
    return summary


def validate(settings: Settings) -> dict:
    gate = run_gate(settings, warehouse_url(settings), MARTS_CHECKPOINT, settings.build_schema)
    enforce(gate)
    summary = gate.summary()
    summary["data_docs"] = str(gate.data_docs) if gate.data_docs else None
    return summary


def publish_marts(
    settings: Settings, logical_date: date, run_id: str, gate_summary: dict, run_started_at: str
) -> dict:
    """Swap the validated marts in; ``run_started_at`` is the ingest step's start (ISO)."""
    with connect(settings, autocommit=True) as conn:
        result = publish(
            conn,
            settings,
            run_id=run_id,
            logical_date=logical_date,
            gate_results=gate_summary,
            started=datetime.fromisoformat(run_started_at),
        )
    return {
        "schema": result.schema,
        "backup_schema": result.backup_schema,
        "row_counts": result.row_counts,
    }


def summarize(settings: Settings, data_docs: str | None = None) -> dict:
    """What a person wants to know after the night: what was published and who is at risk."""
    schema = sql.Identifier(settings.publish_schema)
    with connect(settings) as conn:
        at_risk = conn.execute(
            sql.SQL(
                "select h.customer_id, c.customer_name, h.health_score, h.health_band,"
                " h.weakest_component, c.mrr"
                " from {s}.dim_customer_health h join {s}.dim_customers c using (customer_id)"
                " order by h.health_score, h.customer_id limit 5"
            ).format(s=schema)
        ).fetchall()
        published = conn.execute(
            "select logical_date, row_counts, published_at from ops.publish_log "
            "order by published_at desc limit 1"
        ).fetchone()
    return {
        "published_schema": settings.publish_schema,
        "logical_date": published[0].isoformat() if published else None,
        "row_counts": published[1] if published else {},
        "top_at_risk": [
            {
                "customer_id": r[0],
                "name": r[1],
                "health_score": float(r[2]),
                "band": r[3],
                "weakest_component": r[4],
                "mrr": float(r[5]),
            }
            for r in at_risk
        ],
        "data_docs": data_docs,
    }


def run_night(settings: Settings, logical_date: date, run_id: str | None = None) -> dict:
    """The whole night without a scheduler, in the same steps as the DAG's tasks."""
    run_id = run_id or new_run_id(logical_date)
    with connect(settings, autocommit=True) as lock_conn:
        # One night at a time per warehouse, whoever starts it.
        lock_conn.execute("select pg_advisory_lock(hashtext('customer_health.night'))")
        ingested = ingest(settings, logical_date, run_id)
        built = build(settings, logical_date)
        gate = validate(settings)
        published = publish_marts(settings, logical_date, run_id, gate, ingested["started_at"])
    summary = summarize(settings, gate.get("data_docs"))
    return {
        "run_id": run_id,
        "ingest": ingested,
        "build": built,
        "gate": gate,
        "publish": published,
        "summary": summary,
    }
