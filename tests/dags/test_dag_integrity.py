"""Every DAG imports cleanly, fast, without touching a database, and follows team policy."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

from customer_health.settings import PROJECT_HOME

DAGS = PROJECT_HOME / "dags"


@pytest.fixture(scope="module")
def dagbag():
    # An unreachable warehouse: a DAG file that touched it at import time would fail or hang.
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    saved = os.environ.get("WAREHOUSE_URL")
    os.environ["WAREHOUSE_URL"] = "postgresql://nobody:wrong@127.0.0.1:9/none?connect_timeout=1"
    from airflow.dag_processing.dagbag import DagBag

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(DAGS))
    if saved is None:
        os.environ.pop("WAREHOUSE_URL")
    else:
        os.environ["WAREHOUSE_URL"] = saved
    bag.caught_warnings = [w for w in caught if str(DAGS) in str(w.filename)]
    return bag


def test_dags_import_without_errors_or_warnings(dagbag):
    assert dagbag.import_errors == {}
    assert dagbag.caught_warnings == []
    assert not dagbag.dag_warnings
    assert "customer_health_nightly" in dagbag.dag_ids


def test_dag_files_parse_in_under_a_second(dagbag):
    for stat in dagbag.dagbag_stats:
        assert stat.duration.total_seconds() < 1.0, stat


def test_every_dag_follows_team_policy(dagbag):
    assert set(dagbag.dag_ids) == {"customer_health_nightly", "customer_health_digest"}
    for dag in dagbag.dags.values():
        assert dag.max_active_runs == 1 and dag.tags and dag.doc_md, dag.dag_id
        for task in dag.tasks:
            assert task.retries >= 1 and task.retry_policy is not None, task.task_id
            assert task.execution_timeout is not None, task.task_id


def test_digest_runs_when_the_nightly_dag_publishes(dagbag):
    digest = dagbag.dags["customer_health_digest"]
    assets = digest.timetable.asset_condition.objects
    assert [asset.name for asset in assets] == ["analytics.customer_health"]


def test_nightly_dag_policy(dagbag):
    dag = dagbag.dags["customer_health_nightly"]
    assert [t.task_id for t in dag.topological_sort()] == [
        "ingest",
        "validate_raw",
        "build",
        "validate_marts",
        "publish",
        "summarize",
    ]
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.execution_timeout is not None, task.task_id
    publish = dag.get_task("publish")
    assert [outlet.name for outlet in publish.outlets] == ["analytics.customer_health"]


def test_no_airflow_2_idioms():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "AIR3", str(DAGS)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_data_errors_fail_fast_and_lock_timeouts_retry(dagbag):
    from airflow.sdk import RetryAction

    from customer_health.errors import DbtError, IngestError, PublishLockTimeout, QualityGateError

    policy = dagbag.dags["customer_health_nightly"].get_task("ingest").retry_policy
    for error in (IngestError("x"), DbtError("x"), QualityGateError("x")):
        assert policy.evaluate(error, 1, 3).action == RetryAction.FAIL
    assert policy.evaluate(PublishLockTimeout("x"), 1, 3).action == RetryAction.RETRY
    assert policy.evaluate(ConnectionError("x"), 1, 3).action == RetryAction.DEFAULT


def test_nightly_schedule_comes_from_the_settings(tmp_path):
    script = (
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS)!r})\n"
        "timetable = bag.dags['customer_health_nightly'].timetable\n"
        "print(timetable.expression, timetable.timezone)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "AIRFLOW_HOME": str(tmp_path),
            "NIGHTLY_SCHEDULE": "30 3 * * *",
            "NIGHTLY_TIMEZONE": "Europe/Berlin",
        },
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "30 3 * * * Europe/Berlin"
