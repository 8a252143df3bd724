"""One night of the pipeline as plain functions: the DAG's tasks and the CLI call the same code.

ingest → raw gate (GX) → build (dbt, into a per-run schema) → mart gate (GX) → publish
(atomic swap) → dbt docs of the published schema → summarize. Each step takes the settings
and what earlier steps returned, and returns a small JSON-able summary (what Airflow passes
between tasks through XCom).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import structlog
from psycopg import sql
from tqdm import tqdm

from customer_health import night_lock
from customer_health.alerts.band_drops import record_band_drops, unsent_band_drops
from customer_health.alerts.failed_night import report_failed_night
from customer_health.alerts.notify import notifiers_for
from customer_health.alerts.outbox import deliver_pending
from customer_health.errors import DbtError, FileRejected, IngestError, WarehouseError
from customer_health.ingest.file_partitions import sweep_leftovers
from customer_health.ingest.landing import LandingFile, discover
from customer_health.ingest.lanes import load_in_lanes
from customer_health.ingest.loader import (
    LoadResult,
    earliest_date_loaded_since_publish,
    load_file,
    mark_reported,
    record_rejected_entries,
    unchanged_since_last_load,
)
from customer_health.publish.history_chunks import prune_history_chunks
from customer_health.publish.swap import publish, schema_exists, table_names
from customer_health.quality.gates import enforce, run_gate, run_reports_dir
from customer_health.quality.raw_scope import LEDGER_FILES, raw_scope
from customer_health.run_log import record_run
from customer_health.settings import Settings
from customer_health.transform.dbt import mart_models, run_dbt, write_docs_site
from customer_health.warehouse.bootstrap import ensure_warehouse_objects
from customer_health.warehouse.connection import bi_reader_password, connect, warehouse_url

log = structlog.get_logger(__name__)

RAW_CHECKPOINT = "raw_gate"
MARTS_CHECKPOINT = "marts_gate"
# dbt's parses for the build and the docs step, kept from night to night beside the runs'
# folders.
BUILD_PARSE_CACHE = ".dbt_build_parse"
DOCS_PARSE_CACHE = ".dbt_docs_parse"


def new_run_id(logical_date: date) -> str:
    return f"manual__{logical_date.isoformat()}__{datetime.now(UTC):%Y%m%dT%H%M%S%f}"


def build_schema_for(settings: Settings, logical_date: date, run_id: str) -> str:
    """A schema of its own per run: <prefix>_<yyyymmdd>_<hash of the run id>."""
    digest = hashlib.sha1(run_id.encode()).hexdigest()[:8]
    return f"{settings.build_schema_prefix}_{logical_date:%Y%m%d}_{digest}"


def working_build_schema(settings: Settings) -> str:
    """Where the one-process build writes before its schema takes the run's name."""
    return f"{settings.build_schema_prefix}_working"


def take_night(
    settings: Settings, run_id: str, night_conn: psycopg.Connection | None = None
) -> float:
    """Hold the night for this run before a step, waiting while another run holds it.

    Every step calls it: the run holding the night gets it back at once, extended; after a
    failure and a clear the run waits its turn again. ``night_conn``: a connection the caller
    keeps open for the whole night (the CLI), to which the hold is bound, so it ends with the
    process if that dies. A new warehouse is bootstrapped first. Returns the seconds waited.
    """
    if night_conn is None:
        with connect(settings, autocommit=True) as conn:
            return _hold(settings, run_id, conn, bind_to_session=False)
    return _hold(settings, run_id, night_conn, bind_to_session=True)


def _hold(
    settings: Settings, run_id: str, conn: psycopg.Connection, bind_to_session: bool
) -> float:
    if conn.execute("select to_regclass('ops.night_lock') is null").fetchone()[0]:
        ensure_warehouse_objects(conn, bi_reader_password(settings))
    return night_lock.hold(
        conn,
        run_id,
        wait=timedelta(seconds=settings.night_lock_wait_seconds),
        ttl=timedelta(seconds=settings.night_lock_ttl_seconds),
        bind_to_session=bind_to_session,
    )


def give_night_back(settings: Settings, run_id: str) -> bool:
    """Release the night; if the warehouse is unreachable the lease expires on its own."""
    try:
        with connect(settings, autocommit=True) as conn:
            return night_lock.release(conn, run_id)
    except psycopg.OperationalError as error:
        log.error("night lock not released, it expires by itself", run_id=run_id, error=str(error))
        return False


def ingest(settings: Settings, logical_date: date, run_id: str) -> dict:
    """Load every landing file up to the logical date that the ledger has not seen as-is.

    Files already loaded with the same checksum are skipped, so the first night loads the
    history, later nights load the new day plus any late or corrected files. A file that
    cannot be loaded does not stop the others; the step fails at the end, naming them all.
    An entry rejected as it is (an odd name, a bad header) fails the night that first sees
    it; later nights list it first in their summary, without failing, until it changes.
    Files of different entities load side by side on ``ingest_connections`` connections,
    in an order that gives the one-at-a-time outcome (see ``ingest.lanes``).
    """
    started, clock = datetime.now(UTC), time.monotonic()
    landing = discover(settings.landing_path, logical_date, settings.landing_ignore)
    files = landing.files
    # What cannot load comes first: the entries a person has to look at.
    rejected = [{"path": e.path, "reason": e.message} for e in landing.rejected]
    totals = {
        "rejected": rejected,
        "started_at": started.isoformat(),
        "files": len(files),
        "loaded": 0,
        "skipped": 0,
        "replaced": 0,
        "rows_loaded": 0,
        "rows_quarantined": 0,
        "late_files": 0,
        "ignored": landing.ignored,
    }
    errors: list[str] = []
    with connect(settings, autocommit=True) as conn:
        ensure_warehouse_objects(conn, bi_reader_password(settings))
        # One ingest at a time whoever runs it, held until this connection closes (or its
        # process dies): what another ingest left half done is then safe to sweep.
        conn.execute("select pg_advisory_lock(hashtext('customer_health.ingest'))")
        if swept := sweep_leftovers(conn):
            log.warning("dropped the tables of loads that never finished", tables=swept)
        new_rejections = record_rejected_entries(conn, landing.rejected, run_id)
        errors += [entry.message for entry in new_rejections]
        unchanged = unchanged_since_last_load(conn, files)
        totals["skipped"] = len(unchanged)
        files = [landing for landing in files if landing.path not in unchanged]

        def load(loader: psycopg.Connection, landing_file: LandingFile) -> LoadResult | IngestError:
            try:
                return load_file(
                    loader,
                    landing_file,
                    run_id,
                    settings.quarantine_threshold,
                    settings.quarantine_tolerated_rows,
                )
            except IngestError as error:
                return error

        # disable=None: a bar on a terminal, none in task logs (stderr is not a terminal there).
        with tqdm(
            total=len(files), desc="ingesting landing files", unit="file", leave=False, disable=None
        ) as progress:
            outcomes = load_in_lanes(
                conn,
                lambda: connect(settings, autocommit=True),
                settings.ingest_connections,
                files,
                load,
            )
            for landing_file, result in outcomes:
                progress.update()
                if isinstance(result, IngestError):
                    errors.append(str(result))
                    if isinstance(result, FileRejected):
                        rejected.append({"path": landing_file.path, "reason": str(result)})
                    continue
                if result.status == "rejected":
                    rejected.append({"path": landing_file.path, "reason": result.message})
                    continue
                totals[result.status] += 1
                totals["replaced"] += int(result.replaced)
                totals["rows_loaded"] += result.rows_loaded
                totals["rows_quarantined"] += result.rows_quarantined
                if result.status == "loaded" and landing_file.logical_date < logical_date:
                    totals["late_files"] += 1
        if errors:
            mark_reported(conn, [entry["path"] for entry in rejected])
    rejected.sort(key=lambda entry: entry["path"])
    totals["seconds"] = round(time.monotonic() - clock, 1)
    log.info("ingested", **totals)
    if errors:
        raise IngestError(
            f"{len(errors)} landing entries could not be loaded:\n  " + "\n  ".join(errors)
        )
    return totals


def _gate(settings: Settings, checkpoint: str, schema: str, run_id: str) -> dict:
    """Run a checkpoint; a failure stops the run, naming the failing expectations (the
    night's failure alert carries that message)."""
    clock = time.monotonic()
    gate = run_gate(settings, warehouse_url(settings), checkpoint, schema, run_id)
    enforce(gate)
    return {
        **gate.summary(),
        "quality_report": str(gate.report),
        "seconds": round(time.monotonic() - clock, 1),
    }


def validate_raw(settings: Settings, run_id: str, *, full: bool = False) -> dict:
    """The raw gate over the files loaded since the last publish, or (``full``) over every
    file in ``raw``; see ``quality.raw_scope``."""
    with connect(settings, autocommit=True) as conn, raw_scope(conn, run_id, full=full) as schema:
        files = conn.execute(
            sql.SQL("select count(*) from {}").format(sql.Identifier(schema, LEDGER_FILES))
        ).fetchone()[0]
        return {**_gate(settings, RAW_CHECKPOINT, schema, run_id), "files_checked": files}


def check_full_history(settings: Settings) -> dict:
    """The dbt tests a night leaves out or scopes to its late-data window (see ``run_dbt``'s
    ``full_history``), over every row of staging, intermediate and the sources, as of the newest
    night published (the views as the last build left them): the weekly complement of the
    nights' checks (`validate --full`)."""
    clock = time.monotonic()
    with connect(settings) as conn:
        as_of = conn.execute(
            "select max(logical_date) from ops.publish_log where action = 'publish'"
        ).fetchone()[0]
    if as_of is None:
        return {"as_of_date": None, "tests": [], "seconds": 0.0}
    results = run_dbt(
        settings,
        warehouse_url(settings),
        # cautious: a test that also reads a mart is left out (it belongs to the build).
        ["test", "--select", "staging", "intermediate", "source:*"]
        + ["--indirect-selection", "cautious", "--exclude", "test_type:unit"],
        as_of,
        settings.publish_schema,
        full_history=True,
    )
    return {
        "as_of_date": as_of.isoformat(),
        "tests": sorted(result.unique_id for result in results),
        "seconds": round(time.monotonic() - clock, 1),
    }


def prepare_build(settings: Settings, logical_date: date, run_id: str) -> dict:
    """A clean schema of the run's own for the marts, and how far back incremental models
    must rebuild: the oldest landing date of any file loaded since the last publish — by
    this run or by a run that failed after loading it (its late data is not in history yet).
    """
    schema = build_schema_for(settings, logical_date, run_id)
    with connect(settings, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
        reprocess_from = earliest_date_loaded_since_publish(conn)
    return {
        "build_schema": schema,
        "as_of_date": logical_date.isoformat(),
        "reprocess_from": reprocess_from.isoformat() if reprocess_from else None,
        "prepared_at": datetime.now(UTC).isoformat(),
    }


def built_by_task_group(settings: Settings, prepared: dict, task_states: dict[str, str]) -> dict:
    """The build stage's summary when Airflow ran dbt as a task group, once it has proved
    that the group built everything: every task succeeded (a skipped or failed one fails the
    stage, so a skip can never turn a failed night green) and every mart is in the schema.
    """
    unfinished = {task: state for task, state in sorted(task_states.items()) if state != "success"}
    if unfinished:
        listed = ", ".join(f"{task} {state}" for task, state in unfinished.items())
        raise DbtError(f"the dbt stage did not complete ({len(unfinished)} task(s)): {listed}")
    with connect(settings) as conn:
        built = set(table_names(conn, prepared["build_schema"]))
    missing = sorted(mart_models(settings) - built)
    if missing:
        raise DbtError(
            f"the dbt tasks succeeded but {prepared['build_schema']} lacks {', '.join(missing)}"
        )
    started = datetime.fromisoformat(prepared["prepared_at"])
    return {**prepared, "seconds": round((datetime.now(UTC) - started).total_seconds(), 1)}


def build(settings: Settings, prepared: dict) -> dict:
    """Build the marts from scratch into the run's schema with one `dbt build`.

    dbt writes into the working schema, the same every night, which then takes the run's
    name, built or failed (a failed build is kept for inspection like any other). dbt parses
    the whole project again when its profile changes, and the schema is part of it: with the
    same schema every night, the build starts from the parse the last one kept. A session
    lock keeps a second build out of the working schema even when the first outlived its
    hold on the night. A build whose process died left its tables there, and the next build
    drops them. The Cosmos task groups build straight into the run's schema: a person may
    retry one of their tasks alone after another night has started, and it must find its own
    night's tables.
    """
    clock = time.monotonic()
    reprocess_from = prepared["reprocess_from"]
    working, schema = working_build_schema(settings), prepared["build_schema"]
    with connect(settings, autocommit=True) as conn:
        _lock_working_schema(conn, working)
        # The run's schema too: a retried build task finds its first try's tables there.
        for name in (working, schema):
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(name)))
        rename = sql.SQL("alter schema {} rename to {}").format(
            sql.Identifier(working), sql.Identifier(schema)
        )
        try:
            # dbt unit tests check logic, not data: `make test` runs them, the night does not.
            results = run_dbt(
                settings,
                warehouse_url(settings),
                ["build", "--exclude", "test_type:unit"],
                date.fromisoformat(prepared["as_of_date"]),
                working,
                reprocess_from=date.fromisoformat(reprocess_from) if reprocess_from else None,
                parse_cache=settings.reports_dir / BUILD_PARSE_CACHE,
            )
        except Exception:
            _keep_failed_build(conn, working, rename)
            raise
        conn.execute(rename)
    seconds = round(time.monotonic() - clock, 1)
    summary: dict = {**prepared, "nodes": len(results), "seconds": seconds}
    for result in results:
        summary[result.status] = summary.get(result.status, 0) + 1
    return summary


def _lock_working_schema(conn: psycopg.Connection, working: str) -> None:
    """Hold the working schema for as long as ``conn`` is open, or fail naming it."""
    locked = conn.execute(
        "select pg_try_advisory_lock(hashtext('customer_health.build:' || %s))", [working]
    ).fetchone()[0]
    if not locked:
        raise DbtError(
            f"another build is writing {working} (a night that outlived its hold on the night?):"
            " wait for it to end, then run this night again"
        )


def _keep_failed_build(conn: psycopg.Connection, working: str, rename: sql.Composed) -> None:
    """Give a failed build the run's name, for inspection. The night reports dbt's error,
    not this step's: if the rename fails too (the warehouse went away), it is only logged."""
    try:
        if schema_exists(conn, working):
            conn.execute(rename)
    except psycopg.Error as error:
        log.warning(
            "the failed build stays in the working schema", schema=working, error=str(error)
        )


def validate_marts(settings: Settings, build_schema: str, run_id: str) -> dict:
    return _gate(settings, MARTS_CHECKPOINT, build_schema, run_id)


def publish_marts(
    settings: Settings,
    logical_date: date,
    run_id: str,
    build_schema: str,
    gates: dict,
    run_started_at: str,
) -> dict:
    """Swap the validated marts in, then alert on tonight's health band drops.

    ``run_started_at`` is the ingest step's start (ISO), for the publish log's duration.
    """
    clock = time.monotonic()
    notifiers = notifiers_for(settings)
    with connect(settings, autocommit=True) as conn:
        drops = unsent_band_drops(conn, build_schema, logical_date)
        result = publish(
            conn,
            settings,
            build_schema=build_schema,
            run_id=run_id,
            logical_date=logical_date,
            gate_results=gates,
            started=datetime.fromisoformat(run_started_at),
        )
        drops = record_band_drops(conn, drops, run_id, logical_date, list(notifiers))
        stale = _drop_failed_build_schemas(conn, settings, run_id)
        pruned_chunks = prune_history_chunks(conn, settings)
        delivery = deliver_pending(conn, notifiers)
    return {
        "schema": result.schema,
        "backup_schema": result.backup_schema,
        "row_counts": result.row_counts,
        "pruned_backups": result.pruned,
        "dropped_build_schemas": stale,
        "pruned_history_chunks": len(pruned_chunks),
        "band_drops": len(drops),
        "alerts_delivered": delivery.delivered,
        "alerts_undelivered": delivery.failed,
        "seconds": round(time.monotonic() - clock, 1),
    }


def docs_site_path(settings: Settings, run_id: str) -> Path:
    """Where a published run's dbt docs are written: in its own folder of REPORTS_DIR, beside
    its gates' quality reports (REPORTS_DIR/<run>-<checkpoint>/quality_report.html)."""
    return run_reports_dir(settings, run_id) / "dbt_docs" / "index.html"


def write_dbt_docs(settings: Settings, logical_date: date, run_id: str) -> dict:
    """The published night's dbt docs as one static page (models, columns, lineage, tests).

    Runs after the publish, which it can neither fail nor delay: any error is logged and
    returned (the run log and the summary show it), and the night stays published.
    """
    clock = time.monotonic()
    path = docs_site_path(settings, run_id)
    try:
        with tempfile.TemporaryDirectory(prefix="dbt_docs_") as target:
            url, schema = warehouse_url(settings), settings.publish_schema
            cache = settings.reports_dir / DOCS_PARSE_CACHE
            site = write_docs_site(settings, url, logical_date, schema, Path(target), cache)
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(site, path)
    except Exception as error:
        log.warning("dbt docs not written; the night stays published", error=str(error))
        return {"path": None, "error": str(error), "seconds": round(time.monotonic() - clock, 1)}
    log.info("dbt docs written", path=str(path))
    return {"path": str(path), "error": None, "seconds": round(time.monotonic() - clock, 1)}


def _drop_failed_build_schemas(conn, settings: Settings, run_id: str) -> list[str]:
    """Build schemas left by failed runs are kept for inspection until a publish succeeds.

    Only while this run holds the night: then no other night is running, so none of those
    schemas is being built. A run that lost the night (its lease expired) drops nothing.
    """
    if night_lock.holder(conn) != run_id:
        log.warning("not dropping old build schemas: this run does not hold the night")
        return []
    rows = conn.execute(
        "select nspname from pg_namespace where nspname like %s",
        [f"{settings.build_schema_prefix}\\_%"],
    ).fetchall()
    for (name,) in rows:
        conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(name)))
    return [name for (name,) in rows]


def summarize(settings: Settings, quality_report: str | None = None) -> dict:
    """What a person wants to know after the night: the landing entries the last published
    night could not load (first: someone has to act), what was published and who is at risk."""
    schema = sql.Identifier(settings.publish_schema)
    with connect(settings) as conn:
        unpublished = conn.execute(
            "select to_regclass(format('%%I.dim_customer_health', %s::text)) is null",
            [settings.publish_schema],
        ).fetchone()[0]
        if unpublished:
            raise WarehouseError(
                f"nothing is published in schema {settings.publish_schema!r} yet: run a night "
                "first (`customer-health run --date YYYY-MM-DD`, or `make demo`)"
            )
        at_risk = conn.execute(
            sql.SQL(
                "select h.customer_id, c.customer_name, h.health_score, h.health_band,"
                " h.weakest_component, c.mrr_usd"
                " from {s}.dim_customer_health h join {s}.dim_customers c using (customer_id)"
                " order by h.health_score, h.customer_id limit 5"
            ).format(s=schema)
        ).fetchall()
        published = conn.execute(
            "select logical_date, row_counts, published_at, run_id from ops.publish_log "
            "order by published_at desc limit 1"
        ).fetchone()
        rejected = conn.execute(
            "select stages -> 'ingest' -> 'rejected' from ops.run_log where status = 'published'"
            " order by recorded_at desc limit 1"
        ).fetchone()
    return {
        "rejected_files": (rejected[0] if rejected else None) or [],
        "published_schema": settings.publish_schema,
        "logical_date": published[0].isoformat() if published and published[0] else None,
        "row_counts": published[1] if published else {},
        "top_at_risk": [
            {
                "customer_id": r[0],
                "name": r[1],
                "health_score": float(r[2]),
                "band": r[3],
                "weakest_component": r[4],
                "mrr_usd": float(r[5]),
            }
            for r in at_risk
        ],
        "quality_report": quality_report,
        # The docs of the run that published what is live; none after a rollback or when
        # that night's docs step failed (its run log says why).
        "dbt_docs": _existing(docs_site_path(settings, published[3])) if published else None,
    }


def _existing(path: Path) -> str | None:
    return str(path) if path.is_file() else None


def run_night(settings: Settings, logical_date: date, run_id: str | None = None) -> dict:
    """The whole night without a scheduler, in the same steps as the DAG's tasks."""
    run_id = run_id or new_run_id(logical_date)
    stages: dict = {}
    step = "ingest"
    # Open for the whole night: the hold on the night ends with this process.
    night_conn = connect(settings, autocommit=True)
    try:
        take_night(settings, run_id, night_conn)
        stages["ingest"] = ingest(settings, logical_date, run_id)
        step = "validate_raw"
        take_night(settings, run_id, night_conn)
        stages["validate_raw"] = validate_raw(settings, run_id)
        step = "build"
        take_night(settings, run_id, night_conn)
        stages["build"] = build(settings, prepare_build(settings, logical_date, run_id))
        step = "validate_marts"
        take_night(settings, run_id, night_conn)
        schema = stages["build"]["build_schema"]
        stages["validate_marts"] = validate_marts(settings, schema, run_id)
        step = "publish"
        take_night(settings, run_id, night_conn)
        gates = {"raw": stages["validate_raw"], "marts": stages["validate_marts"]}
        stages["publish"] = publish_marts(
            settings, logical_date, run_id, schema, gates, stages["ingest"]["started_at"]
        )
        stages["dbt_docs"] = write_dbt_docs(settings, logical_date, run_id)
        record_run(settings, run_id, logical_date, "published", stages)
    except Exception as error:
        report_failed_night(
            settings, night=logical_date, step=step, run_id=run_id, error=str(error), stages=stages
        )
        raise
    finally:
        give_night_back(settings, run_id)
        night_conn.close()
    summary = summarize(settings, stages["validate_marts"].get("quality_report"))
    return {"run_id": run_id, **stages, "summary": summary}
