"""The dbt project as an Airflow task group (astronomer-cosmos): one task per model, seed and
its tests, so data engineers see and retry each model in the Airflow UI.

The group is rendered from `dbt_project/target/manifest.json`, written ahead of time by
`customer-health manifest` (the Makefile and the image run it), so parsing the DAG never
runs dbt. Everything that depends on the run — the build schema, the night, the warehouse
password — reaches the dbt tasks as environment variables, through templates rendered on the
worker when the task runs: `prepare_build`'s return value and the `dbt_connection` macro
below.
"""

from __future__ import annotations

import functools
from datetime import timedelta

from customer_health.settings import EXECUTION_MODES, Settings, disable_telemetry
from customer_health.transform.dbt import AS_OF_DATE_ENV, REPROCESS_FROM_ENV, manifest_path

PREPARE_TASK_ID = "prepare_build"
CONNECTION_KEYS = ("DBT_HOST", "DBT_PORT", "DBT_USER", "DBT_PASSWORD", "DBT_DBNAME")
# Tasks of the watcher group that run no dbt node of their own.
WATCHER_BOOKKEEPING_TASKS = ("dbt_producer_watcher", "dbt_producer_watcher_done")


def dbt_connection(key: str) -> str:
    """Airflow template macro: one DBT_* connection value, resolved on the worker at run time
    (starting the embedded warehouse if it is the warehouse), never at DAG parse time."""
    return _connection_environment()[key]


@functools.cache
def _connection_environment() -> dict[str, str]:
    """Once per worker process: every task of the group renders five of these values."""
    from customer_health.settings import load_settings
    from customer_health.transform.dbt import dbt_environment
    from customer_health.warehouse.connection import warehouse_url

    return dbt_environment(warehouse_url(load_settings()), build_schema="")


def _prepared(field: str) -> str:
    return f"{{{{ ti.xcom_pull(task_ids='{PREPARE_TASK_ID}')['{field}'] or '' }}}}"


def dbt_task_group(settings: Settings, mode: str):
    """A DbtTaskGroup building every model into the run's build schema, tests after each model.

    ``mode`` is ``cosmos_local`` (a dbt invocation per task) or ``cosmos_watcher`` (one
    `dbt build` whose results the per-model tasks report: the same graph in the UI for well
    under half the cost of ``cosmos_local``; bench/README.md has the figures).
    """
    from cosmos import (
        DbtTaskGroup,
        ExecutionConfig,
        ExecutionMode,
        InvocationMode,
        LoadMode,
        ProfileConfig,
        ProjectConfig,
        RenderConfig,
    )

    if mode not in EXECUTION_MODES[1:]:
        expected = ", ".join(EXECUTION_MODES)
        raise ValueError(f"DBT_EXECUTION_MODE={mode!r}: expected one of {expected}")
    _switch_off_cosmos_telemetry()
    manifest = manifest_path(settings)
    if not manifest.exists():
        raise FileNotFoundError(
            f"{manifest} is missing: run `customer-health manifest` (make does) before parsing DAGs"
        )
    env = {key: f"{{{{ dbt_connection('{key}') }}}}" for key in CONNECTION_KEYS}
    env["DBT_BUILD_SCHEMA"] = _prepared("build_schema")
    env[AS_OF_DATE_ENV] = _prepared("as_of_date")
    env[REPROCESS_FROM_ENV] = _prepared("reprocess_from")
    watcher = mode == "cosmos_watcher"
    operator_args: dict = {
        # Unit tests check logic in `make test`; the night runs data tests only. A flag,
        # not `exclude`, so the watcher's producer build leaves them out too.
        "dbt_cmd_flags": ["--exclude", "test_type:unit"],
        "env": env,
        "append_env": True,
    }
    if watcher:
        # A node task's retry runs its node itself (Cosmos's fallback), so it gets one, soon:
        # it rides out a blip, and after a person clears a failed model, the model's tests
        # (whose first try reads the build's stale "fail") run for real on the second.
        operator_args["retries"] = 1
        operator_args["retry_delay"] = timedelta(seconds=5)
        operator_args["retry_exponential_backoff"] = False
    group = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(
            manifest_path=manifest,
            project_name="customer_health",
            dbt_project_path=settings.dbt_project_dir,
        ),
        profile_config=ProfileConfig(
            profile_name="customer_health",
            target_name="warehouse",
            profiles_yml_filepath=settings.dbt_project_dir / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER if watcher else ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
            # The producer cannot retry: Cosmos skips its second attempt, and that skip
            # turned failed nights green. A failed build fails it at once.
            setup_operator_args={"retries": 0} if watcher else None,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            # cosmos_local: a test reading two models (relationships) runs once both exist,
            # as dbt build does. The watcher reports such a test with each model it reads:
            # Cosmos writes no result for a detached test task, which then succeeds blind.
            should_detach_multiple_parents_tests=not watcher,
            # The published asset is emitted once, after the swap, not per build-schema table.
            emit_datasets=False,
        ),
        operator_args=operator_args,
    )
    if watcher:
        _watch_once_the_build_ran(group)
    return group


def _switch_off_cosmos_telemetry() -> None:
    """Cosmos reads its telemetry switches when Airflow loads it as a plugin, before any DAG
    file runs; in the process parsing this DAG (`airflow dags test` runs the DAG there too)
    the environment is set and Cosmos's settings are corrected. Airflow's own processes get
    the environment from the image and the Makefile."""
    from cosmos import settings as cosmos_settings

    disable_telemetry()
    cosmos_settings.enable_telemetry = False
    cosmos_settings.do_not_track = True
    cosmos_settings.no_analytics = True
    # The producer never retries (see dbt_task_group), so the per-event backup of its results
    # for a retry is pure cost: it rewrites a Variable on every dbt event.
    cosmos_settings.enable_watcher_reliable_retry = False


def _watch_once_the_build_ran(group) -> None:
    """Start the per-model tasks after the producer's `dbt build`, whatever its outcome.

    Cosmos lets them wait in parallel with the build; a single-process runner such as
    `airflow dags test` may then pick a waiting task before the build and wait forever. Once
    the build has run, each task reads its model's result at once: a model that failed fails
    its own task (red in the grid, where a person clears it to rerun that model alone). They
    run once the producer is done even when it failed ("all_done"), so the failure is shown
    per model instead of spreading as "upstream failed". (Cosmos's own DbtDag uses "always",
    which also starts them before the run's schema is prepared.)
    """
    producer = group.children[f"{group.group_id}.{WATCHER_BOOKKEEPING_TASKS[0]}"]
    for task in list(group.iter_tasks()):  # nested groups too: a seed with its tests is one
        if task is not producer and not task.upstream_task_ids:
            producer >> task
            task.trigger_rule = "all_done"
