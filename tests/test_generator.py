"""The synthetic generator is deterministic and behaves like a real customer base."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from customer_health.errors import GenerationError
from customer_health.ingest.contracts import ENTITIES
from customer_health.synthetic.generator import GeneratorConfig, append_day, generate
from tests.helpers import TEST_DATA, cli

SMALL = GeneratorConfig(scale_factor=0.02, days=200, seed=11)


def digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*.csv*"))
    }


def rows(root: Path, name: str) -> list[dict]:
    found = []
    for path in sorted(root.rglob(f"{name}.csv")):
        with path.open() as handle:
            found.extend(csv.DictReader(handle))
    return found


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gen")
    generate(root, SMALL)
    return root


def test_same_config_writes_identical_files(small, tmp_path):
    generate(tmp_path, SMALL)
    assert digest(tmp_path) == digest(small)


def test_a_history_written_night_by_night_is_the_one_written_at_once(small, tmp_path):
    """The window's last 30 days appended one per night, each by a fresh generator, write
    the same bytes as the whole window generated at once; each night writes only its own
    day's files. The nights cross the 1st of a month (invoices issued and paid) and close
    tickets opened before the first of them: what lands on a night but was decided earlier
    is drawn again, not remembered."""
    first_appended = SMALL.end_date - timedelta(days=29)
    generate(tmp_path, SMALL, through=first_appended - timedelta(days=1))
    for back in range(29, -1, -1):
        day = SMALL.end_date - timedelta(days=back)
        written_since = time.time_ns()
        summary = append_day(tmp_path, day)
        rewritten = {
            str(path.relative_to(tmp_path))
            for path in tmp_path.rglob("*.csv")
            if path.stat().st_mtime_ns >= written_since
        }
        assert rewritten == {f"{e.source}/{day}/{e.name}.csv" for e in ENTITIES}
        assert (summary.start_date, summary.end_date) == (day, day)
    assert digest(tmp_path) == digest(small)
    assert (tmp_path / ".generator.json").read_text() == (small / ".generator.json").read_text()

    appended = [
        row
        for back in range(30)
        for row in rows(
            tmp_path / "billing" / str(SMALL.end_date - timedelta(days=back)), "invoices"
        )
    ]
    issued_on_the_first = {r["invoice_id"] for r in appended if r["status"] == "open"}
    assert issued_on_the_first and {r["issued_at"][8:] for r in appended} == {"01"}
    assert any(r["status"] == "paid" and r["invoice_id"] in issued_on_the_first for r in appended)
    closed_from_before = [
        r
        for back in range(30)
        for r in rows(tmp_path / "support" / str(SMALL.end_date - timedelta(days=back)), "tickets")
        if r["closed_at"] and r["opened_at"] < first_appended.isoformat()
    ]
    assert closed_from_before


def test_days_appended_after_the_window_continue_the_same_customers(small, tmp_path):
    direct, appended = tmp_path / "direct", tmp_path / "appended"
    last = SMALL.end_date + timedelta(days=2)
    summary = generate(direct, SMALL, through=last)
    shutil.copytree(small, appended)
    append_day(appended, SMALL.end_date + timedelta(days=1))
    append_day(appended, last)
    assert digest(appended) == digest(direct)
    using = {r["customer_id"] for r in rows(direct / "usage" / last.isoformat(), "events")}
    active = {c.customer_id for c in summary.simulated if c.active_on(last)}
    assert using and using <= active


def test_appending_a_day_that_does_not_follow_the_history_is_refused(small, tmp_path):
    shutil.copytree(small, tmp_path / "landing")
    following = SMALL.end_date + timedelta(days=1)
    with pytest.raises(GenerationError) as refused:
        append_day(tmp_path / "landing", following + timedelta(days=1))
    assert str(refused.value) == (
        f"cannot append {following + timedelta(days=1)}: {tmp_path / 'landing'} holds "
        f"generated days through {SMALL.end_date}, so the next day is {following}"
    )
    with pytest.raises(GenerationError, match="generate a history before appending days"):
        append_day(tmp_path / "empty", following)


def test_another_seed_writes_other_data(small, tmp_path):
    generate(tmp_path, replace(SMALL, seed=12))
    assert digest(tmp_path) != digest(small)


def test_layout_is_one_folder_per_source_and_day(small):
    days = sorted(p.name for p in (small / "usage").iterdir())
    assert len(days) == SMALL.days
    assert days[0] == SMALL.start_date.isoformat() and days[-1] == SMALL.end_date.isoformat()
    for source, entity in [
        ("billing", "customers"),
        ("billing", "subscriptions"),
        ("billing", "invoices"),
        ("billing", "products"),
        ("usage", "events"),
        ("nps", "responses"),
        ("support", "tickets"),
    ]:
        assert (small / source / days[-1] / f"{entity}.csv").exists()


def test_behaviour_has_churn_expansion_and_annual_plans(small):
    items = rows(small, "subscriptions")
    canceled = {r["customer_id"] for r in items if r["status"] == "canceled"}
    per_customer_products: dict[str, set] = {}
    for r in items:
        per_customer_products.setdefault(r["customer_id"], set()).add(r["product_id"])
    assert canceled, "some customers churn or contract"
    assert any(r["billing_period"] == "year" for r in items)
    assert any(r["billing_period"] == "month" for r in items)
    assert any(len(p) > 1 for p in per_customer_products.values())
    scores = [int(r["score"]) for r in rows(small, "responses")]
    assert min(scores) <= 6 and max(scores) >= 9


def latest_items(root: Path) -> dict[str, dict]:
    """The latest restatement of every subscription item (files are read in date order)."""
    return {row["subscription_item_id"]: row for row in rows(root, "subscriptions")}


def daily_events(root: Path, customers: set[str]) -> dict[tuple[str, date], int]:
    counts: dict[tuple[str, date], int] = {}
    for path in sorted((root / "usage").rglob("events.csv")):
        day = date.fromisoformat(path.parent.name)
        with path.open() as handle:
            for row in csv.DictReader(handle):
                if row["customer_id"] in customers:
                    key = (row["customer_id"], day)
                    counts[key] = counts.get(key, 0) + 1
    return counts


def test_churn_is_preceded_by_falling_usage(tmp_path):
    config = GeneratorConfig(scale_factor=0.05, days=365, seed=3)
    generate(tmp_path, config)
    end_dates: dict[str, set[str]] = {}
    for item in latest_items(tmp_path).values():
        end_dates.setdefault(item["customer_id"], set()).add(item["end_date"])
    churn_day = {
        customer: date.fromisoformat(ends.pop())
        for customer, ends in end_dates.items()
        if len(ends) == 1 and "" not in ends
    }
    assert len(churn_day) >= 3
    events = daily_events(tmp_path, set(churn_day))

    def events_between(customer: str, days_before_from: int, days_before_to: int) -> int:
        end = churn_day[customer]
        return sum(
            events.get((customer, end - timedelta(days=d)), 0)
            for d in range(days_before_from, days_before_to)
        )

    falling = [c for c in churn_day if events_between(c, 1, 31) < events_between(c, 91, 121)]
    assert len(falling) / len(churn_day) > 0.7


@pytest.mark.parametrize("config", [TEST_DATA, GeneratorConfig()], ids=["test-scale", "demo-scale"])
def test_accounts_have_several_active_buying_centers(config, tmp_path):
    """Some parent accounts have two or more active buying centers under them, at the scale
    of the tests and of the demo, and the files state the structure the generator planned:
    each child created on or after its parent, under a parent that has none."""
    summary = generate(tmp_path, config)
    customers = {row["customer_id"]: row for row in rows(tmp_path, "customers")}
    simulated = {c.customer_id: c for c in summary.simulated}
    assert {k: r["parent_customer_id"] or None for k, r in customers.items()} == {
        k: c.parent_id for k, c in simulated.items()
    }
    for row in customers.values():
        parent = customers.get(row["parent_customer_id"])
        if parent:
            assert parent["created_at"] <= row["created_at"] and not parent["parent_customer_id"]

    night = config.end_date.isoformat()
    active_in_files = {
        item["customer_id"]
        for item in latest_items(tmp_path).values()
        if item["start_date"] <= night and (not item["end_date"] or item["end_date"] > night)
    }
    active_children = {
        account: sorted(
            c.customer_id
            for c in members
            if c.customer_id != account and c.active_on(config.end_date)
        )
        for account, members in summary.accounts().items()
    }
    in_files = {
        account: sorted(
            k
            for k, r in customers.items()
            if r["parent_customer_id"] == account and k in active_in_files
        )
        for account in active_children
    }
    assert in_files == active_children
    assert max(len(children) for children in active_children.values()) >= 2, active_children


def test_the_command_line_appends_a_day_and_refuses_what_would_not_continue_the_history(
    tmp_path,
):
    env, landing = dict(os.environ), str(tmp_path)
    window = ["--scale-factor", "0.01", "--days", "10", "--end-date", "2026-11-20"]
    generated = cli(env, "generate", *window, "--landing", landing)
    assert generated.returncode == 0, generated.stderr
    appended = cli(env, "generate", "--append-day", "2026-11-21", "--landing", landing)
    assert appended.returncode == 0, appended.stderr
    assert re.fullmatch(
        r"wrote [\d,]+ rows for 10 customers, 2026-11-21 to 2026-11-21 \(\d+ spoiled\) under "
        + re.escape(landing)
        + "\n",
        appended.stdout,
    )

    with_a_seed = cli(env, "generate", "--append-day", "2026-11-22", "--seed", "3")
    assert with_a_seed.returncode == 2
    assert "cannot be combined with --seed" in with_a_seed.stderr
    not_a_day = cli(env, "generate", "--append-day", "22/11/2026", "--landing", landing)
    assert not_a_day.returncode == 2
    assert "Invalid value for '--append-day'" in not_a_day.stderr
    a_gap = cli(env, "generate", "--append-day", "2026-11-23", "--landing", landing)
    assert (a_gap.returncode, a_gap.stderr) == (
        1,
        f"error: cannot append 2026-11-23: {landing} holds generated days through 2026-11-21, "
        "so the next day is 2026-11-22\n",
    )
    assert not (tmp_path / "usage" / "2026-11-23").exists()
