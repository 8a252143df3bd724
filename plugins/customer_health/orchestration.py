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


def dbt_task_states(context: Any, group_id: str = "dbt") -> dict[str, str]:
    """The state of every task of the dbt group in this run that stands for a dbt node.

    The watcher's producer and its "done" marker are left out: what the producer built is
    reported by the node tasks (a model it failed fails its own task), and after a person
    clears a failed model the node tasks rerun it while the producer stays failed. The task
    ids come from the DAG this task was parsed from, not from the server's copy of the group.
    """
    from customer_health.transform.cosmos_group import WATCHER_BOOKKEEPING_TASKS

    bookkeeping = {f"{group_id}.{task}" for task in WATCHER_BOOKKEEPING_TASKS}
    node_tasks = [
        task
        for task in context["dag"].task_ids
        if task.startswith(f"{group_id}.") and task not in bookkeeping
    ]
    states = context["ti"].get_task_states(
        dag_id=context["dag"].dag_id, task_ids=node_tasks, run_ids=[context["run_id"]]
    )
    found = states.get(context["run_id"], {})
    return {task: found.get(task) or "none" for task in node_tasks}


def retry_policy():
    """Retry what time can fix (lost connections, a BI query holding the swap); fail fast on data.

    A bad file, a failing dbt model (ours or Cosmos's error for it) or a failed quality gate
    gives the same result on every try, so those fail at once and alert instead of burning
    the night on retries.
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
                # A dotted path: the digest DAG need not import Cosmos to be parsed.
                exception=[PipelineError, "cosmos.exceptions.CosmosDbtRunError"],
                action=RetryAction.FAIL,
                reason="a data or logic error: retrying cannot fix it",
            ),
        ],
    )


def report_failed_task(context: Any) -> None:
    """Task failure callback of the nightly DAG: the night failed at this task.

    One alert (with the task's log URL) and one run-log row per attempt of the run, however
    many of its tasks fail: the first to report wins (``alerts.failed_night``).
    """
    _report_failed_night(context, str(context.get("exception")))


def release_failed_night(context: Any) -> None:
    """DAG failure callback: once the failed run has stopped, give the night back.

    Also the safety net for a run that failed without a task reporting it (a worker killed
    on its last try, a task marked failed by hand): the alert key drops a second report.
    """
    from customer_health.pipeline import give_night_back
    from customer_health.settings import load_settings

    _report_failed_night(context, str(context.get("reason") or "the run failed"))
    give_night_back(load_settings(), context["run_id"])


def _report_failed_night(context: Any, error: str) -> None:
    """The failed night as the callback's context tells it: step and log of its task."""
    from customer_health.alerts.failed_night import report_failed_night
    from customer_health.settings import load_settings

    settings = load_settings()
    task_instance = context.get("ti")
    report_failed_night(
        settings,
        night=night_of(context, settings.timezone),
        step=getattr(task_instance, "task_id", None) or "unknown",
        run_id=context["run_id"],
        error=error,
        log_url=getattr(task_instance, "log_url", None),
        attempt=run_attempt(context),
    )


def run_attempt(context: Any) -> str:
    """Which attempt of the DAG run this is: cleared runs count up; a run deleted and
    created again under the same id starts at another time."""
    dag_run = context["dag_run"]
    started = dag_run.start_date.isoformat() if dag_run.start_date else "not started"
    return f"{dag_run.clear_number or 0}@{started}"


def hold_night_for_task(context: Any) -> None:
    """Task start callback of the nightly DAG: hold the night (wait while another run has it)."""
    from customer_health.pipeline import take_night
    from customer_health.settings import load_settings

    take_night(load_settings(), context["run_id"])


def alert_failed_task(context: Any) -> None:
    """Failure callback of the other DAGs: an alert naming the task and its log."""
    from customer_health.alerts.notify import Alert
    from customer_health.alerts.outbox import notify
    from customer_health.settings import load_settings

    task_instance = context["ti"]
    notify(
        load_settings(),
        Alert(
            "task_failed",
            f"{task_instance.dag_id}.{task_instance.task_id} failed",
            f"task_failed:{task_instance.dag_id}:{context['run_id']}:{task_instance.task_id}",
            {
                "run_id": context["run_id"],
                "error": str(context.get("exception"))[:2000],
                "log_url": getattr(task_instance, "log_url", None),
            },
        ),
    )


def default_task_args() -> dict[str, Any]:
    """Task defaults every DAG of the project shares: retries, backoff, policy, timeout, alerts."""
    from customer_health.settings import load_settings

    return {
        "retries": 2,
        "retry_delay": timedelta(seconds=load_settings().retry_delay_seconds),
        "retry_exponential_backoff": True,
        "retry_policy": retry_policy(),
        "execution_timeout": timedelta(hours=2),
        "on_failure_callback": alert_failed_task,
    }


def nightly_task_args() -> dict[str, Any]:
    """The nightly DAG's tasks also hold the night before they start and report its failure."""
    return {
        **default_task_args(),
        "on_execute_callback": hold_night_for_task,
        "on_failure_callback": report_failed_task,
    }
