"""Measurement: how many band-drop alerts a year of customers brings, and whether the
customers who churned were warned in time, for several settings of health_alert_settings.

One customer base (scale factor, a year, one seed) is built once, the way a first night
builds it. Then, in the same run, fct_health_alerts is rebuilt for each (confirm_days,
cooldown_days) in a copy of the dbt project and compared with what the generator
simulated: which customers churned and on which day. A churned customer counts as warned
when an alert came at least 30 days before its churn day, within the 90 (or the 180) days
before it. confirm 1 / cool-down 0 is the old behaviour (every drop alerted). Not part of
`make test`:

    .venv/bin/python bench/alert_noise.py --scale-factor 0.2
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import psycopg
from embedded_only import fresh_database, require_embedded_warehouse
from psycopg import sql

from customer_health.pipeline import build, ingest, prepare_build
from customer_health.settings import PROJECT_HOME, load_settings
from customer_health.synthetic.generator import Customer, GeneratorConfig, generate
from customer_health.transform.dbt import run_dbt
from customer_health.warehouse.connection import warehouse_url

NIGHT = date(2026, 11, 26)
CONFIRM_DAYS = (1, 2, 3, 5)
COOLDOWN_DAYS = (0, 14, 30, 60)
WARNED_AT_LEAST_DAYS = 30
WARNED_WITHIN_DAYS = (90, 180)


def warned(churned: dict[str, date], alerts: list[tuple[str, date]], earliest: int) -> set[str]:
    latest = WARNED_AT_LEAST_DAYS
    return {
        customer
        for customer, alert_date in alerts
        if customer in churned
        and churned[customer] - timedelta(days=earliest)
        <= alert_date
        <= churned[customer] - timedelta(days=latest)
    }


def churned_customers(simulated: tuple[Customer, ...], first_day: date) -> dict[str, date]:
    """Customers that churned by the night with enough history before it to be warned."""
    return {
        c.customer_id: c.churn_day
        for c in simulated
        if c.churn_day is not None and first_day + timedelta(days=90) <= c.churn_day <= NIGHT
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale-factor", type=float, default=0.2)
    args = parser.parse_args()
    require_embedded_warehouse(load_settings())
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        shutil.copytree(
            PROJECT_HOME / "dbt_project",
            home / "dbt_project",
            ignore=shutil.ignore_patterns("logs", "target"),
        )
        landing = Path(folder) / "landing"
        config = GeneratorConfig(scale_factor=args.scale_factor, end_date=NIGHT, seed=11)
        generation = generate(landing, config)
        settings = replace(
            load_settings(), home=home, database="bench_alert_noise", landing_path=str(landing)
        )
        fresh_database(settings)
        run_id = "bench-alert-noise"
        ingest(settings, NIGHT, run_id)
        schema = build(settings, prepare_build(settings, NIGHT, run_id))["build_schema"]
        url = warehouse_url(settings)
        churned = churned_customers(generation.simulated, config.start_date)
        print(
            f"scale factor {args.scale_factor}: {generation.customers} customers, a year to"
            f" {NIGHT}, {len(churned)} churned with ≥ 90 days of history before churning",
            flush=True,
        )
        seed = home / "dbt_project" / "seeds" / "health_alert_settings.csv"
        rows = []
        for confirm in CONFIRM_DAYS:
            for cooldown in COOLDOWN_DAYS:
                seed.write_text(
                    f"setting,value\nconfirm_days,{confirm}\ncooldown_days,{cooldown}\n"
                )
                for step in (
                    ["seed", "--select", "health_alert_settings"],
                    ["run", "--select", "fct_health_alerts"],
                ):
                    run_dbt(settings, url, step, NIGHT, schema)
                with psycopg.connect(url) as conn:
                    alerts = conn.execute(
                        sql.SQL("select customer_id, alert_date from {}").format(
                            sql.Identifier(schema, "fct_health_alerts")
                        )
                    ).fetchall()
                per_customer: dict[str, int] = {}
                for customer, _ in alerts:
                    per_customer[customer] = per_customer.get(customer, 0) + 1
                warned_counts = [len(warned(churned, alerts, d)) for d in WARNED_WITHIN_DAYS]
                rows.append(
                    (
                        confirm,
                        cooldown,
                        len(alerts),
                        len(per_customer),
                        max(per_customer.values(), default=0),
                        *warned_counts,
                    )
                )
    within = " | ".join(
        f"churned warned {WARNED_AT_LEAST_DAYS}–{d} days ahead" for d in WARNED_WITHIN_DAYS
    )
    print(
        f"\n| confirm_days | cooldown_days | alerts in the year | customers alerted |"
        f" most for one customer | {within} |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for confirm, cooldown, count, customers, most, *warned_counts in rows:
        shares = " | ".join(
            f"{n} of {len(churned)} ({n / len(churned):.0%})" for n in warned_counts
        )
        print(f"| {confirm} | {cooldown} | {count} | {customers} | {most} | {shares} |")
    baseline = rows[0]  # confirm 1, cool-down 0: every drop alerted
    kept = [r for r in rows if r[5] >= baseline[5]]
    best = min(kept, key=lambda r: r[2])
    print(
        f"\nfewest alerts warning as many churned customers {WARNED_AT_LEAST_DAYS}–"
        f"{WARNED_WITHIN_DAYS[0]} days ahead as before: confirm_days {best[0]},"
        f" cooldown_days {best[1]} ({best[2]} alerts, {best[2] / baseline[2]:.0%} of {baseline[2]})"
    )
    print(f"machine load (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
