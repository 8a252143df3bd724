"""Benchmark: what seeing each dbt model as an Airflow task costs, against one `dbt build`.

Same data, same machine, one run. The generated landing files are ingested once; then the
same night's dbt work is done four ways:

    floor           one `dbt build` subprocess, as a person would run it
    single          the nightly DAG with DBT_EXECUTION_MODE=single (one `build` task)
    cosmos_local    the nightly DAG, one Cosmos task per model / seed / tests (a dbt run each)
    cosmos_watcher  the nightly DAG, one Cosmos producer `dbt build` + a task per node

Each DAG runs for real with `airflow dags test` in an Airflow home of its own; the dbt
stage's wall time is read from Airflow's metadata DB (first dbt task start to last end).
Not part of `make test`:

    .venv/bin/python bench/orchestration.py --scale-factor 0.05
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from customer_health.pipeline import ingest, prepare_build
from customer_health.settings import PROJECT_HOME, disable_telemetry, load_settings
from customer_health.synthetic.generator import GeneratorConfig, generate
from customer_health.transform.dbt import dbt_environment, dbt_vars
from customer_health.warehouse.connection import warehouse_url

NIGHT = date(2026, 11, 26)
BIN = Path(sys.executable).parent
MODES = ("single", "cosmos_local", "cosmos_watcher")


def floor_seconds(settings, url: str) -> float:
    prepared = prepare_build(settings, NIGHT, "bench-orchestration-floor")
    project = str(settings.dbt_project_dir)
    command = [
        str(BIN / "dbt"),
        "build",
        "--exclude",
        "test_type:unit",
        "--vars",
        json.dumps(dbt_vars(NIGHT)),
        "--project-dir",
        project,
        "--profiles-dir",
        project,
    ]
    env = {**os.environ, **dbt_environment(url, prepared["build_schema"])}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale-factor", type=float, default=0.05)
    args = parser.parse_args()
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
        floor = floor_seconds(settings, url)
        print(f"floor: one dbt build in {floor:.1f} s", flush=True)
        rows = {}
        for mode in MODES:
            rows[mode] = dag_run(mode, env, folder)
            print(f"{mode}: dbt stage {rows[mode][0]:.1f} s", flush=True)
    print(f"\n| dbt stage (scale factor {args.scale_factor}) | tasks | wall s | vs floor |")
    print("|---|---:|---:|---:|")
    print(f"| one `dbt build` subprocess (floor) | — | {floor:.1f} | 1.00× |")
    for mode, (seconds, whole, tasks) in rows.items():
        print(
            f"| DAG, {mode} (whole run {whole:.0f} s) | {tasks} | {seconds:.1f} | "
            f"{seconds / floor:.2f}× |"
        )


if __name__ == "__main__":
    main()
