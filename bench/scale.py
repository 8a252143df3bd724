"""Benchmark: what a first night and the next night cost as the customer base and its history grow.

For each scale factor (SF 1 = 1,000 customers) the generator writes a year up to the night
before NIGHT; a first night loads and publishes it; then ``append_day`` writes NIGHT alone and
the next night runs, as a nightly deployment would see it. The next night runs --repeats
times, each on the warehouse as the first night left it (a copy kept as a template), and the
tables show the run of median wall time: one run is too noisy for a 1.2× target. The same is
done at one scale factor with 90 and with 720 days of history, their next nights taking turns
so that both see the same machine. The generator alone writes the first 30 days (and appends
the 31st) at the largest scale factors, to show its memory stays flat, and a first night at
a tiny scale factor measures the floor every first night pays. Every step runs in a
process of its own (`run_night`, as the DAG runs it), its wall time and peak RSS measured
from outside; stage times come from the night's own summary. Prints the tables, the targets
of issue 15 against what was measured, and the load average before each step. Not part of
`make test`:

    .venv/bin/python bench/scale.py --scale-factors 0.1 1 3 --history-scale-factor 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import psycopg
from child_process import run_measured
from embedded_only import admin_connection, require_embedded_warehouse
from incremental import load
from psycopg import sql

from customer_health.gc_pauses import skip_collections_at_exit
from customer_health.logs import configure_logging
from customer_health.pipeline import run_night
from customer_health.settings import load_settings
from customer_health.synthetic.generator import GeneratorConfig, append_day, generate
from customer_health.warehouse.connection import drop_database

NIGHT = date(2026, 11, 26)
SEED = 11
STAGES = ("ingest", "validate_raw", "build", "validate_marts", "publish", "dbt_docs")
GENERATOR_ONLY_DAYS = 30


@dataclass
class Step:
    wall: float
    rss: float
    load: str
    result: dict = field(default_factory=dict)
    walls: list[float] = field(default_factory=list)  # of every run, for a repeated step

    @property
    def rows(self) -> int:
        return self.result.get("ingest", {}).get("rows_loaded", self.result.get("rows", 0))

    def rows_per_second(self) -> float:
        """Over the whole step, its process start-up included."""
        return self.rows / self.wall

    def ingest_rows_per_second(self) -> float:
        return self.rows / max(self.result["ingest"]["seconds"], 0.1)


def config(scale_factor: float, days: int) -> GeneratorConfig:
    """The window ends the night before NIGHT: NIGHT itself is appended, as on a real night."""
    return GeneratorConfig(
        scale_factor=scale_factor,
        days=days,
        end_date=NIGHT - timedelta(days=1),
        seed=SEED,
        bad_row_rate=0.0005,
    )


def child(args: argparse.Namespace) -> dict:
    """One step, in this (child) process; returns what the parent prints."""
    if args.child == "generate":
        window = config(args.scale_factor, args.days)
        through = None
        if args.through_days:
            through = window.start_date + timedelta(days=args.through_days - 1)
        summary = generate(args.landing, window, through)
        return {"rows": summary.rows, "bad_rows": summary.bad_rows}
    if args.child == "append":
        summary = append_day(args.landing, date.fromisoformat(args.day))
        return {"rows": summary.rows, "bad_rows": summary.bad_rows}
    configure_logging("WARNING")  # the night's per-file log lines would bury the tables
    # Reports, and the dbt parses kept beside them, by warehouse: as a deployment keeps them.
    # Shared, the warehouses taking turns would each find the other's parse and parse in full.
    settings = replace(
        load_settings(),
        database=args.database,
        landing_path=str(args.landing),
        reports_dir=args.landing.with_name(f"{args.landing.name}-reports"),
    )
    night = run_night(settings, date.fromisoformat(args.day), f"bench-{args.database}-{args.day}")
    return {stage: night[stage] for stage in STAGES}


def step(what: str, *options: str) -> Step:
    """Run one step in a child process; it leaves its result in a JSON file."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        before = load()
        argv = [sys.executable, __file__, "--child", *options, "--out", out.name]
        wall, rss = run_measured(argv, dict(os.environ), what)
        result = json.loads(Path(out.name).read_text())
    print(f"  {what}: {wall:.1f} s, peak RSS {rss:,.0f} MiB, load before {before}", flush=True)
    return Step(wall, rss, before, result)


@dataclass
class Warehouse:
    """One scale factor and history, its first night published and NIGHT's files landed."""

    label: str
    landing: str
    database: str
    steps: dict[str, Step]
    next_nights: list[Step] = field(default_factory=list)

    @property
    def first_night_copy(self) -> str:
        return f"{self.database}_first"

    def run_next_night(self) -> None:
        """NIGHT on the warehouse as the first night left it, restored from its copy: every
        run starts from the same state, none from what the run before it left."""
        with admin_connection(load_settings()) as conn:
            drop_database(conn, self.database)
            copy_database(conn, self.first_night_copy, self.database)
        options = ["--landing", self.landing, "--database", self.database, "--day", str(NIGHT)]
        self.next_nights.append(step("next night", "night", *options))

    def finish(self) -> dict[str, Step]:
        """Drop the databases and files; the steps, and the median next night as "next night"
        (the later of the two middle runs for an even count)."""
        by_wall = sorted(self.next_nights, key=lambda night: night.wall)
        self.remove()
        walls = [night.wall for night in self.next_nights]
        return {**self.steps, "next night": replace(by_wall[len(by_wall) // 2], walls=walls)}

    def remove(self) -> None:
        with admin_connection(load_settings()) as conn:
            drop_database(conn, self.database)
            drop_database(conn, self.first_night_copy)
        shutil.rmtree(self.landing)
        shutil.rmtree(f"{self.landing}-reports")


def copy_database(conn: psycopg.Connection, source: str, copy: str) -> None:
    """Copied file by file between two checkpoints: the default strategy writes the whole
    warehouse through the WAL, and the checkpoints that follow would run into the night
    timed next (one after another, 15 s apart, at SF 1: 17.8, 20.2, 22.3 s)."""
    conn.execute(
        sql.SQL("create database {} template {} strategy file_copy").format(
            sql.Identifier(copy), sql.Identifier(source)
        )
    )


def first_night(label: str, tag: str, scale_factor: float, days: int, folder: Path) -> Warehouse:
    """Generate the history up to the night before NIGHT and run its first night."""
    landing = str(folder / tag)
    warehouse = Warehouse(label, landing, f"bench_scale_{tag}".replace("-", "_"), {})
    with admin_connection(load_settings()) as conn:
        drop_database(conn, warehouse.database)
        drop_database(conn, warehouse.first_night_copy)
    print(f"{label}:", flush=True)
    window = ["--landing", landing, "--scale-factor", str(scale_factor), "--days", str(days)]
    day = str(NIGHT - timedelta(1))
    night = ["--landing", landing, "--database", warehouse.database, "--day", day]
    warehouse.steps["generate"] = step("generate", "generate", *window)
    warehouse.steps["first night"] = step("first night", "night", *night)
    return warehouse


def prepare(scale_factor: float, days: int, folder: Path) -> Warehouse:
    """The first night, a copy of the warehouse it left, and NIGHT's files appended."""
    tag = f"sf{scale_factor:g}-d{days}".replace(".", "_")
    warehouse = first_night(f"SF {scale_factor:g}, {days} days", tag, scale_factor, days, folder)
    with admin_connection(load_settings()) as conn:
        copy_database(conn, warehouse.database, warehouse.first_night_copy)
    append = ["--landing", warehouse.landing, "--day", str(NIGHT)]
    warehouse.steps["append-day"] = step("append-day", "append", *append)
    return warehouse


def measure_floor(scale_factor: float, folder: Path) -> Warehouse:
    """A first night of a year's files (as many as at every scale factor) holding few rows:
    what every first night pays whatever its size (per file, per dbt invocation, imports)."""
    tag = f"floor-sf{scale_factor:g}".replace(".", "_")
    label = f"SF {scale_factor:g}, 365 days (floor)"
    warehouse = first_night(label, tag, scale_factor, 365, folder)
    warehouse.remove()
    return warehouse


def measure_generator(scale_factor: float, folder: Path) -> dict[str, Step]:
    """The generator alone at a scale the nights would not fit into this run."""
    landing = str(folder / f"generator-sf{scale_factor:g}")
    window = ["--scale-factor", str(scale_factor), "--days", "365"]
    print(f"SF {scale_factor:g}, generator only:", flush=True)
    first = step(
        f"generate {GENERATOR_ONLY_DAYS} days",
        *("generate", "--landing", landing, *window),
        *("--through-days", str(GENERATOR_ONLY_DAYS)),
    )
    day = config(scale_factor, 365).start_date + timedelta(days=GENERATOR_ONLY_DAYS)
    steps = {
        f"generate {GENERATOR_ONLY_DAYS} days": first,
        "append-day": step("append-day", "append", "--landing", landing, "--day", str(day)),
    }
    shutil.rmtree(landing)
    return steps


def print_generator(runs: dict[str, dict[str, Step]]) -> None:
    print("\n| generator | rows | wall s | rows/s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    for label, steps in runs.items():
        for name, measured in steps.items():
            if name in ("first night", "next night"):
                continue
            print(
                f"| {label}: {name} | {measured.rows:,} | {measured.wall:.1f} | "
                f"{measured.rows_per_second():,.0f} | {measured.rss:,.0f} |"
            )


def print_nights(runs: dict[str, dict[str, Step]], night: str) -> None:
    print(
        f"\n| {night} | wall s{' (median; each run)' if night == 'next night' else ''} | "
        + " | ".join(STAGES)
        + " | rows loaded | rows/s (night) | rows/s (ingest) | peak RSS MiB | load before |"
    )
    print("|---|---:|" + "---:|" * len(STAGES) + "---:|---:|---:|---:|---|")
    for label, steps in runs.items():
        if night not in steps:
            continue
        measured = steps[night]
        stages = " | ".join(f"{measured.result[s]['seconds']:.1f}" for s in STAGES)
        wall = f"{measured.wall:.1f}"
        if len(measured.walls) > 1:
            wall += " (" + ", ".join(f"{each:.1f}" for each in measured.walls) + ")"
        print(
            f"| {label} | {wall} | {stages} | {measured.rows:,} | "
            f"{measured.rows_per_second():,.0f} | {measured.ingest_rows_per_second():,.0f} | "
            f"{measured.rss:,.0f} | {measured.load} |"
        )


def print_histories(
    short: dict[str, Step], long: dict[str, Step], short_days: int, long_days: int
) -> float:
    print(f"\n| next night (the median run) | {short_days} days s | {long_days} days s | ratio |")
    print("|---|---:|---:|---:|")
    pairs = [("whole night (process wall)", short["next night"].wall, long["next night"].wall)]
    pairs += [
        (
            f"  {stage}",
            short["next night"].result[stage]["seconds"],
            long["next night"].result[stage]["seconds"],
        )
        for stage in STAGES
    ]
    for name, a, b in pairs:
        ratio = f"{b / a:.2f}×" if a else "—"
        print(f"| {name} | {a:.1f} | {b:.1f} | {ratio} |")
    return long["next night"].wall / short["next night"].wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale-factors", type=float, nargs="+", default=[0.1, 1, 3])
    parser.add_argument("--history-scale-factor", type=float, default=1)
    parser.add_argument("--histories", type=int, nargs=2, default=[90, 720])
    parser.add_argument("--generator-scale-factors", type=float, nargs="*", default=[10])
    parser.add_argument("--floor-scale-factor", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=3, help="next nights per warehouse")
    parser.add_argument("--child", choices=("generate", "append", "night"))
    parser.add_argument("--landing", type=Path)
    parser.add_argument("--scale-factor", type=float)
    parser.add_argument("--days", type=int)
    parser.add_argument("--through-days", type=int, default=0)
    parser.add_argument("--day")
    parser.add_argument("--database")
    parser.add_argument("--out")
    args = parser.parse_args()
    require_embedded_warehouse(load_settings())
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.child:
        skip_collections_at_exit()  # as the CLI's process does
        Path(args.out).write_text(json.dumps(child(args), default=str))
        return
    runs: dict[str, dict[str, Step]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for scale_factor in args.scale_factors:
            warehouse = prepare(scale_factor, 365, Path(folder))
            for _ in range(args.repeats):
                warehouse.run_next_night()
            runs[warehouse.label] = warehouse.finish()
        short_days, long_days = args.histories
        histories = [
            prepare(args.history_scale_factor, days, Path(folder))
            for days in (short_days, long_days)
        ]
        print(f"next nights after {short_days} and {long_days} days, taking turns:", flush=True)
        for _ in range(args.repeats):
            for warehouse in histories:
                warehouse.run_next_night()
        short, long = (warehouse.finish() for warehouse in histories)
        runs[histories[0].label] = short
        runs[histories[1].label] = long
        floor = measure_floor(args.floor_scale_factor, Path(folder))
        runs[floor.label] = floor.steps
        generator_only = {
            f"SF {scale_factor:g}": measure_generator(scale_factor, Path(folder))
            for scale_factor in args.generator_scale_factors
        }
    print_generator({**runs, **generator_only})
    print_nights(runs, "first night")
    print_nights(runs, "next night")
    history_ratio = print_histories(short, long, short_days, long_days)
    firsts = [runs[f"SF {sf:g}, 365 days"]["first night"] for sf in args.scale_factors]
    fastest = max(firsts, key=Step.rows_per_second)
    slowest = min(firsts, key=Step.rows_per_second)
    night = fastest.rows_per_second() / slowest.rows_per_second()
    ingest = max(f.ingest_rows_per_second() for f in firsts) / min(
        f.ingest_rows_per_second() for f in firsts
    )
    print("\ntargets (issue 15), measured:")
    print(
        f"- next night, {long_days} ÷ {short_days} days of history: {history_ratio:.2f}× (≤ 1.2×)"
    )
    print(
        f"- first-night rows/s, fastest ÷ slowest scale factor: {night:.2f}× for the night, "
        f"{ingest:.2f}× for its ingest (≤ 1.5×)"
    )
    within = slowest.rows / (fastest.rows_per_second() / 1.5)
    floor_night = floor.steps["first night"]
    print(
        f"- the first night's floor (SF {args.floor_scale_factor:g}: {floor_night.rows:,} rows, "
        f"the same year of files): {floor_night.wall:.1f} s; within 1.5×, the slowest scale "
        f"factor's first night ({slowest.rows:,} rows, {slowest.wall:.1f} s) would end in "
        f"{within:.1f} s"
    )
    beyond = {
        sf: (f.rows - floor_night.rows) / (f.wall - floor_night.wall)
        for sf, f in zip(args.scale_factors, firsts, strict=True)
        if sf > args.floor_scale_factor
    }
    if beyond:
        print(
            "- first-night rows/s beyond the floor (rows and seconds over the floor's): "
            + " / ".join(f"SF {sf:g} {each:,.0f}" for sf, each in beyond.items())
            + f", fastest ÷ slowest {max(beyond.values()) / min(beyond.values()):.2f}×"
        )
    one_year = runs.get(f"SF {args.history_scale_factor:g}, 365 days")
    if one_year is None:
        print("- next night after a year: not measured (add the history SF to --scale-factors)")
    else:
        print(
            f"- next night at SF {args.history_scale_factor:g} after a year: "
            f"{one_year['next night'].wall:.1f} s (≤ 20 s)"
        )


if __name__ == "__main__":
    main()
