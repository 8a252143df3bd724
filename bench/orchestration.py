"""Benchmark: what seeing each dbt model as an Airflow task costs, against one `dbt build`.

Same data, same machine, one run. The generated landing files are ingested once; then the
same night's dbt work is done in every way the DAG can do it:

    floor           one `dbt build` subprocess, as a person would run it
    single          the nightly DAG with DBT_EXECUTION_MODE=single (one `build` task)
    cosmos_local    the nightly DAG, one Cosmos task per model / seed / tests (a dbt run each)
    cosmos_watcher  the nightly DAG, one Cosmos producer `dbt build` + a task per node

each under `airflow dags test` (one process), under a real deployment with LocalExecutor
(api-server, scheduler, dag-processor, triggerer; PostgreSQL metadata; a run triggered through
the REST API) and with CeleryExecutor (Redis, two workers). The dbt stage's wall time is the
first dbt task's start to the last one's end, read from Airflow. Every measured build is a
rerun of the same night. Not part of `make test`:

    .venv/bin/python bench/orchestration.py --scale-factor 0.05
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import psycopg
from embedded_only import require_embedded_warehouse

from customer_health.deployment import local
from customer_health.deployment.rest import AirflowApi
from customer_health.pipeline import ingest, prepare_build
from customer_health.settings import PROJECT_HOME, disable_telemetry, load_settings
from customer_health.synthetic.generator import GeneratorConfig, generate
from customer_health.transform.dbt import dbt_environment, night_environment
from customer_health.warehouse.connection import drop_database, warehouse_url

NIGHT = date(2026, 11, 26)
BIN = Path(sys.executable).parent
MODES = ("single", "cosmos_local", "cosmos_watcher")
EXECUTORS = ("LocalExecutor", "CeleryExecutor")
DAG = "customer_health_nightly"


def floor_seconds(settings, url: str) -> float:
    prepared = prepare_build(settings, NIGHT, "bench-orchestration-floor")
    project = str(settings.dbt_project_dir)
    command = [
        str(BIN / "dbt"),
        "build",
        "--exclude",
        "test_type:unit",
        "--project-dir",
        project,
        "--profiles-dir",
        project,
    ]
    env = {
        **os.environ,
        **dbt_environment(url, prepared["build_schema"]),
        **night_environment(NIGHT),
    }
    clock = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - clock


def dag_run(mode: str, env: dict, folder: Path) -> tuple[float, float, int]:
    """(dbt stage seconds, whole DAG run seconds, dbt tasks) for one real DAG run."""
    home = folder / f"airflow-{mode}"
    env = {
        **env,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_HOME / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "DBT_EXECUTION_MODE": mode,
    }
    airflow = str(BIN / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    clock = time.perf_counter()
    result = subprocess.run(
        [airflow, "dags", "test", "customer_health_nightly", NIGHT.isoformat()],
        env=env,
        capture_output=True,
        text=True,
    )
    whole = time.perf_counter() - clock
    if result.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    with sqlite3.connect(home / "airflow.db") as metadata:
        start, end, tasks = metadata.execute(
            "select min(start_date), max(end_date), count(*) from task_instance"
            " where task_id like 'dbt.%' or task_id = 'build'"
        ).fetchone()
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return seconds, whole, tasks


def scheduler_run(
    settings, mode: str, executor: str, env: dict, folder: Path
) -> tuple[float, float, int]:
    """(dbt stage seconds, whole run seconds, dbt tasks) for one night under a deployment."""
    name = f"bench_{executor}_{mode}".lower()
    with psycopg.connect(warehouse_url(settings), autocommit=True) as admin:
        drop_database(admin, name)
    deployment = local.start(
        settings,
        folder / name,
        executor=executor,
        metadata_database=name,
        extra_env={**env, "DBT_EXECUTION_MODE": mode, "NIGHTLY_SCHEDULE": "none"},
    )
    try:
        if executor == "CeleryExecutor":
            for worker in ("worker-a", "worker-b"):
                local.start_celery_worker(deployment, worker)
        api = AirflowApi(deployment.api_url, local.ADMIN, deployment.admin_password)
        api.wait_for_dag(DAG)
        api.unpause(DAG)
        run_id = api.trigger(DAG, NIGHT)
        if api.wait(DAG, run_id) != "success":
            raise SystemExit(f"{executor} {mode} failed:\n{api.failures(DAG, run_id)}")
        run = api.run(DAG, run_id)
        dbt_tasks = [
            ti
            for task, ti in api.task_instances(DAG, run_id).items()
            if task.startswith("dbt.") or task == "build"
        ]
    finally:
        local.stop(deployment)
    start = min(datetime.fromisoformat(ti["start_date"]) for ti in dbt_tasks)
    end = max(datetime.fromisoformat(ti["end_date"]) for ti in dbt_tasks)
    whole = datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["start_date"])
    return (end - start).total_seconds(), whole.total_seconds(), len(dbt_tasks)


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale-factor", type=float, default=0.05)
    args = parser.parse_args()
    require_embedded_warehouse(load_settings())
    disable_telemetry()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        landing = folder / "landing"
        generate(landing, GeneratorConfig(scale_factor=args.scale_factor, end_date=NIGHT))
        settings = replace(
            load_settings(), database="bench_orchestration", landing_path=str(landing)
        )
        url = warehouse_url(settings)
        ingest(settings, NIGHT, "bench-orchestration-ingest")
        env = {
            **os.environ,
            "WAREHOUSE_DATABASE": settings.database,
            "LANDING_PATH": str(landing),
            "REPORTS_DIR": str(folder / "reports"),
        }
        # The first build creates the incremental history; every measured one is a rerun
        # of the night, which rebuilds the same window.
        floor_seconds(settings, url)
        floor_load = load()
        floor = floor_seconds(settings, url)
        print(f"floor: one dbt build in {floor:.1f} s", flush=True)
        rows = {}
        for mode in MODES:
            before = load()
            rows[f"`dags test`, {mode}"] = (*dag_run(mode, env, folder), before)
            print(
                f"dags test {mode}: dbt stage {rows[f'`dags test`, {mode}'][0]:.1f} s", flush=True
            )
        for executor in EXECUTORS:
            for mode in MODES:
                before = load()
                label = f"scheduler + {executor}, {mode}"
                rows[label] = (*scheduler_run(settings, mode, executor, env, folder), before)
                print(f"{label}: dbt stage {rows[label][0]:.1f} s", flush=True)
    header = f"dbt stage (scale factor {args.scale_factor})"
    print(f"\n| {header} | tasks | wall s | vs floor | load before |")
    print("|---|---:|---:|---:|---|")
    print(f"| one `dbt build` subprocess (floor) | — | {floor:.1f} | 1.00× | {floor_load} |")
    for label, (seconds, whole, tasks, before) in rows.items():
        print(
            f"| {label} (whole run {whole:.0f} s) | {tasks} | {seconds:.1f} | "
            f"{seconds / floor:.2f}× | {before} |"
        )


if __name__ == "__main__":
    main()
