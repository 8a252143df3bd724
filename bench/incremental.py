"""Benchmark: does one more night cost the same after 720 days of history as after 90?

Two databases on the same server get the same kind of customer base (same scale factor and
seed) with 90 and with 720 days of history up to the night before NIGHT, published by a first
night. Then, in the same run, one more whole night (`run_night`, as the DAG runs it) is timed
in each, stage by stage; then the raw gate over every file (`customer-health validate --full`)
and the incremental models alone (best of five reruns of that night). Prints each time, the
ratio 720 ÷ 90 and the machine's load. Not part of `make test`:

    .venv/bin/python bench/incremental.py --scale-factor 0.1
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from embedded_only import fresh_database, require_embedded_warehouse

from customer_health.pipeline import run_night, validate_raw
from customer_health.settings import load_settings
from customer_health.synthetic.generator import GeneratorConfig, generate
from customer_health.transform.dbt import run_dbt
from customer_health.warehouse.connection import warehouse_url

NIGHT = date(2026, 11, 26)
HISTORIES = (90, 720)
INCREMENTAL_MODELS = "int_usage_daily int_customer_health_daily int_customer_health_scored"
STAGES = ("ingest", "validate_raw", "build", "validate_marts", "publish", "dbt_docs")


def timed(step, *args, **kwargs) -> tuple[float, object]:
    clock = time.perf_counter()
    result = step(*args, **kwargs)
    return time.perf_counter() - clock, result


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def measure(history: int, scale_factor: float, folder: Path) -> dict[str, float]:
    landing = folder / f"landing-{history}"
    generate(
        landing,
        GeneratorConfig(scale_factor=scale_factor, days=history + 1, end_date=NIGHT, seed=11),
    )
    settings = fresh_database(
        replace(load_settings(), database=f"bench_history_{history}", landing_path=str(landing))
    )
    first_wall, first = timed(run_night, settings, NIGHT - timedelta(days=1), f"bench-h{history}")
    print(
        f"{history} days: first night {first_wall:.1f} s ("
        + ", ".join(f"{stage} {first[stage]['seconds']:.1f}" for stage in STAGES)
        + f"), load {load()}",
        flush=True,
    )
    night_load = load()
    night_wall, night = timed(run_night, settings, NIGHT, f"bench-night-{history}")
    full_gate, gate = timed(validate_raw, settings, f"bench-full-{history}", full=True)
    incremental = min(
        timed(
            run_dbt,
            settings,
            warehouse_url(settings),
            ["run", "--select", INCREMENTAL_MODELS],
            NIGHT,
            night["build"]["build_schema"],
        )[0]
        for _ in range(5)
    )
    print(
        f"{history} days: the night's raw gate checked {night['validate_raw']['files_checked']:,}"
        f" file(s), the full one {gate['files_checked']:,}; load before the night {night_load}",
        flush=True,
    )
    return {
        "whole night (run_night)": night_wall,
        **{f"  {stage}": night[stage]["seconds"] for stage in STAGES},
        "raw gate over every file (validate --full)": full_gate,
        "incremental models (int_usage_daily, int_customer_health_daily)": incremental,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale-factor", type=float, default=0.1)
    args = parser.parse_args()
    require_embedded_warehouse(load_settings())
    with tempfile.TemporaryDirectory() as folder:
        short, long = (measure(days, args.scale_factor, Path(folder)) for days in HISTORIES)
    header = f"one more night, scale factor {args.scale_factor}"
    print(f"\n| {header} | 90 days s | 720 days s | ratio |")
    print("|---|---:|---:|---:|")
    for step, seconds in short.items():
        ratio = f"{long[step] / seconds:.2f}×" if seconds else "—"
        print(f"| {step} | {seconds:.1f} | {long[step]:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
