"""Benchmark: does one more night cost the same after 720 days of history as after 90?

Two databases on the same server get the same kind of customer base (same scale factor and
seed) with 90 and with 720 days of history up to the night before NIGHT, built the way the
pipeline builds a first night. Then, in the same run, one more night is timed in each: the
ingest of its files, the whole nightly `dbt build` (every model, as the DAG runs it) and the
incremental models alone (best of five reruns of that night). Prints each time and the
ratio 720 ÷ 90; the target for the incremental models is ≤ 1.3. Not part of `make test`:

    .venv/bin/python bench/incremental.py --scale-factor 0.1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import psycopg

from customer_health.pipeline import build, ingest, prepare_build
from customer_health.settings import Settings, load_settings
from customer_health.synthetic.generator import GeneratorConfig, generate
from customer_health.transform.dbt import run_dbt
from customer_health.warehouse.connection import drop_database, warehouse_url

NIGHT = date(2026, 11, 26)
HISTORIES = (90, 720)
INCREMENTAL_MODELS = "int_usage_daily int_customer_health_daily"


def fresh_database(settings: Settings) -> Settings:
    admin = warehouse_url(replace(settings, database="postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        drop_database(conn, settings.database)
    return settings


def build_night(settings: Settings, night: date, run_id: str) -> dict:
    return build(settings, prepare_build(settings, night, run_id))


def timed(step, *args) -> tuple[float, object]:
    clock = time.perf_counter()
    result = step(*args)
    return time.perf_counter() - clock, result


def measure(history: int, scale_factor: float, folder: Path) -> dict[str, float]:
    landing = folder / f"landing-{history}"
    generate(
        landing,
        GeneratorConfig(scale_factor=scale_factor, days=history + 1, end_date=NIGHT, seed=11),
    )
    settings = fresh_database(
        replace(load_settings(), database=f"bench_history_{history}", landing_path=str(landing))
    )
    url = warehouse_url(settings)
    history_night = NIGHT - timedelta(days=1)
    first_ingest, _ = timed(ingest, settings, history_night, f"bench-history-{history}")
    first_build, _ = timed(build_night, settings, history_night, f"bench-history-{history}")
    print(
        f"{history} days: history ingested in {first_ingest:.1f} s, built in {first_build:.1f} s",
        flush=True,
    )
    run_id = f"bench-night-{history}"
    night_ingest, _ = timed(ingest, settings, NIGHT, run_id)
    night_build, summary = timed(build_night, settings, NIGHT, run_id)
    incremental = min(
        timed(
            run_dbt,
            settings,
            url,
            ["run", "--select", INCREMENTAL_MODELS],
            NIGHT,
            summary["build_schema"],
        )[0]
        for _ in range(5)
    )
    with psycopg.connect(url) as conn:
        rows = conn.execute("select count(*) from core.int_customer_health_daily").fetchone()[0]
    print(
        f"{history} days: night ingested in {night_ingest:.1f} s, built in {night_build:.1f} s,"
        f" incremental models {incremental:.1f} s ({rows:,} customer-days kept)",
        flush=True,
    )
    return {
        "ingest of the night's files": night_ingest,
        "nightly dbt build (all models)": night_build,
        "incremental models (int_usage_daily, int_customer_health_daily)": incremental,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale-factor", type=float, default=0.1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        short, long = (measure(days, args.scale_factor, Path(folder)) for days in HISTORIES)
    header = f"one more night, scale factor {args.scale_factor}"
    print(f"\n| {header} | 90 days s | 720 days s | ratio |")
    print("|---|---:|---:|---:|")
    for step, seconds in short.items():
        print(f"| {step} | {seconds:.1f} | {long[step]:.1f} | {long[step] / seconds:.2f}× |")


if __name__ == "__main__":
    main()
