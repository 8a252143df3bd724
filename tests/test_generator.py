"""The synthetic generator is deterministic and behaves like a real customer base."""

from __future__ import annotations

import csv
import hashlib
import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from customer_health.errors import GenerationError
from customer_health.synthetic.generator import GeneratorConfig, append_day, generate
from tests.helpers import TEST_DATA

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
    """The window's last three days appended one per night write the same bytes as the
    whole window generated at once, and each night writes only its own day's files."""
    generate(tmp_path, SMALL, through=SMALL.end_date - timedelta(days=3))
    for back in (2, 1, 0):
        before = digest(tmp_path)
        day = SMALL.end_date - timedelta(days=back)
        summary = append_day(tmp_path, day)
        after = digest(tmp_path)
        assert {path for path in after if after[path] != before.get(path)} == {
            path for path in after if f"/{day.isoformat()}/" in path
        }
        assert (summary.start_date, summary.end_date) == (day, day)
    assert digest(tmp_path) == digest(small)
    assert (tmp_path / ".generator.json").read_text() == (small / ".generator.json").read_text()


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
