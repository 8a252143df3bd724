"""What the deployment tests share: a webhook that records alerts, a deployment on databases
of the module's own, signed in and with the nightly DAG parsed and unpaused."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from customer_health.deployment import local
from customer_health.deployment.rest import AirflowApi
from customer_health.settings import load_settings
from customer_health.warehouse.urls import with_database
from tests.helpers import capture_webhooks, fresh_database

DAG = "customer_health_nightly"


@pytest.fixture(scope="module")
def webhook():
    with capture_webhooks() as (hook, received):
        yield hook, received


@contextmanager
def warehouse_db(url: str, name: str) -> Iterator[psycopg.Connection]:
    """A connection to the warehouse database of deployment ``name``."""
    with psycopg.connect(with_database(url, f"deploy_{name}"), autocommit=True) as conn:
        yield conn


@contextmanager
def deployed(
    url: str,
    name: str,
    home,
    extra_env: dict[str, str],
    executor: str = "LocalExecutor",
    workers: tuple[str, ...] = (),
) -> Iterator[tuple[local.Deployment, AirflowApi]]:
    """A deployment whose warehouse database is ``deploy_<name>`` and metadata database
    ``airflow_<name>``, both new: runs of other modules stay out of it."""
    fresh_database(url, f"deploy_{name}")
    fresh_database(url, f"airflow_{name}")
    running = local.start(
        load_settings(),
        home,
        executor=executor,
        metadata_database=f"airflow_{name}",
        extra_env={
            "WAREHOUSE_DATABASE": f"deploy_{name}",
            "NIGHTLY_SCHEDULE": "none",
            **extra_env,
        },
    )
    try:
        for worker in workers:
            local.start_celery_worker(running, worker)
        api = AirflowApi(running.api_url, local.ADMIN, running.admin_password)
        api.wait_for_dag(DAG)
        api.unpause(DAG)
        yield running, api
    finally:
        local.stop(running)
