"""The nightly DAG under a real deployment: api-server, scheduler, dag-processor and
triggerer started from the venv, PostgreSQL metadata, LocalExecutor, driven through the
REST API as a user drives it.

A night triggered through the API publishes what a CLI night over the same files publishes.
A night whose one mart errors fails at that model with one alert; once the model is fixed,
clearing its failed task through the API reruns that model and its tests alone, and the
gate and publish go on.
"""

from __future__ import annotations

import json
import os
from datetime import date, timedelta

import psycopg
import pytest

from customer_health.synthetic.generator import GeneratorConfig, generate
from tests.deployment.conftest import DAG, deployed, warehouse_db
from tests.helpers import break_model, cli, copy_project, fresh_database, table_checksums

pytestmark = pytest.mark.deployment

NIGHT = date(2026, 10, 31)
DATA = GeneratorConfig(scale_factor=0.01, days=60, end_date=NIGHT, seed=19)
# A mart no other model reads, with a dbt test of its own: Cosmos draws it as run and test.
BROKEN_MODEL = "fct_opportunity_outcomes"


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deploy-landing")
    generate(folder, DATA)
    return folder


@pytest.fixture(scope="module")
def project_home(tmp_path_factory):
    """A copy of the project the deployment runs from, so one test can break a model."""
    return copy_project(tmp_path_factory.mktemp("deploy-project"))


@pytest.fixture(scope="module")
def deployment(url, warehouse_env, landing, project_home, webhook, tmp_path_factory):
    with deployed(
        url,
        "local",
        tmp_path_factory.mktemp("airflow-deployment"),
        {
            "LANDING_PATH": str(landing),
            "REPORTS_DIR": str(tmp_path_factory.mktemp("deploy-reports")),
            "CUSTOMER_HEALTH_HOME": str(project_home),
            "ALERT_WEBHOOK_URL": webhook[0],
        },
    ) as running:
        yield running


@pytest.fixture
def db(url, deployment):
    with warehouse_db(url, "local") as conn:
        yield conn


def test_a_night_triggered_through_the_api_publishes_what_a_cli_night_publishes(
    deployment, db, url, landing, tmp_path
):
    _, api = deployment
    run_id = api.trigger(DAG, NIGHT)
    assert api.wait(DAG, run_id) == "success", api.failures(DAG, run_id)
    states = {task: ti["state"] for task, ti in api.task_instances(DAG, run_id).items()}
    assert {state for state in states.values()} == {"success"}, states
    assert {"ingest", "dbt.fct_mrr.run", "dbt.fct_mrr.test", "publish", "summarize"} <= set(states)

    cli_url = fresh_database(url, "deploy_cli")
    env = {
        **os.environ,
        "WAREHOUSE_DATABASE": "deploy_cli",
        "LANDING_PATH": str(landing),
        "REPORTS_DIR": str(tmp_path),
    }
    result = cli(env, "run", "--date", NIGHT.isoformat())
    assert result.returncode == 0, result.stderr[-3000:]
    with psycopg.connect(cli_url) as cli_db:
        assert table_checksums(db) == table_checksums(cli_db)
        assert table_checksums(db, "core") == table_checksums(cli_db, "core")


def test_clearing_a_failed_model_reruns_it_alone_and_the_night_publishes(
    deployment, db, project_home, webhook
):
    _, api = deployment
    hook, received = webhook
    good_sql = break_model(project_home, BROKEN_MODEL)
    night = NIGHT + timedelta(days=1)
    received.clear()
    run_id = api.trigger(DAG, night)
    assert api.wait(DAG, run_id) == "failed"
    before = api.task_instances(DAG, run_id)
    failed = sorted(task for task, ti in before.items() if ti["state"] == "failed")
    model_task = f"dbt.{BROKEN_MODEL}.run"
    assert model_task in failed
    alerts = [json.loads(body) for body in received]
    assert [(a["kind"], a["details"]["night"]) for a in alerts] == [
        ("night_failed", night.isoformat())
    ]
    assert db.execute(
        "select status, failed_step from ops.run_log where run_id = %s", [run_id]
    ).fetchall() == [("failed", alerts[0]["details"]["step"])]

    next((project_home / "dbt_project" / "models").rglob(f"{BROKEN_MODEL}.sql")).write_text(
        good_sql
    )
    cleared = api.clear_failed(DAG, run_id, [model_task])
    # The model, its tests and the stages after dbt; not the producer, not the other models.
    assert cleared == sorted(
        [model_task, f"dbt.{BROKEN_MODEL}.test", "dbt_finished", "validate_marts"]
        + ["publish", "dbt_docs", "summarize"]
    )
    assert api.wait(DAG, run_id) == "success", api.failures(DAG, run_id)
    after = api.task_instances(DAG, run_id)
    rerun = sorted(
        task for task in after if after[task]["try_number"] != before[task]["try_number"]
    )
    assert rerun == cleared
    assert after[model_task]["state"] == "success"
    assert after[model_task]["try_number"] == before[model_task]["try_number"] + 1
    assert (
        db.execute("select max(health_date) from analytics.dim_customer_health").fetchone()[0]
        == night
    )
    # The rerun that succeeded raised no failure alert. Its publish tells the band drops not
    # told yet: none when the night before was published here, all of them when run alone.
    kinds = [json.loads(body)["kind"] for body in received]
    assert [kind for kind in kinds if kind != "health_band_drop"] == ["night_failed"]
