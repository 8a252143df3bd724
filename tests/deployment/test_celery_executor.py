"""Scale-out on Celery, for real: Redis, two workers with their own names, and a worker
killed with SIGKILL in the middle of a night.

A night loses the worker running its mart gate: the scheduler finds the task's heartbeat
gone, the task is retried on the other worker, and the night publishes green, with no
failure alert. Both workers ran the night: the gate's first try on one, its retry on the
other.
"""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import date

import pytest

from customer_health.synthetic.generator import GeneratorConfig, generate
from tests.deployment.conftest import DAG, deployed, warehouse_db

pytestmark = pytest.mark.deployment

NIGHT = date(2026, 10, 31)
DATA = GeneratorConfig(scale_factor=0.01, days=60, end_date=NIGHT, seed=23)
WORKERS = ("worker-a", "worker-b")


@pytest.fixture(scope="module")
def celery(url, warehouse_env, webhook, tmp_path_factory):
    landing = tmp_path_factory.mktemp("celery-landing")
    generate(landing, DATA)
    with deployed(
        url,
        "celery",
        tmp_path_factory.mktemp("airflow-celery"),
        {
            "LANDING_PATH": str(landing),
            "REPORTS_DIR": str(tmp_path_factory.mktemp("celery-reports")),
            "ALERT_WEBHOOK_URL": webhook[0],
            # A lost worker is noticed within a minute and its task retried soon after.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "TASK_RETRY_DELAY_SECONDS": "5",
        },
        executor="CeleryExecutor",
        workers=WORKERS,
    ) as running:
        yield running


@pytest.fixture
def db(url, celery):
    with warehouse_db(url, "celery") as conn:
        yield conn


def test_a_night_on_two_workers_survives_losing_one_mid_night(celery, db, webhook):
    deployment, api = celery
    _, received = webhook
    run_id = api.trigger(DAG, NIGHT)
    deadline = time.monotonic() + 600
    while (gate := api.task_instances(DAG, run_id).get("validate_marts", {})).get(
        "state"
    ) != "running":
        assert time.monotonic() < deadline, "validate_marts never started"
        time.sleep(0.2)
    victim = gate["hostname"]
    assert victim in WORKERS
    os.killpg(deployment.processes[f"worker-{victim}"].pid, signal.SIGKILL)

    assert api.wait(DAG, run_id) == "success", api.failures(DAG, run_id)
    instances = api.task_instances(DAG, run_id)
    assert {ti["state"] for ti in instances.values()} == {"success"}
    retried = instances["validate_marts"]
    assert retried["try_number"] == 2
    assert retried["hostname"] == next(name for name in WORKERS if name != victim)
    assert db.execute(
        "select logical_date from ops.publish_log where run_id = %s", [run_id]
    ).fetchall() == [(NIGHT,)]
    kinds = [json.loads(body)["kind"] for body in received]
    assert "night_failed" not in kinds
    assert len(kinds) == len(set(json.loads(body)["idempotency_key"] for body in received))
