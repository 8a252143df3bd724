"""dbt's own unit tests (hand-computed expectations in the models' YAML) pass on PostgreSQL,
and the README's worked example is the one those unit tests check."""

from __future__ import annotations

import os
import re
from decimal import Decimal

import yaml

from customer_health.settings import PROJECT_HOME
from customer_health.transform.dbt import AS_OF_DATE_ENV, dbt_environment, night_environment
from customer_health.warehouse.urls import with_database
from tests.helpers import NIGHT, dbt

NRR_YAML = PROJECT_HOME / "dbt_project/models/marts/revenue/fct_net_revenue_retention.yml"


def test_dbt_unit_tests_pass(url, scratch_conn):
    """Unit tests need their parents to exist; `run --empty` creates them without data."""
    scratch_url = with_database(url, scratch_conn.info.dbname)
    env = {
        **os.environ,
        **dbt_environment(scratch_url, "unit_test_build"),
        **night_environment(NIGHT),
    }
    for step in (["seed"], ["run", "--empty"]):
        result = dbt(*step, env=env)
        assert result.returncode == 0, result.stdout[-3000:]
    result = dbt("test", "--select", "test_type:unit", env=env)
    assert result.returncode == 0, result.stdout[-4000:]
    # Every unit test the models' YAML declares ran and passed, no more, no fewer.
    declared = sum(
        len(yaml.safe_load(path.read_text()).get("unit_tests") or [])
        for path in (PROJECT_HOME / "dbt_project" / "models").rglob("*.yml")
    )
    totals = re.search(r"PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", result.stdout)
    assert totals and totals.groups() == (str(declared), "0", "0", "0"), result.stdout[-2000:]


def _worked_example() -> dict:
    document = yaml.safe_load(NRR_YAML.read_text())
    return next(
        test
        for test in document["unit_tests"]
        if test["name"] == "nrr_worked_example_from_the_readme"
    )


def test_readme_worked_example_matches_the_unit_test():
    example = _worked_example()
    rows = next(g["rows"] for g in example["given"] if g["input"] == "ref('fct_mrr')")
    (expected,) = example["expect"]["rows"]
    readme = (PROJECT_HOME / "README.md").read_text()
    for row in rows:
        assert f"{row['mrr_usd']:,}" in readme, row
    start, end = expected["starting_mrr_usd"], expected["ending_mrr_usd"]
    nrr, grr = (
        Decimal(str(expected[k]))
        for k in ("net_revenue_retention_ratio", "gross_revenue_retention_ratio")
    )
    assert f"NRR = {end:,} ÷ {start:,} = **{nrr:.2%}**" in readme
    assert f"= **{grr:.2%}**" in readme
    assert f"= **{expected['quick_ratio']}**" in readme


def test_a_night_that_is_not_a_date_never_reaches_sql(url, scratch_conn, tmp_path):
    """The night's date reaches dbt as DBT_AS_OF_DATE; the models quote it as one literal,
    so a value carrying SQL stays a (bad) date instead of changing the query."""
    env = {
        **os.environ,
        **dbt_environment(with_database(url, scratch_conn.info.dbname), "x"),
        AS_OF_DATE_ENV: "2026-11-26' or true --",
    }
    result = dbt(
        "compile",
        "--select",
        "stg_nps__responses",
        env=env,
        target=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    compiled = next((tmp_path / "compiled").rglob("stg_nps__responses.sql")).read_text()
    assert "cast('2026-11-26'' or true --' as date)" in compiled
    assert "cast('2026-11-26' or true" not in compiled


def test_a_run_without_a_night_stops_instead_of_building_today(url, scratch_conn, tmp_path):
    """An empty DBT_AS_OF_DATE (a template that rendered nothing) is no night: dbt stops
    with what to set, before any SQL runs."""
    env = {
        **os.environ,
        **dbt_environment(with_database(url, scratch_conn.info.dbname), "x"),
        AS_OF_DATE_ENV: "",
    }
    result = dbt("compile", "--select", "stg_nps__responses", env=env, target=tmp_path)
    assert result.returncode == 2  # dbt's exit code for an error outside a node's SQL
    assert "no night to build: the pipeline sets DBT_AS_OF_DATE" in result.stdout
    assert not (tmp_path / "compiled").exists()
