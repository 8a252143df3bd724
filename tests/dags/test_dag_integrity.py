"""Every DAG imports cleanly, without touching a database, and follows team policy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from customer_health.settings import PROJECT_HOME

DAGS = PROJECT_HOME / "dags"


def run_python(script: str, airflow_home: Path, **env: str) -> list[str]:
    """Run a script in a fresh interpreter (a clean Airflow and Cosmos import); its last line."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "AIRFLOW_HOME": str(airflow_home), **env},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1].split()


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


def test_every_dag_follows_team_policy(dagbag):
    assert set(dagbag.dag_ids) == {"customer_health_nightly", "customer_health_digest"}
    for dag in dagbag.dags.values():
        assert dag.max_active_runs == 1 and dag.tags and dag.doc_md, dag.dag_id
        for task in dag.tasks:
            # The watcher's producer never retries: Cosmos would skip the retry (cosmos_group.py).
            producer = type(task).__name__ == "DbtProducerWatcherOperator"
            assert (task.retries == 0) if producer else (task.retries >= 1), task.task_id
            assert task.retry_policy is not None, task.task_id
            assert task.execution_timeout is not None, task.task_id
            assert task.on_failure_callback, task.task_id


def test_digest_runs_when_the_nightly_dag_publishes(dagbag):
    digest = dagbag.dags["customer_health_digest"]
    assets = digest.timetable.asset_condition.objects
    assert [asset.name for asset in assets] == ["analytics.customer_health"]


def test_nightly_dag_policy(dagbag):
    dag = dagbag.dags["customer_health_nightly"]
    steps = [t.task_id for t in dag.topological_sort() if not t.task_id.startswith("dbt.")]
    assert steps == [
        "ingest",
        "validate_raw",
        "prepare_build",
        "dbt_finished",
        "validate_marts",
        "publish",
        "dbt_docs",
        "summarize",
    ]
    for task in dag.tasks:
        assert task.on_execute_callback, task.task_id  # every step holds the night first
    assert dag.get_task("dbt_finished").trigger_rule == "all_done"
    assert dag.on_failure_callback
    publish = dag.get_task("publish")
    assert [outlet.name for outlet in publish.outlets] == ["analytics.customer_health"]


def _manifest_nodes(resource_type: str) -> dict:
    manifest = json.loads((PROJECT_HOME / "dbt_project/target/manifest.json").read_text())
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == resource_type and node["package_name"] == "customer_health"
    }


def test_every_dbt_model_is_a_task_with_its_tests_right_after_it(dagbag):
    dag = dagbag.dags["customer_health_nightly"]
    tasks = dag.task_dict
    tested = {
        node["attached_node"].rsplit(".", 1)[-1]
        for node in _manifest_nodes("test").values()
        if node.get("attached_node")
    }
    models = _manifest_nodes("model")
    assert len(models) >= 30
    for model in models:
        if model in tested:
            run, test = tasks[f"dbt.{model}.run"], tasks[f"dbt.{model}.test"]
            assert test.upstream_task_ids == {run.task_id}, model
        else:
            assert f"dbt.{model}_run" in tasks, model
    # The marts gate waits for every model and its tests.
    finished = dag.get_task("dbt_finished")
    assert "dbt.dbt_producer_watcher_done" in finished.upstream_task_ids
    assert dag.get_task("validate_marts").upstream_task_ids == {"dbt_finished"}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("single", "_PythonDecoratedOperator"),
        ("cosmos_local", "DbtRunLocalOperator"),
        ("cosmos_watcher", "DbtRunWatcherOperator"),
    ],
)
def test_the_dbt_execution_mode_is_selectable(mode, expected, tmp_path):
    script = (
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS)!r})\n"
        "dag = bag.dags['customer_health_nightly']\n"
        "task = dag.task_dict.get('build') or dag.task_dict['dbt.fct_mrr.run']\n"
        "print(type(task).__name__, len(dag.tasks))"
    )
    operator, task_count = run_python(script, tmp_path, DBT_EXECUTION_MODE=mode)
    assert operator == expected
    assert (int(task_count) == 8) == (mode == "single")


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
    expression = run_python(
        script, tmp_path, NIGHTLY_SCHEDULE="30 3 * * *", NIGHTLY_TIMEZONE="Europe/Berlin"
    )
    assert " ".join(expression) == "30 3 * * * Europe/Berlin"


def test_the_dbt_group_of_a_project_twice_this_size_renders_every_model(tmp_path):
    """Every model (and its tests) copied once more: the group draws them all from the
    manifest, without running dbt (how long that takes: `make bench-dag-parse`)."""
    manifest = json.loads((PROJECT_HOME / "dbt_project/target/manifest.json").read_text())
    own = {
        key: node
        for key, node in manifest["nodes"].items()
        if node["package_name"] == "customer_health"
        and (
            node["resource_type"] == "model"
            or (node["resource_type"] == "test" and len(node["depends_on"]["nodes"]) == 1)
        )
    }
    for key, node in own.items():
        copy = json.loads(json.dumps(node))
        copy["unique_id"], copy["name"] = f"{key}_copy", f"{node['name']}_copy"
        copy["depends_on"]["nodes"] = [
            f"{parent}_copy" if parent in own else parent for parent in node["depends_on"]["nodes"]
        ]
        if copy.get("attached_node"):
            copy["attached_node"] += "_copy"
        manifest["nodes"][copy["unique_id"]] = copy
    project = tmp_path / "dbt_project"
    (project / "target").mkdir(parents=True)
    (project / "models").mkdir()
    (project / "target/manifest.json").write_text(json.dumps(manifest))
    for name in ("dbt_project.yml", "profiles.yml"):
        (project / name).write_text((PROJECT_HOME / "dbt_project" / name).read_text())
    script = (
        "from dataclasses import replace\n"
        "from pathlib import Path\n"
        "from airflow.sdk import DAG\n"
        "from customer_health.settings import load_settings\n"
        "from customer_health.transform.cosmos_group import dbt_task_group\n"
        f"settings = replace(load_settings(), home=Path({str(tmp_path)!r}))\n"
        "with DAG('sized', schedule=None) as dag:\n"
        "    dbt_task_group(settings, 'cosmos_watcher')\n"
        "print(sum(t.task_id.endswith(('.run', '_run')) for t in dag.tasks))"
    )
    (models,) = run_python(script, tmp_path)
    assert int(models) == 2 * sum(node["resource_type"] == "model" for node in own.values())
