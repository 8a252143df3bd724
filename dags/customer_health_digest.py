"""
### Customer health — morning digest

Runs each time `customer_health_nightly` publishes the asset `analytics.customer_health`:
sends one alert (log, webhook, e-mail — whatever is configured) listing the customers who
need attention today, with their next best action, and the renewals to fix first.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from customer_health.assets import PUBLISHED
from customer_health.orchestration import default_task_args


@dag(
    dag_id="customer_health_digest",
    schedule=[PUBLISHED],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_task_args(),
    tags=["customer-health"],
    doc_md=__doc__,
)
def customer_health_digest():
    @task
    def send_digest() -> dict:
        from customer_health.alerts.digest import send_digest as send
        from customer_health.settings import load_settings

        return send(load_settings())

    send_digest()


customer_health_digest()
