"""What the DAG needs from an Airflow run: which night it processes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from customer_health.errors import PipelineError, PublishLockTimeout


def night_of(context: Any, tz: str) -> date:
    """The data date a run processes: its logical date, or the day before it was triggered.

    Airflow 3 allows runs without a logical date (manual triggers); such a run processes
    yesterday, like the scheduled run that would have happened.
    """
    logical = context.get("logical_date")
    if logical is not None:
        return logical.in_timezone(tz).date()
    return (context["dag_run"].run_after.in_timezone(tz) - timedelta(days=1)).date()


def retry_policy():
    """Retry what time can fix (lost connections, a BI query holding the swap); fail fast on data.

    A bad file, a failing dbt model or a failed quality gate gives the same result on every
    try, so those fail at once and alert instead of burning the night on retries.
    """
    from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

    return ExceptionRetryPolicy(
        rules=[
            RetryRule(
                exception=PublishLockTimeout,
                action=RetryAction.RETRY,
                reason="BI queries held the published schema; try again",
            ),
            RetryRule(
                exception=PipelineError,
                action=RetryAction.FAIL,
                reason="a data or logic error: retrying cannot fix it",
            ),
        ],
    )


def alert_on_failure(context: Any) -> None:
    """Failure callback: tell people which task failed, why and where its log is; log the run."""
    from customer_health.alerts.notify import Alert, notifiers_for, send
    from customer_health.run_log import record_run
    from customer_health.settings import load_settings

    settings = load_settings()
    task_instance = context["ti"]
    send(
        Alert(
            "task_failed",
            f"{task_instance.dag_id}.{task_instance.task_id} failed",
            {
                "run_id": context.get("run_id"),
                "error": str(context.get("exception"))[:2000],
                "log_url": getattr(task_instance, "log_url", None),
            },
        ),
        notifiers_for(settings),
    )
    if task_instance.dag_id == "customer_health_nightly":
        record_run(
            settings,
            context.get("run_id"),
            night_of(context, settings.timezone),
            "failed",
            {},
            failed_step=task_instance.task_id,
        )


def default_task_args() -> dict[str, Any]:
    """Task defaults every DAG of the project shares: retries, backoff, policy, timeout, alerts."""
    return {
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "retry_policy": retry_policy(),
        "execution_timeout": timedelta(hours=2),
        "on_failure_callback": alert_on_failure,
    }
