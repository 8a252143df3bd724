"""
### Customer health — nightly refresh

Turns one night's billing, usage, NPS and support files into the published
`analytics` schema that BI tools read:

1. **ingest** — every landing file up to the night that the load ledger has not seen
   (COPY, contract checks, quarantine of bad rows);
2. **validate_raw** — the Great Expectations `raw_gate` checkpoint on `raw`;
3. **prepare_build** + **dbt** — staging → intermediate → marts into this run's own
   schema: a task per model and its tests (astronomer-cosmos, drawn from the dbt manifest;
   `DBT_EXECUTION_MODE=cosmos_watcher` by default, `cosmos_local`, or `single` for one
   `build` task);
4. **validate_marts** — the `marts_gate` checkpoint on that schema (a quality report per run);
5. **publish** — atomic swap of the run's schema for `analytics`, alerts on health
   band drops; emits the `analytics.customer_health` asset;
6. **dbt_docs** — a static dbt docs page of the published schema beside the run's quality
   reports; a failure is logged and recorded, never fails the published night;
7. **summarize** — records the run in `ops.run_log`; row counts and the customers most at
   risk in the task log.

Every task first holds the night (`ops.night_lock`, shared with the CLI): a second night
waits its turn. A failed step fails the run before publishing — yesterday's tables stay
readable — and one alert names the night, the step and its log; a skipped dbt task fails
`dbt_finished`, so a skip can never end the night green.
Configuration comes from the environment (see the README); the logic lives in the
`customer_health` package, this file only wires it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task

from customer_health.assets import PUBLISHED
from customer_health.orchestration import nightly_task_args, release_failed_night
from customer_health.settings import load_settings
from customer_health.transform.cosmos_group import dbt_connection, dbt_task_group

# Reads environment variables only: no database, no network at parse time.
SETTINGS = load_settings()
TIMEZONE = SETTINGS.timezone


@dag(
    dag_id="customer_health_nightly",
    schedule=CronDataIntervalTimetable(SETTINGS.schedule, timezone=TIMEZONE)
    if SETTINGS.schedule
    else None,
    start_date=pendulum.datetime(2026, 1, 1, tz=TIMEZONE),
    catchup=SETTINGS.catchup,
    max_active_runs=1,
    default_args=nightly_task_args(),
    on_failure_callback=release_failed_night,
    tags=["customer-health"],
    doc_md=__doc__,
    user_defined_macros={"dbt_connection": dbt_connection},
)
def customer_health_nightly():
    @task
    def ingest(**context) -> dict:
        from customer_health.orchestration import night_of
        from customer_health.pipeline import ingest as load_landing_files
        from customer_health.settings import load_settings

        return load_landing_files(load_settings(), night_of(context, TIMEZONE), context["run_id"])

    @task
    def validate_raw(ingested: dict, **context) -> dict:
        from customer_health.pipeline import validate_raw as run_raw_gate
        from customer_health.settings import load_settings

        return run_raw_gate(load_settings(), context["run_id"])

    @task
    def prepare_build(raw_gate: dict, **context) -> dict:
        from customer_health.orchestration import night_of
        from customer_health.pipeline import prepare_build as prepare_build_schema
        from customer_health.settings import load_settings

        return prepare_build_schema(load_settings(), night_of(context, TIMEZONE), context["run_id"])

    @task(trigger_rule="all_done")
    def dbt_finished(prepared: dict, **context) -> dict:
        from customer_health.orchestration import dbt_task_states
        from customer_health.pipeline import built_by_task_group
        from customer_health.settings import load_settings

        return built_by_task_group(load_settings(), prepared, dbt_task_states(context))

    @task
    def build(prepared: dict) -> dict:
        from customer_health.pipeline import build as build_marts
        from customer_health.settings import load_settings

        return build_marts(load_settings(), prepared)

    @task
    def validate_marts(built: dict, **context) -> dict:
        from customer_health.pipeline import validate_marts as run_marts_gate
        from customer_health.settings import load_settings

        return run_marts_gate(load_settings(), built["build_schema"], context["run_id"])

    @task(outlets=[PUBLISHED])
    def publish(built: dict, raw_gate: dict, marts_gate: dict, ingested: dict, **context) -> dict:
        from customer_health.orchestration import night_of
        from customer_health.pipeline import publish_marts
        from customer_health.settings import load_settings

        result = publish_marts(
            load_settings(),
            night_of(context, TIMEZONE),
            context["run_id"],
            built["build_schema"],
            {"raw": raw_gate, "marts": marts_gate},
            ingested["started_at"],
        )
        context["outlet_events"][PUBLISHED].extra = {"row_counts": result["row_counts"]}
        return result

    @task
    def dbt_docs(published: dict, **context) -> dict:
        from customer_health.orchestration import night_of
        from customer_health.pipeline import write_dbt_docs
        from customer_health.settings import load_settings

        return write_dbt_docs(load_settings(), night_of(context, TIMEZONE), context["run_id"])

    @task
    def summarize(
        ingested: dict,
        raw_gate: dict,
        built: dict,
        marts_gate: dict,
        published: dict,
        docs: dict,
        **context,
    ) -> dict:
        from customer_health.orchestration import night_of
        from customer_health.pipeline import give_night_back
        from customer_health.pipeline import summarize as describe_published
        from customer_health.run_log import record_run
        from customer_health.settings import load_settings

        settings = load_settings()
        stages = {
            "ingest": ingested,
            "validate_raw": raw_gate,
            "build": built,
            "validate_marts": marts_gate,
            "publish": published,
            "dbt_docs": docs,
        }
        record_run(settings, context["run_id"], night_of(context, TIMEZONE), "published", stages)
        give_night_back(settings, context["run_id"])
        return describe_published(settings, marts_gate.get("quality_report"))

    ingested = ingest()
    raw_gate = validate_raw(ingested)
    prepared = prepare_build(raw_gate)
    if SETTINGS.dbt_execution_mode == "single":
        built = build(prepared)
    else:
        built = dbt_finished(prepared)
        prepared >> dbt_task_group(SETTINGS, SETTINGS.dbt_execution_mode) >> built
    marts_gate = validate_marts(built)
    published = publish(built, raw_gate, marts_gate, ingested)
    summarize(ingested, raw_gate, built, marts_gate, published, dbt_docs(published))


customer_health_nightly()
